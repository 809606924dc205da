"""The options a person or a notebook chooses, one typed model for every way in.

The CLI (`pipeline.cli.common.options_from_cli`), a job file (`JobFile` adds its own
keys to these), the UI and Python all say what they want as `Options`; a field left
at None is not given, so the job file, the environment or the run being resumed
decides. `pipeline.config.settings.resolve_options` merges them into `RunOptions`.

    options = resolve_options(Options(action="cancel", max_cancels=1), env=Environment())

A misspelt name is an error naming the closest known one, never an option quietly
left out (a guard left off):

    Options(max_cancel=1)  # OptionsError: unknown option 'max_cancel' (did you mean 'max_cancels'?)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.api.rate.spec import parse_rate
from pipeline.core.errors import OptionsError
from pipeline.core.names import check_names


class Options(BaseModel):
    """What the caller chose; None = not given. Any other name is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["update", "address", "cancel"] | None = None
    address_type: Literal["DELIVERY", "INVOICE", "DELIVERY_AND_INVOICE"] | None = None
    sheet: str | None = None
    header_row: int | None = Field(None, ge=1)
    skip_hidden_rows: bool | None = None
    base_url: str | None = None
    rate: str | float | None = Field(default=None, description="like --rate: 5, 100/min, 2.5, auto")
    concurrency: int | None = Field(default=None, ge=1, le=64)
    retries: int | None = Field(default=None, ge=0, le=10)
    timeout_s: float | None = Field(default=None, gt=0)
    dry_run: bool | None = None
    refetch: bool | None = None
    assume_yes: bool | None = None
    snapshot: Literal["always", "changes", "never"] | None = None
    max_changes: int | None = Field(None, ge=0)
    max_cancels: int | None = Field(None, ge=0)
    breaker: bool | None = None
    expected_failures: str | list[str] | None = Field(
        default=None, description="errorCodes that count as fine for the exit code"
    )

    def __init__(self, **values: Any) -> None:
        check_names(values, type(self).model_fields)
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise OptionsError(describe_errors(error)) from None

    @field_validator("rate")
    @classmethod
    def _readable_rate(cls, rate: str | float | None) -> str | float | None:
        if rate is not None:
            try:
                parse_rate(rate)
            except OptionsError as error:
                raise ValueError(str(error).removeprefix("--")) from None
        return rate

    def given(self) -> dict[str, Any]:
        """The options given (not None), by name."""
        return {name: value for name, value in self if value is not None}

    def only(self, names: Iterable[str]) -> Options:
        """These options, keeping only `names` (the others: not given)."""
        keep = set(names)
        check_names(keep, type(self).model_fields)
        return Options(**{k: v for k, v in self.given().items() if k in keep})

    def under(self, fallback: Options) -> Options:
        """These options, with `fallback`'s where these give none."""
        return Options(**{**fallback.given(), **self.given()})


def describe_errors(error: ValidationError) -> str:
    """One line naming each option whose value cannot be used."""
    problems = []
    for item in error.errors(include_url=False):
        name = ".".join(str(part) for part in item["loc"]) or "options"
        problems.append(f"{name}: {str(item['msg']).removeprefix('Value error, ')}")
    return "; ".join(problems)
