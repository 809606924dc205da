"""How to talk to the API (`ApiSettings`: no secrets, kept in a run's manifest) and
with which credentials (`Credentials`: never written anywhere).

    ApiSettings(base_url="https://api.quivo.co", rate_per_s=5.0)
    Credentials(api_key=SecretStr("..."), username="shop", password=SecretStr("..."))
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr

from pipeline.api.profile import ApiProfile
from pipeline.core.errors import OptionsError
from pipeline.core.names import named_fields

DEFAULT_RATE_PER_S = 5.0


DEFAULT_CONCURRENCY = 4


DEFAULT_RETRIES = 4


DEFAULT_TIMEOUT_S = 30.0


@named_fields
@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    """How to talk to the API; no secrets, so it is saved in the run's manifest."""

    # "" = not chosen: the library takes QUIVO_BASE_URL (settle_base_url), never a silent
    # default; the CLI's default is the real API, as its --help says.
    base_url: str = ""
    # The bound: at most rate_per_s * rate_period_s requests in any rate_period_s seconds.
    rate_per_s: float | None = DEFAULT_RATE_PER_S  # None: unpaced (benchmarks only)
    rate_period_s: float = 1.0
    rate_auto: bool = False  # `--rate auto`: rate_per_s is the ceiling, the run finds its rate
    rate_start_per_s: float | None = None  # where `--rate auto` starts (None: the default)
    # The limit an earlier session of this run found (resume): auto continues just below it.
    rate_known_limit_per_s: float | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = DEFAULT_RETRIES + 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    connect_timeout_s: float = 10.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    # A gateway outage (502/503/504) is ridden out this long, with backoff, before the
    # run stops (resumably): a short outage is no reason to stop.
    outage_grace_s: float = 60.0
    max_body_bytes: int = 8 * 1024 * 1024
    profile: ApiProfile = field(
        default_factory=ApiProfile
    )  # what the API is assumed to do (docs/api.md)


@dataclass(frozen=True, kw_only=True)
class Credentials:
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    token: SecretStr | None = field(default=None, repr=False)

    @property
    def can_login(self) -> bool:
        return bool(self.username) and self.password is not None

    def api_key_text(self) -> str:
        return self.api_key.get_secret_value() if self.api_key else ""

    def password_text(self) -> str:
        return self.password.get_secret_value() if self.password else ""

    def static_token(self) -> str | None:
        return self.token.get_secret_value() if self.token else None

    def secrets(self) -> list[str]:
        """Every secret value, for redaction."""
        values = [self.api_key, self.password, self.token]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

    def check(self) -> None:
        """Raise OptionsError when these cannot authenticate at all."""
        if self.api_key is None:
            raise OptionsError("QUIVO_API_KEY is not set; export it or put it in a .env file")
        if not self.can_login and self.token is None:
            raise OptionsError(
                "no credentials: set QUIVO_USERNAME and QUIVO_PASSWORD (or QUIVO_TOKEN)"
                " in the environment or a .env file"
            )
