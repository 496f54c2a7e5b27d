"""Tables as real files come: CSV / TSV with a sniffed delimiter, JSON Lines, JSON and Parquet.

A :class:`Table` keeps every well-formed row as a dict and reports every malformed one as a
``malformed_row`` problem (with its 1-based data-row number and, where it means something, the file
line). Text is decoded as UTF-8 (BOM or not) with ``errors="surrogateescape"``, so one row with bytes
that are not UTF-8 is reported by validation as ``invalid_utf8`` instead of failing the whole file.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mmstudio.data._common import JSON_LIST_KEYS, MAX_TABLE_BYTES, RefusedFile, SafeReader
from mmstudio.data.preview import Preview, cell_text
from mmstudio.data.types import ColumnRoles, DatasetFormatError, Problem, ProblemKind, Record
from mmstudio.formatting import plural
from mmstudio.progress import check_cancel

DELIMITERS = ",;\t"
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_DELIMITED_KINDS = {
    ",": "CSV (comma-separated)",
    ";": "CSV (semicolon-separated)",
    "\t": "TSV (tab-separated)",
}
_SAMPLE_ROWS = 200


@dataclass
class Table:
    """The rows of one table file. ``numbers[i]`` is the 1-based data row of ``rows[i]``; ``lines[i]``
    the file line it starts on (``None`` where lines mean nothing: JSON, Parquet)."""

    path: Path
    source: str
    kind: str
    columns: list[str]
    rows: list[dict[str, object]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    lines: list[int | None] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def sample(self) -> list[dict[str, object]]:
        return self.rows[:_SAMPLE_ROWS]

    def where(self, number: int, line: int | None) -> str:
        return f"{self.source} row {number}" + (f" (line {line})" if line is not None else "")

    def malformed(self, number: int, line: int | None, message: str) -> None:
        message = f"{self.where(number, line)}: {message}"
        self.problems.append(Problem(ProblemKind.MALFORMED_ROW, number, None, message, True, self.source))


def read_table(path: Path, source: str, cancel=None, *, root: Path | None = None) -> Table:
    """Read a .csv/.tsv/.txt, .jsonl/.ndjson, .json or .parquet file by its extension. With ``root``,
    a file that is (or is in) a link leading out of that folder is refused."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path, source, cancel, root)
    if suffix == ".json":
        return _read_json(path, source, root)
    if suffix == ".parquet":
        return _read_parquet(path, source, root)
    return _read_delimited(path, source, cancel, root)


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 with or without BOM (bad bytes kept as surrogates, reported per row), or UTF-16 with BOM."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DatasetFormatError(
                f"{path} starts like UTF-16 but is not valid UTF-16 ({exc}); save it as UTF-8"
            ) from exc
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    # In 1 MiB pieces: one call over a large file would hold the interpreter lock throughout (the
    # desktop app loads datasets in a thread while its window must stay responsive).
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    view = memoryview(data)
    pieces = [decoder.decode(view[i : i + _PIECE]) for i in range(0, len(data), _PIECE)]
    pieces.append(decoder.decode(b"", final=True))
    return "".join(pieces)


_PIECE = 1 << 20


def _lines(
    text: str, start: int = 0, at: list[int] | None = None, lone_cr: bool | None = None
) -> Iterator[str]:
    """The lines of ``text`` from offset ``start`` with their endings, as ``io.StringIO(text,
    newline="")`` gives them, one short call at a time (a ``StringIO`` of a large file is one long call
    holding the interpreter lock). ``at[0]`` follows the offset just past the last line given. Lone
    carriage returns (old Mac line endings) are left to ``StringIO``, which splits on them."""
    at = at if at is not None else [start]
    at[0] = start
    if lone_cr if lone_cr is not None else _lone_carriage_return(text):
        for line in io.StringIO(text[start:], newline=""):
            at[0] += len(line)
            yield line
        return
    end = len(text)
    while start < end:
        stop = text.find("\n", start)
        line_end = end if stop < 0 else stop + 1
        at[0] = line_end
        yield text[start:line_end]
        start = line_end


