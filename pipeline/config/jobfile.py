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
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.api.profile import ProfileSettings
from pipeline.config.options import Options
from pipeline.core.errors import JobFileError
from pipeline.core.names import unknown_name
from pipeline.inputs.columns import ATTRIBUTE_PREFIX, CANONICAL

# Options a run takes from its command line only: a job file that sets one is refused.
COMMAND_LINE_ONLY = ("dry_run",)


class JobFile(Options):
    """The keys a job file may have: the `Options` (but dry_run) and the job's own; any
    other key is an error naming the closest known key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    input: str | list[str] | None = Field(
        default=None, description="a path or glob, or a list of them"
    )
    rerun: str | None = Field(default=None, description="a run directory, or a glob: every match")
    columns: dict[str, str] = Field(default_factory=dict)
    runs_dir: str = "runs"
    state_dir: str | None = None
    api: ProfileSettings | None = Field(
        default=None, description="the [api] table: API profile settings"
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

    def __init__(self, **values: Any) -> None:
        BaseModel.__init__(self, **values)  # load_job names an unknown key, as a key

    # Set by load_job: where relative paths start.
    folder: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _one_source(self) -> JobFile:
        if (self.input is None) == (self.rerun is None):
            raise ValueError("give exactly one of 'input' (files) and 'rerun' (a run directory)")
        return self

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

    def options(self) -> Options:
        """The options this job gives (its keys that are `Options`)."""
        return Options(**{k: v for k, v in self.given().items() if k in Options.model_fields})

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
    known = [name for name in JobFile.model_fields if name not in (*COMMAND_LINE_ONLY, "folder")]
    if "folder" in data or any(name in data for name in COMMAND_LINE_ONLY):
        keys = [name for name in data if name in (*COMMAND_LINE_ONLY, "folder")]
        raise JobFileError(
            f"job file {path}: "
            + "; ".join(unknown_name(key, known, what="key") for key in keys)
            + " (dry_run is the command line's --dry-run)"
        )
    try:
        return JobFile.model_validate({**data, "folder": path.resolve().parent})
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            key = ".".join(str(part) for part in item["loc"]) or "(top level)"
            if item["type"] == "extra_forbidden":
                among = ProfileSettings.model_fields if item["loc"][0] == "api" else known
                problems.append(unknown_name(key, among, what="key"))
            elif item["type"] == "missing":
                problems.append(f"'{key}' is required")
            elif key == "(top level)":
                problems.append(str(item["msg"]).removeprefix("Value error, "))
            else:
                problems.append(f"'{key}': {item['msg']}")
        raise JobFileError(f"job file {path}: " + "; ".join(problems)) from None
