"""What outlives the process: run directories, the SQLite journal (its schema
and the compact codec for order JSON), and the rate a job found.

May import: `pipeline.core`, `pipeline.config`, `pipeline.api` (rate values).
"""
