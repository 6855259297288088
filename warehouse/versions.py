"""The published state of a home's warehouse, changed only as a whole, by one writer at a time.

Layout under `<home>/data/`:
- `versions/<NNNNNN>/warehouse/` and `versions/<NNNNNN>/staging/`: one complete state each (the
  tables, the staged batches and `staging/files.parquet`, the list of files ingested);
- `versions/<NNNNNN>/set-aside/`: the copies of the declarations the version sets aside in a conflict, which
  `data/quarantine` shows once the version is published (`warehouse.parse_worker.show_set_aside`);
- `current`: a symbolic link to the published version, switched by one atomic rename;
- `warehouse` -> `current/warehouse` and `staging` -> `current/staging`: the paths readers use;
- `ingest.lock`: locked (`flock`) by the one run writing the warehouse, holding its pid;
- `versions/<NNNNNN>/published`: marks a version that was published (a folder without it is a draft).

A writer takes the lock, drafts the next version from the published one (hard links: a file of a
state is never modified in place, a draft replaces a file by unlinking it first, see `fresh_file`),
writes into the draft, then publishes it. A run killed at any point leaves the published version
as it was; the next writer deletes the unpublished draft and starts again. The previous version is
kept one run longer, for readers that listed its files just before the switch.

A warehouse written before versions existed (`data/warehouse` a plain folder) becomes version 0 the
first time a writer takes the lock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("champollion.warehouse")

LOCK_NAME = "ingest.lock"
KEY_RECORD = "pseudonym_key.json"
LEGACY_VERSION = 0
# Written into a version's folder when it is published: a numbered folder without it is a draft (of a run in progress,
# or of a killed one), one with it a version readers may have read, never deleted as a draft.
PUBLISHED_MARK = "published"
# A file in each version's folder that the processes reading the version hold a shared lock on (`hold_for_reading`).
READERS_LOCK = "readers.lock"
# A replaced version's folder is renamed with this prefix before it is deleted: a reader that looks for the version
# then finds nothing, instead of a folder half deleted (`hold_for_reading`).
DELETING_PREFIX = ".deleting-"
# A version's folder of the copies of the declarations it sets aside (a version written before it has none).
SET_ASIDE_FOLDER = "set-aside"


class WarehouseBusy(RuntimeError):
    """Another run holds the writer's lock of this home."""


class KeyMismatch(RuntimeError):
    """The warehouse was built under another pseudonymisation key."""


class MissingVersion(FileNotFoundError):
    """A link of a home's data folder names a version that is not there (moved or deleted by hand)."""


class ForeignLayout(ValueError):
    """A home's data folder holds, where the links to the published version belong, something else."""


def _numbered(versions: Path) -> list[str]:
    """The names of the version folders under `versions`, in order."""
    return sorted(p.name for p in versions.iterdir() if p.name.isdigit()) if versions.is_dir() else []


def check_data_link(data: Path) -> None:
    """MissingVersion when `data` (a home's data folder, or a folder above it) is a link to something missing
    (nothing would be read, and a writer would create an empty home in its place)."""
    if data.is_symlink() and not data.exists():
        raise MissingVersion(f"{data} links to {os.readlink(data)}, which is missing (a disk not mounted?); nothing "
                             "was changed: mount it or mend the link")


def _published_once(data: Path) -> tuple[list[str], str | None]:
    """With no `current` link, the versions under `data/versions` certainly published, and the one that may be a
    killed run's draft (None: none). Marked versions are the published ones. A home an earlier release wrote carries
    no marks: a run leaves at most one draft (deleting the earlier ones first), so of several unmarked versions all
    but the last were published, and the last may be a draft; a single one is taken for a draft (what publishing a
    draft would corrupt silently, deleting a published version loses only what ingesting again rebuilds)."""
    versions = data / "versions"
    there = _numbered(versions)
    marked = [v for v in there if (versions / v / PUBLISHED_MARK).exists()]
    if marked:
        return marked, None  # unmarked ones beside them are a run's drafts
    return (there[:-1], there[-1]) if len(there) > 1 else ([], None)


