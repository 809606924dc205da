"""Stage 2, plan: from validated rows to per-order work, before anything is sent.

`prepare` reads and validates the inputs, `resolve` turns shop order numbers
into orderIds, `sequence` finds conflicting and duplicate rows and orders each
order's rows, `guards` holds the limits, the breaker and "a file already run",
`predict` says what a plan will do from the orders as read. `bulk` keeps the
many row objects cheap.

May import: `pipeline.core`, `pipeline.config`, `pipeline.inputs`, `pipeline.api`.
"""
