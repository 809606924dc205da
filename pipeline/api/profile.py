"""The API profile: everything quivo-bulk assumes about the Quivo API, in one place (docs/api.md).

Defaults are the documented behaviour (docs/api.md); where the docs are silent
they are inferred, and a job's `[api]` table or `QUIVO_*` variables change
them (`ProfileSettings` validates both). The profile is saved in the run's
manifest, so `resume` talks to the API the way the run began. Nothing outside
this module (and the sandbox, which plays the API) names a path, a header, an
auth scheme or a token field.

    profile = ApiProfile(auth_scheme="bearer", token_field="data.accessToken")
    profile.auth_headers(api_key="k", token="t")  # {"X-Api-Key": "k", "Authorization": "Bearer t"}
    profile.read_request(42)                       # Request("POST", "/orders/42/refetch", ...)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

AuthScheme = Literal["raw", "bearer"]
ReadMethod = Literal["refetch", "get"]
StaleCheck = Literal["search", "read"]
ORDER_ID = "{order_id}"  # the placeholder in an order path
TOKEN_HINT = "token"  # a word a login answer's token field likely holds (doctor's search)


class Request(NamedTuple):
    """One API request, as the client sends it."""

    method: str
    path: str
    params: dict[str, str] | None
    body: Any


@dataclass(frozen=True, kw_only=True)
class ApiProfile:
    """What the API is assumed to do. Saved in the manifest; no secrets."""

    auth_scheme: AuthScheme = "raw"  # Authorization: <token>; "bearer": Bearer <token>
    token_field: str = "token"  # where the login answer holds the token (dotted path)
    token_ttl_s: float = 3600.0  # how long a token lives
    read: ReadMethod = "refetch"  # how an order is read (before-images, apply's check)
    verify: ReadMethod = "refetch"  # how an order is read after a change
    key_search_batch: int = 50  # values per GET /orders lookup by shop order number
    # How apply, undo --apply and the UI's Send learn whether an order moved since it was
    # read: "search" asks GET /orders for lastModified and status in batches and reads in
    # full only the orders whose lastModified moved; "read" reads every order in full.
    stale_check: StaleCheck = "search"
    api_key_header: str = "X-Api-Key"
    auth_header: str = "Authorization"
    login_path: str = "/login"
    orders_path: str = "/orders"  # the search: GET /orders?query=...
    order_path: str = "/orders/{order_id}"  # GET (when read = get) and PATCH
    address_path: str = "/orders/{order_id}/address"  # PUT ?type=...
    cancel_path: str = "/orders/{order_id}/cancelRequest"  # POST
    refetch_path: str = "/orders/{order_id}/refetch"  # POST, answers the full order

    @property
    def refresh_after_s(self) -> float:
        """Renew a token well before it expires: after five sixths of its life."""
        return self.token_ttl_s * 5 / 6

    def auth_headers(self, *, api_key: str, token: str | None) -> dict[str, str]:
        """The headers of a request: the API key always, the token on all but the login."""
        headers = {self.api_key_header: api_key}
        if token is not None:
            headers[self.auth_header] = f"Bearer {token}" if self.auth_scheme == "bearer" else token
        return headers

    def token_from(self, answer: Any) -> str | None:
        """The token in a login answer at `token_field` (a dotted path), or None."""
        value = answer
        for key in self.token_field.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value if isinstance(value, str) and value else None

    def path(self, template: str, order_id: int) -> str:
        return template.replace(ORDER_ID, str(order_id))

    def login_request(self, body: dict[str, Any]) -> Request:
        return Request("POST", self.login_path, None, body)

    def patch_request(self, order_id: int, body: dict[str, Any]) -> Request:
        return Request("PATCH", self.path(self.order_path, order_id), None, body)

    def address_request(self, order_id: int, address_type: str, body: dict[str, Any]) -> Request:
        return Request("PUT", self.path(self.address_path, order_id), {"type": address_type}, body)

    def cancel_request(self, order_id: int) -> Request:
        return Request("POST", self.path(self.cancel_path, order_id), None, None)

    def is_cancel(self, method: str, path: str) -> bool:
        """Is this request a cancellation? (The journal commits those before sending.)"""
        prefix, _, suffix = self.cancel_path.partition(ORDER_ID)
        middle = path[len(prefix) : len(path) - len(suffix)] if suffix else path[len(prefix) :]
        return (
            method == "POST"
            and path.startswith(prefix)
            and path.endswith(suffix)
            and middle.isdigit()
        )

    def fetch_request(self, order_id: int, how: ReadMethod) -> Request:
        """Read one whole order: the refetch (POST) or GET of the order."""
        if how == "get":
            return Request("GET", self.path(self.order_path, order_id), None, None)
        return Request("POST", self.path(self.refetch_path, order_id), None, None)

    def read_request(self, order_id: int) -> Request:
        """Read an order before changing it (before-images, apply's check)."""
        return self.fetch_request(order_id, self.read)

    def verify_request(self, order_id: int) -> Request:
        """Read an order after changing it, to verify the change landed."""
        return self.fetch_request(order_id, self.verify)

    def search_request(
        self, query: str | None = None, *, page_size: int, page: int | None = None
    ) -> Request:
        """GET /orders?query=... (Elasticsearch query-string syntax), one page of summaries."""
        params = {"pageSize": str(page_size)}
        if query is not None:
            params["query"] = query
        if page is not None:
            params["page"] = str(page)
        return Request("GET", self.orders_path, params, None)

    @classmethod
    def from_manifest(cls, data: dict[str, Any] | None) -> ApiProfile:
        """The profile a run was made with; runs made before profiles existed get defaults."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


def _check_path(value: str | None, *, with_order: bool) -> str | None:
    if value is None:
        return None
    if not value.startswith("/"):
        raise ValueError(f"must start with '/', e.g. /orders/{ORDER_ID}")
    if with_order and ORDER_ID not in value:
        raise ValueError(f"must contain {ORDER_ID}, e.g. /orders/{ORDER_ID}")
    return value


class ProfileSettings(BaseModel):
    """Changes to the profile: a job's `[api]` table; `Environment` reads them as QUIVO_*."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth_scheme: AuthScheme | None = None
    token_field: str | None = Field(default=None, min_length=1, pattern=r"^[^.\s]+(\.[^.\s]+)*$")
    token_ttl_s: float | None = Field(default=None, gt=60)
    read: ReadMethod | None = None
    verify: ReadMethod | None = None
    key_search_batch: int | None = Field(default=None, ge=1, le=1000)
    stale_check: StaleCheck | None = None
    api_key_header: str | None = Field(default=None, min_length=1)
    auth_header: str | None = Field(default=None, min_length=1)
    login_path: str | None = None
    orders_path: str | None = None
    order_path: str | None = None
    address_path: str | None = None
    cancel_path: str | None = None
    refetch_path: str | None = None

    @field_validator("login_path", "orders_path")
    @classmethod
    def _plain_path(cls, value: str | None) -> str | None:
        return _check_path(value, with_order=False)

    @field_validator("order_path", "address_path", "cancel_path", "refetch_path")
    @classmethod
    def _order_path(cls, value: str | None) -> str | None:
        return _check_path(value, with_order=True)

    def changes(self) -> dict[str, Any]:
        """The settings given (not None)."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


PROFILE_SETTINGS = tuple(ProfileSettings.model_fields)


def apply_settings(profile: ApiProfile, *changes: ProfileSettings | None) -> ApiProfile:
    """`profile` with the given settings applied, the first given value of each winning."""
    values: dict[str, Any] = {}
    for change in reversed([c for c in changes if c is not None]):
        values.update(change.changes())
    return ApiProfile(**{**asdict(profile), **values}) if values else profile
