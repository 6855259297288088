"""Past inspections: `siret,inspection_date,abuse_found` files, checked row by row and kept in the warehouse.

Extra columns are ignored. A date is written YYYY-MM-DD or the French way, DD/MM/YYYY (as a spreadsheet saves it in
French). A bad row (SIRET not 14 digits, a date written otherwise or that does not exist, an outcome other than 0/1)
is reported with its line and reason and left out (a date the calendar does not hold, 31/02, as such); the others are
kept, a row repeating an earlier line once (said with its line).
`import_inspections` is the one way in for files (`import-inspections` and `train --inspections`): a file is
the whole history and replaces the one imported before, or, appended, adds the controls it holds to it (an outcome
it gives anew for a stored control replaces the stored one); a file with no valid row replaces nothing;
the outcomes of controls recorded in the web application arrive through `store_recorded_inspections`,
in a file of their own that an import never replaces. Training, scoring, exclusions and the audit all
read both through `load_inspections`.

One control, one label: a control (SIRET and day) both imported and recorded in the web application is one visit
entered twice (by the inspector on the day, then in the ministry's export), so `load_inspections` gives it once, with
the imported outcome (`one_per_control`). The ministry's file is the official record of the outcome once the
procedure is over (the employer heard, the procès-verbal drawn up or not); the outcome recorded in the application is
the inspector's on the day. A correction of the official record comes with the next import, which replaces the
imported outcome; a correction in the application of a control the file gives too changes no label until the file
says the same. When the two outcomes differ the imported one is kept and the conflict is reported, never settled
silently (`inspection_recorded_otherwise`, by SIRET and day): on the file's line by `import-inspections`, which also
counts the conflicts of the whole history, and by `train` (`stored_conflicts`). Controls on other days of the same
establishment stay other controls. One source giving a control both outcomes (two lines of the ministry's file)
gives it once too, as abuse found, as the features read two controls on one day (either found it): reported on the
file's second line (`inspection_both_outcomes`). The day kept is the control's own, so a label is seen from the same month as
before (features count an inspection from its day on, training labels it as of the month before).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.home import Home
from warehouse.dsn.parser import Issue
from warehouse.versions import WarehouseState, fresh_file, writer_lock

REQUIRED = ("siret", "inspection_date", "abuse_found")
SCHEMA = pa.schema([("siret", pa.string()), ("inspection_date", pa.date32()), ("abuse_found", pa.int8())])
STORED_NAME = "inspections.parquet"
RECORDED_NAME = "recorded-inspections.parquet"  # outcomes recorded where controls are prepared
CONTROL = ("siret", "inspection_date")  # what makes one control: the establishment and the day
BAD_ROW = "bad_inspection_row"  # the kind of the issue of a row left out
REPEATED_ROW = "inspection_row_repeated"  # a row written again: read once
MERGED_ROWS = "inspection_rows_merged"  # a row kept that may be two merged (a quote left open, a line break lost)
RECORDED_OTHERWISE = "inspection_recorded_otherwise"  # a control imported and recorded with other outcomes
KEPT = "the imported outcome is kept, as one control that day; correct the one that is wrong where it was entered"


@dataclass(frozen=True)
class InspectionFile:
    """The valid rows of an inspections file and the problems found in the others; `lines`: the line each row ends
    on in the file (the first row's, for a row written twice)."""

    rows: pd.DataFrame
    issues: list[Issue]
    lines: list[int]


@dataclass(frozen=True)
class InspectionImport:
    """What an import read (`rows`, `issues`: `InspectionFile`, the issues in the order of their lines) and what the
    warehouse holds after it: `stored` imported inspections; `added`: the file's inspections whose control (SIRET
    and day) was not stored before, nor recorded in the web application with the same outcome (exact duplicates
    once); `replaced`: stored controls whose outcome an appended file changed; `before`: the imported inspections
    stored before; `conflicts`: controls of the history stored after it that the web application recorded with
    another outcome (the imported one is kept: `one_per_control`)."""

    rows: pd.DataFrame
    issues: list[Issue]
    stored: int
    added: int
    replaced: int
    before: int  # the controls imported before (SIRET and day: a control stored with both outcomes counts once)
    conflicts: int = 0
    controls: int = 0  # the controls (SIRET and day) `stored` rows make: a control given both outcomes counts once


# An ISO date as the file must write it: `date.fromisoformat` also reads 20240305 and week dates.
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A date written the French way, day first (JJ/MM/AAAA, as a spreadsheet set to French saves it; 5/3/2025 too).
FRENCH_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_SIRET = re.compile(r"[0-9]{14}")
# Whether a required value (stripped) is written as it must be; `_checked` also reads the date and says what is wrong.
_VALID = {
    "siret": lambda value: bool(_SIRET.fullmatch(value)),
    "inspection_date": lambda value: bool(ISO_DATE.fullmatch(value) or FRENCH_DATE.fullmatch(value)),
    "abuse_found": lambda value: value in ("0", "1"),
}
# Inspection dates outside these years are typing errors (and a date of year 1 has no month before it to label).
FIRST_YEAR, LAST_YEAR = 1950, 2099


class _Strict(csv.excel):
    """Quotes as spreadsheets write them ("" inside a quoted field), and an error wherever quotes are misplaced: read
    leniently, a quote left open swallows the rows after it, with no error."""

    strict = True


# The separators a file may use, the one its header is written with (`_delimiter`): tabs are what Excel saves as
# « Texte Unicode » (UTF-16) and « Texte (séparateur : tabulation) ».
TAB = "\t"
DELIMITERS = (",", ";", TAB)
# The spaces around a value (the rows' values are stripped of them): any but line ends, and but tabs where tabs separate.
_SPACES = {",": r"[^\S\r\n]", ";": r"[^\S\r\n]", TAB: r"[^\S\r\n\t]"}


def _row_in_cell(separators: str, spaces: str) -> re.Pattern[str]:
    """A line inside a cell that holds a row: its quote was left open and closed by a later one. The lines inside a
    cell between its first (the rest of the line the quote opened) and its last are whole, and a row's line holds
    separators: a line with a SIRET filling a field (a separator on one side, a separator or the line's end on the
    other) is a row's. A SIRET alone on a line is a comment's (« Voir aussi\\n12345678901234\\nle siège »), unless it
    is the cell's last line: a quote closed right after the next row's SIRET leaves that row's other values after the
    cell. `separators` and `spaces`: regular expression classes."""
    return re.compile(rf"[\r\n](?:[^\r\n]*{separators}{spaces}*[0-9]{{14}}{spaces}*(?:{separators}|[\r\n]|$)"
                      rf"|{spaces}*[0-9]{{14}}{spaces}*(?:{separators}|\Z))")


# By the file's separator: commas and semicolons in a file separated by either, tabs in one separated by tabs.
_COMMA_OR_SEMICOLON_ROW = _row_in_cell("[,;]", _SPACES[","])
_ROW_IN_CELL = {",": _COMMA_OR_SEMICOLON_ROW, ";": _COMMA_OR_SEMICOLON_ROW, TAB: _row_in_cell(TAB, _SPACES[TAB])}


def read_inspections(path: Path) -> InspectionFile:
    """Read and check an inspections CSV (comma, semicolon or tab separated, the one that gives the header its columns,
    whose names may carry spaces or capitals; UTF-8, else Windows-1252 as spreadsheets save it; UTF-16 with its
    byte-order mark). A bad row is reported by its line and what is wrong, never by its values (a shifted column may
    hold anything, a NIR or a name); empty rows (`;;;`) are skipped. Quotes misplaced (a quote never closed, text
    after a closing quote, a cell spanning lines that holds rows: `_records`), or a required column named twice, are a
    ValueError: rows could be lost or read from the wrong column, so nothing is imported. A row kept that may be two
    merged is named by its line (`_doubt`)."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder: give the inspections CSV file")
    text = _decoded(path)
    delimiter = _delimiter(text)
    text_lines = io.StringIO(text, newline="").readlines()
    try:
        header, records, swallowed = _records(text_lines, delimiter)
    except _CsvError as exc:
        reason = ("a quote opened in the rows after it is never closed" if "unexpected end of data" in str(exc)
                  else f"a cell longer than {csv.field_size_limit():,} characters: a quote never closed?"
                  if "field larger than field limit" in str(exc) else f"misplaced quotes: {_named_tabs(str(exc))}")
        raise ValueError(f"{path}: not readable as CSV after {exc.after} ({reason}): the rows after it could be lost, "
                         "nothing imported") from exc
    if swallowed is not None:
        where = f"the row ending at line {swallowed}" if swallowed else "the first line"
        raise ValueError(f"{path}: {where} has a cell spanning lines that holds rows (a quote left open, closed by a "
                         "later one?): nothing imported")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} in its first line "
                         f"(expected {', '.join(REQUIRED)}, separated by commas, semicolons or tabs)")
    twice = [c for c in REQUIRED if header.count(c) > 1]
    if twice:
        raise ValueError(f"{path}: column(s) {', '.join(twice)} named more than once in its first line: "
                         "which one to read is not known, nothing imported")
    rows, issues = [], []
    month_first = _month_first_line(header, records)
    for first, line, values, alone in records:
        record = dict(zip(header, values, strict=False))
        problem, row = _checked(record)
        if month_first and not problem and FRENCH_DATE.fullmatch(record.get("inspection_date", "").strip()):
            problem = (f"inspection_date written with slashes in a file whose line {month_first} writes the month first "
                       "(MM/DD/YYYY): which number is the day is not known")
        spans = f" (the row spans lines {first} to {line}: a quote left open?)" if alone else ""
        if problem:
            issues.append(Issue(str(path), line, "warning", BAD_ROW, problem + spans + "; row left out"))
            continue
        rows.append((*row, line))
        if doubt := _doubt(header, record, row, alone, values[len(header):]):
            issues.append(Issue(str(path), line, "warning", MERGED_ROWS,
                                (f"lines {first} to {line}: " if alone else "") + doubt + "; read as one row: check it"))
    frame = pd.DataFrame(rows, columns=[*REQUIRED, "line"])
    frame["siret"] = frame["siret"].astype("string")
    frame["inspection_date"] = pd.to_datetime(frame["inspection_date"]).astype("datetime64[s]")
    frame["abuse_found"] = frame["abuse_found"].astype("int64")
    issues = sorted(issues + _both_outcomes(path, frame) + _repeated(path, frame), key=_line)
    kept = frame.drop_duplicates(list(REQUIRED)).sort_values(["inspection_date", "siret"], ignore_index=True)
    return InspectionFile(kept[list(REQUIRED)], issues, kept["line"].astype(int).tolist())


def _month_first_line(header: list[str], records: list[tuple[int, int, list[str], list[dict[str, str]]]]) -> int | None:
    """The first line of `records` whose date, written with slashes, can only be read month first (03/25/2024: a
    spreadsheet set to English), None if none: in such a file 03/05/2024 may be March 5th, so no date written with
    slashes is read."""
    column = header.index("inspection_date")
    for _, line, values, _ in records:
        written = FRENCH_DATE.fullmatch(values[column].strip()) if column < len(values) else None
        if written and int(written[2]) > 12 >= int(written[1]) >= 1:
            return int(line)
    return None


def _named_tabs(message: str) -> str:
    """The csv module's message with a quoted tab ('<tab>' expected after '"') named, not written."""
    return message.replace(f"'{TAB}'", "a tab")


class _CsvError(csv.Error):
    """A CSV error, and the last line read without error before it."""

    def __init__(self, error: csv.Error, last_good: int) -> None:
        super().__init__(str(error))
        self.last_good = last_good

    @property
    def after(self) -> str:
        """The last line read well ("line N"), or "the start" when it is none."""
        return f"line {self.last_good}" if self.last_good else "the start"


def _records(lines: list[str], delimiter: str) -> tuple[list[str], list[tuple[int, int, list[str], list[dict[str, str]]]],
                                                       int | None]:
    """The header's names (stripped, lower case); each row that holds a value, with the lines it starts and ends on
    (numbered from 1), its values, and, for a row spanning lines, each of its lines read as a row of its own
    (`_line_values`; none for a row on one line); and the line of the first row (0: the header) that holds other rows
    (None: none). A row holds others when `_ROW_IN_CELL` finds one in any of its cells (named or not), or when two of
    its lines, read alone, are valid rows (for the header: one), as a ditto mark or a quote opened in an outcome
    leave them."""
    reader = csv.reader(lines, dialect=_Strict, delimiter=delimiter)
    last_good = 0
    try:
        names = next(reader, [])
        header = [name.strip().lower() for name in names]
        header_alone = _read_alone(header, lines[:reader.line_num], delimiter)
        swallowed = 0 if _holds_rows(names, delimiter) or _valid(header_alone) else None
        last_good = reader.line_num
        records = []
        for values in reader:
            # The row's lines: after the line the row before ended on, to the one it ends on (line n is lines[n-1]).
            first, last_good = last_good + 1, reader.line_num
            alone = _read_alone(header, lines[first - 1:last_good], delimiter) if last_good > first else []
            if swallowed is None and (_holds_rows(values, delimiter) or _valid(alone) > 1):
                swallowed = last_good
            if any(value.strip() for value in values):
                records.append((first, last_good, values, alone))
    except csv.Error as exc:
        raise _CsvError(exc, last_good) from exc
    return header, records, swallowed


def _holds_rows(values: list[str], delimiter: str) -> bool:
    return any(_ROW_IN_CELL[delimiter].search(value) for value in values)


def _read_alone(header: list[str], row_lines: list[str], delimiter: str) -> list[dict[str, str]]:
    """Each of a row's lines read as a whole row of its own (`_line_values`), by the header's names."""
    return [dict(zip(header, _line_values(line, delimiter), strict=False)) for line in row_lines]


def _valid(rows: list[dict[str, str]]) -> int:
    """How many of `rows` are valid."""
    return sum(_checked(row)[0] is None for row in rows)


def _doubt(header: list[str], record: dict[str, str], row: tuple[str, date, int], alone: list[dict[str, str]],
           beyond: list[str]) -> str | None:
    """Why a valid row (`record`, read as `row`) may be two merged, or None; `alone`: its lines read alone (none for a
    row on one line); `beyond`: its values beyond the header's columns. A SIRET or a date beyond them: two rows
    joined on a line. A line, read alone, that is a valid row other than this one; or that is a whole row (a row's
    number of values, two of its required ones well formed: `_VALID`) with one of these not the row's; or two such
    lines: a quote left open merged two rows, one of them with a bad value (the next row's SIRET, date or outcome fill
    the row's, or it is lost). A comment's text may start as a row would (« PV dressé, 2024-04-01 »): the two cannot
    be told apart, so the row is read as the spreadsheet wrote it, and its lines are named."""
    if any(_VALID["inspection_date"](value.strip()) or _VALID["siret"](value.strip()) for value in beyond):
        return "a SIRET or a date beyond the columns the header names (two rows joined?)"
    own = dict(zip(REQUIRED, (record.get(column, "").strip() for column in REQUIRED), strict=True))
    whole_rows = 0
    for line in alone:
        problem, values = _checked(line)
        looks_valid = [column for column in REQUIRED if _VALID[column](line.get(column, ""))]
        whole = len(line) >= len(header) and len(looks_valid) >= 2
        whole_rows += whole
        if (problem is None and values != row) or whole_rows > 1 or (
                whole and any(line[column] != own[column] for column in looks_valid)):
            return "one of them, read alone, is another row (two rows merged by a quote left open?)"
    return None


def _line_values(line: str, delimiter: str) -> list[str]:
    """The values of one physical line read as a whole row, stripped of spaces and of one quote at each end. A lone
    quote filling a field (a ditto mark, or the quote opening or closing a cell spanning lines) is read as nothing;
    then quotes are read as spreadsheets write them; a cell left open at the line's end is closed there and its text
    split at the separator (a quote opened by mistake takes the rest of its line); if quotes are still misplaced,
    every quote is a character. A line too long for a CSV cell is no row."""
    sep, spaces = re.escape(delimiter), _SPACES[delimiter]
    text = re.sub(rf'(?:(?<={sep})|^){spaces}*"{spaces}*(?={sep}|$)', "", line.rstrip("\r\n"))
    try:
        values = next(csv.reader([text], dialect=_Strict, delimiter=delimiter), [])
    except csv.Error:
        try:
            *closed, left_open = next(csv.reader([text + '"'], dialect=_Strict, delimiter=delimiter))
            values = [*closed, *left_open.split(delimiter)]
        except csv.Error:
            try:
                values = next(csv.reader([text], delimiter=delimiter, quoting=csv.QUOTE_NONE), [])
            except csv.Error:
                return []
    return [value.strip().removeprefix('"').removesuffix('"').strip() for value in values]


def _decoded(path: Path) -> str:
    """The text of a file: UTF-16 by its byte-order mark, UTF-8 (a mark left out), else Windows-1252; refused when its
    first line holds NUL characters (UTF-16 or UTF-32 without the mark, read as UTF-8)."""
    raw = path.read_bytes()
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: starts as UTF-16 but cannot be read as such ({exc.reason}): "
                             "save it again as CSV UTF-8") from exc
    else:
        raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
    if "\x00" in _first_line(text):
        raise ValueError(f"{path}: its first line holds NUL characters: UTF-16 or UTF-32 without its byte-order mark? "
                         "Save it again as CSV UTF-8; nothing imported")
    return text


