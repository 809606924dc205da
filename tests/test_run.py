"""The bulk run end to end against the sandbox on loopback (docs/reference/: commands, inputs,
outputs; docs/design/sending.md)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from pipeline.config.settings import Environment
from pipeline.core.errors import OptionsError
from pipeline.flows.run import run_files, validate_files
from pipeline.sandbox import Faults, SandboxConfig, SandboxThread
from tests.conftest import SAMPLE_DATA, comment_file, env_for, options_for, outcomes, state_of

ADDRESS_CSV = SAMPLE_DATA / "address-corrections.csv"
MIXED_XLSX = SAMPLE_DATA / "mixed-changes.xlsx"
CANCEL_PARQUET = SAMPLE_DATA / "cancellations.parquet"

ADDRESS_EXPECTED = [
    (2, "applied", None),
    (3, "applied", None),
    (4, "failed", "missing_state"),  # the order's state is not one of US: nothing sent
    (5, "invalid", "invalid_country"),
    (6, "failed", "status_conflict"),
    (7, "failed", "invalid_zip"),  # the order's zip, kept, is no IE postal code
    (8, "failed", "order_not_found"),
    (9, "duplicate", None),
    (10, "applied", None),
    (11, "invalid", "invalid_order_id"),
    (12, "applied", None),  # no street cell: the order keeps its street
    (13, "invalid", "invalid_email"),
    (14, "applied", None),
    (15, "invalid", "conflicting_rows"),
    (16, "invalid", "conflicting_rows"),
    (17, "applied", None),
]
MIXED_EXPECTED = [
    (2, "applied", None),
    (3, "applied", None),
    (4, "failed", "status_conflict"),
    (5, "applied", None),
    (6, "failed", "status_conflict"),
    (7, "unchanged", None),
    (8, "invalid", "comment_too_long"),
    (9, "invalid", "nothing_to_change"),
    (10, "invalid", "invalid_action"),
    (11, "invalid", "invalid_boolean"),
    (12, "applied", None),
    (13, "applied", None),
    (14, "applied", None),
]
MUTATIONS = ("patch", "address", "cancel")


def mutations_of(sandbox: SandboxThread, order_id: int) -> int:
    counts = state_of(sandbox).stats.by_order.get(order_id, {})
    return sum(counts.get(kind, 0) for kind in MUTATIONS)


def test_address_corrections_give_each_row_its_exact_outcome(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    result = run_files(
        [ADDRESS_CSV],
        options=options_for(sandbox, action="address"),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    assert outcomes(result) == ADDRESS_EXPECTED
    assert result.exit_code == 1
    frame = result.results
    # Invalid rows sent nothing: their orders were never touched.
    for order_id in frame.filter(pl.col("outcome") == "invalid")["orderId"].drop_nulls():
        assert mutations_of(sandbox, order_id) == 0
    # The duplicate was sent once.
    duplicated = frame.filter(pl.col("row") == 3)["orderId"][0]
    assert state_of(sandbox).stats.by_order[duplicated]["address"] == 1
    # The change is really on the order, zip with its leading zero, coordinates from "48,2".
    first = state_of(sandbox).order(frame["orderId"][0], touch=False)
    assert first is not None
    assert first["deliveryAddress"]["zip"] == "02134"
    assert first["deliveryAddress"]["address2"] == "Apt 4"
    located = state_of(sandbox).order(frame["orderId"][15], touch=False)
    assert located is not None
    assert located["deliveryAddress"]["latitude"] == pytest.approx(48.2082)
    # A change the order's status forbids is decided from the before-image: not sent.
    refused = frame.filter(pl.col("row") == 6).row(0, named=True)
    assert (
        refused["error"]
        == "order is COMPLETED; updates are allowed only while PROCESSING; nothing sent"
    )
    assert refused["orderStatus"] == "COMPLETED"
    assert refused["httpStatus"] is None
    assert mutations_of(sandbox, refused["orderId"]) == 0


def test_mixed_excel_actions_and_per_order_sequencing(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    result = run_files(
        [MIXED_XLSX], options=options_for(sandbox), env=env_for(sandbox), out=tmp_path / "run"
    )
    assert outcomes(result) == MIXED_EXPECTED
    # Rows 12 (cancel) and 13 (update) share an order: the update went first, or the
    # sandbox would have refused it after the cancellation request.
    order_id = result.results.filter(pl.col("row") == 12)["orderId"][0]
    # One read for the before-image, then the two changes, then one refetch to verify.
    assert state_of(sandbox).stats.by_order[order_id] == {"patch": 1, "cancel": 1, "refetch": 2}
    order = state_of(sandbox).order(order_id, touch=False)
    assert order is not None
    assert order["comment"] == "Last words before cancelling"
    assert order["cancelRequestedAt"]
    assert (tmp_path / "run" / "errors.xlsx").exists()


def test_a_parquet_cancellation_list(sandbox: SandboxThread, tmp_path: Path) -> None:
    result = run_files(
        [CANCEL_PARQUET],
        options=options_for(sandbox, action="cancel"),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    assert [o for _, o, _ in outcomes(result)] == [
        "applied", "applied", "applied", "applied", "failed", "unchanged", "duplicate",
    ]  # fmt: skip
    assert result.results["reason"].to_list()[0] == "fraud"  # unknown columns are carried
    twice = result.results["orderId"][2]
    assert state_of(sandbox).stats.by_order[twice]["cancel"] == 1


def test_reports_have_the_contract_columns_and_feed_back_in(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    options = options_for(sandbox, action="address")
    first = run_files([ADDRESS_CSV], options=options, env=env_for(sandbox), out=tmp_path / "one")
    run_dir = first.run_dir
    assert {p.name for p in run_dir.iterdir()} >= {
        "results.parquet", "results.csv", "errors.csv", "orders.parquet", "summary.json",
        "journal.sqlite",
    }  # fmt: skip
    parquet = pl.read_parquet(run_dir / "results.parquet")
    assert parquet.columns[:13] == [
        "file", "row", "orderId", "action", "outcome", "errorCode", "error", "httpStatus",
        "attempts", "latencyMs", "orderStatus", "cancelRequestedAt", "lastModified",
    ]  # fmt: skip
    assert parquet.columns[13:15] == ["changes", "decidedAt"]
    assert parquet["decidedAt"].dtype == pl.Datetime("ms", "UTC")
    assert parquet["decidedAt"].null_count() == 0  # every row got its outcome at some time
    assert parquet.columns[15:] == [
        "Order ID", "Name", "Company", "Street", "Street 2", "ZIP", "City", "State", "Country",
        "E-Mail", "Phone", "Note", "Latitude", "Longitude",
    ]  # fmt: skip
    with (run_dir / "errors.csv").open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter=";"))  # the input's own delimiter
    assert list(rows[0])[:14] == parquet.columns[15:]
    assert list(rows[0])[14:] == ["action", "addressType", "error", "errorCode"]
    assert [r["errorCode"] for r in rows] == [
        "missing_state", "invalid_country", "status_conflict", "invalid_zip", "order_not_found",
        "invalid_order_id", "invalid_email", "conflicting_rows", "conflicting_rows",
    ]  # fmt: skip
    # Excel safety: formula-like text is guarded in the CSV and exact in the Parquet.
    text = (run_dir / "results.csv").read_text(encoding="utf-8-sig")
    assert ",'=Acme Corp," in text
    assert parquet.filter(pl.col("row") == 14)["Company"][0] == "=Acme Corp"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["outcomes"] == {"applied": 6, "invalid": 5, "failed": 4, "duplicate": 1}
    assert summary["inputs"][0]["sha256"] == first.summary.inputs[0].sha256
    assert summary["requests"] >= 9  # 1 login + 8 sends + 8 refetches, fewer if any failed
    orders = pl.read_parquet(run_dir / "orders.parquet")
    assert json.loads(orders["order"][0])["orderId"] == orders["orderId"][0]

    # A person fixes the cells and runs errors.csv as it is.
    fixed = tmp_path / "errors-fixed.csv"
    for row in rows:
        if row["errorCode"] == "missing_state":
            row["State"] = "MA"
        if row["errorCode"] == "invalid_country":
            row["Country"] = "AT"
        if row["errorCode"] == "invalid_zip":  # the order's AU zip, kept for IE
            row["ZIP"] = "#clear"
    with fixed.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    again = run_files(
        [fixed], options=replace(options, action=None), env=env_for(sandbox), out=tmp_path / "two"
    )
    by_code = dict(zip([r["errorCode"] for r in rows], outcomes(again), strict=True))
    assert by_code["missing_state"][1] == "applied"
    assert by_code["invalid_country"][1] == "applied"
    assert by_code["invalid_zip"][1] == "applied"
    assert by_code["invalid_email"][2] == "invalid_email"


def test_validate_is_offline_and_writes_the_reports(tmp_path: Path) -> None:
    options = options_for("https://quivo.invalid")
    result = validate_files([MIXED_XLSX], options=options, out=tmp_path / "check")
    assert [o for _, o, _ in outcomes(result)].count("dry_run") == 9
    assert result.exit_code == 1
    assert result.summary.requests == 0
    assert (tmp_path / "check" / "errors.csv").exists()


def test_dry_run_sends_nothing_but_the_login(sandbox: SandboxThread, tmp_path: Path) -> None:
    result = run_files(
        [MIXED_XLSX],
        options=options_for(sandbox, dry_run=True),
        env=env_for(sandbox),
        out=tmp_path / "dry",
    )
    assert state_of(sandbox).stats.by_endpoint == {"login": 1}
    assert [o for _, o, _ in outcomes(result)].count("dry_run") == 9
    assert result.exit_code == 1  # invalid rows


@pytest.mark.parametrize(
    "sandbox",
    [
        SandboxConfig(
            cancel_delay_s=60,
            rate_limit_per_s=40,
            faults=Faults(error_share=0.15, drop_share=0.05, malformed_share=0.05),
            seed=11,
        )
    ],
    indirect=True,
)
def test_faults_and_429s_are_survived(sandbox: SandboxThread, tmp_path: Path) -> None:
    path, ids = comment_file(sandbox, tmp_path, 60, "note")
    result = run_files(
        [path],
        options=options_for(sandbox, action="update", rate=80.0, retries=8),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    assert {o for _, o, _ in outcomes(result)} == {"applied"}
    stats = state_of(sandbox).stats
    assert stats.rate_limited > 0
    assert sum(stats.faults.values()) > 0
    assert result.summary.retries > 0
    for order_id in ids:
        order = state_of(sandbox).order(order_id, touch=False)
        assert order is not None
        assert order["comment"] == f"note {order_id}"


@pytest.mark.parametrize(
    "sandbox", [SandboxConfig(token_ttl_s=0.4, cancel_delay_s=60)], indirect=True
)
def test_token_expiry_mid_run_costs_one_login_per_expiry(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    path, _ = comment_file(sandbox, tmp_path, 80, "ttl")
    result = run_files(
        [path],
        options=options_for(sandbox, action="update", rate=100.0, concurrency=8),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    assert {o for _, o, _ in outcomes(result)} == {"applied"}
    stats = state_of(sandbox).stats
    expiries = result.summary.wall_time_s / 0.4
    assert stats.auth_failures["expired_token"] >= 1
    assert 2 <= stats.logins <= expiries + 2


@pytest.mark.parametrize(
    "sandbox", [SandboxConfig(faults=Faults(error_share=0.97), seed=5)], indirect=True
)
def test_an_unusable_api_stops_the_run_with_complete_reports(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    result = run_files(
        [CANCEL_PARQUET],
        options=options_for(sandbox, action="cancel", retries=3, concurrency=2),
        env=env_for(sandbox),
        out=tmp_path / "run",
    )
    assert result.exit_code == 3
    assert "keeps failing" in result.summary.stopped or "login" in result.summary.stopped
    frame = pl.read_parquet(tmp_path / "run" / "results.parquet")
    assert frame.height == 7
    left = frame.filter(pl.col("outcome") != "duplicate")
    assert set(left["outcome"]) <= {"not_attempted", "failed", "applied", "unchanged", "unverified"}
    assert "aborted" in set(left["errorCode"].drop_nulls())


def test_a_refused_login_stops_the_run(sandbox: SandboxThread, tmp_path: Path) -> None:
    result = run_files(
        [CANCEL_PARQUET],
        options=options_for(sandbox, action="cancel"),
        env=env_for(sandbox, password="wrong"),
        out=tmp_path / "run",
    )
    assert result.exit_code == 3
    assert result.summary.stopped.startswith("login refused")
    assert state_of(sandbox).stats.by_endpoint == {"login": 1}
    assert set(result.results["outcome"]) == {"not_attempted", "duplicate"}


def test_cancels_against_a_real_api_need_confirmation(tmp_path: Path) -> None:
    options = options_for("https://quivo.invalid")
    env = Environment(api_key="k", username="u", password="p", token=None)  # type: ignore[arg-type]
    with pytest.raises(
        OptionsError, match=r"would cancel 6 orders at https://quivo.invalid.*--yes"
    ):
        run_files([CANCEL_PARQUET], options=replace(options, action="cancel"), env=env)
    with pytest.raises(OptionsError, match="not confirmed"):
        run_files(
            [CANCEL_PARQUET],
            options=replace(options, action="cancel"),
            env=env,
            confirm=lambda orders, url: False,
        )


def test_missing_credentials_are_a_usage_error(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = Environment(base_url=None, api_key=None, username=None, password=None, token=None)
    with pytest.raises(OptionsError, match="QUIVO_API_KEY is not set"):
        run_files([CANCEL_PARQUET], options=options_for(sandbox, action="cancel"), env=env)
    assert state_of(sandbox).stats.requests == 0
