"""Run configuration: API settings, credentials, and their precedence
(docs/reference/configuration.md).

Command-line option > job file > environment (QUIVO_*, a `.env` file) > defaults.
Secrets live only in `Credentials` as `SecretStr`, are read from the
environment, and never reach a manifest, a report or a message.

    options = resolve_options(Options(rate=20.0), env=Environment())
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.api.profile import ApiProfile, ProfileSettings, apply_settings
from pipeline.api.rate.spec import parse_rate
from pipeline.api.settings import (
    ApiSettings,
    Credentials,
)
from pipeline.config.options import Options
from pipeline.core.errors import OptionsError
from pipeline.core.names import named_fields

if TYPE_CHECKING:
    from pipeline.config.jobfile import JobFile

DEFAULT_BASE_URL = "https://api.quivo.co"
# Defaults safe for the real API: a low rate and a few requests in flight.


class Environment(BaseSettings, ProfileSettings):
    """QUIVO_* variables and the `.env` file of the current directory.

    Besides these, every API profile setting is a variable: QUIVO_AUTH_SCHEME,
    QUIVO_TOKEN_FIELD, QUIVO_READ, ... (`pipeline.api.profile.ProfileSettings`).
    """

    model_config = SettingsConfigDict(env_prefix="QUIVO_", env_file=".env", extra="ignore")

    base_url: str | None = None
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None

    def profile_settings(self) -> ProfileSettings:
        """The API profile settings among these variables."""
        return ProfileSettings(**{k: getattr(self, k) for k in ProfileSettings.model_fields})

    def credentials(self) -> Credentials:
        return Credentials(
            api_key=self.api_key,
            username=self.username,
            password=self.password,
            token=self.token,
        )


def read_environment() -> Environment:
    """The QUIVO_* variables; OptionsError names a variable whose value cannot be used."""
    try:
        return Environment()
    except ValidationError as error:
        problems = [
            f"QUIVO_{str(item['loc'][0]).upper()}: {item['msg']}"
            for item in error.errors(include_url=False)
            if item["loc"]
        ]
        raise OptionsError(
            "; ".join(problems or ["the QUIVO_* variables cannot be read"])
            + " (fix the variable or your .env file)"
        ) from None


# Shorter "secrets" would scrub ordinary words out of every message; they protect nothing.
MIN_SECRET_CHARS = 4


def scrub(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret value replaced by *** (for logs, messages and pages).

    scrub(str(error), env.credentials().secrets())
    """
    for secret in secrets:
        if len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, "***")
    return text


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """Return the base URL without a trailing slash; refuse http unless loopback."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptionsError(f"base URL {url!r} is not an http(s) URL, e.g. {DEFAULT_BASE_URL}")
    if parts.username or parts.password:
        raise OptionsError("the base URL must not contain credentials; use QUIVO_* variables")
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise OptionsError(
            f"base URL {parts.scheme}://{parts.hostname} is not https; plain http is only"
            " allowed to loopback (127.0.0.1, localhost)"
        )
    return url.strip().rstrip("/")


@named_fields
@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Everything a run needs besides inputs and credentials; saved in the manifest."""

    api: ApiSettings = ApiSettings()  # noqa: RUF009 (frozen: one shared default is safe)
    action: str | None = None
    address_type: str = "DELIVERY"
    columns: Mapping[str, str] = field(default_factory=dict)
    sheet: str | None = None
    header_row: int | None = None
    skip_hidden_rows: bool = False
    dry_run: bool = False
    refetch: bool = True
    assume_yes: bool = False
    job_name: str | None = None
    # Before-images and guards (docs/plan-apply-undo.md).
    snapshot: str = "changes"  # always | changes (update/address orders) | never
    max_changes: int | None = None  # refuse (exit 2) a run that would change more orders
    max_cancels: int | None = None  # refuse (exit 2) a run that would cancel more orders
    breaker: bool = True  # stop a run whose rows systematically fail the same way
    # errorCodes whose failed rows count as fine for the exit code (cron: status_conflict).
    expected_failures: tuple[str, ...] = ()

    def to_manifest(self) -> dict[str, Any]:
        data = asdict(self)
        data["columns"] = dict(self.columns)
        return data

    @classmethod
    def from_manifest(cls, data: Mapping[str, Any]) -> RunOptions:
        values = dict(data)
        # Manifests from before the API profile: token_refresh_s is now the profile's
        # token_ttl_s, and a missing profile is the documented one.
        api = {k: v for k, v in values["api"].items() if k != "token_refresh_s"}
        api["profile"] = ApiProfile.from_manifest(api.get("profile"))
        values["api"] = ApiSettings(**api)
        values["expected_failures"] = tuple(values.get("expected_failures") or ())
        return cls(**values)