def _first_line(text: str) -> str:
    return re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]


def _delimiter(text: str) -> str:
    """One of `DELIMITERS`: the one under which the first line holds the most of the required columns, a comma or a
    semicolon before a tab (a header padded with tabs around its commas is a file separated by commas), then the one it
    holds more of (the first line alone, read leniently: a header cell spanning lines, a quote left open in it, or a cell
    too long for the reader, decides nothing; `_records` reads it strictly)."""
    first = _first_line(text)

    def score(delimiter: str) -> tuple[int, bool, int]:
        try:
            header = next(csv.reader([first], delimiter=delimiter), [])
        except csv.Error:
            return 0, False, 0
        names = {name.strip().lower() for name in header}
        return sum(column in names for column in REQUIRED), delimiter != TAB, len(header)
    return max(DELIMITERS, key=score)


def rows_left_out(issues: list[Issue]) -> int:
    """How many rows of a file its `issues` left out (the others are warnings on rows kept)."""
    return sum(issue.kind == BAD_ROW for issue in issues)


def no_inspections() -> pd.DataFrame:
    """A table of inspections with no row, typed as `read_inspections` types them."""
    return pd.DataFrame({"siret": pd.Series(dtype="string"), "inspection_date": pd.Series(dtype="datetime64[s]"),
                         "abuse_found": pd.Series(dtype="int64")})