def _lone_carriage_return(text: str) -> bool:
    """Whether ``text`` has a carriage return not followed by a newline; counted a piece at a time
    (two counts over a whole large file hold the interpreter lock for ~25 ms)."""
    for start in range(0, len(text), _PIECE):
        stop = start + _PIECE
        if text.count("\r", start, stop) != text.count("\r\n", start, stop + 1):
            return True
    return False


def read_data_file(path: Path, root: Path | None = None, limit: int = MAX_TABLE_BYTES) -> bytes:
    """The bytes of a manifest, metadata or annotation file; a file that is no regular file, lies
    outside ``root`` or is over ``limit`` raises :class:`DatasetFormatError` saying so."""
    try:
        return SafeReader(root).read(path, limit)
    except RefusedFile as exc:
        raise DatasetFormatError(str(exc)) from exc
    except OSError as exc:
        raise DatasetFormatError(f"cannot read {path}: {exc.strerror or exc}") from exc


# --- CSV / TSV ---------------------------------------------------------------------------------


def sniff_delimiter(text: str, suffix: str) -> str:
    """Comma, semicolon or tab: ``csv.Sniffer`` on the first lines, checked against the header; when
    the sniffer cannot tell, the delimiter that splits the header into the most columns (ties go to
    what the extension says)."""
    sample = text[:16384]  # ~200 lines; the sniffer's regular expressions hold the GIL for their whole run
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    default = "\t" if suffix in (".tsv", ".tab") else ","
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed is not None and _header_width(sample, sniffed) >= 2:
        return sniffed
    widths = {d: _header_width(sample, d) for d in DELIMITERS}
    best = max(widths.values())
    return default if widths[default] == best else max(DELIMITERS, key=lambda d: widths[d])


def _header_width(sample: str, delimiter: str) -> int:
    try:
        return len(next(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), []))
    except csv.Error:
        return 0


def _read_delimited(path: Path, source: str, cancel, root: Path | None) -> Table:
    text = decode_text(read_data_file(path, root), path)
    delimiter = sniff_delimiter(text, path.suffix.lower())
    # A long caption must not stop the file: raise (never lower) the csv module's 128 KiB field limit;
    # over-long text is truncated and reported by validation.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 26))
    lone_cr = _lone_carriage_return(text)
    at = [0]  # the offset just past the last line the csv reader took
    base = 0  # the file lines before the first line of the current csv reader
    recoveries = 0
    reader = csv.reader(_lines(text, 0, at, lone_cr), delimiter=delimiter)
    table = Table(path, source, _DELIMITED_KINDS[delimiter], [])
    header: list[str] | None = None
    number = 0
    while True:
        line = base + reader.line_num + 1
        row_start = at[0]
        try:
            fields = next(reader)
            error = None
        except StopIteration:
            break
        except csv.Error as exc:
            fields, error = None, exc
        span = base + reader.line_num - line + 1  # the file lines the row took
        if fields is not None and not any(f.strip() for f in fields):
            continue  # blank lines (and rows of empty cells) hold no data
        if header is None and fields is not None:
            header = table.columns = unique_names(fields)
            continue
        number += 1
        if number % 4096 == 0:
            check_cancel(cancel, "dataset loading")
        row = _fit_fields(fields, header) if fields is not None and header is not None else None
        if span > 1 and recoveries < _MAX_RECOVERIES and _quote_left_open(text, row_start, at[0], row, error):
            # A quote that is never closed takes every line after it into one field: report where it
            # opened and read the lines after that line again, as rows of their own.
            recoveries += 1
            to = "the end of the file" if at[0] >= len(text) else f"line {line + span - 1}"
            table.malformed(
                number,
                line,
                f"a quote opened on line {line} is not closed: it took {plural(span, 'line')} (to {to}) "
                f'into one field. Close the quote (a quote inside a quoted field is written twice: ""); '
                f"the lines after line {line} were read as rows of their own",
            )
            restart = _next_line_start(text, row_start, lone_cr)
            base = line
            reader = csv.reader(_lines(text, restart, at, lone_cr), delimiter=delimiter)
            continue
        if error is not None:
            table.malformed(number, line, f"cannot be parsed ({error}); check its quotes")
            continue
        if row is None:
            assert fields is not None and header is not None
            name = _DELIMITER_NAMES[delimiter]
            table.malformed(
                number,
                line,
                f"has {plural(len(fields), 'field')} but the header has {plural(len(header), 'column')}; a "
                f"field probably "
                f"contains an unquoted {name} or a quote is not closed. Put such fields in double quotes",
            )
            continue
        table.rows.append(row)
        table.numbers.append(number)
        table.lines.append(line)
    if header is None:
        raise DatasetFormatError(f"{path} is empty: a manifest needs a header row and one row per image")
    return table


