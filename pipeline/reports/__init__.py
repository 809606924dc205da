"""Reports: results, errors, orders and the summary of a run (docs/reference/outputs.md).

Reports are built from the journal (`pipeline.store.journal`); may import
`pipeline.inputs` (formula guard, columns), `pipeline.core.outcomes` and
`pipeline.core.errors`; nothing from `api` or `cli`.
"""
