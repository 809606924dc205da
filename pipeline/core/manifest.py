"""Typed run state: the manifest of a run or a plan, and the summary a run writes
(docs/durability.md, docs/reference/outputs.md).

A run keeps its manifest in its journal (`journal.sqlite`), a plan in `plan.json`
(and its `plan-journal.sqlite`); both have the one shape `Manifest` (`kind` says
which). Each stored shape has a `version`; what an older quivo-bulk wrote is
brought up to date on read by `MANIFEST_MIGRATIONS` / `SUMMARY_MIGRATIONS`,
ordered lists of functions each taking version n to n + 1 (after sqlite-utils'
`Migrations`). A manifest or summary from a newer quivo-bulk (a higher version,
or keys this one does not know) is refused, never half read.

    manifest = read_manifest(json.loads(text))   # any version -> Manifest
    manifest.inputs[0].sha256, manifest.row_count, manifest.kind
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.core.errors import RunDirError

MANIFEST_VERSION = 2
SUMMARY_VERSION = 2

Migration = Callable[[dict[str, Any]], dict[str, Any]]
M = TypeVar("M", bound=BaseModel)


class _Stored(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputFile(_Stored):
    """One input of a run or plan, as it was when the run began."""

    path: str  # absolute
    name: str  # as the reports name it
    sha256: str
    rows: int


class PlanInput(_Stored):
    """One file of a plan's `inputs/` (its `will_change` rows), relative to the plan."""

    path: str
    name: str


class Origin(_Stored):
    """What a run was made from besides its inputs: the plan it applies, the run it
    undoes, the runs it reruns. Saved in the manifest and repeated in summary.json."""

    applies: str | None = None  # the plan directory (apply, the UI's Send)
    undoes: str | None = None  # the run directory (undo --apply)
    reruns: str | None = None  # the one run it reruns (None: several, see reruns_all)
    reruns_all: tuple[str, ...] | None = None  # every run it reruns
    rerun_notes: tuple[str, ...] | None = None  # runs left out of the rerun, and why

    def entries(self) -> dict[str, Any]:
        """The entries summary.json repeats: those this run has (a rerun: all three)."""
        entries = self.model_dump(mode="json", exclude_none=True)
        if self.reruns_all is not None:
            entries["reruns"] = self.reruns
        return entries


# A key a run resolved to an order ID (or why it could not: [errorCode, message]).
StoredResolution = int | tuple[str, str]


class Manifest(_Stored):
    """What a run or a plan was started with; never a secret."""

    version: int = MANIFEST_VERSION
    kind: Literal["run", "plan"]
    created_at: datetime
    inputs: tuple[InputFile, ...]
    row_count: int
    # RunOptions.to_manifest(); typed by the options model in pipeline/config/settings.py
    # (RunOptions.from_manifest reads it), so kept loose here.
    options: dict[str, Any]
    # Per order ID, path -> value the order must still hold before its change (apply, undo).
    preconditions: dict[int, dict[str, Any]] = Field(default_factory=dict)
    # Keys (shop order number, reference) resolved before sending: a resume sends to the
    # same orders. None: not resolved yet (or nothing to resolve).
    resolved_keys: dict[str, StoredResolution] | None = None
    origin: Origin = Origin()
    # A plan's: how many rows will change, and its inputs/ files for `apply`.
    will_change: int = 0
    apply_inputs: tuple[PlanInput, ...] = ()

    def dump(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2)


class RateSummary(_Stored):
    """The rate asked for and, when the run talked to the API, what it found."""

    auto: bool
    limit_per_s: float | None
    period_s: float
    found_per_s: float | None = None
    throttled_at_per_s: float | None = None
    final_per_s: float | None = None


class ErrorGroup(_Stored):
    """One errorCode of a run: how many rows, the most common message, example rows."""

    errorCode: str
    count: int
    message: str
    rows: list[int]


class SummaryInput(_Stored):
    file: str
    sha256: str
    rows: int
    kind: str | None = None


class RunSummary(_Stored):
    """summary.json of a run (run, resume, apply, undo, rerun, validate); see
    docs/reference/outputs.md."""

    version: int = SUMMARY_VERSION
    command: str
    run_dir: str | None
    job: str | None = None
    base_url: str | None = None
    dry_run: bool = False
    rows: int
    outcomes: dict[str, int]
    error_codes: dict[str, int]
    requests: int
    retries: int = 0
    rate_limited: int = 0
    logins: int = 0
    wall_time_s: float = 0.0
    achieved_requests_per_s: float = 0.0
    rate: RateSummary | None = None
    inputs: list[SummaryInput] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    error_groups: list[ErrorGroup] = Field(default_factory=list)
    expected_failures: list[str] = Field(default_factory=list)
    stopped: str | None
    exit_code: int
    finished_at: str
    # What the run's requests cost (absent: a validation, which sends nothing).
    requests_by_kind: dict[str, int] | None = None
    requests_per_row: float | None = None
    requests_per_row_by_kind: dict[str, float] | None = None
    # Where the run came from (Origin.entries), present when it has one.
    applies: str | None = None
    undoes: str | None = None
    reruns: str | None = None
    reruns_all: list[str] | None = None
    rerun_notes: list[str] | None = None
    unfinished: bool | None = None  # reports rebuilt of a run that did not end
    note: str | None = None  # a rerun with nothing to rerun

    def to_json(self) -> dict[str, Any]:
        """summary.json's entries: the optional ones only when the run has them."""
        return {"version": self.version} | self.model_dump(mode="json", exclude_unset=True)


