"""Names a caller gives, checked: a misspelt option or key is an error naming the closest
known name (difflib's ratio), never silently ignored (docs/guide/notebook.md).

    check_names({"max_cancel": 1}, ["max_cancels", "max_changes"])
    # OptionsError: unknown option 'max_cancel' (did you mean 'max_cancels'?); ...
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from collections.abc import Iterable
from typing import Any, TypeVar

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
