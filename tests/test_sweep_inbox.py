"""The sweep takes complete files only, and a refused file again once the reason is gone
(docs/guide/nightly.md)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline.config.jobfile import load_job
from pipeline.config.options import Options
from pipeline.flows.inbox import cut_off, is_writing_name
from pipeline.flows.sweep import SweepItem, sweep_job
from pipeline.sandbox import SandboxThread
from pipeline.sandbox.app import create_app
from pipeline.sandbox.config import SandboxConfig
from pipeline.sandbox.orders import generate_order, generate_orders
from tests.conftest import SAMPLE_DATA, env_for, order_ids, state_of
from tests.test_jobs import FAST, settled, sweep_job_in

LONG_ID = 41007375  # the half file's last line cuts it to 4100737, another order


@pytest.fixture
def big_sandbox() -> Any:
    """800 generated orders (4100001..4100800) and one with a longer ID."""
    orders = [*generate_orders(800, seed=0), generate_order(LONG_ID, seed=0)]
    with SandboxThread(create_app(SandboxConfig(cancel_delay_s=60), orders=orders)) as thread:
        yield thread


def sandbox_stats(sandbox: SandboxThread) -> dict[str, Any]:
    """What the sandbox received, as GET /_sandbox/stats shows it."""
    with urllib.request.urlopen(f"{sandbox.base_url}/_sandbox/stats") as answer:
        stats: dict[str, Any] = json.load(answer)
    return stats


def cancels_per_order(sandbox: SandboxThread) -> dict[int, int]:
    return {
        int(order): routes.get("cancel", 0)
        for order, routes in sandbox_stats(sandbox)["by_order"].items()
    }


def write_job(tmp_path: Path, extra: str = "", pattern: str = "inbox/*.csv") -> Path:
    (tmp_path / "inbox").mkdir(exist_ok=True)
    job = tmp_path / "sweep.toml"
    # These tests are about which files a sweep takes; the follow-up of earlier nights'
    # cancel requests has its own (tests/test_followup.py).
    job.write_text(
        f'input = "{pattern}"\naction = "cancel"\nassume_yes = true\nfollowup = false\n'
        f'runs_dir = "runs"\nstate_dir = "state"\n{extra}'
    )
    return job


@pytest.mark.slow  # three sweeps at a paced rate, about 3 s
def test_a_half_copied_file_is_not_sent_and_the_finished_file_once(
    big_sandbox: SandboxThread, tmp_path: Path
) -> None:
    """The first 250 bytes of a cancel file are in the inbox when the sweep starts; the
    writer pauses while an earlier file of the same sweep runs, so the half file looks
    settled when its turn comes. Nothing is sent from it; the order its cut last line
    names (4100737, cut from 41007375) is never touched; the finished file is sent once."""
    ids = order_ids(big_sandbox, "PROCESSING", 60)
    earlier_ids, half_ids = ids[:20], ids[20:]
    job = write_job(tmp_path, "settle_s = 0.3\n")
    inbox = tmp_path / "inbox"
    (inbox / "a-cancellations.csv").write_text("orderId\n" + "".join(f"{i}\n" for i in earlier_ids))
    settled(inbox / "a-cancellations.csv")
    # Excel's line ends: 9 bytes a line, so byte 250 falls inside the 27th ID.
    lines = [*map(str, half_ids[:26]), str(LONG_ID), *map(str, half_ids[26:])]
    full = "".join(f"{line}\r\n" for line in ["orderId", *lines]).encode()
    half = inbox / "b-cancellations.csv"
    half.write_bytes(full[:250])
    assert full[:250].endswith(b"\r\n4100737")
    assert 4100737 in state_of(big_sandbox).store.ids()  # somebody else's order

    first = sweep_job(
        load_job(job), overrides=Options(**{**FAST.given(), "rate": 20.0}), env=env_for(big_sandbox)
    )
    assert [(item.path.name, item.status) for item in first] == [
        ("a-cancellations.csv", "done"),
        ("b-cancellations.csv", "waiting"),
    ]
    assert "last line has no line end" in first[1].message
    sent = cancels_per_order(big_sandbox)
    assert {i for i, n in sent.items() if n} == set(earlier_ids)  # nothing from the half file

    with half.open("ab") as writer:  # the copy finishes
        writer.write(full[250:])
    time.sleep(0.35)  # settle_s
    second = sweep_job(load_job(job), overrides=FAST, env=env_for(big_sandbox))
    assert [item.status for item in second] == ["skipped", "done"]
    assert second[1].result is not None
    assert second[1].result.summary.rows == 41
    third = sweep_job(load_job(job), overrides=FAST, env=env_for(big_sandbox))
    assert [item.status for item in third] == ["skipped", "skipped"]

    sent = cancels_per_order(big_sandbox)
    assert 4100737 not in sent  # never read, never cancelled
    assert {i for i, n in sent.items() if n} == {*earlier_ids, *half_ids, LONG_ID}
    assert max(sent.values()) == 1  # no order got a second cancel


def test_a_file_that_changes_while_it_is_read_is_held(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    job = write_job(tmp_path)
    path = tmp_path / "inbox" / "late.csv"
    path.write_text("orderId\n4100003\n")
    settled(path)

    def clock_while_a_writer_appends() -> float:
        with path.open("a") as writer:  # between the checks before and after the read
            writer.write("4100004\n")
        return time.time()

    items = sweep_job(
        load_job(job), overrides=FAST, env=env_for(sandbox), now=clock_while_a_writer_appends
    )
    assert [item.status for item in items] == ["waiting"]
    assert "changed while it was read" in items[0].message
    assert state_of(sandbox).stats.requests == 0


def test_names_of_files_being_written_are_never_taken(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    job = write_job(tmp_path, pattern="inbox/*")
    names = ["a.csv.tmp", "b.csv.part", "c.csv.partial", "d.csv.crdownload", "~$e.csv", ".f.csv"]
    for name in names:
        (tmp_path / "inbox" / name).write_text("orderId\n4100003\n")
        settled(tmp_path / "inbox" / name)
    assert all(is_writing_name(name) for name in names)
    assert not is_writing_name("cancellations.csv")
    assert sweep_job(load_job(job), overrides=FAST, env=env_for(sandbox)) == []
    assert state_of(sandbox).stats.requests == 0


def test_a_ready_marker_announces_a_complete_file(sandbox: SandboxThread, tmp_path: Path) -> None:
    job = write_job(tmp_path, 'ready_marker = ".done"\narchive = true\n', pattern="inbox/*")
    path = tmp_path / "inbox" / "list.csv"
    path.write_text("orderId\n4100003\n")
    settled(path)
    waiting = sweep_job(load_job(job), overrides=FAST, env=env_for(sandbox))
    assert [(i.status, i.message) for i in waiting] == [
        ("waiting", "waiting for its ready marker list.csv.done")
    ]
    assert state_of(sandbox).stats.requests == 0
    (tmp_path / "inbox" / "list.csv.done").touch()
    taken = sweep_job(load_job(job), overrides=FAST, env=env_for(sandbox))
    assert [i.status for i in taken] == ["done"]  # the marker itself is not an input
    assert sorted(p.name for p in (tmp_path / "inbox" / "done").iterdir()) == [
        "list.csv",
        "list.csv.done",
    ]


def test_an_unterminated_last_line_is_allowed_by_a_job_key(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    job = write_job(tmp_path, "allow_unterminated_last_line = true\n")
    path = tmp_path / "inbox" / "list.csv"
    path.write_text("orderId\n4100003")
    settled(path)
    assert [i.status for i in sweep_job(load_job(job), overrides=FAST, env=env_for(sandbox))] == [
        "done"
    ]


def test_cut_off_files_of_every_kind_are_held() -> None:
    frame = pl.DataFrame({"orderId": ["4100001", "4100002"]})
    parquet, workbook = io.BytesIO(), io.BytesIO()
    frame.write_parquet(parquet)
    frame.write_excel(workbook)
    assert cut_off(".parquet", parquet.getvalue()) is None
    assert cut_off(".parquet", parquet.getvalue()[:-10]) is not None
    assert cut_off(".xlsx", workbook.getvalue()) is None
    assert cut_off(".xlsx", workbook.getvalue()[:-30]) is not None
    assert cut_off(".csv", b"orderId\r\n4100001\r\n") is None
    assert cut_off(".csv", "orderId\n4100001\n".encode("utf-16")) is None
    assert cut_off(".csv", b"orderId\n41000") is not None
    assert cut_off(".csv", b"") is not None


def named_paths_exist(items: list[SweepItem]) -> None:
    for item in items:
        for named in re.findall(r"(/[^\s:;()]+)", item.message):
            assert Path(named).exists(), f"{item.message!r} names {named}, which does not exist"


@pytest.mark.slow  # 600 cancels and their refetches
def test_a_file_refused_by_max_cancels_is_taken_once_the_job_allows_it(
    big_sandbox: SandboxThread, tmp_path: Path
) -> None:
    job = write_job(tmp_path, "max_cancels = 500\n")
    ids = state_of(big_sandbox).store.ids()[:600]
    path = tmp_path / "inbox" / "probe-c-600.csv"
    path.write_text("orderId\n" + "".join(f"{i}\n" for i in ids))
    settled(path)
    refused = sweep_job(load_job(job), overrides=FAST, env=env_for(big_sandbox))
    assert [i.status for i in refused] == ["rejected"]
    assert "would cancel 600 orders, more than --max-cancels 500" in refused[0].message
    again = sweep_job(load_job(job), overrides=FAST, env=env_for(big_sandbox))
    assert [i.status for i in again] == ["skipped"]
    assert "refused on " in again[0].message
    assert "once the job's limit allows it" in again[0].message
    named_paths_exist([*refused, *again])
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    assert state_of(big_sandbox).stats.requests == 0

    job.write_text(job.read_text().replace("max_cancels = 500", "max_cancels = 1000"))
    taken = sweep_job(load_job(job), overrides=FAST, env=env_for(big_sandbox))
    assert [i.status for i in taken] == ["done"]
    assert "taken again" in taken[0].message
    sent = cancels_per_order(big_sandbox)
    assert sorted(i for i, n in sent.items() if n) == ids
    assert max(sent.values()) == 1


def test_a_refused_file_put_back_from_rejected_is_taken_again(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    job = write_job(tmp_path, "max_cancels = 2\narchive = true\n")
    path = tmp_path / "inbox" / "three.csv"
    path.write_text("orderId\n4100003\n4100004\n4100005\n")
    settled(path)
    refused = sweep_job(load_job(job), overrides=FAST, env=env_for(sandbox))
    assert [i.status for i in refused] == ["rejected"]
    named_paths_exist(refused)
    job.write_text(job.read_text().replace("max_cancels = 2", "max_cancels = 3"))
    shutil.move(tmp_path / "inbox" / "rejected" / "three.csv", path)  # put back
    taken = sweep_job(load_job(job), overrides=FAST, env=env_for(sandbox))
    assert [i.status for i in taken] == ["done"]
    assert "put back into the inbox" in taken[0].message


def test_a_file_refused_for_its_content_is_taken_when_it_changes(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    job = write_job(tmp_path)
    path = tmp_path / "inbox" / "export.csv"
    path.write_text("Kunde\n4100003\n")
    settled(path)
    refused = sweep_job(load_job(job), overrides=FAST, env=env_for(sandbox))
    assert [i.status for i in refused] == ["rejected"]
    same = sweep_job(load_job(job), overrides=FAST, env=env_for(sandbox))
    assert [i.status for i in same] == ["skipped"]
    assert "when its content changes" in same[0].message
    named_paths_exist([*refused, *same])
    path.write_text("orderId\n4100003\n")
    settled(path)
    taken = sweep_job(load_job(job), overrides=FAST, env=env_for(sandbox))
    assert [i.status for i in taken] == ["done"]


def test_a_path_already_run_whose_content_changed_is_named_as_such(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    job = write_job(tmp_path)
    path = tmp_path / "inbox" / "today.csv"
    path.write_text("orderId\n4100003\n4100004\n")
    settled(path)
    first = sweep_job(load_job(job), overrides=FAST, env=env_for(sandbox))
    assert first[0].result is not None
    path.write_text("orderId\n4100003\n4100004\n4100005\n")
    settled(path)
    second = sweep_job(load_job(job), overrides=FAST, env=env_for(sandbox))
    assert [i.status for i in second] == ["done"]
    message = second[0].message
    assert "was run before, on " in message
    assert str(first[0].result.run_dir) in message
    assert "2 of its 3 rows were in that run" in message


def test_load_sweeps_counts_files_that_never_got_a_run_directory(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    from pipeline import load_sweeps

    job_path = sweep_job_in(tmp_path, sorted((SAMPLE_DATA / "inbox").glob("*.csv")))
    (tmp_path / "inbox" / "0-broken.csv").write_text("Kunde\n1\n")
    settled(tmp_path / "inbox" / "0-broken.csv")
    sweep_job(load_job(job_path), overrides=FAST, env=env_for(sandbox))
    sweeps = load_sweeps(job_path)
    assert sweeps.height == 3
    never_ran = sweeps.filter(pl.col("runDir").is_null())
    assert never_ran["path"].to_list() == [str(tmp_path / "inbox" / "0-broken.csv")]
    assert never_ran["refusal"].to_list() == ["content"]
    assert "no order key column" in never_ran["reason"][0]
    ran = sweeps.filter(pl.col("runDir").is_not_null())
    assert ran["status"].to_list() == ["done", "done"]
    assert ran["rows"].to_list() == [7, 4]
    assert all(Path(d).is_dir() for d in ran["runDir"])
    assert sweeps.schema["startedAt"] == pl.Datetime("us", "UTC")
    assert load_sweeps(tmp_path / "state").equals(sweeps)


def test_the_readme_load_sweeps_example_runs_as_printed(
    sandbox: SandboxThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from tests.conftest import REPO
    from tests.readme import blocks, section

    shutil.copytree(REPO / "jobs", tmp_path / "jobs")
    shutil.copytree(SAMPLE_DATA / "inbox", tmp_path / "sample_data" / "inbox")
    (tmp_path / "sample_data" / "inbox" / "0-broken.csv").write_text("Kunde\n1\n")
    for path in (tmp_path / "sample_data" / "inbox").iterdir():
        settled(path)
    job = load_job(tmp_path / "jobs" / "nightly-cancellation-sweep.toml")
    sweep_job(job, overrides=FAST, env=env_for(sandbox))
    monkeypatch.chdir(tmp_path)
    example = blocks(section("## From a notebook", page="docs/guide/notebook.md"), "python")[1]
    assert "load_sweeps(" in example
    names: dict[str, Any] = {}
    exec(compile(example, "docs/guide/notebook.md", "exec"), names)
    shown = capsys.readouterr().out
    assert "rejected" in shown
    assert "content" in shown
    refused = names["refused"]
    assert [Path(p).name for p in refused["path"]] == ["0-broken.csv"]
    assert names["sweeps"].height == 3


def test_a_state_from_before_refusals_were_recorded_is_taken_over(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    """The old state named a run directory for a refused file that was never kept, and
    the file could never be taken again; the state is converted and the file retried."""
    import sqlite3

    job = write_job(tmp_path)
    path = tmp_path / "inbox" / "probe.csv"
    path.write_text("orderId\n4100003\n")
    settled(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "state").mkdir()
    with sqlite3.connect(tmp_path / "state" / "sweep-state.sqlite") as db:
        db.execute(
            "CREATE TABLE files (path TEXT NOT NULL, sha256 TEXT NOT NULL, run_dir TEXT NOT"
            " NULL, status TEXT NOT NULL, exit_code INTEGER, started_at REAL NOT NULL,"
            " finished_at REAL, PRIMARY KEY (path, sha256))"
        )
        db.execute(
            "INSERT INTO files VALUES (?, ?, ?, 'rejected', 2, 1.0, 2.0)",
            (str(path), digest, str(tmp_path / "runs" / "20261204T155011Z-probe-c-600")),
        )
    from pipeline import load_sweeps

    before = load_sweeps(tmp_path / "state")  # read as it is, without converting it
    assert before["runDir"].to_list() == [None]
    items = sweep_job(load_job(job), overrides=FAST, env=env_for(sandbox))
    assert [i.status for i in items] == ["done"]
    assert "before sweeps recorded why" in items[0].message
    named_paths_exist(items)
