"""The vocabulary every stage shares: outcomes and error codes, the run-level
exceptions, `Change`, one valid row's change on one order, and the typed run
state (`manifest`: a run's or plan's manifest and a run's summary, with their
migrations).

May import: `pipeline.api.payloads` / `pipeline.api.profile` (a change knows
its request) and the standard library. Nothing else in `pipeline` imports less.
"""
