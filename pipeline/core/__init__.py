"""The vocabulary every stage shares: outcomes and error codes, the run-level
exceptions, and `Change`, one valid row's change on one order.

May import: `pipeline.api.payloads` / `pipeline.api.profile` (a change knows
its request) and the standard library. Nothing else in `pipeline` imports less.
"""
