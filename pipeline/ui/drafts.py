"""A run before it is sent: the uploaded files, their options, the person's cell edits.

A draft lives in the run directory it will become (`runs/<time>-<name>/`):
uploads in `inputs/`, edited copies in `inputs/fixed/`, settings in
`ui-draft.json`. Sending it is `run_files` on that same directory, so the CLI
can report, resume and rerun it like any other run.

    draft = Draft.create(runs_dir, uploads=[("fixes.xlsx", data)])
    check = draft.check(base_options)      # validation of every row, edits applied
    draft.edit(index=3, header="zip", value="1010")
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from pipeline.config.settings import Environment, RunOptions
from pipeline.core.errors import InputFileError
from pipeline.flows.run import ProgressFactory, default_run_dir
from pipeline.inputs.read import (
    EXCEL_SUFFIXES,
    PARQUET_SUFFIXES,
    TEXT_SUFFIXES,
    InputTable,
    read_inputs,
)
from pipeline.plan.prepare import Prepared, prepare
from pipeline.send.progress import Progress
from pipeline.ui.problems import problem_fields

if TYPE_CHECKING:
    from pipeline.flows.plan import PlanResult

DRAFT_FILE = "ui-draft.json"
UPLOAD_SUFFIXES = TEXT_SUFFIXES | EXCEL_SUFFIXES | PARQUET_SUFFIXES
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_name(name: str) -> str:
    """The last part of a browser's file name, reduced to plain characters (never a path)."""
    base = unquote(name).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("-", base).strip(" .-")
    return cleaned[:80] or "upload"


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by the owner only (docs/reference/commands.md)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


