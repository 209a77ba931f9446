"""Strict loading of operator-edited data files (YAML and CSV) with line numbers in every error.

Every data file Pantau reads (inventories, credentials, scenarios, device profiles) goes through
here: the file is parsed keeping the line of every key and list item, then validated with a
pydantic model that forbids unknown keys. Errors name the file, the line and the field, and
all of them are reported at once; nothing is half-loaded because the caller gets either a
fully validated object or a :class:`DataFileError`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Loc = tuple[Any, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        field = f" [{self.field}]" if self.field else ""
        return f"{where}{field}: {self.message}"


class DataFileError(ValueError):
    """One or more problems in a data file; ``problems`` lists them all."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        head = f"{len(problems)} problem(s)" if len(problems) > 1 else "problem"
        super().__init__(f"{head}:\n" + "\n".join(f"  {p}" for p in problems))


class Lines:
    """Maps a location (tuple of keys / indices) in a parsed document to its source line."""

    def __init__(self, source: str, lines: dict[Loc, int] | None = None):
        self.source = source
        self.lines: dict[Loc, int] = lines or {}

    def line_of(self, loc: Loc) -> int | None:
        loc = tuple(loc)
        while True:
            if loc in self.lines:
                return self.lines[loc]
            if not loc:
                return None
            loc = loc[:-1]

    def problem(self, loc: Loc, message: str) -> Problem:
        return Problem(self.source, self.line_of(loc), ".".join(str(p) for p in loc), message)


def _construct(node: yaml.Node, loc: Loc, lines: dict[Loc, int], loader: yaml.SafeLoader) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, list):
                key = tuple(key)
            if key in out:
                raise DataFileError([Problem(loader.name, key_node.start_mark.line + 1, str(key), "duplicate key")])
            out[key] = _construct(value_node, loc + (key,), lines, loader)
            lines[loc + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(n, loc + (i,), lines, loader) for i, n in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse_yaml(text: str, source: str) -> tuple[Any, Lines]:
    """Parse YAML text, returning plain data and the line map. Syntax errors become DataFileError."""
    loader = yaml.SafeLoader(text)
    loader.name = source
    try:
        node = loader.get_single_node()
        if node is None:
            return None, Lines(source)
        lines: dict[Loc, int] = {}
        data = _construct(node, (), lines, loader)
        return data, Lines(source, lines)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise DataFileError([Problem(source, line, "", f"invalid YAML: {exc.problem or exc}")]) from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> tuple[Any, Lines]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError([Problem(str(path), None, "", f"cannot read file: {exc.strerror}")]) from None
    return parse_yaml(text, str(path))


def problems_from_validation(exc: ValidationError, lines: Lines, prefix: Loc = ()) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        out.append(lines.problem(loc, msg))
    return out


def validate(model: type[M], data: Any, lines: Lines, prefix: Loc = ()) -> M:
    """Validate ``data`` against ``model``; raise DataFileError with line numbers on failure."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DataFileError(problems_from_validation(exc, lines, prefix)) from None


def read_csv(path: str | Path, required: list[str], optional: list[str] = ()) -> tuple[list[dict[str, str]], Lines]:
    """Read a CSV with a header row. Unknown or missing columns are errors.

    Returns rows as dicts and a Lines map where ``(i, column)`` is the row's line in the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataFileError([Problem(str(path), None, "", f"cannot read file: {exc.strerror}")]) from None
    reader = csv.reader(io.StringIO(text))
    problems: list[Problem] = []
    try:
        header = next(reader)
    except StopIteration:
        raise DataFileError([Problem(str(path), 1, "", "empty file: a header row is required")]) from None
    header = [h.strip() for h in header]
    known = set(required) | set(optional)
    for col in header:
        if col not in known:
            problems.append(Problem(str(path), 1, col, "unknown column"))
    for col in required:
        if col not in header:
            problems.append(Problem(str(path), 1, col, "required column is missing"))
    if len(set(header)) != len(header):
        problems.append(Problem(str(path), 1, "", "duplicate column in header"))
    if problems:
        raise DataFileError(problems)
    rows: list[dict[str, str]] = []
    lines: dict[Loc, int] = {}
    for values in reader:
        line = reader.line_num
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append(Problem(str(path), line, "", f"expected {len(header)} columns, found {len(values)}"))
            continue
        idx = len(rows)
        lines[(idx,)] = line
        rows.append({h: v.strip() for h, v in zip(header, values)})
    if problems:
        raise DataFileError(problems)
    return rows, Lines(str(path), lines)
