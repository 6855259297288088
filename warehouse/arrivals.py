"""Declarations that reached the warehouse after a list was drawn up, among those behind one establishment's contracts.

Ingestion stamps each file it lists with the time it was ingested, later than every file listed before it
(`staging/files.parquet`; a rebuild keeps the stamps of the files it reads again), and writes the stamp of its file
beside each declaration's status (`declaration_status.ingested_at`). A list keeps the latest stamp and the number of
the files its features were read from (`files_known`). Opened later, one of its lines shows the establishment's
contracts as they were known then: the declarations stamped later, of its history, by the establishment or by a
temp-work agency placing workers there (a month or a fraction sent late), are left out of their rebuild
(`Arrivals.late`).

A later declaration can also have replaced, cancelled or set aside one the list read (cancel-and-replace,
`warehouse.consolidate`): the warehouse no longer holds the rows of that one, so the contracts as the list knew them
cannot be rebuilt (`Arrivals.displaced`). A copy of a declaration the list read, with the same contents, read in its
place since (the other is then a `duplicate`: copies are chosen by what they declare, not by when they came), stands
for it. When files the list read are no longer listed (a rebuild without them), the manifest is gone, or the list
kept no trace of its files, what arrived is not known (`Arrivals.unknown`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.sql_literals import sql_string, sql_string_list
from warehouse.sql_engine import SqlEngine
from warehouse.tables import manifest_of

NO_FILES = ""  # the stamp of a warehouse whose declarations came in no file listed (simulated straight to Parquet)


@dataclass(frozen=True)
class FilesKnown:
    """The files of a warehouse version: the latest stamp (ISO text; NO_FILES when none is listed) and how many."""

    until: str
    count: int


def files_known(version: Path) -> FilesKnown:
    """`FilesKnown` of the warehouse `version` (its warehouse folder: `warehouse.engine.published_version`)."""
    path = manifest_of(version.parent)
    if not path.exists():
        return FilesKnown(NO_FILES, 0)
    stamps = pq.read_table(path, columns=["ingested_at"]).column("ingested_at")
    latest = pc.max(stamps).as_py()
    return FilesKnown(latest.isoformat() if latest is not None else NO_FILES, len(stamps))


@dataclass(frozen=True)
class ListKnowledge:
    """What a list knew of the warehouse, for one of its lines: its files (`files_known`; None: a list drawn up before
    lists kept them), and the establishments that declared the contracts its evidence names (a temp-work agency that
    places no one there since is still looked at)."""

    files: FilesKnown | None
    named: tuple[str, ...] = ()


@dataclass(frozen=True)
class Arrivals:
    """What arrived after a list, among the declarations behind one establishment's contracts (`arrivals`)."""

    late: tuple[str, ...] = ()  # keys of declarations read now that were stamped after the list, sorted
    displaced: int = 0  # declarations the list may have read that are no longer read, in a month declared since
    unknown: Literal["", "lost", "untracked"] = ""  # why what arrived is not known: files the list read are no longer
    # listed or the manifest is gone ("lost"), or the list kept no trace of its files ("untracked")

    @property
    def known_then(self) -> bool:
        """Whether the declarations the list read are those read now but the late ones: its contracts can be rebuilt
        as it knew them."""
        return not self.displaced and not self.unknown


# Statuses of a declaration that arrived after a list and is read, or changes what is read: a later copy that is not
# read (`duplicate`, `id_conflict`), an older version (`superseded`) or a set of fractions not chosen
# (`fraction_conflict`) changes nothing (warehouse.consolidate.STATUS_SQL).
CHANGING = ("kept", "cancellation", "cancelled", "replaced")


def arrivals(engine: SqlEngine, version: Path, declarants: Sequence[str], history: tuple[date, date],
             knew: ListKnowledge) -> Arrivals:
    """The declarations stamped after what the list `knew` of
    `declarants` (the establishment, the temp-work agencies placing workers there and those its evidence names) for
    the months of `history` (first and last), from the warehouse `version` that `engine` has attached
    (`declaration_status`: every declaration read, kept or not, with the stamp of its file).

    A declaration the list knew that is not read now (not `kept`), of a declarant and month that a later declaration
    changes (`CHANGING`), may have been read by the list: counted as displaced, unless it is a copy of one read now
    (`duplicate`, paired by identifier). One set aside before the list is counted too, and an agency's declaration
    whatever the users of its missions (the rows of one no longer read are gone): the caller's conclusion, that the
    contracts as the list knew them cannot be rebuilt, then errs on the side of saying so."""
    files = knew.files
    if files is None:
        return Arrivals(unknown="untracked")
    manifest = manifest_of(version.parent)
    if not manifest.exists():
        return Arrivals(unknown="lost" if files.count else "")

    def stamped_later(column: str) -> str:
        return (f"{column} IS NOT NULL" if files.until == NO_FILES
                else f"{column} > CAST({sql_string(files.until)} AS TIMESTAMP)")

    source = f"read_parquet({sql_string(str(manifest))})"
    stamp = "CAST(ingested_at AS TIMESTAMP)"
    if files.count:
        listed = engine.fetch(f"SELECT count(*) AS n FROM {source} WHERE NOT ({stamped_later(stamp)})")
        if int(listed["n"].iloc[0]) < files.count:
            return Arrivals(unknown="lost")
    if "ingested_at" not in engine.fetch("SELECT * FROM declaration_status LIMIT 0").columns:
        # Statuses written before they held the stamps: a file stamped after the list came in by an earlier release.
        newer = engine.fetch(f"SELECT count(*) AS n FROM {source} WHERE {stamped_later(stamp)}")
        return Arrivals(unknown="lost" if int(newer["n"].iloc[0]) else "")
    chosen = sorted(set(declarants))
    # The bounds let the reader skip the row groups of other SIRETs (an IN list of several is not pushed down).
    rows = engine.fetch(f"""
        SELECT declaration_key, siret, month, status, declaration_id, coalesce({stamped_later("ingested_at")}, false)
               AS arrived
        FROM declaration_status
        WHERE siret BETWEEN {sql_string(chosen[0])} AND {sql_string(chosen[-1])}
          AND siret IN ({sql_string_list(chosen)})
          AND month BETWEEN DATE '{history[0].isoformat()}' AND DATE '{history[1].isoformat()}'
        ORDER BY declaration_key""")
    return decide(list(rows.itertuples(index=False)))


def decide(rows: list[Any]) -> Arrivals:
    """`Arrivals` of the rows of `arrivals` (declaration_key, siret, month, status, declaration_id, arrived)."""
    kept_ids = {(r.siret, r.month, r.declaration_id) for r in rows if r.status == "kept"}
    # A copy the list knew, of a declaration read now: the one read stands for it (neither late nor displacing).
    copies = {(r.siret, r.month, r.declaration_id) for r in rows
              if not r.arrived and r.status == "duplicate" and (r.siret, r.month, r.declaration_id) in kept_ids}
    later = [r for r in rows if r.arrived and r.status in CHANGING
             and not (r.status == "kept" and (r.siret, r.month, r.declaration_id) in copies)]
    touched = {(r.siret, r.month) for r in later}
    displaced = [r for r in rows if not r.arrived and r.status != "kept" and (r.siret, r.month) in touched
                 and (r.siret, r.month, r.declaration_id) not in copies]
    return Arrivals(tuple(sorted(r.declaration_key for r in later if r.status == "kept")), len(displaced))
