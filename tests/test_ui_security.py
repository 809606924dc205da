"""The UI's security model (docs/guide/operations.md) against the real app on loopback: each
refusal, once."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from pipeline.flows.run import run_files
from pipeline.sandbox import SandboxThread
from pipeline.ui.security import HEADER
from tests.conftest import SAMPLE_DATA, env_for, options_for
from tests.ui_helpers import read_preview, running_ui

SECRETS = {"api_key": "key-Zq81-never-shown", "password": "pw-Zq81-never-shown"}


@pytest.fixture
def ui(sandbox: SandboxThread, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    env = env_for(sandbox, api_key=SECRETS["api_key"], password=SECRETS["password"])
    runs = tmp_path / "runs"
    with running_ui(runs, options=options_for(sandbox), env=env, max_upload_bytes=200_000) as (
        url,
        token,
    ):
        yield url, token, runs


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def logged_in(url: str, token: str) -> aiohttp.ClientSession:
    client = session()
    async with client.get(f"{url}/?token={token}", allow_redirects=False) as answer:
        assert answer.status == 303
        assert answer.headers["Location"] == "/"
        cookie = answer.headers["Set-Cookie"]
        assert "SameSite=Strict" in cookie
        assert "HttpOnly" in cookie
    return client


async def upload(client: aiohttp.ClientSession, url: str, token: str, path: Path) -> str:
    form = aiohttp.FormData()
    form.add_field("files", await asyncio.to_thread(path.read_bytes), filename=path.name)
    async with client.post(f"{url}/upload", data=form, headers={HEADER: token}) as answer:
        assert answer.status == 200, await answer.text()
        next_page: str = (await answer.json())["next"]
    return next_page


async def test_no_token_no_page(ui: tuple[str, str, Path]) -> None:
    url, token, _ = ui
    async with session() as client:
        for path in ("/", "/runs", "/static/app.js", "/run/x/download/errors.csv"):
            async with client.get(url + path) as answer:
                assert answer.status == 403, path
                assert "token" in await answer.text()
        async with client.get(f"{url}/?token=wrong-{token}", allow_redirects=False) as answer:
            assert answer.status == 403
    client = await logged_in(url, token)
    async with client, client.get(url + "/") as answer:
        assert answer.status == 200
        assert "Start" in await answer.text()


async def test_foreign_host_refused_even_with_the_token(ui: tuple[str, str, Path]) -> None:
    url, token, _ = ui
    port = url.rsplit(":", 1)[1]
    client = await logged_in(url, token)
    async with client:
        for host in (f"rebound.example.com:{port}", f"127.0.0.1:{int(port) + 1}", "localhost"):
            async with client.get(url + "/", headers={"Host": host}) as answer:
                assert answer.status == 421, host
        async with client.get(url + "/", headers={"Host": f"localhost:{port}"}) as answer:
            assert answer.status == 200


async def test_cross_site_form_post_refused(ui: tuple[str, str, Path]) -> None:
    """A form on another site can carry the cookie's request but never the token header."""
    url, token, runs = ui
    client = await logged_in(url, token)
    async with client:
        form = aiohttp.FormData()
        form.add_field("files", b"orderId,comment\n4100031,hi\n", filename="x.csv")
        async with client.post(
            url + "/upload", data=form, headers={"Origin": "https://evil.example"}
        ) as answer:
            assert answer.status == 403
        async with client.post(url + "/upload", data=form, headers={HEADER: "not-it"}) as answer:
            assert answer.status == 403
        async with client.get(url + "/upload") as answer:  # no state change by GET
            assert answer.status == 405
    assert not runs.exists() or not any(runs.iterdir())


async def test_path_traversal_download_names(ui: tuple[str, str, Path], tmp_path: Path) -> None:
    url, token, runs = ui
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("private")
    client = await logged_in(url, token)
    async with client:
        draft = (await upload(client, url, token, SAMPLE_DATA / "mixed-changes.xlsx")).split("/")[2]
        for path in (
            f"/run/{draft}/download/..%2F..%2Fsecret.txt",
            f"/run/{draft}/download/inputs%2F1-mixed-changes.xlsx",
            "/run/..%2F/download/secret.txt",
            f"/run/{draft}/download/ui-draft.json",
            "/static/../../secret.txt",
            "/static/..%2F..%2Fapp.py",
            "/run/%2E%2E/download/summary.json",
        ):
            async with client.get(url + path) as answer:
                assert answer.status in (403, 404), path
                assert "private" not in await answer.text()
    assert draft in {p.name for p in runs.iterdir()}


