"""Secrets (API key, password, token) never reach output, reports, journals or state."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main
from pipeline.sandbox import Faults, SandboxConfig, SandboxThread, create_app, load_orders
from tests.conftest import SAMPLE_DATA, USERNAME, state_of

KEY = "KEY-MARKER-2c81f0"
PASSWORD = "PASSWORD-MARKER-93be11"
WRONG = "WRONG-PASSWORD-MARKER-5a0c"


def env(sandbox: SandboxThread, password: str = PASSWORD) -> dict[str, str]:
    return {
        "QUIVO_BASE_URL": sandbox.base_url,
        "QUIVO_API_KEY": KEY,
        "QUIVO_USERNAME": USERNAME,
        "QUIVO_PASSWORD": password,
    }


def test_markers_appear_nowhere(tmp_path: Path) -> None:
    config = SandboxConfig(api_key=KEY, password=PASSWORD, token_ttl_s=0.3, cancel_delay_s=60)
    app = create_app(config, orders=load_orders(SAMPLE_DATA / "sandbox_orders.jsonl"))
    outputs: list[str] = []
    runner = CliRunner()
    with SandboxThread(app) as sandbox:
        ids = state_of(sandbox).store.ids()[:150]
        cancels = tmp_path / "cancels.csv"
        cancels.write_text("orderId\n" + "".join(f"{i}\n" for i in ids))

        def run(*args: str, password: str = PASSWORD) -> int:
            result = runner.invoke(main, list(args), env=env(sandbox, password))
            outputs.append(result.output)
            return result.exit_code

        # Success with debug logs, through 401 storms (tokens live 0.3 s).
        storm = ["run", str(cancels), "--action", "cancel", "--rate", "60", "--quiet"]
        assert run("--log-level", "debug", *storm, "--out", str(tmp_path / "storm")) in (0, 1)
        assert state_of(sandbox).stats.auth_failures["expired_token"] >= 1
        # A refused login.
        assert run("run", str(SAMPLE_DATA / "mixed-changes.xlsx"), "--out",
                   str(tmp_path / "refused"), password=WRONG) == 3  # fmt: skip
        # An abort: the API starts failing.
        state = state_of(sandbox)
        sandbox.call(
            lambda: setattr(state, "config", replace(config, faults=Faults(error_share=1.0)))
        )
        assert run("--log-level", "debug", "run", str(SAMPLE_DATA / "mixed-changes.xlsx"),
                   "--retries", "1", "--out", str(tmp_path / "abort")) == 3  # fmt: skip
        sandbox.call(lambda: setattr(state, "config", config))
        # A corrupted journal: one line, no traceback.
        broken = tmp_path / "broken"
        shutil.copytree(tmp_path / "storm", broken)
        (broken / "journal.sqlite").write_bytes(b"this is not a database" * 100)
        for extra in ("journal.sqlite-wal", "journal.sqlite-shm"):
            (broken / extra).unlink(missing_ok=True)
        assert run("--log-level", "debug", "resume", str(broken)) == 2
        assert "Traceback" not in outputs[-1]
        # A sweep with its state database.
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        shutil.copy(SAMPLE_DATA / "inbox" / "2026-11-23-cancellations.csv", inbox)
        job = tmp_path / "sweep.toml"
        job.write_text('input = "inbox/*.csv"\naction = "cancel"\nassume_yes = true\n'
                       'runs_dir = "runs"\nrate = 100\nsettle_s = 0\n')  # fmt: skip
        assert run("--log-level", "debug", "run", "--job", str(job)) in (0, 1)
        tokens = list(state.tokens)
    assert len(tokens) >= 3
    markers = [KEY, PASSWORD, WRONG, *tokens]
    assert "DEBUG" in outputs[0]  # debug logging really ran
    for output in outputs:
        for marker in markers:
            assert marker not in output
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "sweep-state.sqlite" for p in files)
    for path in files:
        data = path.read_bytes()
        for marker in markers:
            assert marker.encode() not in data, (path, marker)


def test_a_password_with_non_ascii_characters_logs_in_and_is_written_nowhere(
    tmp_path: Path,
) -> None:
    """A German password ('Pässwort') is an ordinary secret: the sandbox accepts it
    (its login answered 500 on non-ASCII before), the run lands, and the password
    appears in no output or file of the run directory."""
    password = "Pässwort-ÄÖÜß-MARKER-7e21"
    config = SandboxConfig(api_key=KEY, password=password)
    app = create_app(config, orders=load_orders(SAMPLE_DATA / "sandbox_orders.jsonl"))
    out = tmp_path / "run"
    with SandboxThread(app) as sandbox:
        result = CliRunner().invoke(
            main,
            ["--log-level", "debug", "run", str(SAMPLE_DATA / "address-corrections.csv"),
             "--action", "address", "--rate", "100", "--quiet", "--out", str(out)],
            env=env(sandbox, password),
        )  # fmt: skip
        stats = state_of(sandbox).stats
    assert result.exit_code == 1, result.output  # invalid rows; not 3 (login refused)
    assert (stats.logins, stats.login_failures) == (1, 0)
    assert "applied" in result.output
    for marker in (password, "Pässwort"):
        assert marker not in result.output
        for path in (p for p in out.rglob("*") if p.is_file()):
            assert marker.encode() not in path.read_bytes(), path
