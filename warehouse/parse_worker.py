"""One ingestion task, run in a worker process: parse a batch of DSN files into staged Parquet.

A file that fails in an unexpected way is quarantined whole; its rows are dropped from the batch,
never half-kept, and the other files of the batch go on. A file whose gzip stream is damaged keeps
the declarations read before the damage; the file itself is copied to the quarantine with the reason.
"""

from __future__ import annotations

import os
import shutil
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from core.cycles import cycle_collection_paused
from warehouse.dsn.parser import DsnParser, Issue
from warehouse.dsn.reader import (
    MAX_LINE_BYTES,
    DecodeReport,
    file_label,
    file_path,
    file_sha256,
    iter_line_chunks,
    open_binary,
    overlong_line,
    stream_encoding,
)
from warehouse.dsn.records import MONTHLY_NATURE, RecordBuilder
from warehouse.dsn.tokens import LineSelector, has_misplaced_block, iter_parser_lines
from warehouse.pseudonym import Pseudonymiser
from warehouse.tables import STAGED_SCHEMAS, misfit

# Natures of a declaration (S20.G00.05.001) that signal an event (a work stoppage, a return, a single contract end,
# data primed) and declare no month: counted, not read. Any other than these and the monthly '01' (a code outside the
# norm's list, '01 ' with a space) is quarantined with its reason: taken for a signal, a monthly declaration was lost
# without a word.
EVENT_SIGNALS = ("04", "05", "07", "08")
MAX_ISSUES_PER_FILE = 2_000
# How a UTF-16 file was recognised (`reader.utf16_encoding`), for its warning.
UTF16_FORMS = {"utf-16": "with a byte order mark", "utf-16-le": "little-endian, with no byte order mark",
               "utf-16-be": "big-endian, with no byte order mark"}
SET_ASIDE = "set-aside"  # the tag of a declaration set aside by consolidation in the quarantine


@dataclass(frozen=True)
class SourceFile:
    """A DSN file to ingest, identified by the hash of its bytes."""

    path: Path
    sha256: str
    size: int
    modified_ns: int | None = None  # its modification time when it was hashed (None: not known)

    @property
    def label(self) -> str:
        """The file's name as issues, the manifest and the quarantine write it (`reader.file_label`)."""
        return file_label(self.path)


@dataclass(frozen=True)
class BatchTask:
    """Files parsed together by one worker; their rows land in one Parquet file per table."""

    batch_id: str
    files: tuple[SourceFile, ...]
    staging: Path
    quarantine: Path
    key: bytes = field(repr=False)  # the pseudonymisation key: never in a log or an error message
    run_month: date = field(default_factory=lambda: date.today().replace(day=1))  # later declared months are refused


@dataclass
class FileResult:
    """What parsing one file gave: counts, issues and its row in the files manifest."""

    source: SourceFile
    lines: int = 0
    encoding: str = ""
    declarations: int = 0
    monthly: int = 0
    signals: int = 0
    quarantined: int = 0
    issues: list[Issue] = field(default_factory=list)
    issues_dropped: int = 0
    errors_dropped: int = 0  # of issues_dropped
    unknown_blocks: dict[str, int] = field(default_factory=dict)
    unknown_rubrics: dict[str, int] = field(default_factory=dict)
    envelope_lines: int = 0
    listed: bool = True  # listed as ingested, never read again but by `ingest --rebuild` (false: it could not be opened)


@dataclass
class BatchResult:
    batch_id: str
    files: list[FileResult]


def parse_batch(task: BatchTask) -> BatchResult:
    """Parse every file of the batch and write the staged tables; never raises for bad input.

    Rows go to disk in row groups as they accumulate, so memory does not grow with the batch or
    the file; a file's declaration rows are written only once the whole file was read.
    """
    pseudonymiser = Pseudonymiser(task.key)
    selector, every_opening = LineSelector(skip_repeated_openings=True), LineSelector()
    results = []
    with cycle_collection_paused(), _StagedWriter(task.staging, task.batch_id) as writer:
        for source in task.files:
            headers: list[tuple] = []
            try:
                result = _parse_file(source, pseudonymiser, selector, writer.add, headers, task)
                if has_misplaced_block(result.issues) or result.issues_dropped:
                    # Read again with every opening for the issues (and the quarantine) they add;
                    # the rows are the same, and already written.
                    result = _read_again_for_issues(source, pseudonymiser, every_opening, task, result)
            except FileNotOpened as unopened:
                result = _unopened_file(source, unopened.error)
            except Exception as exc:  # a bug or an unreadable file must not lose the batch
                result = _unreadable_file(source, task.quarantine, exc)
            else:
                if changed_since_hashed(source):
                    # Its rows may come from other bytes than those hashed: none kept (no declaration rows), and the
                    # file not listed, so that a run that finds it again reads it under the hash of what it holds.
                    result = _changed_file(source)
                else:
                    # The declaration rows go last: without them, rows already written for a file
                    # that failed are orphans that consolidation ignores.
                    writer.add({"declarations": headers})
            results.append(result)
    return BatchResult(task.batch_id, results)


