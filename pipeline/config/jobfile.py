"""Job files (`jobs/*.toml`): a declarative run, validated strictly (docs/reference/job-files.md).

    job = load_job(Path("jobs/nightly-cancellation-sweep.toml"))
    job.input_paths()  # the files the input path or glob matches, sorted

Relative paths in a job (input, runs_dir, state_dir) are taken from the job
file's folder, so a cron job works whatever its working directory.
"""

from __future__ import annotations

import glob
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.api.profile import ProfileSettings
from pipeline.api.rate.spec import parse_rate
from pipeline.core.errors import JobFileError, OptionsError
from pipeline.inputs.columns import ATTRIBUTE_PREFIX, CANONICAL


class JobFile(BaseModel):
    """The keys a job file may have; any other key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    input: str | list[str] | None = Field(
        default=None, description="a path or glob, or a list of them"
    )
    rerun: str | None = Field(default=None, description="a run directory, or a glob: every match")
    action: Literal["update", "address", "cancel"] | None = None
    address_type: Literal["DELIVERY", "INVOICE", "DELIVERY_AND_INVOICE"] | None = None
    sheet: str | None = None
    header_row: int | None = Field(None, ge=1)
    skip_hidden_rows: bool = False
    columns: dict[str, str] = {}
    base_url: str | None = None
    rate: str | float | None = Field(default=None, description="like --rate: 5, 100/min, 2.5, auto")
    concurrency: int | None = Field(default=None, ge=1, le=64)
    retries: int | None = Field(default=None, ge=0, le=10)
    timeout_s: float | None = Field(default=None, gt=0)
    runs_dir: str = "runs"
    state_dir: str | None = None
    assume_yes: bool = False
    refetch: bool = True
    api: ProfileSettings | None = Field(
        default=None, description="the [api] table: API profile settings"
    )
    snapshot: Literal["always", "changes", "never"] | None = None
    max_changes: int | None = Field(None, ge=0)
    max_cancels: int | None = Field(None, ge=0)
    breaker: bool = True
    expected_failures: list[str] | None = Field(
        default=None, description="errorCodes that count as fine for the exit code"
    )
    archive: bool = Field(
        default=False, description="move finished inbox files to done/, rejected to rejected/"
    )
    settle_s: float = Field(
        default=30.0, ge=0, description="a sweep takes a file unchanged this long (seconds)"
    )
    ready_marker: str | None = Field(
        default=None,
        min_length=1,
        description='e.g. ".done": a sweep takes a file only once <file>.done exists',
    )
    allow_unterminated_last_line: bool = Field(
        default=False,
        description="a sweep takes a text file whose last line has no line end",
    )
    followup: bool = Field(
        default=True,
        description="a sweep first follows up the cancel requests of the job's earlier runs",
    )

    # Set by load_job: where relative paths start.
    folder: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _one_source(self) -> JobFile:
        if (self.input is None) == (self.rerun is None):
            raise ValueError("give exactly one of 'input' (files) and 'rerun' (a run directory)")
        return self

    @field_validator("rate")
    @classmethod
    def _readable_rate(cls, rate: str | float | None) -> str | float | None:
        if rate is not None:
            try:
                parse_rate(rate)
            except OptionsError as error:
                raise ValueError(str(error).removeprefix("--")) from None
        return rate

    @field_validator("columns")
    @classmethod
    def _known_targets(cls, columns: dict[str, str]) -> dict[str, str]:
        for header, target in columns.items():
            if target not in CANONICAL and not (
                target.startswith(ATTRIBUTE_PREFIX) and len(target) > len(ATTRIBUTE_PREFIX)
            ):
                raise ValueError(
                    f"column {header!r} maps to {target!r}, which is not one of"
                    f" {', '.join(CANONICAL)} or customAttributes.<key>"
                )
        return columns

    @property
    def job_name(self) -> str:
        return self.name or "job"

    def patterns(self) -> list[str]:
        if self.input is None:
            return []
        return [self.input] if isinstance(self.input, str) else list(self.input)

    def rerun_dirs(self) -> list[Path]:
        """The run directories a rerun job names: with a glob, every match (oldest first)."""
        assert self.rerun is not None
        pattern = str(self.resolve(self.rerun))
        if not glob.has_magic(self.rerun):
            return [Path(pattern)]
        matches = sorted(p for p in glob.glob(pattern) if Path(p).is_dir())
        if not matches:
            raise JobFileError(
                f"job '{self.job_name}': rerun {self.rerun!r} matches no run directory"
            )
        return [Path(m) for m in matches]

    def resolve(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return (candidate if candidate.is_absolute() else self.folder / candidate).resolve()

    def is_sweep(self) -> bool:
        """A job whose input is a glob: each matching file is processed once."""
        return any(glob.has_magic(pattern) for pattern in self.patterns())

    def input_paths(self) -> list[Path]:
        paths: list[Path] = []
        for pattern in self.patterns():
            resolved = str(self.resolve(pattern))
            if glob.has_magic(pattern):
                paths.extend(Path(p) for p in sorted(glob.glob(resolved)) if Path(p).is_file())
            else:
                paths.append(Path(resolved))
        return paths


def load_job(path: Path) -> JobFile:
    """Read and validate a job file; JobFileError names the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobFileError(f"job file {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise JobFileError(f"job file {path}: not valid TOML ({error})") from None
    data.setdefault("name", path.stem)
    try:
        return JobFile.model_validate({**data, "folder": path.resolve().parent})
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            key = ".".join(str(part) for part in item["loc"]) or "(top level)"
            if item["type"] == "extra_forbidden":
                problems.append(f"unknown key '{key}'")
            elif item["type"] == "missing":
                problems.append(f"'{key}' is required")
            elif key == "(top level)":
                problems.append(str(item["msg"]).removeprefix("Value error, "))
            else:
                problems.append(f"'{key}': {item['msg']}")
        raise JobFileError(f"job file {path}: " + "; ".join(problems)) from None
