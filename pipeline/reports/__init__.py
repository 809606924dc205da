"""Reports: results, errors, orders and the summary of a run (SPEC §7).

Reports are built from the journal (`pipeline.run.journal`); may import
`pipeline.inputs` (formula guard, columns), `pipeline.outcomes` and
`pipeline.errors`; nothing from `api` or `cli`.
"""