def check_version_links(data: Path) -> None:
    """Raise MissingVersion when `data`, or its `current` or `warehouse`, is a link to something missing, or when
    versions lie under `data/versions` that were published while `current` names none of them (gone, a plain file or
    a folder with no warehouse in its place): readers would see an empty warehouse, and a writer would fail half-way
    or take the versions for drafts and delete them. (Readers read only `staging/files.parquet`, for an old list's
    contracts, `warehouse.arrivals`, and do without it; a version may come without `staging`.)
    The message says how to mend the links without losing a version."""
    current, warehouse, versions = data / "current", data / "warehouse", data / "versions"
    check_data_link(data)
    if current.is_symlink() and not current.exists():
        there = _numbered(versions)
        published = Path(os.readlink(current)).name
        if published in there:  # an absolute link, and the home moved: the version is there
            mend = f"link it to the version as it is now: ln -sfn versions/{published} {current}"
        else:
            # Only versions published before it: a higher number is a draft a killed run left half-written. A link
            # to no number (made by hand) says nothing of the order: only versions marked as published are offered.
            earlier = [v for v in there if (int(v) < int(published) if published.isdigit()
                                            else (versions / v / PUBLISHED_MARK).exists())]
            mend = (f"publish again the version published before it (what the missing one added, inspections "
                    f"imported included, is to be done again): ln -sfn versions/{earlier[-1]} {current}" if earlier
                    else f"with no earlier version left, remove the links current, warehouse and staging of {data}"
                         + (f" and the versions left by killed runs, never published ({', '.join(there)})" if there
                            else "")
                         + " and ingest the DSN files again (all of them: the warehouse starts empty), then import the "
                         "inspections again")
        raise MissingVersion(f"{current} links to {os.readlink(current)}, which is missing: the published version of "
                             f"the warehouse was moved or deleted by hand; nothing was changed. Put it back, or {mend}")
    # Read only when `current` is no link: a healthy home (every page of the web application) lists no folder here. A
    # folder holding a warehouse is a copy made with its links followed: readable (writers refuse it: `_check_layout`).
    lost = not current.is_symlink() and not (current.is_dir() and (current / "warehouse").is_dir())
    published_once, maybe_draft = _published_once(data) if lost else ([], None)
    if published_once:
        place = ("is missing" if not current.exists() else
                 f"is {'a folder with no warehouse' if current.is_dir() else 'a file'} (move it away first)")
        unsure = (f" and {maybe_draft}, which carries no mark (an earlier release wrote these versions): it may be a "
                  "draft a killed run left half-written, so it is not offered; if it was published, what it added is "
                  "done again by the next runs (ingest the same files and import the inspections again)"
                  if maybe_draft else "")
        relink = "".join(f"; then ln -sfn current/{name} {data / name}" for name in ("warehouse", "staging")
                         if not (data / name).is_symlink())
        raise MissingVersion(
            f"{current}, the link to the published version, {place} while {versions} holds versions that were "
            f"published ({', '.join(published_once)}){unsure}; nothing was changed. Link it to the last one "
            f"published: ln -sfn versions/{published_once[-1]} {current}{relink}")
    if warehouse.is_symlink() and not warehouse.exists():
        if (current / "warehouse").is_dir():
            mend = f"link it to the published version: ln -sfn current/warehouse {warehouse}"
        else:
            mend = (f"the published version ({os.readlink(current) if current.is_symlink() else 'none'}) has no "
                    "warehouse folder either: put it back")
            # With `current` no link, one unmarked version at most is left here: several, or a marked one, raised above.
            if not current.is_symlink() and (unmarked := _numbered(versions)):
                mend += (f"; {versions} holds {unmarked[-1]}, with no mark (an earlier release wrote it, or a run was "
                         f"killed before publishing it): if it was published, ln -sfn versions/{unmarked[-1]} {current}")
        raise MissingVersion(f"{warehouse} links to {os.readlink(warehouse)}, which is missing (a link made by hand, "
                             f"or a home moved?); nothing was changed. To mend it, {mend}")


@dataclass(frozen=True)
class StateDraft:
    """A version being written: its folders, unseen by readers until published."""

    root: Path
    number: int

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def set_aside(self) -> Path:
        return self.root / SET_ASIDE_FOLDER


def fresh_file(path: Path) -> Path:
    """`path`, unlinked if it exists (it may be a hard link to the published state's file), its
    folder created: what a draft writes a file to."""
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _read_pid(fd: int) -> int | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


@contextmanager
def writer_lock(data: Path) -> Iterator[None]:
    """Hold the writer's lock of `data` (a home's data folder) for the block.

    Refuses at once with WarehouseBusy when another live run holds it, and with MissingVersion when `data` is a
    link to something missing. The kernel releases the lock of a killed run: its pid, still written in the lock
    file, is reported and the lock taken.
    """
    check_data_link(data)
    data.mkdir(parents=True, exist_ok=True)
    path = data / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            raise WarehouseBusy(
                f"{data}: another run (pid {holder if holder else 'unknown'}) is writing this warehouse; "
                "nothing was changed: run again once it has finished"
            ) from None
        stale = _read_pid(fd)
        if stale is not None:
            log.warning("the lock of an interrupted run (pid %d) was taken over; its unfinished work is discarded", stale)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        try:
            yield
        finally:  # a run that ends, even on an error, is not an interrupted one: only a killed run leaves its pid
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


