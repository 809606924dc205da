"""`quivo-bulk demo`: an in-process sandbox and the sample jobs run against it.

for result in run_demo(out_root=Path("runs/demo"), echo=print): ...
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import SecretStr

from pipeline.jobfile import load_job
from pipeline.run.runner import RunResult, run_files
from pipeline.sandbox import SandboxConfig, SandboxThread, create_app, load_orders
from pipeline.settings import Environment, RunOptions, resolve_options

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_data"
JOBS = REPO / "jobs"


def demo_environment(base_url: str) -> Environment:
    """The sandbox's own credentials: the demo never uses (or shows) real ones."""
    return Environment(
        base_url=base_url,
        api_key=SecretStr("sandbox-key"),
        username="sandbox",
        password=SecretStr("sandbox"),
        token=None,
    )


def run_demo(*, out_root: Path, echo: Callable[[str], None]) -> Iterator[RunResult]:
    """Run the three sample inputs against a fresh sandbox; yield each run's result."""
    if out_root.exists():
        shutil.rmtree(out_root)
    orders = load_orders(SAMPLES / "sandbox_orders.jsonl")
    app = create_app(SandboxConfig(cancel_delay_s=1.0), orders=orders)
    with SandboxThread(app) as sandbox:
        echo(f"Sandbox listening on {sandbox.base_url}")
        env = demo_environment(sandbox.base_url)
        fast = {"base_url": sandbox.base_url, "rate": 50.0, "concurrency": 8}
        job = load_job(JOBS / "address-corrections.toml")
        runs: list[tuple[str, list[Path], RunOptions]] = [
            (
                "address corrections from a semicolon CSV (job file)",
                job.input_paths(),
                resolve_options(cli=fast, job=job, env=env),
            ),
            (
                "mixed updates and cancellations from Excel",
                [SAMPLES / "mixed-changes.xlsx"],
                resolve_options(cli=fast, job=None, env=env),
            ),
            (
                "a Parquet cancellation list",
                [SAMPLES / "cancellations.parquet"],
                resolve_options(cli={**fast, "action": "cancel"}, job=None, env=env),
            ),
        ]
        for number, (title, inputs, options) in enumerate(runs, start=1):
            echo(f"\n[{number}/{len(runs)}] {title}: {', '.join(p.name for p in inputs)}")
            yield run_files(
                inputs,
                options=options,
                env=env,
                out=out_root / f"{number}-{inputs[0].stem}",
            )
