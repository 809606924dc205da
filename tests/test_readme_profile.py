"""docs/api.md ("Assumptions about the API") and the `doctor` examples, run as printed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from click.testing import CliRunner

from pipeline.api.profile import ApiProfile, ProfileSettings
from pipeline.cli import main
from pipeline.config.jobfile import load_job
from pipeline.config.options import Options
from pipeline.config.settings import resolve_options
from pipeline.sandbox import SandboxConfig, SandboxThread, create_app
from tests.conftest import API_KEY, PASSWORD, REPO, USERNAME
from tests.readme import blocks, section, text_of

API = "docs/api.md"
COMMANDS = "docs/reference/commands.md"


def run_lines(lines: str) -> list[int]:
    codes = []
    for line in lines.strip().splitlines():
        words = shlex.split(line)
        assert words[0] in ("quivo-bulk", ".venv/bin/quivo-bulk"), line
        extra = ["--rate", "500"] if words[1] in ("run", "plan") else []
        result = CliRunner().invoke(main, [*words[1:], *extra])
        assert result.exception is None or isinstance(result.exception, SystemExit), line
        codes.append(result.exit_code)
    return codes


def test_the_first_run_advice_runs_as_printed(in_copy: Path) -> None:
    [commands] = blocks(section("## Before the first real run", page=API), "sh")
    assert [line.split()[1] for line in commands.strip().splitlines()] == ["doctor", "plan", "run"]
    # doctor: all as assumed; plan and run: the sample file has invalid rows (exit 1).
    assert run_lines(commands) == [0, 1, 1]
    assert (in_copy / "runs" / "first-plan" / "plan.xlsx").exists()
    assert (in_copy / "runs" / "first-run" / "results.csv").exists()


def test_the_doctor_examples_run_as_printed(in_copy: Path) -> None:
    commands = blocks(section("## `quivo-bulk doctor`", page=COMMANDS), "sh")[0]
    assert run_lines(commands) == [0, 0]


def test_the_api_table_example_sets_the_profile(tmp_path: Path) -> None:
    [table] = blocks(text_of(API), "toml")
    job = tmp_path / "job.toml"
    job.write_text('input = "x.csv"\n' + table)
    profile = resolve_options(Options(), job=load_job(job), env=None).api.profile
    assert profile == ApiProfile(auth_scheme="bearer", token_field="accessToken")


def test_every_profile_setting_is_in_the_assumptions_table() -> None:
    text = text_of(API)
    for name in ProfileSettings.model_fields:
        assert f"`{name}`" in text, name


def test_the_printed_doctor_output_is_what_doctor_prints(
    fresh_orders: list[dict[str, Any]],
) -> None:
    [printed] = re.findall(
        r"```\n(doctor:.*?)```", section("## `quivo-bulk doctor`", page=COMMANDS), re.DOTALL
    )
    config = replace(
        SandboxConfig(), auth_scheme="bearer", token_field="accessToken", get_order=False
    )
    with SandboxThread(create_app(config, orders=fresh_orders)) as sandbox:
        env = {"QUIVO_API_KEY": API_KEY, "QUIVO_USERNAME": USERNAME, "QUIVO_PASSWORD": PASSWORD}
        result = CliRunner().invoke(
            main, ["doctor", "--base-url", sandbox.base_url, "--order", "4100001"], env=env
        )
        base_url = sandbox.base_url

    def normal(text: str) -> str:
        text = text.replace(base_url, "http://127.0.0.1:8787")
        return re.sub(r"\d+ ms", "N ms", text).strip()

    assert result.exit_code == 1
    assert normal(result.output) == normal(printed)


def test_the_sandbox_variant_example_serves_that_variant() -> None:
    """docs/sandbox.md's `quivo-bulk sandbox --auth-scheme bearer ...` line (on a free port)."""
    [line] = [
        line
        for line in blocks(text_of("docs/sandbox.md"), "sh")[0].splitlines()
        if "--auth-scheme" in line
    ]
    command = [sys.executable, "-m", "pipeline", *shlex.split(line)[1:], "--port", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIVO_")}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            found = re.fullmatch(r"Sandbox listening on (\S+)\n", process.stdout.readline())
            assert found
            base_url = found.group(1)

            async def probe() -> tuple[Any, int, int, int]:
                key = {"X-Api-Key": "sandbox-key"}
                async with aiohttp.ClientSession() as session:
                    body = {"username": "sandbox", "password": "sandbox"}
                    async with session.post(f"{base_url}/login", json=body, headers=key) as r:
                        answer = await r.json()
                    token = answer.get("accessToken", "")
                    statuses = []
                    for auth in (f"Bearer {token}", token):
                        headers = key | {"Authorization": auth}
                        async with session.post(
                            f"{base_url}/orders/4100001/refetch", headers=headers
                        ) as r:
                            statuses.append(r.status)
                    headers = key | {"Authorization": f"Bearer {token}"}
                    async with session.get(f"{base_url}/orders/4100001", headers=headers) as r:
                        statuses.append(r.status)
                return answer.keys(), *statuses

            keys, bearer, raw, get = asyncio.run(probe())
        finally:
            process.terminate()
    assert list(keys) == ["accessToken"]
    assert (bearer, raw, get) == (200, 401, 405)


def test_the_code_map_names_every_module() -> None:
    """The code map stays true: every module of pipeline/ is named in its folder's row."""
    text = section("## Module by module", page="docs/design/code-map.md")
    rows: dict[str, str] = {}
    for folder, modules in re.findall(r"^\| [^|]+ \| `([^`]+)` \| (.*) \|$", text, re.MULTILINE):
        rows[folder] = rows.get(folder, "") + modules
    missing = [
        path.relative_to(REPO).as_posix()
        for path in sorted((REPO / "pipeline").rglob("*.py"))
        if path.name not in ("__init__.py", "__main__.py")
        and f"`{path.name}`" not in rows.get(path.parent.relative_to(REPO).as_posix() + "/", "")
    ]
    assert missing == [], "add these modules to docs/design/code-map.md (## Module by module)"


def test_the_sandbox_example_serves_the_sample_orders() -> None:
    """docs/sandbox.md's first line, as printed but on a free port: it says where it
    listens as the printed comment does, and serves the orders of the sample file."""
    [block] = blocks(text_of("docs/sandbox.md"), "sh")
    line, comment = block.splitlines()[:2]
    assert line.startswith("quivo-bulk sandbox --orders ")
    command = [sys.executable, "-m", "pipeline", *shlex.split(line)[1:], "--port", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIVO_")}
    sample = (REPO / "sample_data" / "sandbox_orders.jsonl").read_text()
    first_order = json.loads(sample.split("\n", 1)[0])
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO
    ) as process:
        try:
            assert process.stdout is not None
            said = process.stdout.readline()
            port = re.fullmatch(r"Sandbox listening on http://127\.0\.0\.1:(\d+)\n", said)
            assert port, said
            assert comment == "# " + said.strip().replace(port.group(1), "8787")
            url = f"http://127.0.0.1:{port.group(1)}/_sandbox/orders/{first_order['orderId']}"
            with urllib.request.urlopen(url, timeout=10) as answer:
                served = json.loads(answer.read())
        finally:
            process.terminate()
    assert served == first_order