class PlanFailure(_Stored):
    """One errorCode of a plan: how many rows, the most common reason, example rows."""

    count: int
    message: str
    examples: list[str]


class PlanSummary(_Stored):
    """summary.json of a plan directory; see docs/plan-apply-undo.md."""

    version: int = SUMMARY_VERSION
    command: Literal["plan"] = "plan"
    plan_dir: str
    base_url: str
    created_at: str
    rows: int
    predictions: dict[str, int]  # will_change, unchanged, will_fail, invalid, duplicate
    orders_changing: int
    field_changes: dict[str, int]
    fields_kept: dict[str, int] = Field(default_factory=dict)  # values address rows keep
    cancels: int
    failures: dict[str, PlanFailure]
    requests: int
    requests_by_kind: dict[str, int]
    requests_per_row: float
    requests_per_row_by_kind: dict[str, float]
    inputs: list[SummaryInput]
    warnings: list[str]
    stopped: str | None
    exit_code: int

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version} | self.model_dump(mode="json", exclude_unset=True)


def _v1_to_v2_manifest(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (and the unversioned plan journal, `{"command": "plan"}`): `command`
    becomes `kind`; a plan gets the `row_count` its inputs add up to; `applies`,
    `undoes`, `reruns*` move into `origin`; a plan journal's empty manifest gets an
    empty shape (nothing reads it but this)."""
    data = dict(data)
    kind = data.pop("command", "run")
    data["kind"] = kind
    data.setdefault("created_at", "1970-01-01T00:00:00+00:00")
    data.setdefault("inputs", [])
    data.setdefault("options", {})
    data.setdefault("row_count", sum(int(entry.get("rows", 0)) for entry in data["inputs"]))
    origin = {key: data.pop(key) for key in Origin.model_fields if key in data}
    if origin:
        data["origin"] = origin
    data["version"] = 2
    return data


def _v1_to_v2_summary(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (summary.json had no `version`): the same entries, now versioned."""
    return dict(data) | {"version": 2}


# Index n: the migration from version n + 1 to n + 2 (the first takes 1 to 2).
MANIFEST_MIGRATIONS: tuple[Migration, ...] = (_v1_to_v2_manifest,)
SUMMARY_MIGRATIONS: tuple[Migration, ...] = (_v1_to_v2_summary,)


def migrate(
    data: Mapping[str, Any], migrations: Sequence[Migration], *, what: str
) -> dict[str, Any]:
    """`data` brought to the newest version (no `version`: version 1) by applying each
    migration from its version on; a version newer than this quivo-bulk's is refused."""
    current = len(migrations) + 1
    version = data.get("version", 1)
    if not isinstance(version, int) or version < 1:
        raise RunDirError(f"the {what} has version {version!r}; it is not a quivo-bulk {what}")
    if version > current:
        raise RunDirError(_newer(what, f"version {version}, this one reads up to {current}"))
    upgraded = dict(data)
    for step in migrations[version - 1 :]:
        upgraded = step(upgraded)
    return upgraded


def _newer(what: str, detail: str) -> str:
    return (
        f"the {what} was made by a newer quivo-bulk ({detail}); update quivo-bulk"
        " to read it (or use the quivo-bulk that made it)"
    )


def _validated(
    model: type[M], data: Mapping[str, Any], migrations: Sequence[Migration], *, what: str
) -> M:
    """`data` migrated and read as `model`; an entry this version does not know means a
    newer quivo-bulk wrote it (in a shape of today's version) or the file was edited."""
    upgraded = migrate(data, migrations, what=what)
    try:
        return model.model_validate(upgraded)
    except ValidationError as error:
        unknown = sorted(
            str(e["loc"][-1]) for e in error.errors() if e["type"] == "extra_forbidden"
        )
        if unknown and data.get("version", 1) == len(migrations) + 1:
            raise RunDirError(_newer(what, f"unknown entries: {', '.join(unknown)}")) from None
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or what}: {e['msg']}" for e in error.errors()[:3]
        )
        raise RunDirError(f"the {what} cannot be read ({problems})") from None


def read_manifest(data: Mapping[str, Any]) -> Manifest:
    """A manifest as stored by any version of quivo-bulk, as today's `Manifest`."""
    if not isinstance(data, Mapping):
        raise RunDirError("the manifest is not a JSON object; it is not a quivo-bulk manifest")
    return _validated(Manifest, data, MANIFEST_MIGRATIONS, what="manifest")


def read_plan_summary(data: Mapping[str, Any]) -> PlanSummary:
    """A plan directory's summary.json as written by any version, as `PlanSummary`."""
    if not isinstance(data, Mapping):
        raise RunDirError("summary.json is not a JSON object")
    return _validated(PlanSummary, data, SUMMARY_MIGRATIONS, what="summary")


def read_summary(data: Mapping[str, Any]) -> RunSummary:
    """A run's summary.json as written by any version of quivo-bulk, as `RunSummary`."""
    if not isinstance(data, Mapping):
        raise RunDirError("summary.json is not a JSON object")
    return _validated(RunSummary, data, SUMMARY_MIGRATIONS, what="summary")
