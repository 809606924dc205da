"""The API profile (docs/api.md): every variant the sandbox serves, run, resumed and planned.

Each variant is a sandbox that differs from the documented API in one way and
the profile settings (QUIVO_* variables) that match it. The documented client
fails against the variants; the matching profile makes run, resume and plan work.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp import web
from click.testing import CliRunner

from pipeline.api.profile import ApiProfile, ProfileSettings, apply_settings
from pipeline.cli import main
from pipeline.config.jobfile import JobFile, load_job
from pipeline.config.options import Options
from pipeline.config.settings import Environment, RunOptions, resolve_options
from pipeline.flows.plan import plan_files
from pipeline.sandbox import SandboxConfig, SandboxThread, create_app
from tests.conftest import REPO, env_for, order_ids, state_of
from tests.test_cli import cli_env

DOCUMENTED = SandboxConfig(cancel_delay_s=60)
# (name, the sandbox, the QUIVO_* variables that match it, the read endpoint used)
VARIANTS: list[tuple[str, SandboxConfig, dict[str, str], str]] = [
    ("documented", DOCUMENTED, {}, "refetch"),
    ("bearer", replace(DOCUMENTED, auth_scheme="bearer"),
     {"QUIVO_AUTH_SCHEME": "bearer"}, "refetch"),
    ("token field", replace(DOCUMENTED, token_field="accessToken"),
     {"QUIVO_TOKEN_FIELD": "accessToken"}, "refetch"),
    ("nested token", replace(DOCUMENTED, token_field="data.jwt"),
     {"QUIVO_TOKEN_FIELD": "data.jwt"}, "refetch"),
    ("read with GET", DOCUMENTED, {"QUIVO_READ": "get", "QUIVO_VERIFY": "get"}, "get"),
    ("no GET of an order", replace(DOCUMENTED, get_order=False), {}, "refetch"),
    ("cancel answers 200", replace(DOCUMENTED, cancel_status=200), {}, "refetch"),
    ("cancel answers 202", replace(DOCUMENTED, cancel_status=202), {}, "refetch"),
    ("all at once", replace(DOCUMENTED, auth_scheme="bearer", token_field="accessToken",
                            get_order=False, cancel_status=202),
     {"QUIVO_AUTH_SCHEME": "bearer", "QUIVO_TOKEN_FIELD": "accessToken"}, "refetch"),
]  # fmt: skip
IDS = [name for name, *_ in VARIANTS]


def changes_file(sandbox: SandboxThread, folder: Path) -> tuple[Path, int]:
    """8 comment updates and 4 cancels on distinct orders: every row should land."""
    processing = order_ids(sandbox, "PROCESSING", 10)
    pending = order_ids(sandbox, "PENDING", 2)
    lines = [f"{i},update,profile test {i}" for i in processing[:8]]
    lines += [f"{i},cancel," for i in processing[8:10] + pending]
    path = folder / "changes.csv"
    path.write_text("orderId,action,comment\n" + "\n".join(lines) + "\n")
    return path, len(lines)


def killer(at: int, pid: list[int]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A sandbox middleware that kills the client (kill -9) at the at-th change it receives."""
    seen = 0

    @web.middleware
    async def kill(
        request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        nonlocal seen
        if request.match_info.route.name in ("patch", "cancel"):
            seen += 1
            if seen == at and pid:
                os.kill(pid[0], signal.SIGKILL)
        return await handler(request)

    return kill


def run_args(path: Path, out: Path) -> list[str]:
    return ["run", str(path), "--out", str(out), "--rate", "500", "--concurrency", "2", "--yes"]


def reads(sandbox: SandboxThread) -> dict[str, int]:
    by_endpoint = state_of(sandbox).stats.by_endpoint
    return {kind: by_endpoint.get(kind, 0) for kind in ("get", "refetch")}


@pytest.mark.parametrize(("name", "config", "variables", "read"), VARIANTS, ids=IDS)
def test_a_run_works_against_each_variant_with_its_profile(
    name: str, config: SandboxConfig, variables: dict[str, str], read: str, tmp_path: Path,
    fresh_orders: list[dict[str, Any]],
) -> None:  # fmt: skip
    with SandboxThread(create_app(config, orders=fresh_orders)) as sandbox:
        path, rows = changes_file(sandbox, tmp_path)
        out = tmp_path / "run"
        result = CliRunner().invoke(
            main, [*run_args(path, out), "--quiet"], env=cli_env(sandbox) | variables
        )
        stats = state_of(sandbox).stats
        assert result.exit_code == 0, result.output
        assert dict(stats.auth_failures) == {}  # never a refused token: the scheme matched
        assert stats.logins == 1
        used = reads(sandbox)
        assert used[read] >= rows  # the profile's read: before-images and verification
        assert sum(used.values()) == used[read]
    results = pl.read_parquet(out / "results.parquet")
    assert results["outcome"].to_list() == ["applied"] * rows
    with sqlite3.connect(out / "journal.sqlite") as db:
        manifest = json.loads(db.execute("SELECT body FROM manifest").fetchone()[0])
    manifest_profile = RunOptions.from_manifest(manifest["options"]).api.profile
    assert manifest_profile == apply_settings(
        ApiProfile(),
        ProfileSettings(**{k.removeprefix("QUIVO_").lower(): v for k, v in variables.items()}),
    )


@pytest.mark.parametrize(
    ("name", "config", "variables", "read"), [v for v in VARIANTS if v[1] != DOCUMENTED and v[2]],
    ids=[name for name, config, variables, _ in VARIANTS if config != DOCUMENTED and variables],
)  # fmt: skip
def test_the_documented_profile_fails_against_a_variant(
    name: str, config: SandboxConfig, variables: dict[str, str], read: str, tmp_path: Path,
    fresh_orders: list[dict[str, Any]],
) -> None:  # fmt: skip
    with SandboxThread(create_app(config, orders=fresh_orders)) as sandbox:
        path, _ = changes_file(sandbox, tmp_path)
        result = CliRunner().invoke(
            main, [*run_args(path, tmp_path / "run"), "--quiet"], env=cli_env(sandbox)
        )
        assert result.exit_code != 0, result.output
        assert sum(state_of(sandbox).stats.accepted_mutations.values()) == 0


@pytest.mark.parametrize(("name", "config", "variables", "read"), VARIANTS, ids=IDS)
def test_a_killed_run_resumes_with_the_profile_it_began_with(
    name: str, config: SandboxConfig, variables: dict[str, str], read: str, tmp_path: Path,
    fresh_orders: list[dict[str, Any]],
) -> None:  # fmt: skip
    pid: list[int] = []
    app = create_app(config, orders=fresh_orders)
    app.middlewares.insert(0, killer(4, pid))
    with SandboxThread(app) as sandbox:
        path, rows = changes_file(sandbox, tmp_path)
        out = tmp_path / "run"
        env = {**os.environ, **cli_env(sandbox), **variables}
        command = [sys.executable, "-m", "pipeline", *run_args(path, out), "--quiet"]
        with subprocess.Popen(command, env=env, stderr=subprocess.PIPE) as process:
            pid.append(process.pid)
            process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL
        # The resume is given no profile variables: it must use the run's manifest.
        resumed = CliRunner().invoke(main, ["resume", str(out), "--quiet"], env=cli_env(sandbox))
        stats = state_of(sandbox).stats
        assert resumed.exit_code == 0, resumed.output
        assert dict(stats.auth_failures) == {}
        assert stats.logins == 2  # one per session: each token worked at once
        assert sum(reads(sandbox).values()) == reads(sandbox)[read]
    results = pl.read_parquet(out / "results.parquet")
    assert results["row"].n_unique() == results.height == rows  # every row exactly once
    # A change that landed just before the kill is found in place on resume: unchanged.
    assert set(results["outcome"]) <= {"applied", "unchanged"}
    assert (results["outcome"] == "applied").sum() >= 1


@pytest.mark.parametrize(("name", "config", "variables", "read"), VARIANTS, ids=IDS)
def test_a_plan_reads_each_order_through_the_profile(
    name: str, config: SandboxConfig, variables: dict[str, str], read: str, tmp_path: Path,
    fresh_orders: list[dict[str, Any]],
) -> None:  # fmt: skip
    with SandboxThread(create_app(config, orders=fresh_orders)) as sandbox:
        path, rows = changes_file(sandbox, tmp_path)
        settings = {k.removeprefix("QUIVO_").lower(): v for k, v in variables.items()}
        env = Environment(**env_for(sandbox).model_dump(exclude=set(settings)), **settings)
        options = resolve_options(Options(rate=500.0), job=None, env=env)
        result = plan_files([path], options=options, env=env, out=tmp_path / "plan")
        stats = state_of(sandbox).stats
        assert dict(stats.auth_failures) == {}
        assert sum(stats.accepted_mutations.values()) == 0  # a plan changes nothing
        # The 8 updated orders are read through the profile's read; the 4 cancel-only
        # orders' status comes from one search.
        assert reads(sandbox)[read] == rows - 4
        assert sum(reads(sandbox).values()) == rows - 4
        assert stats.by_endpoint["list"] == 1
    assert result.summary.predictions == {"will_change": rows}


def test_a_job_file_api_table_sets_the_profile_and_refuses_unknown_keys(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(
        'input = "x.csv"\n[api]\nauth_scheme = "bearer"\ntoken_field = "data.jwt"\nverify = "get"\n'
    )
    options = resolve_options(Options(), job=load_job(job), env=None)
    assert options.api.profile == ApiProfile(
        auth_scheme="bearer", token_field="data.jwt", verify="get"
    )
    job.write_text('input = "x.csv"\n[api]\nauth_schema = "bearer"\n')
    result = CliRunner().invoke(main, ["run", "--job", str(job)])
    assert result.exit_code == 2
    assert "unknown key 'api.auth_schema'" in result.output


def test_the_job_table_wins_over_the_environment() -> None:
    env = Environment(
        api_key=None, username=None, password=None, token=None, base_url=None,
        auth_scheme="bearer", read="get",
    )  # fmt: skip
    job = JobFile(input="x.csv", api=ProfileSettings(auth_scheme="raw"))
    profile = resolve_options(Options(), job=job, env=env).api.profile
    assert (profile.auth_scheme, profile.read) == ("raw", "get")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("QUIVO_AUTH_SCHEME", "basic", "QUIVO_AUTH_SCHEME: Input should be 'raw' or 'bearer'"),
        ("QUIVO_READ", "head", "QUIVO_READ: Input should be 'refetch' or 'get'"),
        ("QUIVO_REFETCH_PATH", "/orders/refetch", "QUIVO_REFETCH_PATH: Value error, must"),
    ],
)
def test_a_bad_profile_variable_is_a_usage_error_that_names_it(
    variable: str, value: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "x.csv"
    path.write_text("orderId,action,comment\n1,update,x\n")
    env = {"QUIVO_API_KEY": "k", "QUIVO_USERNAME": "u", "QUIVO_PASSWORD": "p", variable: value}
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "r")], env=env)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(
    ("profile", "answer", "token"),
    [
        (ApiProfile(), {"token": "abc"}, "abc"),
        (ApiProfile(token_field="accessToken"), {"token": "abc", "accessToken": "xyz"}, "xyz"),
        (ApiProfile(token_field="data.jwt"), {"data": {"jwt": "xyz"}}, "xyz"),
        (ApiProfile(token_field="data.jwt"), {"data": "xyz"}, None),
        (ApiProfile(), {"token": ""}, None),
        (ApiProfile(), {"token": 5}, None),
        (ApiProfile(), "token", None),
    ],
)
def test_the_token_is_found_at_its_dotted_path(
    profile: ApiProfile, answer: Any, token: str | None
) -> None:
    assert profile.token_from(answer) == token


