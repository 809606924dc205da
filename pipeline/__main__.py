"""`python -m pipeline` is the same as the `quivo-bulk` command."""

from pipeline.cli import entry

entry()