class _StagedWriter:
    """One Parquet file per staged table for the batch, written in row groups of ROW_GROUP rows."""

    ROW_GROUP = 200_000

    def __init__(self, staging: Path, batch_id: str) -> None:
        self.paths = {name: staging / name / f"{batch_id}.parquet" for name in STAGED_SCHEMAS}
        self.pending: dict[str, list[tuple]] = {name: [] for name in STAGED_SCHEMAS}
        self.writers: dict[str, pq.ParquetWriter] = {}

    def __enter__(self) -> _StagedWriter:
        return self

    def add(self, rows: dict[str, list[tuple]]) -> None:
        for name, table_rows in rows.items():
            pending = self.pending[name]
            pending.extend(table_rows)
            if len(pending) >= self.ROW_GROUP:
                self._flush(name)

    def _flush(self, name: str) -> None:
        schema = STAGED_SCHEMAS[name]
        rows = self.pending[name]
        columns: list[Sequence[object]] = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
        table = pa.table([pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)], schema=schema)
        if name not in self.writers:
            self.paths[name].parent.mkdir(parents=True, exist_ok=True)
            self.writers[name] = pq.ParquetWriter(self.paths[name], schema, compression="zstd")
        self.writers[name].write_table(table)
        self.pending[name] = []

    def __exit__(self, *exc_info: object) -> None:
        for name in STAGED_SCHEMAS:
            if self.pending[name] or name not in self.writers:  # every table gets a file, maybe empty
                self._flush(name)
            self.writers[name].close()


def _read_again_for_issues(source: SourceFile, pseudonymiser: Pseudonymiser, selector: LineSelector, task: BatchTask,
                           first: FileResult) -> FileResult:
    """The result of `source` read again with `selector` for its issues, its rows discarded; `first`, the result of the
    reading that wrote its rows, with a warning, when it can no longer be opened (its rows are staged: not listed, it
    would be read again into another batch, and each of its rows counted twice)."""
    try:
        return _parse_file(source, pseudonymiser, selector, _discard, [], task)
    except FileNotOpened as unopened:
        first.issues.append(Issue(source.label, None, "warning", "unreadable_file",
                                  "file read, but not again for the whole list of its issues (the list above may lack "
                                  f"some): it could not be opened a second time ({unopened.error.strerror or unopened.error})"))
        return first


def _discard(rows: dict[str, list[tuple]]) -> None:
    """Rows not written (a file read again for its issues only)."""


