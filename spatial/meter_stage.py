"""Staging a meter registry file: plain CSV chunks COPYed as they are, other rows checked in Python.

The stage is an UNLOGGED table of this transaction (``_meter_stage_<backend pid>``: never
committed, never WAL-logged, readable by parallel workers; a temporary table if the role may
not create tables), with one row per file line that
holds a meter: ``line, meter_id, area_id, lon, lat`` and one text column per other column of
the file.

A CSV chunk (about ``chunk_rows`` whole lines) goes to the server untouched, in a COPY of its
own inside a savepoint, when nothing in it could make PostgreSQL's reading differ from
Python's ``csv`` module plus ``str.strip``: no quote, no lone carriage return, no field that
starts or ends with whitespace, no ``\\.``, no hexadecimal or ``nan(…)`` number. The server
parses the numbers. If the COPY fails anyway (a missing or extra field, a bad number, a blank
line, bytes that are not UTF-8) or stores fewer rows than the chunk has lines, the savepoint
is rolled back and that chunk is read row by row in Python, exactly as before. After the
first quote the rest of the file is read in Python (a quoted field may span lines). JSON
Lines are always read in Python.
"""

from __future__ import annotations

import csv
import io
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import psycopg
from psycopg import sql

from core.errors import InputError
from core.records import csv_header, open_rows

log = logging.getLogger(__name__)