class WarehouseState:
    """The versions of one home's warehouse. Every method but `published` needs the writer's lock."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.versions = data / "versions"
        self.current = data / "current"

    def published(self) -> Path | None:
        """The folder of the published version (None before the first one); MissingVersion when it is not there."""
        if not self.current.is_symlink():
            return None
        check_version_links(self.data)
        return self.data / os.readlink(self.current)

    def _number(self, folder: Path) -> int:
        return int(folder.name)

    def adopt_legacy(self) -> None:
        """Move a warehouse written before versions existed into version 0 and publish it (or, once
        versions exist, make sure the links to the published one are there)."""
        legacy = self.versions / f"{LEGACY_VERSION:06d}"
        moved = False
        self._check_layout()
        for name in ("staging", "warehouse"):
            place = self.data / name
            if place.is_dir() and not place.is_symlink():
                legacy.mkdir(parents=True, exist_ok=True)
                place.rename(legacy / name)
                moved = True
        if moved or (legacy.is_dir() and self.published() is None):
            for name in ("staging", "warehouse"):  # a copied warehouse may come without its staging
                (legacy / name).mkdir(exist_ok=True)
            log.info("the warehouse under %s becomes version %d", self.data, LEGACY_VERSION)
            self._point(legacy)
            (legacy / PUBLISHED_MARK).touch()
        elif (published := self.published()) is not None:
            self._ensure_links()
            (published / PUBLISHED_MARK).touch()  # a version an earlier release published carries no mark yet

    def _check_layout(self) -> None:
        """Raise ForeignLayout, before anything is moved, when `current` is a folder or `warehouse` / `staging` a
        link that does not lead to the published version: what a writer publishes would never be read; and
        MissingVersion (`check_version_links`): versions would be taken for drafts and deleted."""
        check_version_links(self.data)
        if self.current.exists() and not self.current.is_symlink():
            cause = ("a folder, where the link to the published version belongs (a home copied with its links "
                     "followed, as `cp -rL` does?): nothing was changed. Copy the home again keeping its links (`cp -a`)"
                     if self.current.is_dir() else "a file, where the link to the published version belongs: nothing "
                     "was changed. Move it away")
            raise ForeignLayout(f"{self.current} is {cause}")
        published = self.published()
        for name in ("staging", "warehouse"):
            place = self.data / name
            if place.is_symlink() and os.path.realpath(place) != os.path.realpath(self.current / name):
                if not place.exists():
                    mend = f"link it to the published version: ln -sfn current/{name} {place}"
                elif published is None:
                    mend = (f"to keep a warehouse on another disk, link the whole data folder ({self.data}) there "
                            f"instead; or move the folder back to {place} to have it taken in as the first version")
                else:
                    mend = (f"link it to the published version (ln -sfn current/{name} {place}); to keep a warehouse "
                            f"on another disk, link the whole data folder ({self.data}) there instead")
                # Readers would go on reading the linked folder, never a version this writer publishes.
                raise ForeignLayout(f"{place} is a link to {os.readlink(place)}, where the link to the published "
                                    f"version (current/{name}) belongs: nothing was changed. To mend it, {mend}")
            if place.is_dir() and not place.is_symlink() and published is not None:
                raise ForeignLayout(f"{place} is a folder where the link to the published version should be: "
                                    "move it away (the published version is left as it is)")

    def begin(self, fresh: bool = False) -> StateDraft:
        """A draft of the next version: a copy (by hard links) of the published one, or empty when
        `fresh`. Drafts left by interrupted runs are deleted first."""
        self.adopt_legacy()
        published = self.published()
        if self.versions.is_dir():
            for folder in self.versions.iterdir():
                if folder.name.isdigit() and (published is None or self._number(folder) > self._number(published)):
                    log.info("deleting %s, left unpublished by an interrupted run", folder)
                    shutil.rmtree(folder)
        number = self._number(published) + 1 if published is not None else 1
        draft = StateDraft(self.versions / f"{number:06d}", number)
        draft.warehouse.mkdir(parents=True)
        draft.staging.mkdir(parents=True)
        if published is not None and not fresh:
            for name in ("warehouse", "staging", SET_ASIDE_FOLDER):
                if (published / name).is_dir():
                    shutil.copytree(published / name, draft.root / name, copy_function=os.link, dirs_exist_ok=True)
        return draft

    def publish(self, draft: StateDraft) -> None:
        """Make `draft` the published version in one atomic step, then delete versions older than
        the one it replaces."""
        _sync_tree(draft.root)
        previous = self.published()
        self._point(draft.root)
        # After the switch: before it, a run killed (or a reader looking) would find a mark on a version never published.
        (draft.root / PUBLISHED_MARK).touch()
        log.info("published version %d of the warehouse", draft.number)
        for folder in self.versions.iterdir():
            if folder.name.isdigit() and previous is not None and self._number(folder) < self._number(previous):
                self._delete_unread(folder)
            elif folder.name.startswith(DELETING_PREFIX):  # a deletion a killed run left half done
                shutil.rmtree(folder, ignore_errors=True)

    def _delete_unread(self, folder: Path) -> None:
        """Delete a replaced version unless a reader holds it (`hold_for_reading`): held, it is left to a later writer.
        It is renamed first, under the lock: a reader waiting for the lock then finds the version gone, and none creates
        its lock file again in a folder being deleted."""
        try:
            lock = os.open(folder / READERS_LOCK, os.O_RDONLY | os.O_CREAT, 0o600)
        except OSError:
            lock = None
        try:
            if lock is not None:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while it is deleted: no reader takes it
                except BlockingIOError:
                    log.info("version %s, replaced, is being read: left for a later run to delete", folder.name)
                    return
            doomed = folder.with_name(DELETING_PREFIX + folder.name)
            folder.rename(doomed)
            shutil.rmtree(doomed)
        except OSError as exc:  # published already: an old version left is deleted by the next writer
            log.warning("version %s, replaced, could not be deleted yet: %s", folder.name, exc)
        finally:
            if lock is not None:
                os.close(lock)

    def discard(self, draft: StateDraft) -> None:
        """Delete a draft that holds nothing new."""
        shutil.rmtree(draft.root)

    def _point(self, version: Path) -> None:
        """Switch `current` to `version` (rename of a new link over the old: atomic), and make sure
        `warehouse` and `staging` point through it."""
        link = self.data / "current.new"
        link.unlink(missing_ok=True)
        link.symlink_to(Path("versions") / version.name)
        link.replace(self.current)
        self._ensure_links()

    def _ensure_links(self) -> None:
        """`warehouse` and `staging` pointing through `current` (a run killed right after its first
        switch may not have made them)."""
        for name in ("warehouse", "staging"):
            place = self.data / name
            if not place.is_symlink():
                place.symlink_to(Path("current") / name)
        _fsync_dir(self.data)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_tree(root: Path) -> None:
    """Flush the draft's files and folders to disk, so that what is published survives a power cut."""
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))


