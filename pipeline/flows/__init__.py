"""One module per verb, each composing the stages: `run` (and validate),
`plan`, `apply`, `undo`, `resume` (and report rebuild, load_results), `rerun`,
`sweep`, and `frame` (the same from a polars DataFrame).

May import every other package but `cli` and `ui`.
"""
