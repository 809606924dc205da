"""Inputs: files in, validated rows out (SPEC §4).

`read` turns CSV / Excel / Parquet files into text tables, `columns` matches
headers onto canonical fields, `rows` validates each row into a compact
verdict, `countries` holds the country rules, `csvsafe` the Excel formula
guard. May import `pipeline.errors`, `pipeline.outcomes` and each other;
nothing from `api`, `run`, `reports` or `cli`.
"""