def outcome_known_on(inspection_dates: pd.Series, after_days: int) -> pd.Series:
    """The day each control's outcome is known: its day plus `after_days` (`features.outcome_known_after_days`: the
    ministry's file gives no day the procedure closed). `inspection_dates`: as `typed_inspections` gives them (days in
    France, no time zone)."""
    return pd.to_datetime(inspection_dates).dt.normalize().astype("datetime64[s]") + pd.Timedelta(days=after_days)


# The time zone of a date given with one (a Python caller's frame): a control's day is the day it was in France.
INSPECTION_TIME_ZONE = "Europe/Paris"


def typed_inspections(frame: pd.DataFrame) -> pd.DataFrame:
    """The inspections a caller gives (`siret`, `inspection_date`, `abuse_found`; other columns dropped), typed as
    `load_inspections` gives them and ordered by date, SIRET, then outcome: SIRETs as text of 14 digits, the day of
    each date (a time of day dropped, a date with a time zone taken in France's), outcomes as integers. Dates are
    datetimes, dates, or text in ISO 8601 (YYYY-MM-DD, then maybe a time and an offset), between `FIRST_YEAR` and
    `LAST_YEAR`. A ValueError names what is wrong, in how many rows and the first row's position, never a value."""
    missing = [column for column in REQUIRED if column not in frame.columns]
    if missing:
        raise ValueError(f"inspections: no column {', '.join(missing)} (expected {', '.join(REQUIRED)})")
    if any(isinstance(frame[column], pd.DataFrame) for column in REQUIRED):
        raise ValueError(f"inspections: a column of {', '.join(REQUIRED)} is named more than once")
    sirets = frame["siret"].astype("string").str.strip()
    days = _days(frame["inspection_date"])
    outcomes = pd.to_numeric(frame["abuse_found"], errors="coerce")
    for column, what, bad in (
        ("siret", "is not 14 digits", ~sirets.str.fullmatch(_SIRET.pattern).fillna(False).to_numpy(dtype=bool)),
        ("inspection_date", f"is not a date between {FIRST_YEAR} and {LAST_YEAR}", days.isna().to_numpy()),
        ("abuse_found", "is not 0 or 1", ~outcomes.isin([0, 1]).to_numpy()),
    ):
        if bad.any():
            raise ValueError(f"inspections: {column} {what} in {int(bad.sum())} of {len(frame)} rows "
                             f"(the first at position {int(bad.argmax())})")
    typed = pd.DataFrame({"siret": sirets, "inspection_date": days, "abuse_found": outcomes.astype("int64")})
    return typed.sort_values(["inspection_date", "siret", "abuse_found"], kind="stable", ignore_index=True)