_MAX_RECOVERIES = 100  # unclosed quotes read past per file (each may cost a pass over the rest)


def _quote_left_open(text: str, start: int, stop: int, row: dict | None, error: Exception | None) -> bool:
    """Whether a row of several lines (``text[start:stop]``) is an unclosed quote's doing: it cannot
    be parsed or has the wrong number of fields, or it runs to the end of the file with a quote left
    open (an odd number of them: a quote inside a quoted field is doubled)."""
    if error is not None or row is None:
        return True
    return stop >= len(text) and text.count('"', start, stop) % 2 == 1


def _next_line_start(text: str, start: int, lone_cr: bool) -> int:
    """The offset of the line after the one at ``start``."""
    if lone_cr:
        first = next(iter(io.StringIO(text[start:], newline="")), "")
        return start + len(first)
    stop = text.find("\n", start)
    return len(text) if stop < 0 else stop + 1


def _fit_fields(fields: list[str], header: list[str]) -> dict[str, object] | None:
    if len(fields) > len(header) and not any(f.strip() for f in fields[len(header) :]):
        fields = fields[: len(header)]  # trailing empty cells, as spreadsheets write them
    if len(fields) != len(header):
        return None
    return dict(zip(header, fields, strict=True))


def unique_names(names: list[str]) -> list[str]:
    """Header cells stripped; empty ones named ``column_N``; repeated ones ``name.2``, ``name.3``."""
    out: list[str] = []
    for i, raw in enumerate(names):
        name = raw.strip() or f"column_{i + 1}"
        base, k = name, 1
        while name in out:
            k += 1
            name = f"{base}.{k}"
        out.append(name)
    return out


# --- JSON Lines / JSON ------------------------------------------------------------------------


def _read_jsonl(path: Path, source: str, cancel, root: Path | None) -> Table:
    text = decode_text(read_data_file(path, root), path)
    table = Table(path, source, "JSON Lines", [])
    seen: dict[str, None] = {}
    number = 0
    for line, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        number += 1
        if number % 4096 == 0:
            check_cancel(cancel, "dataset loading")
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            message = f"is not valid JSON ({exc.msg} at column {exc.colno}); fix or remove the line"
            table.malformed(number, line, message)
            continue
        except (ValueError, RecursionError) as exc:
            table.malformed(number, line, f"cannot be read: {json_trouble(exc)}; fix or remove the line")
            continue
        if not isinstance(obj, dict):
            table.malformed(number, line, _not_an_object(obj))
            continue
        seen.update(dict.fromkeys(obj))
        table.rows.append(obj)
        table.numbers.append(number)
        table.lines.append(line)
    table.columns = list(seen)
    return table


def _read_json(path: Path, source: str, root: Path | None) -> Table:
    text = decode_text(read_data_file(path, root), path)
    data = parse_json_document(text, path)
    rows = json_rows(data)
    if rows is None:
        raise DatasetFormatError(
            f"{path} holds a JSON {_json_type(data)} mmstudio cannot read as a manifest: expected a list of "
            f"objects (one per image), or an object with a {' / '.join(JSON_LIST_KEYS)} list of them"
        )
    table = Table(path, source, "JSON", [])
    seen: dict[str, None] = {}
    for number, obj in enumerate(rows, 1):
        if not isinstance(obj, dict):
            table.malformed(number, None, _not_an_object(obj))
            continue
        seen.update(dict.fromkeys(obj))
        table.rows.append(obj)
        table.numbers.append(number)
        table.lines.append(None)
    table.columns = list(seen)
    return table


