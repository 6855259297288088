"""`champollion ingest`: DSN files (or folders of them) into the contract warehouse.

Files are hashed first: a file already ingested (same bytes) is skipped, so ingesting twice
changes nothing. New files are parsed in parallel worker processes into staged Parquet; then
cancel-and-replace is resolved over everything staged and the touched months are rewritten.
Where the parsing runs and what resolves cancel-and-replace is an `IngestEngine`: DuckDB with
local processes here, Spark in `warehouse.spark.ingest`.

A run is a transaction (`warehouse.versions`): under the home's writer lock it writes a draft
of the next version of the warehouse, file list included, and publishes it in one atomic step, or
leaves the published version as it was. The copies of the declarations it sets aside are part of the version, and
shown in the quarantine once it is published. The pseudonymisation key's fingerprint is kept with the
warehouse: another key is refused unless the run rebuilds the warehouse from its files.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from core.config import Config, IngestConfig
from core.csv_files import write_rows_csv
from core.home import Home
from core.machine import end_with_parent
from warehouse.consolidate import CONFLICTS, ConsolidationResult, consolidate
from warehouse.dsn.parser import Issue
from warehouse.dsn.reader import file_label, file_path, file_sha256, open_binary, stream_damage
from warehouse.inspections import RECORDED_NAME, STORED_NAME
from warehouse.parse_worker import (
    SET_ASIDE,
    BatchResult,
    BatchTask,
    SourceFile,
    link_or_copy,
    parse_batch,
    private_folder,
    quarantine_set_aside,
    show_set_aside,
)
from warehouse.pseudonym import key_fingerprint
from warehouse.sql_engine import DuckDBEngine
from warehouse.tables import FILES_NAME, FILES_SCHEMA, manifest_of
from warehouse.versions import (
    SET_ASIDE_FOLDER,
    KeyMismatch,
    StateDraft,
    WarehouseState,
    fresh_file,
    record_key_fingerprint,
    recorded_key_fingerprint,
    writer_lock,
)

log = logging.getLogger("champollion.ingest")

# Threads hashing the files before they are parsed. On the `large` preset (16.9 GB) out of the page cache, 2 threads
# hashed 429 MB/s and 8 threads 811 MB/s; in the cache, SHA-256 runs at 1.27 GB/s per core whatever the threads.
HASH_THREADS = 8

Progress = Callable[[int, int], None]


@dataclass
class IngestSummary:
    """What one `ingest` run did, for the closing table and the tests."""

    files_seen: int = 0
    files_new: int = 0
    files_already_ingested: int = 0
    files_skipped_not_dsn: int = 0
    declarations_read: int = 0
    monthly_declarations: int = 0
    event_signals: int = 0
    quarantined: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    errors: int = 0
    errors_not_listed: int = 0  # errors beyond a file's issues in the report (counted in `errors`)
    issue_kinds: Counter = field(default_factory=Counter)
    lines: int = 0
    bytes: int = 0
    seconds: float = 0.0
    months_rewritten: list[str] = field(default_factory=list)
    issues_report: Path | None = None
    warehouse: Path | None = None
    version: int | None = None  # the version published by the run (None: nothing new, nothing published)

    @property
    def set_aside(self) -> int:
        """Declarations set aside in a conflict, over everything staged (`status_counts`)."""
        return sum(self.status_counts.get(status, 0) for status in CONFLICTS)

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0


class IngestEngine(Protocol):
    """Runs the parse tasks and resolves cancel-and-replace into the warehouse."""

    @property
    def parallelism(self) -> int:
        """How many parse tasks run at once (batches are planned for it)."""

    def parse(self, tasks: list[BatchTask], progress: Progress | None) -> list[BatchResult]:
        """Run `parse_batch` on every task; the results sorted by batch id."""

    def consolidate(
        self, staging: Path, warehouse: Path, batches: list[str], new_batches: list[str], inferred_end_after_months: int
    ) -> ConsolidationResult:
        """Resolve cancel-and-replace over the staged `batches`, rewrite the months that `new_batches`
        touch and rebuild the establishment, person and contract tables."""


@dataclass(frozen=True)
class DuckDBIngest:
    """Parse tasks in local worker processes; cancel-and-replace and the tables by DuckDB, which spills
    beyond `memory_limit` (config.duckdb) to a folder of its own under `spill_root`."""

    workers: int
    spill_root: Path
    memory_limit: str | None = None
    threads: int | None = None

    @property
    def parallelism(self) -> int:
        return self.workers

    def parse(self, tasks: list[BatchTask], progress: Progress | None) -> list[BatchResult]:
        return _run_tasks(tasks, self.workers, sum(f.size for t in tasks for f in t.files), progress)

    def consolidate(
        self, staging: Path, warehouse: Path, batches: list[str], new_batches: list[str], inferred_end_after_months: int
    ) -> ConsolidationResult:
        with DuckDBEngine.spilling_to(self.spill_root, self.memory_limit, self.threads) as engine:
            return consolidate(engine.con, staging, warehouse, batches, new_batches, inferred_end_after_months)


# A DSN rubric line (`S21.G00.40.001,`), in any case, after stray bytes: what makes a file in a folder a DSN file.
_RUBRIC_LINE = re.compile(rb"(?im)^[\x00\s]*S\d\d\.G\d\d\.\d\d\.\d{3},")
_DSN_SUFFIXES = (".dsn", ".dsn.gz")
HEAD_BYTES = 4096  # how much of a file in a folder is looked at for a rubric line


def looks_like_dsn(path: Path) -> bool:
    """True when the file (possibly gzip) is named like a DSN file (`.dsn`, `.dsn.gz`), holds a DSN rubric line in its
    first HEAD_BYTES (a line added before the envelope, stray bytes or a lower-case rubric do not hide one: the parser
    then reports them), or is a gzip file too damaged to tell (it is then read, and reported, as a DSN file). Raises
    OSError when the file cannot be read to tell."""
    if path.name.lower().endswith(_DSN_SUFFIXES):
        return True
    with open_binary(path) as stream:
        head = stream.read(HEAD_BYTES)
        damaged = stream_damage(stream) is not None
    if damaged and not head.strip(b"\xef\xbb\xbf\r\n "):
        return True
    return _RUBRIC_LINE.search(head.replace(b"\xef\xbb\xbf", b"")) is not None


@dataclass(frozen=True)
class Discovered:
    """What `discover` found: the DSN files to read, the files skipped because they are not DSN, and what could not
    be looked at (path, why): a folder or a file that cannot be read, a broken link, a FIFO."""

    files: list[Path]
    not_dsn: list[Path]
    unreadable: list[tuple[Path, str]]


def discover(paths: Iterable[Path]) -> Discovered:
    """Files to read: named files always; inside folders (recursively, through links to folders, each folder once),
    those that look like DSN (`looks_like_dsn`); each list sorted."""
    chosen: set[Path] = set()
    skipped: set[Path] = set()
    unreadable: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for candidate in _files_under(path, unreadable):
                try:
                    (chosen if looks_like_dsn(candidate) else skipped).add(candidate.resolve())
                except OSError as exc:
                    unreadable.append((candidate, f"file not read: {exc.strerror or exc}"))
        elif path.is_file():
            chosen.add(path.resolve())
        else:
            raise FileNotFoundError(f"{path}: no such file or folder" if not path.exists() and not path.is_symlink()
                                    else f"{path}: neither a file nor a folder (a broken link, a FIFO...)")
    return Discovered(sorted(chosen), sorted(skipped), sorted(unreadable))


def _files_under(folder: Path, unreadable: list[tuple[Path, str]]) -> Iterator[Path]:
    """The files under `folder` outside hidden folders whose names do not start with a dot, following links to
    folders (a month's folder linked from an archive), each folder read once whatever the links to it (a loop of links
    ends). What cannot be listed or is not a regular file (an unreadable folder, a broken link, a FIFO) is added to
    `unreadable` with the reason, not skipped without a word."""
    seen: set[str] = set()

    def unlisted(error: OSError) -> None:
        unreadable.append((Path(error.filename or folder), f"folder not read: {error.strerror or error}"))

    for root, folders, files in os.walk(folder, followlinks=True, onerror=unlisted):
        real = os.path.realpath(root)
        if real in seen:
            folders[:] = []
            continue
        seen.add(real)
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(files):
            candidate = Path(root) / name
            if name.startswith("."):
                continue
            if candidate.is_file():
                yield candidate
            else:
                unreadable.append((candidate, "not read: neither a file nor a folder (a broken link, a FIFO, a device)"))


def plan_batches(files: list[SourceFile], batch_bytes: int, workers: int) -> list[list[SourceFile]]:
    """Group files into batches of at most `batch_bytes` (at least one batch per worker when there
    is enough input), largest files first.

    Batches shrink as the input left does (to a quarter of it per worker, not below
    `batch_bytes` / 16), so that the last batches are small and the workers finish together.
    """
    total = sum(f.size for f in files)
    workers = max(1, workers)
    floor = min(batch_bytes // 16, total // workers)
    remaining = total

    def target() -> int:
        return max(1, min(batch_bytes, max(remaining // (2 * workers), floor) + 1))

    batches: list[list[SourceFile]] = []
    current: list[SourceFile] = []
    size = 0
    limit = target()
    for source in sorted(files, key=lambda f: (-f.size, str(f.path))):
        if current and size + source.size > limit:
            batches.append(current)
            remaining -= size
            current, size = [], 0
            limit = target()
        current.append(source)
        size += source.size
    if current:
        batches.append(current)
    return batches


def _hash_and_size(path: Path) -> tuple[str, int, int, str | None]:
    """(content hash, size in bytes, modification time in ns, None), the file's state as it was before its bytes were
    hashed; or ("", 0, 0, why) when the file cannot be read: that file's issue, not the run's."""
    try:
        before = path.stat()
        return file_sha256(path), before.st_size, before.st_mtime_ns, None
    except OSError as exc:
        return "", 0, 0, exc.strerror or type(exc).__name__


def _batch_id(files: list[SourceFile]) -> str:
    digest = hashlib.sha256("".join(sorted(f.sha256 for f in files)).encode()).hexdigest()
    return digest[:20]


def _read_manifest(path: Path) -> pa.Table:
    return pq.read_table(path).cast(FILES_SCHEMA) if path.exists() else FILES_SCHEMA.empty_table()


def _check_key(published: Path | None, fingerprint: str, rebuild: bool) -> None:
    """Refuse a key other than the one the published warehouse was built under (unless rebuilding)."""
    if published is None or rebuild:
        return
    recorded = recorded_key_fingerprint(published / "warehouse")
    if recorded is not None and recorded != fingerprint:
        raise KeyMismatch(
            f"the warehouse was built under another pseudonymisation key (fingerprint {recorded}; this key's is "
            f"{fingerprint}): its people would be split in two. Use the key it was built with, or run "
            "`champollion ingest --rebuild PATH...` to rebuild it under this key from its files"
        )


def ingest(
    paths: list[Path],
    home: Home,
    config: Config,
    key: bytes,
    progress: Progress | None = None,
    engine: IngestEngine | None = None,
    rebuild: bool = False,
) -> IngestSummary:
    """Read DSN files into the warehouse of `home` with `engine` (default: `config.ingest.workers`
    processes, then DuckDB within `config.duckdb`'s limits); returns the run's summary.

    Bad input never stops the run: issues are counted, written to
    `data/ingest-reports/issues-<time>.csv` with file, line and reason (cancel-and-replace's: those new to this
    run), and unreadable declarations are quarantined under `data/quarantine/`, with the declarations set aside in a
    conflict once the version setting them aside is published. `rebuild` starts from an empty
    warehouse and reads again every file listed in the published one (those still there), with
    `paths`: the way to change the pseudonymisation key.

    Raises WarehouseBusy when another run writes the warehouse, KeyMismatch when the warehouse was
    built under another key and `rebuild` is false; nothing is changed then.
    """
    started = time.perf_counter()
    settings = config.ingest
    engine = engine or DuckDBIngest(
        settings.workers, home.duckdb_tmp, config.duckdb.memory_limit, config.duckdb.threads
    )
    summary = IngestSummary(warehouse=home.warehouse)
    fingerprint = key_fingerprint(key)
    missing = [file_label(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)}: no such file or folder")
    with writer_lock(home.data):
        state = WarehouseState(home.data)
        state.adopt_legacy()
        published = state.published()
        _check_key(published, fingerprint, rebuild)
        if published is not None and (published / SET_ASIDE_FOLDER).is_dir():  # a run killed before it showed them
            show_set_aside(published / SET_ASIDE_FOLDER, home.quarantine)
        issues: list[Issue] = []
        stamps: dict[str, datetime] = {}
        if rebuild and published is not None:
            before = _read_manifest(manifest_of(published))
            labels = before.column("source_file").to_pylist()
            # A file read again keeps the time it was first ingested: what a list knew is told by it (warehouse.arrivals).
            stamps = dict(zip(before.column("source_sha256").to_pylist(), before.column("ingested_at").to_pylist(),
                              strict=True))
            listed = [file_path(label) for label in labels]
            issues += [Issue(file_label(p), None, "warning", "missing_source", "listed in the warehouse rebuilt but no longer "
                             "there; its declarations are left out") for p in listed if not p.exists()]
            paths = [*paths, *(p for p in listed if p.exists())]
        draft = state.begin(fresh=rebuild)
        for kept in (STORED_NAME, RECORDED_NAME):  # inspections are not from the DSN: kept
            if rebuild and published is not None and (published / "warehouse" / kept).exists():
                os.link(published / "warehouse" / kept, draft.warehouse / kept)
        try:
            _draft_set_aside(draft, published, home.quarantine)
            _ingest_into(draft, paths, home, settings, key, progress, engine, summary, issues, stamps)
            record_key_fingerprint(draft.warehouse, fingerprint)
        except BaseException:
            state.discard(draft)  # the published version stays as it was
            raise
        # The report before the version: a run killed once its version is published has written what it found (the
        # files it read are listed as ingested and will not be read again); killed before, the next run reads them.
        _report_issues(home, settings, issues, summary)
        if summary.files_new or rebuild or published is None:
            log.info("ingest: publishing version %d", draft.number)
            state.publish(draft)
            summary.version = draft.number
            show_set_aside(draft.set_aside, home.quarantine)
        else:
            state.discard(draft)
    summary.seconds = time.perf_counter() - started
    return summary


def _draft_set_aside(draft: StateDraft, published: Path | None, quarantine: Path) -> None:
    """Start the draft's set-aside copies from those shown now: the published version's (a fresh draft starts empty;
    its copies are not read again from files that may be gone), or, for a version written before versions kept them,
    the quarantine's. Consolidation then keeps those still set aside and adds the others (`quarantine_set_aside`)."""
    earlier = published / SET_ASIDE_FOLDER if published is not None else None
    if earlier is not None and earlier.is_dir():
        shown = sorted(earlier.iterdir())
    else:
        shown = sorted(quarantine.glob(f"*-{SET_ASIDE}.*")) if quarantine.is_dir() else []
    private_folder(draft.set_aside)
    for copy in shown:
        if not copy.name.startswith(".") and not (draft.set_aside / copy.name).exists():
            link_or_copy(copy, draft.set_aside / copy.name)


def _report_issues(home: Home, settings: IngestConfig, issues: list[Issue], summary: IngestSummary) -> None:
    """Count the run's issues into `summary`, write its report and log the first ones."""
    summary.warnings = sum(1 for i in issues if i.severity == "warning")
    summary.errors = sum(1 for i in issues if i.severity == "error") + summary.errors_not_listed
    summary.issue_kinds = Counter(i.kind for i in issues)
    summary.issues_report = _write_issues(home, issues, datetime.now().replace(microsecond=0))
    for issue in issues[: settings.max_issue_lines_logged]:
        log.warning("%s:%s: %s: %s", issue.file, issue.line or "-", issue.kind, issue.reason)
    if len(issues) > settings.max_issue_lines_logged:
        log.warning("... %d more issues in %s", len(issues) - settings.max_issue_lines_logged, summary.issues_report)


def _ingest_into(
    draft: StateDraft,
    paths: list[Path],
    home: Home,
    settings: IngestConfig,
    key: bytes,
    progress: Progress | None,
    engine: IngestEngine,
    summary: IngestSummary,
    issues: list[Issue],
    stamps: dict[str, datetime] | None = None,
) -> None:
    """Parse the new files of `paths` into the draft, list them in its files.parquet and rebuild
    its tables; counts go to `summary`, issues to `issues`.

    Each file listed is stamped with the time it was ingested (`ingested_at`, to the second): later than every file
    listed before, whatever the clock says (a clock set back, the same second), so that the files a list knew are those
    stamped up to its files' latest (`warehouse.arrivals`). `stamps` (SHA-256 -> time) keeps the stamps of files read
    again by a rebuild (one that leaves files out forgets theirs: a list that read them finds fewer files stamped up to
    its latest, and knows that what arrived since is not known)."""
    found = discover(paths)
    dsn_files = found.files
    summary.files_seen = len(dsn_files)
    summary.files_skipped_not_dsn = len(found.not_dsn)
    issues += [
        Issue(file_label(p), None, "warning", "not_dsn", f"file in a DSN folder that holds no DSN rubric line in its first "
              f"{HEAD_BYTES} bytes and is not named .dsn; skipped")
        for p in found.not_dsn
    ]
    issues += [Issue(file_label(p), None, "error", "unreadable_file", why) for p, why in found.unreadable]
    manifest_path = draft.staging / FILES_NAME
    manifest = _read_manifest(manifest_path)
    known = set(manifest.column("source_sha256").to_pylist())
    new_files: list[SourceFile] = []
    # hashlib and file reads release the GIL: threads hash files in parallel, more of them than cores, for reading
    # files not in the page cache waits on the disk.
    with ThreadPoolExecutor(max_workers=max(settings.workers, HASH_THREADS)) as hashers:
        hashes = list(hashers.map(_hash_and_size, dsn_files))
    for path, (sha, size, modified_ns, unreadable) in zip(dsn_files, hashes, strict=True):
        if unreadable is not None:
            issues.append(Issue(file_label(path), None, "error", "unreadable_file", f"file not read: {unreadable}"))
            continue
        if sha in known:
            summary.files_already_ingested += 1
            continue
        known.add(sha)  # the same bytes twice in one run are read once
        new_files.append(SourceFile(path, sha, size, modified_ns))
    summary.files_new = len(new_files)
    log.info("%d DSN files found, %d new, %d already ingested", len(dsn_files), len(new_files), summary.files_already_ingested)

    batches = plan_batches(new_files, settings.batch_megabytes * 1_000_000, engine.parallelism)
    tasks = [BatchTask(_batch_id(b), tuple(b), draft.staging, home.quarantine, key) for b in batches]
    log.info("ingest: parsing %d batches", len(tasks))
    results = engine.parse(tasks, progress)
    manifest_rows = []
    stamps = stamps or {}
    listed = [stamp for stamp in (*manifest.column("ingested_at").to_pylist(), *stamps.values()) if stamp is not None]
    now = datetime.now().replace(microsecond=0)
    if listed and now <= max(listed):
        now = max(listed) + timedelta(seconds=1)
    for result in results:
        for file_result in result.files:
            source = file_result.source
            summary.declarations_read += file_result.declarations
            summary.monthly_declarations += file_result.monthly
            summary.event_signals += file_result.signals
            summary.quarantined += file_result.quarantined
            summary.lines += file_result.lines
            summary.bytes += source.size
            issues.extend(file_result.issues)
            for block, count in file_result.unknown_blocks.items():
                issues.append(Issue(source.label, None, "warning", "unknown_block",
                                    f"{count} lines of block {block}, which the norm table does not define, skipped"))
            for rubric, count in file_result.unknown_rubrics.items():
                issues.append(Issue(source.label, None, "warning", "unknown_rubric",
                                    f"{count} lines of rubric {rubric}, which the norm table does not define, skipped"))
            if file_result.issues_dropped:
                unlisted = file_result.errors_dropped
                issues.append(Issue(source.label, None, "error" if unlisted else "warning", "too_many_issues",
                                    f"{file_result.issues_dropped} further issues in this file not listed"
                                    + (f", {unlisted} of them errors" if unlisted else "")))
                summary.errors_not_listed += max(0, unlisted - 1)  # the line above counts one
            listed_errors = sum(1 for i in file_result.issues if i.severity == "error")
            errors = listed_errors + file_result.errors_dropped
            if not file_result.listed:
                continue
            manifest_rows.append(
                (source.sha256, source.label, result.batch_id, source.size, file_result.lines,
                 file_result.encoding, file_result.declarations, file_result.quarantined,
                 len(file_result.issues) - listed_errors + file_result.issues_dropped - file_result.errors_dropped,
                 errors, stamps.get(source.sha256) or now)
            )
    if manifest_rows:
        columns = list(zip(*manifest_rows, strict=True))
        added = pa.table([pa.array(c, type=f.type) for c, f in zip(columns, FILES_SCHEMA, strict=True)], schema=FILES_SCHEMA)
        manifest = pa.concat_tables([manifest, added])
        pq.write_table(manifest, fresh_file(manifest_path))
        log.info("ingest: file list written (%d files)", manifest.num_rows)

    all_batches = sorted(set(manifest.column("batch").to_pylist()))
    if all_batches and tasks:
        consolidation = engine.consolidate(
            draft.staging, draft.warehouse, all_batches, [t.batch_id for t in tasks], settings.inferred_end_after_months
        )
        summary.status_counts = consolidation.status_counts
        summary.months_rewritten = consolidation.months_rewritten
        issues.extend(consolidation.issues)
        issues.extend(quarantine_set_aside(consolidation.set_aside, draft.set_aside))
    elif (draft.warehouse / "declaration_status.parquet").exists():  # nothing new: the warehouse stays as it is
        statuses = pq.read_table(draft.warehouse / "declaration_status.parquet", columns=["status"]).column("status")
        summary.status_counts = dict(Counter(statuses.to_pylist()))


def _run_tasks(tasks: list[BatchTask], workers: int, total_bytes: int, progress: Progress | None) -> list[BatchResult]:
    """Run the parse tasks, in worker processes when there are several workers and tasks."""
    done_bytes = 0
    results: list[BatchResult] = []
    if progress:
        progress(0, total_bytes)
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            results.append(parse_batch(task))
            done_bytes += sum(f.size for f in task.files)
            if progress:
                progress(done_bytes, total_bytes)
        return sorted(results, key=lambda r: r.batch_id)
    # Killed, the run takes its workers along (`core.machine.end_with_parent`) instead of leaving them waiting.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=end_with_parent, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(parse_batch, task): task for task in tasks}
        for future in as_completed(futures):
            results.append(future.result())
            done_bytes += sum(f.size for f in futures[future].files)
            if progress:
                progress(done_bytes, total_bytes)
    return sorted(results, key=lambda r: r.batch_id)


def _write_issues(home: Home, issues: list[Issue], when: datetime) -> Path:
    home.ingest_reports.mkdir(parents=True, exist_ok=True)
    stem = f"issues-{when.strftime('%Y%m%dT%H%M%S')}"
    path = home.ingest_reports / f"{stem}.csv"
    for again in itertools.count(2):  # runs one after the other within a second: each its own report
        if not path.exists():
            break
        path = home.ingest_reports / f"{stem}-{again}.csv"
    write_rows_csv(path, ["file", "line", "severity", "kind", "reason"],
                   ([i.file, i.line if i.line is not None else "", i.severity, i.kind, i.reason] for i in issues))
    return path
