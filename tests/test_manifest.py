"""Typed run state: each migration of the manifest and the summary, and what a newer
quivo-bulk wrote is refused by name (docs/durability.md, "Run state and its versions")."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.core.errors import RunDirError
from pipeline.core.manifest import (
    MANIFEST_MIGRATIONS,
    MANIFEST_VERSION,
    SUMMARY_MIGRATIONS,
    SUMMARY_VERSION,
    InputFile,
    Manifest,
    Origin,
    PlanInput,
    read_manifest,
    read_summary,
)
from pipeline.flows.plan import read_plan
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "data" / "runs-1b30256"


def stored_manifest(journal: Path) -> dict[str, Any]:
    with sqlite3.connect(f"file:{journal}?immutable=1", uri=True) as db:
        body: dict[str, Any] = json.loads(db.execute("SELECT body FROM manifest").fetchone()[0])
    return body


def test_each_version_has_its_migration() -> None:
    assert len(MANIFEST_MIGRATIONS) == MANIFEST_VERSION - 1
    assert len(SUMMARY_MIGRATIONS) == SUMMARY_VERSION - 1


def test_manifest_v1_to_v2_a_run_of_an_apply_rerun_and_resolution() -> None:
    """Version 1 as commit 1b30256 wrote it (its keys: run_files' `extra` merged in)."""
    v1 = stored_manifest(FIXTURES / "run-address" / "journal.sqlite") | {
        "applies": "runs/plan-a",
        "reruns": None,
        "reruns_all": ["runs/a", "runs/b"],
        "rerun_notes": ["runs/c was already rerun"],
        "preconditions": {"4100001": {"orderStatus": "PROCESSING"}},
        "resolved_keys": {"orderIdentifier:#1001": 4100001, "reference:R9": ["ambiguous", "2"]},
    }
    assert v1["version"] == 1
    assert v1["command"] == "run"
    v2 = MANIFEST_MIGRATIONS[0](v1)
    assert v2["version"] == 2
    assert v2["kind"] == "run"
    assert "command" not in v2
    assert v2["origin"] == {
        "applies": "runs/plan-a",
        "reruns": None,
        "reruns_all": ["runs/a", "runs/b"],
        "rerun_notes": ["runs/c was already rerun"],
    }
    manifest = Manifest.model_validate(v2)
    assert manifest.inputs[0] == InputFile(
        path="/tmp/quivo-bulk-fixture-1b30256/address-corrections.csv",
        name="address-corrections.csv",
        sha256="32b45f01955ad1f9c481bbce23625e5efdee5faaf48daab9ba81d5e5ca5c1b01",
        rows=16,
    )
    assert manifest.row_count == 16
    assert manifest.created_at == datetime(2026, 12, 4, 17, 17, 10, tzinfo=UTC)
    assert manifest.preconditions == {4100001: {"orderStatus": "PROCESSING"}}
    assert manifest.resolved_keys == {
        "orderIdentifier:#1001": 4100001,
        "reference:R9": ("ambiguous", "2"),
    }
    assert manifest.origin.applies == "runs/plan-a"
    assert manifest.origin.reruns_all == ("runs/a", "runs/b")
    assert manifest.options["action"] == "address"  # RunOptions.to_manifest(), as stored


def test_manifest_v1_to_v2_a_plan_gets_its_row_count() -> None:
    v1 = json.loads((FIXTURES / "plan-address" / "plan.json").read_text())
    assert "row_count" not in v1
    v2 = MANIFEST_MIGRATIONS[0](v1)
    assert (v2["kind"], v2["row_count"]) == ("plan", 16)
    manifest = Manifest.model_validate(v2)
    assert manifest.will_change == 6
    assert manifest.apply_inputs == (
        PlanInput(
            path="inputs/1-address-corrections.parquet",
            name="plan-address/inputs/1-address-corrections.parquet",
        ),
    )
    assert sorted(manifest.preconditions) == [4100001, 4100002, 4100008, 4100009, 4100014, 4100018]


def test_manifest_v1_to_v2_the_unversioned_plan_journal() -> None:
    v1 = stored_manifest(FIXTURES / "plan-address" / "plan-journal.sqlite")
    assert v1 == {"command": "plan"}  # no version: version 1
    manifest = read_manifest(v1)
    assert (manifest.kind, manifest.row_count, manifest.inputs) == ("plan", 0, ())


def test_summary_v1_to_v2() -> None:
    v1 = json.loads((FIXTURES / "run-address" / "summary.json").read_text())
    assert "version" not in v1
    v2 = SUMMARY_MIGRATIONS[0](v1)
    assert v2 == v1 | {"version": 2}
    summary = read_summary(v1)
    assert (summary.exit_code, summary.rows, summary.outcomes["applied"]) == (1, 16, 6)
    assert summary.rate is not None
    assert summary.rate.found_per_s == 50.0
    assert summary.error_groups[0].errorCode == "conflicting_rows"
    assert summary.to_json() == v1 | {"version": 2}  # written back as it was read


def test_a_manifest_round_trips_and_an_old_plan_reads_as_today() -> None:
    manifest = Manifest(
        kind="run",
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        inputs=(InputFile(path="/x/a.csv", name="a.csv", sha256="0" * 64, rows=3),),
        row_count=3,
        options={"action": "update"},
        preconditions={7: {"orderStatus": "PROCESSING"}},
        origin=Origin(undoes="runs/r"),
    )
    assert read_manifest(json.loads(manifest.dump())) == manifest
    assert read_plan(FIXTURES / "plan-address").kind == "plan"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"version": 3}, "version 3, this one reads up to 2"),
        ({"version": 2, "kind": "run", "row_count": 16, "undo_window": 5}, "undo_window"),
    ],
)
def test_a_manifest_from_a_newer_quivo_bulk_is_refused(change: dict[str, Any], named: str) -> None:
    v1 = stored_manifest(FIXTURES / "run-address" / "journal.sqlite")
    newer = {k: v for k, v in v1.items() if k != "command"} | change
    with pytest.raises(RunDirError, match="made by a newer quivo-bulk") as caught:
        read_manifest(newer)
    assert named in str(caught.value)


def test_resume_of_a_run_from_a_newer_quivo_bulk_is_refused(tmp_path: Path) -> None:
    """The scenario: a run directory a newer quivo-bulk made (a manifest entry this one does
    not know) is not resumed as if that entry did not exist."""
    run = tmp_path / "run-address"
    shutil.copytree(FIXTURES / "run-address", run)
    for path in [run, *run.iterdir()]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    body = stored_manifest(run / "journal.sqlite")
    body = {k: v for k, v in body.items() if k != "command"}
    body |= {"version": 2, "kind": "run", "max_undo_age_s": 3600}
    with sqlite3.connect(run / "journal.sqlite") as db:
        db.execute("UPDATE manifest SET body = ?", (json.dumps(body),))
    result = CliRunner().invoke(main, ["resume", str(run)])
    assert result.exit_code == 2, result.output
    assert "made by a newer quivo-bulk" in result.output
    assert "max_undo_age_s" in result.output