def _parse_file(
    source: SourceFile, pseudonymiser: Pseudonymiser, selector: LineSelector,
    add_rows: Callable[[dict[str, list[tuple]]], None], headers: list[tuple], task: BatchTask,
) -> FileResult:
    label = source.label
    parser = DsnParser(label)
    builder = RecordBuilder(pseudonymiser, source.sha256, label, task.run_month)
    report = DecodeReport()
    result = FileResult(source)
    to_quarantine = []
    try:
        opened = open_binary(source.path)
    except OSError as exc:  # moved, deleted or locked since it was hashed: nothing of it read
        raise FileNotOpened(exc) from exc
    with opened as stream:
        utf16 = stream_encoding(stream)
        for declaration in parser.parse(iter_parser_lines(stream, report, selector), report):
            result.declarations += 1
            nature = declaration.header.text("001")
            if nature == MONTHLY_NATURE:
                declaration_rows = builder.monthly_rows(declaration)
            else:
                declaration_rows = {}
                if nature is None:
                    declaration.problems.append(f"line {declaration.line_start}: declaration nature S20.G00.05.001 missing")
                elif nature not in EVENT_SIGNALS:
                    declaration.problems.append(
                        f"line {declaration.header.line}: declaration nature S20.G00.05.001 {nature!r} is neither monthly "
                        f"('01') nor an event signal ({', '.join(repr(code) for code in EVENT_SIGNALS)}), the natures "
                        "read here (09, a substitution DSN, is not)")
            if declaration.problems:
                to_quarantine.append(declaration)
                continue
            n_contracts = len(declaration_rows.get("contract_months", ()))
            headers.append(builder.header_row(declaration, len(declaration.individuals), n_contracts))
            add_rows(declaration_rows)
            if nature == MONTHLY_NATURE:
                result.monthly += 1
            else:
                result.signals += 1
    _check_types("declarations", headers)  # a value the warehouse cannot hold fails this file only
    parser.issues.extend(builder.issues)
    if report.byte_order_mark:
        parser.issues.append(
            Issue(label, 1, "warning", "byte_order_mark", "the file starts with a UTF-8 byte order mark; skipped")
        )
    if utf16 is not None:
        parser.issues.append(
            Issue(label, None, "warning", "utf16_file",
                  f"UTF-16 text ({UTF16_FORMS[utf16]}), where the norm asks for ISO-8859-1: read as UTF-16")
        )
    if report.mixed:
        parser.issues.append(
            Issue(label, report.first_non_utf8_line, "warning", "mixed_encoding",
                  f"UTF-8 text, and bytes that are not UTF-8 on {report.non_utf8_lines} lines (the first here), "
                  f"read as {report.encoding}")
        )
    if report.overlong_lines:
        lines = report.overlong_lines
        parser.issues.append(
            Issue(label, None, "error", "overlong_line",
                  f"{len(lines)} line(s) longer than {MAX_LINE_BYTES} bytes not read (the longest {max(lines)} bytes): "
                  f"each stands as « {overlong_line(max(lines)).decode('ascii')} » in its place, a malformed line "
                  "of its declaration")
        )
    if report.truncated:
        _quarantine_whole_file(source, task.quarantine, report.truncated)
    elif result.declarations == 0:
        reason = ("no declaration could be read from the file: empty, not DSN text, or in an encoding this reader "
                  "does not take")
        _quarantine_whole_file(source, task.quarantine, reason)
        parser.issues.append(Issue(label, None, "error", "no_declaration", reason + "; quarantined whole"))
        result.quarantined = 1  # the file, whole
    if to_quarantine:
        _write_quarantine(source, to_quarantine, task.quarantine)
        for declaration in to_quarantine:
            parser.issues.append(
                Issue(label, declaration.line_start, "error", "quarantined",
                      f"declaration {declaration.index} (lines {declaration.line_start}-{declaration.line_end}) "
                      f"quarantined: {'; '.join(declaration.problems[:3])}")
            )
    result.quarantined += len(to_quarantine)
    result.lines = parser.summary.lines
    result.encoding = utf16 or ("mixed" if report.mixed else report.encoding)
    result.envelope_lines = parser.summary.envelope_lines
    result.unknown_blocks = dict(parser.summary.unknown_blocks)
    result.unknown_rubrics = dict(parser.summary.unknown_rubrics)
    result.issues, result.issues_dropped, result.errors_dropped = capped_issues(parser.issues)
    return result


def capped_issues(issues: list[Issue], most: int = MAX_ISSUES_PER_FILE) -> tuple[list[Issue], int, int]:
    """The issues of one file a report lists (in their order), how many it leaves out and how many of those are errors:
    every quarantined declaration is listed whatever their number (one per declaration), then the other errors, then
    the warnings, up to `most` in all."""
    quarantined = [i for i, issue in enumerate(issues) if issue.kind == "quarantined"]
    errors = [i for i, issue in enumerate(issues) if issue.severity == "error" and issue.kind != "quarantined"]
    warnings = [i for i, issue in enumerate(issues) if issue.severity != "error"]
    room = max(0, most - len(quarantined))
    kept = quarantined + errors[:room] + warnings[:max(0, room - len(errors))]
    listed = [issues[i] for i in sorted(kept)]
    return listed, len(issues) - len(listed), len(errors) - min(len(errors), room)