@dataclass
class DraftSettings:
    """What the person chose; saved as ui-draft.json (no secret in it)."""

    files: list[str]  # stored names under inputs/
    names: list[str]  # the names shown and written in the reports
    action: str | None = None
    address_type: str = "DELIVERY"
    sheet: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    skip_hidden: bool = False  # leave out the rows her workbook hides (filtered out)
    # `<upload number>:<her row>` -> header -> value
    edits: dict[str, dict[str, str | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """Every row's state after validation, in input order."""

    prepared: Prepared
    original: InputTable  # the rows as read (their row numbers are her file's)
    status: list[str]  # "valid" | "invalid" | "duplicate" per row
    problems: dict[int, tuple[str, str, tuple[str, ...]]]  # index -> code, message, headers

    @property
    def hidden(self) -> dict[str, tuple[int, ...]]:
        """Per file, the rows her workbook hides (filtered out), sent or not."""
        return {f.name: f.hidden_rows for f in self.prepared.table.files if f.hidden_rows}

    @property
    def headers(self) -> list[str]:
        return [c for c in self.prepared.table.raw.columns if c not in ("file", "row")]

    def counts(self) -> dict[str, int]:
        counts = {"rows": len(self.status), "valid": 0, "invalid": 0, "duplicate": 0}
        for status in self.status:
            counts[status] += 1
        return counts

    def indexes(self, *, errors_only: bool) -> list[int]:
        if not errors_only:
            return list(range(len(self.status)))
        return [i for i, status in enumerate(self.status) if status == "invalid"]

    def rows(self, indexes: Sequence[int]) -> list[dict[str, Any]]:
        """Grid rows as JSON-ready dicts: cells in header order, each problem at its cells."""
        if not indexes:
            return []
        raw = self.prepared.table.raw
        picked = raw.select(self.headers)[list(indexes)]
        rows_shown = self.original.raw["row"].gather(list(indexes)).to_list()
        files = raw["file"].gather(list(indexes)).to_list()
        hidden = {(name, row) for name, rows in self.hidden.items() for row in rows}
        out = []
        for position, (index, cells) in enumerate(zip(indexes, picked.iter_rows(), strict=True)):
            code, message, marked = self.problems.get(index, (None, None, ()))
            out.append(
                {
                    "index": index,
                    "row": rows_shown[position],
                    "file": files[position],
                    "status": self.status[index],
                    "hidden": (files[position], rows_shown[position]) in hidden,
                    "code": code,
                    "message": message,
                    "marked": list(marked),
                    "cells": list(cells),
                }
            )
        return out


class Draft:
    """One draft run directory and the person's choices for it."""

    def __init__(self, run_dir: Path, settings: DraftSettings) -> None:
        self.run_dir = run_dir
        self.settings = settings
        self._check: Check | None = None
        self._plan: PlanResult | None = None
        self._generation = 0  # counts changes: a plan read before one is not kept
        # Requests run these in worker threads: one at a time per draft, so the grid's
        # page requests share one check and an edit never meets a half-made one.
        self._lock = threading.RLock()

    @classmethod
    def create(cls, runs_dir: Path, *, uploads: Sequence[tuple[str, bytes]]) -> Draft:
        """Store uploaded files in a new run directory; refuse types the tool cannot read."""
        if not uploads:
            raise InputFileError("no file was uploaded; pick a CSV, Excel or Parquet file")
        names: list[str] = []
        for given, _ in uploads:
            name = safe_name(given)
            if Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
                kinds = ", ".join(sorted(UPLOAD_SUFFIXES))
                raise InputFileError(f"{name}: not a file type quivo-bulk reads; use {kinds}")
            while name in names:
                name = f"{Path(name).stem}-2{Path(name).suffix}"
            names.append(name)
        private_dir(runs_dir)
        run_dir = private_dir(default_run_dir(Path(names[0]).stem, root=runs_dir))
        inputs = private_dir(run_dir / "inputs")
        files = []
        for number, (name, (_, data)) in enumerate(zip(names, uploads, strict=True), start=1):
            stored = f"{number}-{name}"
            write_private(inputs / stored, data)
            files.append(stored)
        draft = cls(run_dir, DraftSettings(files=files, names=names))
        draft.save()
        return draft

    @classmethod
    def load(cls, run_dir: Path) -> Draft:
        data = json.loads((run_dir / DRAFT_FILE).read_text())
        return cls(run_dir, DraftSettings(**data))

    def save(self) -> None:
        write_private(self.run_dir / DRAFT_FILE, json.dumps(asdict(self.settings)).encode())
        self._check = None
        self._plan = None
        self._generation += 1

    @property
    def name(self) -> str:
        return self.run_dir.name

    def originals(self) -> list[Path]:
        return [self.run_dir / "inputs" / stored for stored in self.settings.files]

    def input_paths(self) -> list[Path]:
        """What a run reads: the edited copies once a cell was changed, else the uploads."""
        if not self.settings.edits:
            return self.originals()
        return [self.run_dir / "inputs" / "fixed" / name for name in self.settings.names]

    def options(self, base: RunOptions) -> RunOptions:
        """`base` (API settings from the environment) with this draft's choices."""
        return replace(
            base,
            action=self.settings.action,
            address_type=self.settings.address_type,
            sheet=self.settings.sheet,
            columns=dict(self.settings.columns),
            skip_hidden_rows=self.settings.skip_hidden,
        )

    def sheets(self) -> list[str]:
        """The sheet names of the first workbook uploaded (empty without one)."""
        import fastexcel

        for path in self.originals():
            if path.suffix.lower() in EXCEL_SUFFIXES:
                try:
                    return list(fastexcel.read_excel(path).sheet_names)
                except Exception:  # an unreadable workbook: the check says why
                    return []
        return []

    def choose(self, **choices: Any) -> None:
        """Change action, address_type, sheet or columns; edits stay unless the sheet changes."""
        with self._lock:
            if "sheet" in choices and choices["sheet"] != self.settings.sheet:
                self.settings.edits = {}  # they were cells of the other sheet
            for key, value in choices.items():
                if key not in ("action", "address_type", "sheet", "columns", "skip_hidden"):
                    raise ValueError(f"unknown draft setting {key!r}")
                setattr(self.settings, key, value)
            if self.settings.edits:
                self._write_fixed(self._read_original(self.options(RunOptions())))
            self.save()

    def read_uploads(self, base: RunOptions) -> InputTable:
        """The uploads read as tables (raises InputFileError for an empty or unreadable one)."""
        return self._read_original(self.options(base))

    def _read_original(self, options: RunOptions) -> InputTable:
        return read_inputs(
            self.originals(),
            mapping=options.columns,
            sheet=options.sheet,
            names=self.settings.names,
        )

    def check(self, base: RunOptions) -> Check:
        """Validate every row (edits applied); cached until something changes.

        The fixed copies keep every row where her file has it, so the row numbers
        read from them are her file's.
        """
        with self._lock:
            if self._check is not None:
                return self._check
            options = self.options(base)
            prepared = prepare(self.input_paths(), options=options, names=self.settings.names)
            self._check = _checked(prepared, prepared.table)
            return self._check

    def edit(self, *, index: int, header: str, value: str | None, base: RunOptions) -> Check:
        """Set one cell, write the fixed files, and check again."""
        with self._lock:
            check = self.check(base)
            if header not in check.headers or not 0 <= index < len(check.status):
                raise InputFileError("no such cell; reload the page")
            cells = check.prepared.table.raw.select(check.headers).row(index)
            row = dict(zip(check.headers, cells, strict=True))
            row[header] = value or None
            if all(v is None or not str(v).strip() for v in row.values()):
                raise InputFileError("a row cannot be emptied here; delete it in your spreadsheet")
            key = self._cell_key(check, index)
            self.settings.edits.setdefault(key, {})[header] = value or None
            self._write_fixed(self._read_original(self.options(base)))
            self.save()
            return self.check(base)

    def _cell_key(self, check: Check, index: int) -> str:
        """An edit's key: the upload (by position) and her row number, `1:34`."""
        raw = check.prepared.table.raw
        name, row = raw["file"][index], int(raw["row"][index])
        return f"{self.settings.names.index(name) + 1}:{row}"

    def _write_fixed(self, table: InputTable) -> None:
        """A copy of each upload with only the edited cells changed (see `fixed.py`)."""
        from pipeline.ui.fixed import write_fixed

        private_dir(self.run_dir / "inputs" / "fixed")
        sources = {source.name: source for source in table.files}
        for number, (upload, target, name) in enumerate(
            zip(self.originals(), self.input_paths(), self.settings.names, strict=True), start=1
        ):
            edits = {
                int(key.split(":", 1)[1]): cells
                for key, cells in self.settings.edits.items()
                if key.split(":", 1)[0] == str(number)
            }
            source = sources.get(name)
            if source is None:
                raise InputFileError(f"{name}: cannot be read any more; upload it again")
            write_fixed(upload, target, source=source, sheet=self.settings.sheet, edits=edits)

    def plan(
        self, base: RunOptions, *, env: Environment, progress_factory: ProgressFactory = Progress
    ) -> PlanResult:
        """The library's plan of this draft (every targeted order read; nothing sent).

        Made again after any edit or choice; each plan gets its own folder in `plans/`.
        """
        from pipeline.flows.plan import plan_files

        with self._lock:  # held only to start: the grid stays usable while orders are read
            if self._plan is not None:
                return self._plan
            self.check(base)
            generation = self._generation
            paths, options = self.input_paths(), self.options(base)
        result = plan_files(
            paths,
            options=options,
            env=env,
            out=default_run_dir("plan", root=private_dir(self.run_dir / "plans")),
            names=self.settings.names,
            progress_factory=progress_factory,
        )
        with self._lock:
            if generation == self._generation:  # nothing was edited meanwhile
                self._plan = result
        return result

    def forget_plan(self) -> None:
        """The next preview reads the orders again (this plan is not to be sent)."""
        with self._lock:
            self._plan = None

    @property
    def planned(self) -> PlanResult | None:
        """The plan shown in the preview, if it is still current."""
        return self._plan

    def fixed_file(self, base: RunOptions) -> Path:
        """The file to download: the first upload with the edits (or as uploaded)."""
        with self._lock:
            self.check(base)
            return self.input_paths()[0]


def _checked(prepared: Prepared, original: InputTable) -> Check:
    status = ["valid"] * prepared.table.raw.height
    problems: dict[int, tuple[str, str, tuple[str, ...]]] = {}
    headers_for: dict[str, list[str]] = {}
    for source in prepared.table.files:
        for header, canonical in source.columns.fields.items():
            headers_for.setdefault(canonical, []).append(header)
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per set of cells marked
    for rejection in prepared.plan.rejections:
        status[rejection.index] = "invalid"
        fields = problem_fields(rejection.code, rejection.message)
        marked = shared.setdefault(fields, tuple(h for f in fields for h in headers_for.get(f, ())))
        problems[rejection.index] = (rejection.code.value, rejection.message, marked)
    for duplicate in prepared.plan.duplicates:
        status[duplicate.index] = "duplicate"
    return Check(prepared=prepared, original=original, status=status, problems=problems)


def mapping_from_form(form: Mapping[str, str], headers: Sequence[str]) -> dict[str, str]:
    """`map:<header>` form fields -> the column mapping a run takes (empty: automatic)."""
    return {h: form[f"map:{h}"] for h in headers if form.get(f"map:{h}")}
