"""How fast to send: `spec` parses `--rate` values, `pacer` paces every request
with a hard bound per period, `adaptive` finds the server's limit for
`--rate auto`, `shared` is the one pace a run's (or a sweep's) clients share.

May import: the standard library and `pipeline.core`.
"""