def _check_types(table: str, rows: list[tuple]) -> None:
    """Raise ValueError when `rows` do not fit the staged table's schema (types and ranges)."""
    problem = misfit(STAGED_SCHEMAS[table], rows)
    if problem is not None:
        raise ValueError(f"a value does not fit the {table} table: {problem}")


class QuarantinedDeclaration(Protocol):
    """A declaration to copy into the quarantine: its number in its file, its lines, and why."""

    @property
    def index(self) -> int: ...
    @property
    def line_start(self) -> int: ...
    @property
    def line_end(self) -> int: ...
    @property
    def problems(self) -> Sequence[str]: ...


class SetAsideDeclaration(QuarantinedDeclaration, Protocol):
    """A declaration read, and staged, then set aside by consolidation: the file it was read from too."""

    @property
    def file(self) -> str: ...
    @property
    def sha256(self) -> str: ...


def quarantine_set_aside(declarations: Sequence[SetAsideDeclaration], quarantine: Path) -> list[Issue]:
    """Keep in `quarantine` (the set-aside folder of the version being written, `StateDraft.set_aside`) the
    declarations that consolidation sets aside, and those only: each is copied once, read again from its file, and
    removed once no longer set aside. Returns a warning for each one whose file is gone or no longer holds the bytes it
    was read from (its rows stay in the staging all the same)."""
    issues = []
    ordered = sorted(declarations, key=lambda d: (d.file, d.sha256, d.index))
    for (label, sha), group in groupby(ordered, key=lambda d: (d.file, d.sha256)):
        missing = [d for d in group if not _quarantine_stem(quarantine, sha, d.index, SET_ASIDE).with_suffix(".dsn").exists()]
        if not missing:
            continue
        path = file_path(label)
        why = None
        try:
            if file_sha256(path) == sha:
                _write_quarantine(SourceFile(path, sha, path.stat().st_size), missing, quarantine, SET_ASIDE)
            else:
                why = "the file no longer holds the bytes it was read from"
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
        if why is not None:
            issues += [Issue(label, d.line_start, "warning", "not_quarantined",
                             f"declaration {d.index} set aside but not copied to the quarantine: {why}; its rows stay "
                             "in the warehouse's staging") for d in missing]
    current = {_quarantine_stem(quarantine, d.sha256, d.index, SET_ASIDE).name for d in declarations}
    for copy in quarantine.glob(f"*-{SET_ASIDE}.dsn") if quarantine.is_dir() else ():
        if copy.stem not in current:
            copy.unlink()
            copy.with_suffix(".reason.txt").unlink(missing_ok=True)
    return issues


def show_set_aside(copies: Path, quarantine: Path) -> None:
    """Make the set-aside copies in `quarantine` those of `copies` (the set-aside folder of the published version):
    each linked there (copied when the link fails), those no longer set aside removed. Called once a version is
    published, and again by the next run (a run killed in between leaves the quarantine as the version before)."""
    wanted = {path.name: path for path in copies.iterdir()} if copies.is_dir() else {}
    if wanted:
        private_folder(quarantine)
    for name, source in sorted(wanted.items()):
        shown = quarantine / name
        if shown.exists() and os.path.samefile(source, shown):
            continue
        incoming = quarantine / f".{name}.new"  # then renamed over: a reader never sees a copy half-written
        incoming.unlink(missing_ok=True)
        link_or_copy(source, incoming)
        incoming.replace(shown)
    for copy in quarantine.glob(f"*-{SET_ASIDE}.*") if quarantine.is_dir() else ():
        if copy.name not in wanted:
            copy.unlink()


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link `target` to `source`, or a copy (mode included) when `target` is on another filesystem."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _quarantine_stem(quarantine: Path, sha256: str, index: int, tag: str = "") -> Path:
    """Where a declaration of a file goes in the quarantine, without its suffix (.dsn, .reason.txt); `tag` marks
    the declarations set aside after they were read."""
    return quarantine / (f"{sha256[:16]}-{index:05d}" + (f"-{tag}" if tag else ""))


