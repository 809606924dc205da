"""A run: plan -> send -> refetch/verify, journaled so it can always finish.

See docs/design/code-map.md, docs/design/sending.md and docs/durability.md.

`plan` and `changes` turn valid rows into per-order work, `executor` is the one
bounded fan-out, `send` the per-order worker, `verify` the check against the
refetched order, `journal` the SQLite record that `durable` resumes and reruns
from, `resolve` shop order numbers to orderIds before sending, `runner` a run
end to end (`bulk` keeps its many row objects cheap), `sweep` the nightly inbox
job, `progress` and `interrupts` the terminal side. Look first, take back
(docs/plan-apply-undo.md): `snapshot` reads an order before its change and
decides what not to send, `guards` the limits, the breaker and a file already
run, `planfile` + `predict` the `plan`, `apply` and `undo` their commands'
libraries. May import every other subpackage but `cli`.
"""