async def test_oversized_upload_refused_and_not_stored(ui: tuple[str, str, Path]) -> None:
    url, token, runs = ui
    client = await logged_in(url, token)
    async with client:
        form = aiohttp.FormData()
        big = b"orderId,comment\n" + b"4100031,x\n" * 30_000  # 300 kB > the 200 kB limit
        form.add_field("files", big, filename="big.csv")
        async with client.post(url + "/upload", data=form, headers={HEADER: token}) as answer:
            assert answer.status == 413
        two = aiohttp.FormData()  # each under the limit, together over it
        for name in ("a.csv", "b.csv"):
            two.add_field("files", b"orderId,comment\n" + b"4100031,x\n" * 15_000, filename=name)
        async with client.post(url + "/upload", data=two, headers={HEADER: token}) as answer:
            assert answer.status == 413
    assert not runs.exists() or not any(runs.iterdir())


async def test_upload_is_stored_in_its_run_directory_only(ui: tuple[str, str, Path]) -> None:
    url, token, runs = ui
    client = await logged_in(url, token)
    async with client:
        form = aiohttp.FormData()
        form.add_field("files", b"orderId,comment\n4100031,hi\n", filename="../../escape.csv")
        async with client.post(url + "/upload", data=form, headers={HEADER: token}) as answer:
            assert answer.status == 200
    (run_dir,) = runs.iterdir()
    assert sorted(p.name for p in (run_dir / "inputs").iterdir()) == ["1-escape.csv"]
    assert oct(run_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((run_dir / "inputs" / "1-escape.csv").stat().st_mode & 0o777) == "0o600"
    assert not (runs.parent / "escape.csv").exists()


async def test_no_secret_in_any_page(ui: tuple[str, str, Path], sandbox: SandboxThread) -> None:
    """Walk every page a run produces; no credential appears in any of them."""
    url, token, runs = ui
    env = env_for(sandbox, api_key=SECRETS["api_key"], password=SECRETS["password"])
    client = await logged_in(url, token)
    seen: list[str] = []
    async with client:
        draft_page = await upload(client, url, token, SAMPLE_DATA / "mixed-changes.xlsx")
        name = draft_page.split("/")[2]
        pages = [
            "/",
            "/runs",
            draft_page,
            f"/draft/{name}/check",
            f"/draft/{name}/rows?offset=0&limit=50",
            f"/draft/{name}/preview",
        ]
        for page in pages:
            async with client.get(url + page) as answer:
                assert answer.status == 200, page
                seen.append(await answer.text())
        seen.append(await read_preview(client, url, name))  # the orders, read in the background
        cancels = int(re.findall(r'data-cancels="(\d+)"', seen[-1])[0])
        async with client.post(
            f"{url}/draft/{name}/send", json={"confirm": cancels}, headers={HEADER: token}
        ) as answer:
            # The login was refused: the preview read no order, so it is not sent.
            refusal = await answer.text()
            assert answer.status == 400, refusal
            assert "login refused" in refusal
            assert "open the preview again" in refusal
            seen.append(refusal)
        # A run with the same credentials, made by the library in the UI's runs folder.
        made = await asyncio.to_thread(
            lambda: run_files(
                [SAMPLE_DATA / "mixed-changes.xlsx"],
                options=options_for(sandbox),
                env=env,
                out=runs / "refused-run",
            )
        )
        for page in (
            "/run/refused-run",
            "/run/refused-run/rows?limit=50",
            "/run/refused-run/download/summary.json",
        ):
            async with client.get(url + page) as answer:
                assert answer.status == 200, page
                seen.append(await answer.text())
    assert made.exit_code == 3, made.summary
    assert "login refused" in seen[-3]
    everything = "\n".join(seen)
    for secret in (*SECRETS.values(), SecretStr("sandbox").get_secret_value()):
        assert secret not in everything