def _write_quarantine(
    source: SourceFile, declarations: Sequence[QuarantinedDeclaration], quarantine: Path, tag: str = ""
) -> None:
    """Copy the lines of each declaration (decoded as the parser read them, written in
    UTF-8 with LF line ends), with the reasons, into the quarantine (`_quarantine_stem`)."""
    private_folder(quarantine)
    wanted = {(d.line_start, d.line_end): d for d in declarations}
    collected: dict[tuple[int, int], list[str]] = {span: [] for span in wanted}
    with open_binary(source.path) as stream:
        for first, lines in iter_line_chunks(stream, DecodeReport()):
            for (start, end), kept in collected.items():
                if start < first + len(lines) and end >= first:
                    kept.extend(lines[max(start - first, 0) : end - first + 1])
    for (start, end), declaration in wanted.items():
        stem = _quarantine_stem(quarantine, source.sha256, declaration.index, tag)
        _private(stem.with_suffix(".dsn")).write_text("".join(line + "\n" for line in collected[(start, end)]),
                                                     encoding="utf-8")
        stem.with_suffix(".reason.txt").write_text(
            f"file: {source.label}\nsha256: {source.sha256}\ndeclaration: {declaration.index}\n"
            f"lines: {start}-{end}\nreasons:\n" + "\n".join(f"- {p}" for p in declaration.problems) + "\n",
            encoding="utf-8",
        )


def private_folder(folder: Path) -> None:
    """`folder`, created if needed, readable by its owner only: the quarantine holds raw DSN (NIRs, names)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)


def _private(path: Path) -> Path:
    """`path`, created empty if needed and readable by its owner only, for raw DSN to be written into."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    return path


def _quarantine_whole_file(source: SourceFile, quarantine: Path, reason: str) -> None:
    """Copy the file as it is into the quarantine, with why."""
    private_folder(quarantine)
    stem = quarantine / f"{source.sha256[:16]}-file"
    shutil.copyfile(source.path, _private(stem.with_suffix(".dsn")))
    stem.with_suffix(".reason.txt").write_text(
        f"file: {source.label}\nsha256: {source.sha256}\n{reason}\n"
        f"at {datetime.now().isoformat(timespec='seconds')}\n",
        encoding="utf-8",
    )


class FileNotOpened(Exception):
    """A file that could not be opened to be parsed: nothing of it was read, nothing staged."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _unopened_file(source: SourceFile, error: OSError) -> FileResult:
    """The result of a file that could not be opened once hashed (moved, deleted, its rights changed meanwhile): not
    listed as ingested (`FileResult.listed`), so that the next run that finds it reads it; nothing was staged."""
    result = FileResult(source, listed=False)
    result.issues = [Issue(source.label, None, "error", "unreadable_file",
                           f"file not read: it could not be opened once hashed ({error.strerror or error}); not listed "
                           "as ingested: a run that finds it again reads it")]
    return result


def changed_since_hashed(source: SourceFile) -> bool:
    """Whether the file's size or modification time is not what they were when it was hashed (being written, or
    replaced, while it was read); a file gone counts as changed."""
    if source.modified_ns is None:
        return False
    try:
        now = source.path.stat()
    except OSError:
        return True
    return (now.st_size, now.st_mtime_ns) != (source.size, source.modified_ns)


def _changed_file(source: SourceFile) -> FileResult:
    """The result of a file that changed while it was read: nothing of it kept, not listed as ingested."""
    result = FileResult(source, listed=False)
    result.issues = [Issue(source.label, None, "error", "unreadable_file",
                           "file not kept: it changed while it was read (its size or modification time is no longer "
                           "the one it was hashed with: a transfer still writing it?); not listed as ingested: a run "
                           "that finds it again reads it")]
    return result


def _unreadable_file(source: SourceFile, quarantine: Path, exc: Exception) -> FileResult:
    """The result of a file that failed unexpectedly: quarantined whole, none of its rows kept."""
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    try:
        _quarantine_whole_file(source, quarantine, f"the whole file could not be read: {detail}")
    except OSError as copy_error:  # the file vanished or cannot be read at all: the issue still says so
        detail += f" (not copied to the quarantine: {copy_error.strerror})"
    result = FileResult(source, quarantined=1)
    # Listed as read all the same: rows it staged before failing stay in its batch, and reading it again in another
    # batch would count them twice. `ingest --rebuild` reads every listed file again into a fresh staging.
    result.issues = [Issue(source.label, None, "error", "unreadable_file",
                           f"file quarantined whole: {detail}; once the cause is mended, `champollion ingest --rebuild` "
                           "reads it again")]
    return result