def test_headers_and_requests_come_from_the_profile() -> None:
    bearer = ApiProfile(auth_scheme="bearer")
    assert bearer.auth_headers(api_key="k", token="t") == {
        "X-Api-Key": "k",
        "Authorization": "Bearer t",
    }
    assert ApiProfile().auth_headers(api_key="k", token=None) == {"X-Api-Key": "k"}
    assert ApiProfile().read_request(7)[:2] == ("POST", "/orders/7/refetch")
    assert ApiProfile(verify="get").verify_request(7)[:2] == ("GET", "/orders/7")
    assert ApiProfile().is_cancel("POST", "/orders/7/cancelRequest")
    assert not ApiProfile().is_cancel("POST", "/orders/7/refetch")
    assert not ApiProfile().is_cancel("POST", "/orders/x/cancelRequest")
    assert ApiProfile().refresh_after_s == 3000


# What the API is assumed to look like; only the profile (and the sandbox, which plays
# the API) may spell it out. Docstrings may show examples. (Every order path starts
# with /orders, so /address needs no pattern of its own.)
ASSUMPTIONS = re.compile(
    r"/login|/orders|/refetch|/cancelRequest|X-Api-Key|Authorization|Bearer|accessToken"
)
# The login answer's token field; the browser UI has a token of its own (its URL's).
TOKEN_FIELD = re.compile(r"^token$")
ALLOWED = {"pipeline/api/profile.py", "pipeline/cli/sandbox.py"}