def _rate_settings(value: str | float | None) -> dict[str, Any]:
    if value is None:
        return {}
    choice = parse_rate(value)
    return {
        "rate_per_s": choice.per_s,
        "rate_period_s": choice.period_s,
        "rate_auto": choice.auto,
    }


def _pick(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def resolve_options(
    overrides: Options | None = None,
    *,
    job: JobFile | None = None,
    env: Environment | None = None,
    base: RunOptions | None = None,
) -> RunOptions:
    """Merge option sources: `overrides` (None = not given) > `job` > `env` > `base` > defaults.

    `base` is a previous run's options, for `resume` and `rerun`.

        resolve_options(Options(action="address"), env=Environment())
    """
    given = overrides if overrides is not None else Options()
    if not isinstance(given, Options):
        raise OptionsError(
            f"options must be an Options object, not {type(given).__name__}:"
            " e.g. resolve_options(Options(action='address'), env=Environment())"
        )
    start = base or RunOptions()
    # A job file's keys are the same Options (plus its own); the caller's win.
    chosen = given.under(job.options()) if job is not None else given
    env_url = env.base_url if env is not None else None
    base_url = _pick(chosen.base_url, env_url if base is None else None)
    api = ApiSettings(
        **{
            **asdict(start.api),
            "base_url": check_base_url(base_url or start.api.base_url or DEFAULT_BASE_URL),
            **_rate_settings(chosen.rate),
            "concurrency": _pick(chosen.concurrency, start.api.concurrency),
            "max_attempts": (
                chosen.retries + 1 if chosen.retries is not None else start.api.max_attempts
            ),
            "timeout_s": _pick(chosen.timeout_s, start.api.timeout_s),
            # A resumed run keeps its profile; only a job's [api] table may change it.
            "profile": apply_settings(
                start.api.profile,
                job.api if job is not None else None,
                env.profile_settings() if env is not None and base is None else None,
            ),
        }
    )
    if api.concurrency < 1:
        raise OptionsError("--concurrency must be at least 1")
    check_unpaced(api)
    return RunOptions(
        api=api,
        action=_pick(chosen.action, start.action),
        address_type=_pick(chosen.address_type, start.address_type),
        columns=dict((job.columns if job is not None else None) or start.columns),
        sheet=_pick(chosen.sheet, start.sheet),
        header_row=_pick(chosen.header_row, start.header_row),
        skip_hidden_rows=bool(chosen.skip_hidden_rows or start.skip_hidden_rows),
        dry_run=bool(given.dry_run),
        refetch=chosen.refetch is not False and start.refetch,
        assume_yes=bool(_pick(chosen.assume_yes, start.assume_yes)),
        job_name=_pick(job.name if job is not None else None, start.job_name),
        snapshot=_pick(chosen.snapshot, start.snapshot),
        max_changes=_pick(chosen.max_changes, start.max_changes),
        max_cancels=_pick(chosen.max_cancels, start.max_cancels),
        breaker=chosen.breaker is not False and start.breaker,
        expected_failures=expected_codes(chosen.expected_failures) or start.expected_failures,
    )


def expected_codes(given: str | Sequence[str] | None) -> tuple[str, ...]:
    """`--expected-failures status_conflict,order_not_found` (or a job's list) as codes."""
    if not given:
        return ()
    items = given.split(",") if isinstance(given, str) else list(given)
    codes = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    from pipeline.core.outcomes import ErrorCode

    known = {code.value for code in ErrorCode}
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise OptionsError(
            f"--expected-failures: unknown error code {', '.join(unknown)}; use codes from"
            " the reports' errorCode column, e.g. status_conflict,order_not_found"
        )
    return codes


def settle_base_url(options: RunOptions, env: Environment | None) -> RunOptions:
    """Options built in Python without a base URL take QUIVO_BASE_URL, like the CLI.

    There is no default that points a notebook at the production API without saying so.
    """
    url = options.api.base_url or (env.base_url if env is not None else None)
    if not url:
        raise OptionsError(
            "no API base URL: set QUIVO_BASE_URL (in the environment or .env), or name it:"
            f" RunOptions(api=ApiSettings(base_url={DEFAULT_BASE_URL!r})) for the real API"
        )
    options = replace(options, api=replace(options.api, base_url=check_base_url(url)))
    check_unpaced(options.api)
    return options


def check_unpaced(api: ApiSettings) -> None:
    """`--rate 0` (unpaced) is for benchmarks against a loopback API, never a real one."""
    host = urlsplit(api.base_url).hostname or ""
    if api.rate_per_s is None and api.base_url and not is_loopback(host):
        raise OptionsError(
            f"--rate 0 (unpaced) is refused for {api.base_url}: it is only for a loopback"
            " API (benchmarks); give a rate, e.g. --rate 5"
        )
