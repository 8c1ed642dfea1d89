"""Streaming readers for CSV and JSON Lines inputs (UTF-8, BOM accepted), with line numbers."""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from core.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class RowSource:
    """Rows of one input, as (line number, {field: text or None}) pairs; header checks done."""

    name: str
    rows: Iterator[tuple[int, dict[str, str | None]]]
    unknown_columns: list[str] = field(default_factory=list)


def detect_format(name: str, content_type: str | None = None) -> str:
    """``csv`` or ``jsonl`` from a content type or a file name."""
    if content_type:
        ct = content_type.split(";")[0].strip().lower()
        if ct in ("text/csv", "application/csv"):
            return "csv"
        if ct in ("application/x-ndjson", "application/jsonl", "application/x-jsonlines",
                  "application/json-lines", "application/ndjson", "application/json"):
            return "jsonl"
    lower = name.lower()
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "csv"


def _text_stream(binary: IO[bytes]) -> IO[str]:
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def open_binary(path_or_stream: str | Path | IO[bytes]) -> IO[bytes]:
    """A binary stream for a path (with a clear error when it is missing) or a given stream."""
    if not isinstance(path_or_stream, (str, Path)):
        return path_or_stream
    path = Path(path_or_stream)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a file")
    return path.open("rb")


def csv_header(reader: Iterator[list[str]], name: str, required: Iterable[str]) -> list[str]:
    """The header row of a CSV input, checked for the required columns."""
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError(f"{name}: the file is empty (a CSV header row is required)") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{name}: cannot read the header: {exc}") from None
    missing = sorted(set(required) - set(header))
    if missing:
        raise InputError(f"{name}: missing required column(s): {', '.join(missing)}")
    return header


def _csv_rows(
    stream: IO[str], name: str, known: set[str], required: set[str]
) -> RowSource:
    reader = csv.reader(stream)
    header = csv_header(reader, name, required)
    unknown = [h for h in header if h not in known]
    idx = [(i, h) for i, h in enumerate(header) if h in known]

    def gen() -> Iterator[tuple[int, dict[str, str | None]]]:
        line = 1
        try:
            for values in reader:
                line = reader.line_num
                if not values or all(not v.strip() for v in values):
                    continue
                row: dict[str, str | None] = {}
                for i, h in idx:
                    v = values[i].strip() if i < len(values) else ""
                    row[h] = v if v != "" else None
                yield line, row
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}: line {line + 1} is not UTF-8 ({exc.reason})") from None
        except csv.Error as exc:
            raise InputError(f"{name}: line {line + 1}: {exc}") from None

    return RowSource(name, gen(), unknown)


def _jsonl_rows(stream: IO[str], name: str, known: set[str]) -> RowSource:
    unknown_seen: list[str] = []

    def gen() -> Iterator[tuple[int, dict[str, str | None]]]:
        for line_no, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                yield line_no, {"__error__": f"not valid JSON: {exc.msg}"}
                continue
            except RecursionError:
                yield line_no, {"__error__": "not valid JSON: nested too deeply"}
                continue
            if not isinstance(obj, dict):
                yield line_no, {"__error__": "each line must be a JSON object"}
                continue
            yield line_no, json_row(obj, known, unknown_seen, name)

    source = RowSource(name, gen(), unknown_seen)
    return source


def json_row(
    obj: dict[str, object], known: set[str], unknown_seen: list[str], name: str
) -> dict[str, str | None]:
    """One JSON object as a row: known fields only, text stripped, empty text as None.

    Unknown field names are added to ``unknown_seen`` (the first one is logged once).
    """
    row: dict[str, str | None] = {}
    for k, v in obj.items():
        if k not in known:
            if k not in unknown_seen:
                unknown_seen.append(k)
                if len(unknown_seen) == 1:
                    log.warning("%s: ignoring unknown field(s), first: %s", name, k)
            continue
        if v is None or (isinstance(v, str) and v.strip() == ""):
            row[k] = None
        else:
            row[k] = v.strip() if isinstance(v, str) else json.dumps(v)
    return row


def open_rows(
    path_or_stream: str | Path | IO[bytes],
    *,
    known: Iterable[str],
    required: Iterable[str],
    fmt: str | None = None,
    name: str | None = None,
) -> RowSource:
    """Open a CSV or JSONL input for streaming; raises ``InputError`` if it cannot be read."""
    known_set, required_set = set(known), set(required)
    binary = open_binary(path_or_stream)
    label = name or (str(path_or_stream) if isinstance(path_or_stream, (str, Path)) else "body")
    fmt = fmt or detect_format(label)
    stream = _text_stream(binary)
    if fmt == "jsonl":
        return _jsonl_rows(stream, label, known_set)
    source = _csv_rows(stream, label, known_set, required_set)
    if source.unknown_columns:
        log.warning("%s: ignoring unknown column(s): %s", label, ", ".join(source.unknown_columns))
    return source


def utf8_check(data: bytes) -> None:
    """Raise ``InputError`` when a body is not UTF-8."""
    try:
        codecs.decode(data, "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"the body is not UTF-8 ({exc.reason})") from None
