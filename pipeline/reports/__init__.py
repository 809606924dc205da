"""Reports: results, errors, orders and the summary of a run (docs/reference/outputs.md).

Reports are built from the journal (`pipeline.run.journal`); may import
`pipeline.inputs` (formula guard, columns), `pipeline.outcomes` and
`pipeline.errors`; nothing from `api` or `cli`.
"""
