"""Stage 3, send: the bounded fan-out over orders, each order's requests, the
refetch and the verdict.

`executor` is the one place that spawns tasks, `worker` sends one order's
changes and judges each row, `snapshot` reads the before-image and decides what
not to send, `verify` compares a change with the refetched order, `interrupts`
and `progress` are the terminal side of a run.

May import: `pipeline.core`, `pipeline.config`, `pipeline.api`, `pipeline.plan`,
`pipeline.store`.
"""
