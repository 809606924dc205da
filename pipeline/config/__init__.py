"""Configuration: job files, API settings, credentials and their precedence
(command line > job file > environment > defaults).

May import: `pipeline.core`, `pipeline.api` (the profile and rate values).
"""