def is_version_folder(folder: Path) -> bool:
    """Whether `folder` is named as a version's folder (`versions/NNNNNN`)."""
    return folder.name.isdigit() and folder.parent.name == "versions"


def hold_for_reading(version: Path) -> int | None:
    """A shared lock on the version folder `version` (`READERS_LOCK`), held until the returned descriptor is closed: a
    writer that replaces it does not delete it meanwhile (it kept the version before the published one only, and a
    run reading a warehouse while two ingestions published failed on files deleted under it). None when the lock
    cannot be taken (a disk this process may not write), when the version was deleted, also while this waited for
    its lock (then `version` is no longer there: the caller reads the version published now), or when `version` is
    not a version's folder (a warehouse folder of its own, as in a test): the run reads as it did without."""
    if not is_version_folder(version):
        return None
    try:
        lock = os.open(version / READERS_LOCK, os.O_RDONLY | os.O_CREAT, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_SH)
        if os.stat(version / READERS_LOCK).st_ino != os.fstat(lock).st_ino:  # renamed to be deleted meanwhile
            raise FileNotFoundError(version)
    except OSError:
        os.close(lock)
        return None
    return lock


def recorded_key_fingerprint(warehouse: Path) -> str | None:
    """The fingerprint of the key the warehouse was built under (None when none is recorded)."""
    path = warehouse / KEY_RECORD
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))["fingerprint"]


def record_key_fingerprint(warehouse: Path, fingerprint: str) -> None:
    """Store the key's fingerprint with the warehouse (never the key)."""
    fresh_file(warehouse / KEY_RECORD).write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")
