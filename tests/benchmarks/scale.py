"""Scale: `quivo-bulk validate` of a generated million-row CSV (wall time, peak RSS), and
the peak RSS of dry runs of 10,000 and 100,000 rows (what each row costs)."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.common import Figure, first_order_id, run_cli, sandbox, write_csv

STREETS = ("Graben", "Herrengasse", "Mariahilfer Straße", "Kärntner Straße", "Landstraße")


def address_rows(count: int) -> list[str]:
    """Address corrections, nearly all different (the worst case: ~560,000 distinct in 1M)."""
    return [
        f"{first_order_id() + i},address,Kundin {i % 97},{STREETS[i % 5]} {i % 250},"
        f"{1010 + i % 23 * 10},Wien,AT,"
        for i in range(count)
    ]


def mixed_rows(count: int) -> list[str]:
    """A bulk file as they come: 60% cancellations, 30% comment/tracking updates from a
    few templates, 10% address corrections that all differ."""
    rows = []
    for i in range(count):
        order_id = first_order_id() + i
        kind = i % 10
        if kind < 6:
            rows.append(f"{order_id},cancel,,,,,,")
        elif kind < 9:
            rows.append(f"{order_id},update,,,,,,Priority handling {i % 7}")
        else:
            rows.append(
                f"{order_id},address,Kundin {i % 997},{STREETS[i % 5]} {i % 251},"
                f"{1010 + i % 23 * 10},Wien,AT,"
            )
    return rows


HEADER = "orderId,action,name,street,zip,city,countryIso2,comment"


def bench_scale(rows: int, workdir: Path) -> list[Figure]:
    path = write_csv(workdir / "scale.csv", HEADER, iter(mixed_rows(rows)))
    code, wall_s, rss = run_cli(
        ["validate", str(path), "--out", str(workdir / "scale")], base_url="", cwd=workdir
    )
    distinct = write_csv(workdir / "distinct.csv", HEADER, iter(address_rows(rows)))
    distinct_code, distinct_s, distinct_rss = run_cli(
        ["validate", str(distinct), "--out", str(workdir / "distinct")], base_url="", cwd=workdir
    )
    return [
        Figure(
            f"scale: validate {rows:,} rows, wall time",
            wall_s,
            "s",
            "< 10 s",
            wall_s < 10 and code == 0,
            f"{path.stat().st_size / 2**20:,.0f} MiB CSV",
        ),
        Figure(
            f"scale: validate {rows:,} rows, peak RSS",
            rss / 2**20,
            "MiB",
            "< 1024 MiB",
            rss < 2**30,
            "60% cancels, 30% updates, 10% distinct addresses",
        ),
        Figure(
            f"scale: validate {rows:,} distinct address rows",
            distinct_s,
            "s",
            "",
            None,
            f"peak RSS {distinct_rss / 2**20:,.0f} MiB, exit {distinct_code} (worst case)",
        ),
    ]


def bench_dry_run_memory(small: int, large: int, workdir: Path) -> list[Figure]:
    peaks = {}
    with sandbox("--count", "10") as url:
        for rows in (small, large):
            path = write_csv(workdir / f"dry-{rows}.csv", HEADER, iter(address_rows(rows)))
            code, _, rss = run_cli(
                ["run", str(path), "--dry-run", "--quiet", "--out", str(workdir / f"dry-{rows}")],
                base_url=url,
                cwd=workdir,
            )
            if code not in (0, 1):
                raise RuntimeError(f"dry run of {rows} rows exited {code}")
            peaks[rows] = rss
    per_row = (peaks[large] - peaks[small]) / (large - small)
    return [
        Figure(
            f"scale: dry run {large:,} rows, peak RSS",
            peaks[large] / 2**20,
            "MiB",
            "",
            None,
            f"{small:,} rows: {peaks[small] / 2**20:,.0f} MiB",
        ),
        Figure(
            "scale: dry run, memory per extra row",
            per_row,
            "bytes",
            "<= 2048 B",
            per_row <= 2048,
            "input row in the CSV: ~60 B",
        ),
    ]
