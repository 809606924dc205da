"""Scale: `quivo-bulk validate` of a generated million-row CSV (wall time, peak RSS), and
the peak RSS of dry runs of 10,000 and 100,000 rows (what each row costs)."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.common import Figure, first_order_id, run_cli, sandbox, write_csv

STREETS = ("Graben", "Herrengasse", "Mariahilfer Straße", "Kärntner Straße", "Landstraße")


def address_rows(count: int) -> list[str]:
    """Address corrections with realistic variety: ~25,000 distinct addresses."""
    return [
        f"{first_order_id() + i},address,Kundin {i % 97},{STREETS[i % 5]} {i % 250},"
        f"{1010 + i % 23 * 10:05d},Wien,AT,"
        for i in range(count)
    ]


HEADER = "orderId,action,name,street,zip,city,countryIso2,comment"


def bench_scale(rows: int, workdir: Path) -> list[Figure]:
    path = write_csv(workdir / "scale.csv", HEADER, iter(address_rows(rows)))
    code, wall_s, rss = run_cli(
        ["validate", str(path), "--out", str(workdir / "scale")], base_url="", cwd=workdir
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
            "",
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