COPY_AS_IS = True  # False reads every chunk in Python (the reference the tests compare with)
KNOWN = ("meter_id", "area_id", "lon", "lat")
REQUIRED = ("meter_id", "area_id")
_BOM = b"\xef\xbb\xbf"
_READ = 1 << 20
_CHUNK_BYTES = 16 << 20
_HEADER_MAX = 1 << 20
_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Bytes that may start something a plain chunk must not hold: ASCII whitespace (other than the
# line end), the lead bytes of Unicode whitespace in UTF-8 (U+0085, U+00A0, U+1680, U+2000–200A,
# U+2028/9, U+202F, U+205F, U+3000), a backslash, '(' of nan(…), 'x' of 0x…, and CR.
_SUSPECT = b" \t\x0b\x0c\x1c\x1d\x1e\x1f\xc2\xe1\xe2\xe3\\(xX\r"
_SPACES = (b" ", b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f", b"\xc2\x85",
           b"\xc2\xa0", b"\xe1\x9a\x80", *(chr(c).encode() for c in range(0x2000, 0x200B)),
           "\u2028".encode(), "\u2029".encode(), "\u202f".encode(), "\u205f".encode(),
           "\u3000".encode())


def _lon_lat(lon: str | None, lat: str | None) -> tuple[str, str] | str:
    """The COPY text of lon and lat (``\\N`` when both are empty), or the reason they are bad."""
    if lon is None and lat is None:
        return "\\N", "\\N"
    try:
        x, y = float(str(lon)), float(str(lat))
    except ValueError:
        return "lon and lat must both be numbers"
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        return "lon/lat out of range"
    return repr(x), repr(y)


def line_breaks(data: bytes) -> int:
    """Line breaks as Python's csv reader counts them (CR LF, LF and a lone CR each count one)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _edge_space(chunk: bytes) -> bool:
    """Whether some field of ``chunk`` starts or ends with whitespace (``str.strip`` would trim it)."""
    for space in _SPACES:
        at = chunk.find(space)
        while at >= 0:
            end = at + len(space)
            if at == 0 or chunk[at - 1] in b",\n" or end == len(chunk) or chunk[end] in b",\r\n":
                return True
            at = chunk.find(space, end)
    return False


def _odd_number(chunk: bytes) -> bool:
    """Whether a field starts like ``0x…`` or ``nan(…`` (PostgreSQL reads them, Python does not)."""
    for needle, back in ((b"0x", 0), (b"0X", 0), (b"(", 3)):
        at = chunk.find(needle)
        while at >= 0:
            start = at - back
            if back and chunk[max(start, 0):at].lower() != b"nan":
                at = chunk.find(needle, at + 1)
                continue
            if start > 0 and chunk[start - 1] in b"+-":
                start -= 1
            if start <= 0 or chunk[start - 1] in b",\n":
                return True
            at = chunk.find(needle, at + 1)
    return False


def _suspect(block: bytes) -> bool:
    """Whether ``block`` holds a byte after which PostgreSQL might read it otherwise than Python."""
    return len(block.translate(None, _SUSPECT)) != len(block)


def _exact(chunk: bytes) -> bool:
    """For a chunk with suspect bytes and no quote: whether PostgreSQL still reads it exactly."""
    if chunk.count(b"\r") != chunk.count(b"\r\n") or b"\\." in chunk:
        return False
    return not (_edge_space(chunk) or _odd_number(chunk))


@dataclass
class Chunk:
    """Whole lines of the file; ``plain`` when PostgreSQL reads them exactly as Python would.

    That is: no quote, and no suspect byte (one C-speed pass per block) or, where there is one,
    nothing that matters: no lone CR, no ``\\.``, no field starting or ending with whitespace,
    no ``0x…`` or ``nan(…`` number.
    """

    data: bytes
    lines: int
    quoted: bool
    plain: bool


class Chunks:
    """Chunks of whole lines (about ``rows`` lines, at most ~16 MB), cut by a reading thread.

    The thread reads the file and checks each chunk while the server COPYs the one before (on
    two cores the reading is then nearly free). Iterate it once; ``close`` stops the thread.
    """

    def __init__(self, raw: IO[bytes], rows: int) -> None:
        self._raw = raw
        self._rows = rows
        self._queue: queue.Queue[Chunk | BaseException | None] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self.check = True   # cleared once the rest is read in Python anyway
        self._thread = threading.Thread(target=self._read, name="meter-chunks", daemon=True)
        self._thread.start()

    def _cut(self) -> Iterator[tuple[bytes, int, bool, bool]]:
        """(chunk, its LF count, whether a suspect byte or a quote may be in it), block by block.

        The checks run on each block as it is read, so the thread never holds the interpreter
        lock for long while the loading thread feeds the COPY.
        """
        parts: list[bytes] = []
        lines = size = 0
        suspect = quoted = False
        while block := self._raw.read(_READ):
            parts.append(block)
            lines += block.count(b"\n")
            size += len(block)
            suspect = suspect or _suspect(block)
            quoted = quoted or b'"' in block
            if lines < self._rows and size < _CHUNK_BYTES:
                continue
            cut = block.rfind(b"\n")
            if cut < 0:
                continue
            parts[-1], tail = block[:cut + 1], block[cut + 1:]
            yield b"".join(parts), lines, suspect, quoted
            parts, lines, size = [tail], 0, len(tail)
            suspect, quoted = _suspect(tail), b'"' in tail
        rest = b"".join(parts)
        if rest:
            yield rest, lines, suspect, quoted

    def _put(self, item: Chunk | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for data, lines, suspect, quoted in self._cut():
                if suspect:
                    lines = line_breaks(data)
                lines += 0 if data.endswith((b"\n", b"\r")) else 1
                quoted = quoted and b'"' in data
                ok = self.check and not quoted and (not suspect or _exact(data))
                if not self._put(Chunk(data, lines, quoted, ok)):
                    return
            self._put(None)
        except BaseException as exc:  # handed to the loading thread, which raises it
            self._put(exc)

    def __iter__(self) -> Iterator[Chunk]:
        while (item := self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the reading thread (at once if the load is given up) and wait for it."""
        self._stop.set()
        self._thread.join()


class _Joined(io.RawIOBase):
    """``head`` followed by the byte strings of ``rest`` (or the rest of a binary stream)."""

    def __init__(self, head: bytes, rest: IO[bytes] | Iterator[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._head:
            if hasattr(self._rest, "read"):
                data = self._rest.read(len(buffer))
                buffer[:len(data)] = data
                return len(data)
            self._head = next(self._rest, b"")
            if not self._head:
                return 0
        n = min(len(buffer), len(self._head))
        buffer[:n] = self._head[:n]
        self._head = self._head[n:]
        return n


def csv_records(stream: Iterable[str], idx: list[tuple[int, str]], offset: int,
                name: str) -> Iterator[tuple[int, dict[str, str | None]]]:
    """Rows of a header-less CSV stream, as ``core.records`` reads them (line = ``offset`` + its line)."""
    reader = csv.reader(stream)
    line = offset
    try:
        for values in reader:
            line = offset + reader.line_num
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


class Stage:
    """The staging table of one load, with the rows and rejects of the Python path."""

    def __init__(self, cur: psycopg.Cursor[Any], chunk_rows: int) -> None:
        self.cur = cur
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()
        assert pid is not None
        # Generated from an integer, so safe unquoted (and a COPY into it reads "COPY _meter_stage…").
        self.name = sql.SQL(f"_meter_stage_{int(pid[0])}")
        self.columns = list(KNOWN)    # the file's columns: these, then one per other column
        self.kind = sql.SQL("UNLOGGED")
        cur.execute("SAVEPOINT meter_stage")
        try:
            self._create()
        except psycopg.errors.InsufficientPrivilege:  # no CREATE on the schema: serial plans
            cur.execute("ROLLBACK TO SAVEPOINT meter_stage")
            self.kind = sql.SQL("TEMPORARY")
            self._create()
        cur.execute("RELEASE SAVEPOINT meter_stage")
        cur.execute("SELECT pg_get_serial_sequence(%s, 'line')", (self.name.as_string(cur),))
        seq = cur.fetchone()
        assert seq is not None
        self._sequence = str(seq[0])
        self.chunk_rows = chunk_rows
        self.rows = 0                 # rows in the stage
        self.fast = self.slow = 0     # chunks COPYed as they are / read in Python
        self.rejects: list[tuple[int, str, str]] = []
        self.bad_lon_lat: list[tuple[int, str, str]] = []  # (line, area_id, reason): area check first

    def _create(self) -> None:
        self.cur.execute(sql.SQL(
            "CREATE {} TABLE {} (line bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 1000), "
            "meter_id text, area_id text, lon double precision, lat double precision)"
        ).format(self.kind, self.name))

    def copy_chunk(self, chunk: bytes, first_line: int, lines: int, fields: list[str]) -> bool:
        """COPY a plain CSV chunk as it is, lines numbered from ``first_line``; False if it failed."""
        cur = self.cur
        cur.execute("SAVEPOINT meter_chunk")
        try:
            cur.execute("SELECT setval(%s, %s, false)", (self._sequence, first_line))
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                    self.name, sql.SQL(", ").join(map(sql.Identifier, fields)))) as cp:
                cp.write(chunk)
            stored = cur.rowcount
        except psycopg.DataError as exc:  # a field too many or few, a bad number, not UTF-8…
            log.debug("meters: chunk at line %d read in Python (%s)", first_line,
                      str(exc).splitlines()[0])
            stored = -1
        if stored != lines:
            cur.execute("ROLLBACK TO SAVEPOINT meter_chunk")
            return False
        cur.execute("RELEASE SAVEPOINT meter_chunk")
        self.rows += stored
        self.fast += 1
        return True

    def write_rows(self, rows: Iterable[tuple[int, dict[str, str | None]]]) -> None:
        """Check rows in Python, as the loader always has, and COPY the good ones in chunks."""
        buf: list[str] = []
        for line, row in rows:
            if "__error__" in row:
                self.rejects.append((line, "", str(row["__error__"])))
                continue
            meter_id, area_id = row.get("meter_id"), row.get("area_id")
            if not meter_id:
                self.rejects.append((line, "meter_id", "required field 'meter_id' is empty"))
                continue
            if not area_id:
                self.rejects.append((line, "area_id", "required field 'area_id' is empty"))
                continue
            point = _lon_lat(row.get("lon"), row.get("lat"))
            if isinstance(point, str):
                self.bad_lon_lat.append((line, area_id, point))
                continue
            buf.append(f"{line}\t{meter_id.translate(_ESCAPE)}\t{area_id.translate(_ESCAPE)}\t"
                       f"{point[0]}\t{point[1]}\n")
            if len(buf) >= self.chunk_rows:
                self._flush(buf)
        self._flush(buf)
        self.slow += 1

    def _flush(self, buf: list[str]) -> None:
        if buf:
            with self.cur.copy(sql.SQL("COPY {} (line, meter_id, area_id, lon, lat) FROM STDIN")
                               .format(self.name)) as cp:
                cp.write("".join(buf))
            self.rows += len(buf)
            buf.clear()

    def fill(self, raw: IO[bytes], label: str, jsonl: bool, warnings: list[str]) -> None:
        """Stage every row of ``raw`` (CSV, or JSON Lines when ``jsonl``)."""
        if jsonl:
            self._python(raw, b"", label, warnings)
            return
        head = raw.readline(_HEADER_MAX)
        bom = head[:3] if head.startswith(_BOM) else b""
        head = head[len(bom):]
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or b'"' in head or b"\r" in head.rstrip(b"\r\n") or (
                head and not head.endswith(b"\n") and len(head) + len(bom) >= _HEADER_MAX):
            self._python(raw, bom + head, label, warnings)
            return
        header = csv_header(csv.reader(io.StringIO(text, newline="")), label, REQUIRED)
        unknown = [h for h in header if h not in KNOWN]
        if unknown:
            log.warning("%s: ignoring unknown column(s): %s", label, ", ".join(unknown))
            warnings.append(f"ignoring unknown column(s): {', '.join(unknown)}")
        last = {h: i for i, h in enumerate(header) if h in KNOWN}
        fields = [h if last.get(h) == i else f"column {i + 1}" for i, h in enumerate(header)]
        idx = sorted((i, h) for h, i in last.items())
        extra = [f for f in fields if f not in KNOWN]
        if extra:
            self.cur.execute(sql.SQL("ALTER TABLE {} {}").format(self.name, sql.SQL(", ").join(
                sql.SQL("ADD COLUMN {} text").format(sql.Identifier(c)) for c in extra)))
            self.columns += extra
        line = 1 + line_breaks(head)
        source = Chunks(raw, self.chunk_rows)
        try:
            for chunk in source:
                if chunk.quoted:  # a quoted field may span chunks: Python reads the rest
                    source.check = False
                    rest = (c.data for c in source)
                    stream = io.TextIOWrapper(io.BufferedReader(_Joined(chunk.data, rest)),
                                              encoding="utf-8", newline="")
                    self.write_rows(csv_records(stream, idx, line - 1, label))
                    return
                if not (COPY_AS_IS and chunk.plain
                        and self.copy_chunk(chunk.data, line, chunk.lines, fields)):
                    text = _decode(chunk.data, line, label)
                    self.write_rows(csv_records(io.StringIO(text, newline=""), idx, line - 1, label))
                line += chunk.lines
        finally:
            source.close()

    def _python(self, raw: IO[bytes], head: bytes, label: str, warnings: list[str]) -> None:
        """The whole input read row by row (JSON Lines, or a CSV whose header needs it)."""
        source = open_rows(io.BufferedReader(_Joined(head, raw)), known=KNOWN, required=REQUIRED,
                           name=label)
        if source.unknown_columns:
            warnings.append(f"ignoring unknown column(s): {', '.join(source.unknown_columns)}")
        self.write_rows(source.rows)


def _decode(chunk: bytes, first_line: int, label: str) -> str:
    """``chunk`` as text, or an ``InputError`` naming the line that is not UTF-8."""
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + line_breaks(chunk[:exc.start])
        raise InputError(f"{label}: line {line} is not UTF-8 ({exc.reason})") from None
