"""quivo-bulk: bulk changes to Quivo fulfillment orders.

read -> validate -> plan -> send -> refetch/verify -> report, with a journal
that makes every run resumable. The CLI (`pipeline.cli`) is a thin layer over
the library functions exported here, which a notebook can call directly.
"""

__version__ = "0.1.0"