def parse_json_document(text: str, path: Path) -> object:
    """A whole JSON file parsed; what is not JSON mmstudio can read raises :class:`DatasetFormatError`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(
            f"{path} is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno}); fix the file"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise DatasetFormatError(f"{path} cannot be read: {json_trouble(exc)}; fix the file") from exc


def json_trouble(exc: BaseException) -> str:
    """What is wrong with JSON that parses but cannot be held: nested too deep, a number too long."""
    if isinstance(exc, RecursionError):
        return "its JSON is nested too deeply (hundreds of levels of [ or {)"
    if "digits" in str(exc):
        return "it holds a number with more than 4,300 digits"
    return f"its JSON cannot be read ({exc})"


def json_rows(data: object) -> list | None:
    """The list of rows of a JSON manifest: the document itself, or its ``data``/``rows``/``items`` list."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in JSON_LIST_KEYS:
            if isinstance(data.get(key), list):
                return data[key]
    return None


def _not_an_object(value: object) -> str:
    return f"is a JSON {_json_type(value)}, not an object with one field per column"


def _json_type(value: object) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


# --- Parquet ----------------------------------------------------------------------------------


def _read_parquet(path: Path, source: str, root: Path | None) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DatasetFormatError(
            f"{path.name} is a Parquet file and reading Parquet needs pyarrow: install pyarrow "
            f"(pip install pyarrow, or mmstudio[parquet]), or export the table as CSV"
        ) from exc
    data = read_data_file(path, root)  # read once, checked: no second open of a path that may change
    try:
        arrow = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError family
        raise DatasetFormatError(f"cannot read the Parquet file {path}: {exc}") from exc
    rows = arrow.to_pylist()
    numbers = list(range(1, len(rows) + 1))
    return Table(path, source, "Parquet", list(arrow.column_names), rows, numbers, [None] * len(rows))


def table_preview(path: Path, limit: int) -> Preview:
    """The first ``limit`` rows of a table, as text (the preview of a manifest or an imagefolder)."""
    table = read_table(path, path.name)
    rows = [{c: cell_text(row.get(c)) for c in table.columns} for row in table.rows[:limit]]
    return Preview(path.name, list(table.columns), rows)


# --- rows → records ---------------------------------------------------------------------------


def cell(value: object) -> str | None:
    """One cell as a string: numbers without a spurious ``.0``, NaN and null as ``None``; an image
    struct (``{"path": ..., "bytes": ...}``, as Hugging Face writes Parquet) as its path. A list or an
    object raises ``ValueError``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Mapping) and value.get("path"):
        return str(value["path"])
    if isinstance(value, Mapping) and value.get("bytes"):
        raise ValueError("holds image bytes in the table; export the images to files and write their paths")
    raise ValueError(f"holds a {type(value).__name__} ({str(value)[:60]}) instead of a single value")


def table_records(
    table: Table,
    roles: ColumnRoles,
    *,
    image_prefix: str = "",
    split: str | None = None,
    label_of: Callable[[str], str | None] | None = None,
) -> list[Record]:
    """One :class:`Record` per row. A row whose cells cannot be read becomes a ``malformed_row`` problem
    in ``table.problems``. ``image_prefix`` is put before relative image paths (imagefolder split
    folders); ``split`` is used when there is no split column; ``label_of(image)`` when there is no
    label column."""
    records = []
    for row, number, line in zip(table.rows, table.numbers, table.lines, strict=True):
        try:
            values = {role: cell(row.get(col)) if col else None for role, col in roles.to_dict().items()}
        except ValueError as exc:
            role = _bad_role(row, roles)
            table.malformed(number, line, f"the {role} column '{getattr(roles, role)}' {exc}")
            continue
        image = values["image"]
        if image and image_prefix and not Path(image).is_absolute():
            image = f"{image_prefix}/{image}"
        label = values["label"]
        if roles.label is None and label_of is not None and image:
            label = label_of(image)
        records.append(
            Record(
                row=number,
                source=table.source,
                image=image,
                text=values["text"],
                label=label,
                split=values["split"] if roles.split else split,
            )
        )
    return records


def _bad_role(row: Mapping[str, object], roles: ColumnRoles) -> str:
    for role, col in roles.to_dict().items():
        if col:
            try:
                cell(row.get(col))
            except ValueError:
                return role
    return "image"
