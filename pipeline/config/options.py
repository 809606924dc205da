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

import dataclasses
import difflib
import functools
from collections.abc import Iterable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.api.rate.spec import parse_rate
from pipeline.core.errors import OptionsError


def closest_name(name: str, known: Iterable[str]) -> str | None:
    """The known name most like `name` (difflib's ratio), or None when none is close."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_name(name: str, known: Iterable[str], *, what: str = "option") -> str:
    """`unknown option 'retrys' (did you mean 'retries'?)`."""
    close = closest_name(name, known)
    hint = f" (did you mean '{close}'?)" if close else ""
    return f"unknown {what} '{name}'{hint}"


def check_names(given: Iterable[str], known: Iterable[str], *, what: str = "option") -> None:
    """Raise OptionsError naming every name of `given` that is not `known`."""
    known = list(known)
    unknown = [unknown_name(name, known, what=what) for name in given if name not in known]
    if unknown:
        raise OptionsError("; ".join(unknown) + f"; the {what}s are: {', '.join(known)}")


T = TypeVar("T", bound=type)


def named_fields(cls: T) -> T:
    """A frozen dataclass of options (RunOptions, ApiSettings) whose constructor refuses a
    misspelt name with the closest known one, as `Options` does, not with a bare TypeError."""
    init = cls.__init__  # type: ignore[misc]
    known = [field.name for field in dataclasses.fields(cls)]

    @functools.wraps(init)
    def checked(self: Any, *args: Any, **values: Any) -> None:
        check_names(values, known)
        init(self, *args, **values)

    cls.__init__ = checked  # type: ignore[misc]
    return cls


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