def assumptions_in(name: str, value: str) -> bool:
    if ASSUMPTIONS.search(value):
        return True
    return not name.startswith("pipeline/ui/") and TOKEN_FIELD.search(value) is not None


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_no_api_path_header_or_token_field_outside_the_profile() -> None:
    offenders = []
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        name = path.relative_to(REPO).as_posix()
        if name in ALLOWED or name.startswith("pipeline/sandbox/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
                and assumptions_in(name, node.value)
            ):
                offenders.append(f"{name}:{node.lineno}: {node.value!r}")
            if isinstance(node, ast.Compare) and any(
                isinstance(c, ast.Constant) and c.value in (200, 201, 202, 204)
                for c in node.comparators
            ):
                offenders.append(f"{name}:{node.lineno}: a success code compared")
    assert offenders == []


def test_the_grep_finds_a_hard_coded_path(tmp_path: Path) -> None:
    """The check above would catch code like the client's before the profile."""
    tree = ast.parse('def f():\n    """/orders/1 in a docstring"""\n    return "/login"\n')
    skip = _docstrings(tree)
    hits = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and id(n) not in skip and ASSUMPTIONS.search(str(n.value))
    ]
    assert hits == ["/login"]


def test_a_manifest_keeps_the_profile_and_an_older_one_gets_the_documented_one() -> None:
    profile = ApiProfile(auth_scheme="bearer", token_field="data.jwt", read="get")
    options = RunOptions(api=replace(RunOptions().api, profile=profile))
    saved = json.loads(json.dumps(options.to_manifest()))
    assert RunOptions.from_manifest(saved).api.profile == profile
    older = json.loads(json.dumps(RunOptions().to_manifest()))
    del older["api"]["profile"]
    older["api"]["token_refresh_s"] = 3000
    assert RunOptions.from_manifest(older).api.profile == ApiProfile()
