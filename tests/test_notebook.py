"""From Python: the notebook guide's example (docs/guide/notebook.md), run as
printed, and the edges."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline import RunOptions, load_results, run_frame
from pipeline.config.settings import Environment
from pipeline.core.errors import OptionsError, RunDirError
from pipeline.sandbox import SandboxThread
from tests.conftest import state_of
from tests.readme import blocks, section

GUIDE = "docs/guide/notebook.md"


def notebook_example() -> str:
    return blocks(section("## From a notebook", page=GUIDE), "python")[0]


@pytest.fixture
def notebook_env(in_copy: Path, sandbox: SandboxThread) -> SandboxThread:
    """A notebook's working directory with QUIVO_* pointing at the sandbox (in_copy)."""
    return sandbox


def test_the_notebook_example_runs_as_printed(notebook_env: SandboxThread, tmp_path: Path) -> None:
    # After `make demo` the runs folder also holds runs/demo (a folder of demo runs): the
    # example's `load_results("runs/*")` takes run directories only (a new user's trial
    # met a traceback there).
    (Path("runs") / "demo" / "1-plan").mkdir(parents=True)
    names: dict[str, object] = {}
    exec(compile(notebook_example(), GUIDE, "exec"), names)
    result, again = names["result"], names["again"]
    assert result.exit_code == 1  # type: ignore[attr-defined]
    frame = result.results  # type: ignore[attr-defined]
    assert frame["outcome"].to_list() == ["applied", "applied", "failed"]
    rerun = again.results  # type: ignore[attr-defined]
    assert rerun["sourceRow"].dtype == pl.Int64
    assert rerun["orderId"].to_list() == [4100080]
    assert state_of(notebook_env).stats.accepted_mutations[4100001] == 1
    runs = names["runs"]
    assert isinstance(runs, pl.DataFrame)
    assert runs.columns[0] == "runDir"
    assert runs["row"].dtype == pl.Int64
    week = names["week"]  # the run and its rerun: each source row once, the latest outcome
    assert isinstance(week, pl.DataFrame)
    assert week["orderId"].to_list() == [4100001, 4100002, 4100080]
    rerun_dir = str(again.run_dir)  # type: ignore[attr-defined]
    assert week["runDir"].to_list() == [str(result.run_dir)] * 2 + [rerun_dir]  # type: ignore[attr-defined]
    assert "-rerun-notebook-cancels" in rerun_dir
    assert week["decidedAt"].null_count() == 0


def test_options_from_python_take_the_base_url_from_the_environment(
    notebook_env: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = pl.DataFrame({"orderId": ["4100001"]})
    result = run_frame(frame, options=RunOptions(action="cancel"), out=tmp_path / "r")
    assert result.summary.base_url == notebook_env.base_url  # not the production API
    monkeypatch.delenv("QUIVO_BASE_URL")
    with pytest.raises(OptionsError, match="no API base URL: set QUIVO_BASE_URL"):
        run_frame(frame, action="cancel", out=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_a_call_that_cannot_start_leaves_no_run_directory(
    notebook_env: SandboxThread, tmp_path: Path
) -> None:
    no_credentials = Environment(
        base_url=notebook_env.base_url, api_key=None, username=None, password=None, token=None
    )
    frame = pl.DataFrame({"orderId": ["4100001"]})
    with pytest.raises(OptionsError):
        run_frame(frame, action="cancel", env=no_credentials, out=tmp_path / "r")
    assert not (tmp_path / "r").exists()
    assert not (tmp_path / "runs").exists()
    assert state_of(notebook_env).stats.requests == 0


def test_load_results_of_many_runs_has_one_type_per_column(
    notebook_env: SandboxThread, tmp_path: Path
) -> None:
    run_frame(pl.DataFrame({"orderId": ["4100001"]}), action="cancel", out=tmp_path / "a")
    run_frame(
        pl.DataFrame({"orderId": ["4100002", "x"], "note": ["n", None]}),
        action="cancel",
        out=tmp_path / "b",
    )
    frame = load_results(sorted(tmp_path.glob("[ab]")))
    assert frame["runDir"].to_list() == [str(tmp_path / "a"), *[str(tmp_path / "b")] * 2]
    assert frame["row"].dtype == pl.Int64
    assert frame["orderId"].dtype == pl.Int64
    assert frame["note"].to_list() == [None, "n", None]


def test_run_directories_are_owner_only_and_out_must_be_new(
    notebook_env: SandboxThread, tmp_path: Path
) -> None:
    import stat

    result = run_frame(pl.DataFrame({"orderId": ["4100001"]}), action="cancel", out=tmp_path / "r")
    assert stat.S_IMODE(result.run_dir.stat().st_mode) == 0o700
    files = [p for p in result.run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"results.csv", "summary.json", "journal.sqlite"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(0o600)}
    before = (tmp_path / "r" / "results.csv").read_text()
    with pytest.raises(RunDirError, match="is not empty"):
        run_frame(pl.DataFrame({"orderId": ["4100002"]}), action="cancel", out=tmp_path / "r")
    assert (tmp_path / "r" / "results.csv").read_text() == before  # nothing overwritten