# Text a caller gives as a date: YYYY-MM-DD, then maybe a time and an offset (ISO 8601; "2024" or "20240305" are not).
_ISO_TEXT = re.compile(ISO_DATE.pattern + r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?")


def _days(values: pd.Series) -> pd.Series:
    """The day in France of each of `values` (`typed_inspections`), NaT where it is none: missing, not a date (a
    number, text not ISO 8601) or out of the years kept. Text with offsets (Paris times across a change of hour give
    two) is read as instants."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[s]")
    instants = False
    if not (pd.api.types.is_datetime64_any_dtype(values) or isinstance(values.dtype, pd.ArrowDtype)):
        text = values.astype("string").str.strip()
        is_text = values.map(lambda value: isinstance(value, str)).to_numpy(dtype=bool)
        is_date = values.map(lambda value: isinstance(value, date)).to_numpy(dtype=bool)  # datetimes and Timestamps too
        well_written = text.str.fullmatch(_ISO_TEXT.pattern).fillna(False).to_numpy(dtype=bool)
        values = values.where(is_date | (is_text & well_written), None)  # a number in an object column is no date
        with_offset = text.str.contains(r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$", regex=True).fillna(False).to_numpy(dtype=bool)
        instants = bool(is_text.any() and (with_offset | ~is_text).all())
    try:
        days = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=instants)
    except (ValueError, TypeError):
        # Mixed kinds (naive and with a time zone): not a value's fault to quote, and not read half one way.
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[s]")
    if days.dt.tz is not None:
        days = days.dt.tz_convert(INSPECTION_TIME_ZONE).dt.tz_localize(None)
    days = days.dt.normalize().astype("datetime64[s]")
    return days.where(days.dt.year.between(FIRST_YEAR, LAST_YEAR))


def read_valid_inspections(path: Path) -> InspectionFile:
    """`read_inspections`, and a ValueError naming the first problems when no row of the file is valid."""
    loaded = read_inspections(path)
    if loaded.rows.empty:
        shown = "; ".join(f"line {issue.line}: {issue.reason}" for issue in loaded.issues[:5])
        more = f" and {len(loaded.issues) - 5} more" if len(loaded.issues) > 5 else ""
        raise ValueError(f"{path}: no valid inspection row" + (f" ({shown}{more})" if shown else " (no row after the header)"))
    return loaded


def inspection_day(value: str) -> date | None:
    """The day `value` writes, YYYY-MM-DD or DD/MM/YYYY (day first, the French way); None if it is written otherwise
    or is no day of the calendar (2025-02-30, 31/04/2025)."""
    french = FRENCH_DATE.fullmatch(value)
    try:
        if french:
            return date(int(french[3]), int(french[2]), int(french[1]))
        return date.fromisoformat(value) if ISO_DATE.fullmatch(value) else None
    except ValueError:
        return None


def _checked(record: dict[str, str]) -> tuple[str | None, tuple[str, date, int]]:
    """What is wrong with a row (None: nothing), and its values."""
    siret, raw_date, outcome = (record.get(column, "").strip() for column in REQUIRED)
    nothing = ("", date.min, 0)
    if not _VALID["siret"](siret):
        return f"siret is not 14 digits ({len(siret)} characters)", nothing
    when = inspection_day(raw_date)
    if when is None:
        if _VALID["inspection_date"](raw_date):  # written as a date, but one the calendar does not hold (31/02)
            return "inspection_date does not exist (day 0 or past the end of its month, month 0 or above 12)", nothing
        return "inspection_date is not a date written YYYY-MM-DD or DD/MM/YYYY", nothing
    if not FIRST_YEAR <= when.year <= LAST_YEAR:
        return f"inspection_date is not between {FIRST_YEAR} and {LAST_YEAR}", nothing
    if not _VALID["abuse_found"](outcome):
        return "abuse_found is not 0 or 1", nothing
    return None, (siret, when, int(outcome))


def _repeated(path: Path, rows: pd.DataFrame) -> list[Issue]:
    """A warning for each row of a file that repeats an earlier line (the same SIRET, day and outcome): read once."""
    first_line = rows.drop_duplicates(list(REQUIRED)).set_index(list(REQUIRED))["line"]
    again = rows[rows.duplicated(list(REQUIRED))]
    return [Issue(str(path), int(line), "warning", REPEATED_ROW, f"repeats line {first_line[(siret, day, found)]}: read once")
            for siret, day, found, line in again[[*REQUIRED, "line"]].itertuples(index=False, name=None)]


def _both_outcomes(path: Path, rows: pd.DataFrame) -> list[Issue]:
    """A warning for each row of a file whose control (SIRET and day) an earlier line gives the other outcome (the
    control is read once, as abuse found: `one_per_control`)."""
    firsts = rows.drop_duplicates(list(REQUIRED))
    later = firsts[firsts.duplicated(list(CONTROL))]
    first_line = firsts.drop_duplicates(list(CONTROL)).set_index(list(CONTROL))["line"]
    return [Issue(str(path), int(line), "warning", "inspection_both_outcomes",
                  f"SIRET {siret} inspected on {day:%Y-%m-%d}: line {first_line[(siret, day)]} gives the other outcome; "
                  "the control counts once, as abuse found (either found it)")
            for siret, day, line in later[["siret", "inspection_date", "line"]].itertuples(index=False, name=None)]


def import_inspections(path: Path, home: Home, append: bool = False) -> InspectionImport:
    """Read and check an inspections CSV, and publish a new version of the warehouse of `home` (under the writer's
    lock) whose imported inspections are its valid rows, or, with `append`, those stored before and its rows.

    Appended, a control already stored is kept once, and a control (SIRET and day) the file gives another outcome
    replaces the stored one (a corrected outcome), reported with its line. A file with no valid row replaces
    nothing: ValueError, and the stored history stays."""
    loaded = read_valid_inspections(path)
    with writer_lock(home.data):
        state = WarehouseState(home.data)
        state.adopt_legacy()
        published = state.published()
        warehouse = published / "warehouse" if published is not None else None
        before, recorded = _stored(warehouse), _stored(warehouse, RECORDED_NAME)
        draft = state.begin()
        issues = [*loaded.issues, *_recorded_otherwise(path, loaded, recorded)]
        kept, replaced = before, 0
        if append:
            changed = _changed_outcomes(path, loaded, before)
            issues += changed
            replaced = len(changed)
            kept = before[~_controls(before).isin(_controls(loaded.rows))]
        rows = pd.concat([kept, loaded.rows], ignore_index=True) if append else loaded.rows
        rows = rows.drop_duplicates().sort_values(["inspection_date", "siret"], ignore_index=True)
        store_inspections(rows, draft.warehouse)
        state.publish(draft)
    # New: a control (SIRET and day) not imported before, nor recorded in the web application (the same visit, whatever
    # its outcome there: `one_per_control`).
    controls = loaded.rows.drop_duplicates(list(CONTROL))  # a control the file gives both outcomes is one
    known = _controls(controls).isin(_controls(before)) | _controls(controls).isin(_controls(recorded))
    added = int((~known).sum())
    return InspectionImport(loaded.rows, sorted(issues, key=_line), len(rows), added, replaced,
                            len(before.drop_duplicates(list(CONTROL))),
                            len(recorded_otherwise(rows, recorded)), len(rows.drop_duplicates(list(CONTROL))))


def _stored(warehouse: Path | None, name: str = STORED_NAME) -> pd.DataFrame:
    """The imported inspections of a warehouse (or those `name` holds; none when it has none, or there is no
    warehouse yet), typed as `read_inspections` types them."""
    path = warehouse / name if warehouse is not None else None
    if path is None or not path.exists():
        return no_inspections()
    frame = pq.read_table(path).to_pandas(date_as_object=False)
    return frame.astype({"siret": "string", "inspection_date": "datetime64[s]", "abuse_found": "int64"})


def imported_outcomes(warehouse: Path, siret: str, day: date) -> set[int]:
    """The outcomes (abuse_found) the imported inspections give the control of `siret` on `day`: empty when none does.
    What `load_inspections` keeps for that control when the web application records it too (`one_per_control`)."""
    imported = _stored(warehouse)
    same = (imported["siret"] == siret) & (imported["inspection_date"] == pd.Timestamp(day))
    return {int(found) for found in imported.loc[same.to_numpy(dtype=bool), "abuse_found"]}


def _changed_outcomes(path: Path, loaded: InspectionFile, stored: pd.DataFrame) -> list[Issue]:
    """A warning for each control (SIRET and day) of `loaded`, at its first line, whose outcomes in the file are not
    those stored for it: the file's replace them."""
    stored_outcomes, file_outcomes = _outcomes_by_control(stored), _outcomes_by_control(loaded.rows)
    issues, seen = [], set()
    for (siret, day), line in zip(loaded.rows[list(CONTROL)].itertuples(index=False, name=None), loaded.lines,
                                  strict=True):
        known = stored_outcomes.get((siret, day))
        if known is None or (siret, day) in seen or known == file_outcomes[(siret, day)]:
            continue
        seen.add((siret, day))
        issues.append(Issue(
            str(path), line, "warning", "inspection_outcome_replaced",
            f"SIRET {siret} inspected on {day:%Y-%m-%d} was stored with abuse_found {_outcomes(known)}: "
            f"replaced by this file's {_outcomes(file_outcomes[(siret, day)])}"))
    return issues


def _recorded_otherwise(path: Path, loaded: InspectionFile, recorded: pd.DataFrame) -> list[Issue]:
    """A warning for each control of `loaded` recorded in the web application with other outcomes only: the file's
    outcome is kept (`one_per_control`)."""
    outcomes = _outcomes_by_control(recorded)
    return [Issue(str(path), line, "warning", RECORDED_OTHERWISE,
                  f"SIRET {siret} inspected on {day:%Y-%m-%d} is recorded in the web application with abuse_found "
                  f"{_outcomes(known)}: {KEPT}")
            for siret, day, found, line in zip(*(loaded.rows[c] for c in REQUIRED), loaded.lines, strict=True)
            if (known := outcomes.get((siret, day))) is not None and found not in known]


def one_per_control(imported: pd.DataFrame, recorded: pd.DataFrame) -> pd.DataFrame:
    """The inspections to learn from and count (siret, inspection_date, abuse_found), one row per control (SIRET and
    day), by date then SIRET: the `imported` ones, and the `recorded` ones whose control no imported one gives; a
    control both give keeps its imported outcome, one a source gives both outcomes counts as abuse found (the
    module's docstring says why). Neither input is changed."""
    recorded_only = recorded[~_controls(recorded).isin(_controls(imported))]
    merged = pd.concat([imported[list(REQUIRED)], recorded_only[list(REQUIRED)]], ignore_index=True)
    # A control one source gives both outcomes: abuse found (either found it), as the features read it.
    merged = merged.sort_values("abuse_found", ascending=False, kind="stable").drop_duplicates(list(CONTROL))
    return merged.sort_values(["inspection_date", "siret"], ignore_index=True)


def file_controls(loaded: InspectionFile) -> pd.DataFrame:
    """The controls of one inspections file as training and evaluation read them, one row per control (SIRET and day):
    one the file gives both outcomes counts once, as abuse found (`one_per_control`), as the stored history does."""
    return one_per_control(loaded.rows, loaded.rows.iloc[0:0])


def recorded_otherwise(imported: pd.DataFrame, recorded: pd.DataFrame) -> pd.DataFrame:
    """The controls (SIRET and day) `recorded` gives with an outcome `imported` does not give: siret,
    inspection_date, imported and recorded (the outcomes of each, as text: "1", or "0 and 1"), by date then SIRET."""
    imported_outcomes, recorded_outcomes = _outcomes_by_control(imported), _outcomes_by_control(recorded)
    both = imported_outcomes.index.intersection(recorded_outcomes.index)
    rows = [(siret, day, _outcomes(imported_outcomes[(siret, day)]), _outcomes(recorded_outcomes[(siret, day)]))
            for siret, day in both if imported_outcomes[(siret, day)] != recorded_outcomes[(siret, day)]]
    frame = pd.DataFrame(rows, columns=["siret", "inspection_date", "imported", "recorded"])
    return frame.sort_values(["inspection_date", "siret"], ignore_index=True)


def stored_conflicts(warehouse: Path) -> list[Issue]:
    """A warning for each control of the warehouse both imported and recorded in the web application, with other
    outcomes (`recorded_otherwise`): the imported one is kept. Named by SIRET and day, which are no personal data."""
    imported, recorded = _stored(warehouse), _stored(warehouse, RECORDED_NAME)
    return [Issue(str(warehouse / RECORDED_NAME), None, "warning", RECORDED_OTHERWISE,
                  f"SIRET {siret} inspected on {day:%Y-%m-%d} is recorded in the web application with abuse_found "
                  f"{recorded_as}, imported with {imported_as}: {KEPT}")
            for siret, day, imported_as, recorded_as in recorded_otherwise(imported, recorded).itertuples(index=False)]


def _controls(inspections: pd.DataFrame, columns: tuple[str, ...] = CONTROL) -> pd.MultiIndex:
    """The control (SIRET and day) of each row of `inspections`, or its `columns` (REQUIRED: with its outcome)."""
    return pd.MultiIndex.from_frame(inspections[list(columns)])


def _outcomes_by_control(inspections: pd.DataFrame) -> pd.Series:
    """The set of outcomes of each control (SIRET and day) of `inspections`."""
    return inspections.groupby(list(CONTROL))["abuse_found"].agg(frozenset)


def _line(issue: Issue) -> int:
    return issue.line or 0


def _outcomes(values: frozenset[int]) -> str:
    return " and ".join(str(value) for value in sorted(values))


def store_recorded_inspections(inspections: pd.DataFrame, home: Home) -> None:
    """Publish a new version of the warehouse of `home` whose recorded inspections are these rows (siret,
    inspection_date, abuse_found: every recorded control's current outcome), the imported ones unchanged.
    Raises WarehouseBusy while another run writes the warehouse."""
    with writer_lock(home.data):
        state = WarehouseState(home.data)
        draft = state.begin()
        store_inspections(inspections, draft.warehouse, RECORDED_NAME)
        state.publish(draft)


def store_inspections(inspections: pd.DataFrame, warehouse: Path, name: str = STORED_NAME) -> Path:
    """Replace the inspections stored in `warehouse` (a draft) under `name` with these rows."""
    path = fresh_file(warehouse / name)
    table = pa.table(
        {
            "siret": pa.array(inspections["siret"].astype(str).tolist(), pa.string()),
            "inspection_date": pa.array(pd.to_datetime(inspections["inspection_date"]).dt.date.tolist(), pa.date32()),
            "abuse_found": pa.array(inspections["abuse_found"].astype(int).tolist(), pa.int8()),
        },
        schema=SCHEMA,
    )
    pq.write_table(table, path)
    return path


def load_inspections(warehouse: Path) -> pd.DataFrame | None:
    """The stored inspections, imported and recorded, one row per control (SIRET and day; `one_per_control`), by date
    then SIRET, or None when there are none."""
    frames = {name: _read_stored(warehouse / name) for name in (STORED_NAME, RECORDED_NAME) if (warehouse / name).exists()}
    if not frames:
        return None
    none = frames.get(STORED_NAME, next(iter(frames.values()))).iloc[0:0]
    return one_per_control(frames.get(STORED_NAME, none), frames.get(RECORDED_NAME, none))


def _read_stored(path: Path) -> pd.DataFrame:
    """A stored inspections file, typed as `load_inspections` gives it (dates as Arrow reads them)."""
    frame = pq.read_table(path).to_pandas(date_as_object=False)
    frame["siret"] = frame["siret"].astype("string")
    frame["abuse_found"] = frame["abuse_found"].astype("int64")
    return frame
