# cython: annotation_typing=False
# (setup.py compiles this module with Cython: its type hints stay hints, so that it accepts what the source accepts;
# the C types of its loop are declared in replacements.pxd)
"""Which declared absence each replacement contract covers (L1242-2 1° a, L1251-6 1° a).

A contract for the replacement of an absent employee names one person (L1242-12), and that person's
absence must have begun, within a margin, by the contract's start. One absence is covered by one
replacement at a time: a long sick leave may be covered by successive contracts, but two contracts
running at once on one job need two absences. In a nursing home where some care assistant is always
away, "an absence on the job" would otherwise justify every replacement on it.

Per job (establishment, post), the replacements are read in the order of their start. Each takes, among
the absences of other people of the job that cover its start and that no running replacement holds, the
one that began closest to its start (a replacement is hired when the absence begins), then the one that
ends first. It holds it until the last day it surely ran (the reading most favourable to the employer when
its end was not declared), or until its holder starts another replacement on the job. A replacement that
finds none is not covered by any declared absence. Plain Python over contracts sorted by job and date,
run between the SQL stages of the rule checks so that DuckDB and Spark share it; setup.py compiles it with
Cython, like `features.job_posts`.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def covered_replacements(replacements: pd.DataFrame, absences: pd.DataFrame, margin_days: int) -> pd.DataFrame:
    """The replacement contracts that cover a declared absence, one absence held by one of them at a time.

    `replacements`: contract_id, establishment_siret, post, person_key, start_day, held_until_day (the last
    day it surely ran: `features.rules` `_held_until`); `absences`: establishment_siret, post, person_key,
    contract_id (of the absent person's contract), start_day, end_day (missing: not ended); day numbers. One row
    per covered contract: contract_id, and the absence it covers: its establishment, post, person_key and start_day
    (establishment_siret, absence_post, absence_person_key, absence_start_day).

    Ties go by contract id, whose order is not the pseudonyms' and does not change from month to month
    (`warehouse.contracts.CONTRACT_ID_SQL`): of two replacements starting on one day, the one whose id comes first
    takes an absence first; of two absences with the same days, the one whose contract's id comes first is taken
    first.
    """
    order = _positions(_order(replacements, ["establishment_siret", "post", "start_day", "contract_id"]))
    away_by_job = _absences_by_job(absences, replacements)
    rows: list[tuple[str, str, str, str, int]] = []
    job: tuple[str, str] | None = None
    away: list[tuple[int, float, str, str]] = []  # (first day, last day, contract, person) of the job's absences
    arrived = 0  # absences of the job, by start, that began by the margin after the current start
    candidates: list[int] = []  # of those, the ones not ended before the margin before it
    held: list[tuple[int, int, str]] = []  # (last day held, absence, contract) of the running replacements
    taken: dict[int, tuple[str, str]] = {}  # absence -> (person, contract) of the replacement holding it
    for contract, siret, post, person, start, until in zip(
            _in_order(_strings(replacements["contract_id"]), order),
            _in_order(_strings(replacements["establishment_siret"]), order),
            _in_order(_strings(replacements["post"]), order), _in_order(_strings(replacements["person_key"]), order),
            _in_order(replacements["start_day"].astype("int64").tolist(), order),
            _in_order(replacements["held_until_day"].astype("int64").tolist(), order), strict=True):
        if (siret, post) != job:
            job = (siret, post)
            away, arrived, candidates, held, taken = away_by_job.get(job, []), 0, [], [], {}
        while arrived < len(away) and away[arrived][0] <= start + margin_days:
            candidates.append(arrived)
            arrived += 1
        candidates = [i for i in candidates if away[i][1] >= start - margin_days]
        while held and held[0][0] < start:
            _, index, holder = heapq.heappop(held)
            if taken.get(index, ("", ""))[1] == holder:
                del taken[index]
        for index in [i for i, (who, _) in taken.items() if who == person]:
            del taken[index]  # a new contract of the same person: the one before has ended
        free = [i for i in candidates if i not in taken and away[i][3] != person]
        if not free:
            continue
        chosen, closest = -1, None  # the free absence that began closest to the start, then ends first
        for index in free:
            key = (abs(away[index][0] - start), away[index][1], index)
            if closest is None or key < closest:
                chosen, closest = index, key
        taken[chosen] = (person, contract)
        heapq.heappush(held, (until, chosen, contract))
        rows.append((contract, *job, away[chosen][3], away[chosen][0]))
    return pd.DataFrame(rows, columns=["contract_id", "establishment_siret", "absence_post", "absence_person_key",
                                       "absence_start_day"])


def _order(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """The positions of the rows of `frame` sorted by `keys` (a stable sort, missing values last), by Arrow: pandas
    sorts string columns several times slower."""
    table = pa.table({key: pa.array(frame[key]) for key in keys})
    return pc.sort_indices(table, sort_keys=[(key, "ascending") for key in keys]).to_numpy()


def _positions(order: np.ndarray) -> list[int] | None:
    """The positions of a sort as a list, None when the rows are in that order already (the engine sorted them)."""
    return None if len(order) == 0 or (order[1:] > order[:-1]).all() else order.tolist()


def _in_order(values: list, positions: list[int] | None) -> list:
    """`values` taken at `positions` (None: as they are): a column's values read before the rows are sorted, where
    taking the frame's rows in order would copy every column, most often for nothing."""
    return values if positions is None else [values[position] for position in positions]


def _strings(column: pd.Series) -> list[str]:
    """The values of a column as Python strings (`str` of each, as they come)."""
    return [str(value) for value in column.tolist()]


def _absences_by_job(absences: pd.DataFrame,
                     replacements: pd.DataFrame) -> dict[tuple[str, str], list[tuple[int, float, str, str]]]:
    """The absences (first day, last day (inf: not ended), contract, person) of each job (establishment, post) that
    has replacements, in that order."""
    jobs = set(zip(_strings(replacements["establishment_siret"]), _strings(replacements["post"]), strict=True))
    by_job: dict[tuple[str, str], list[tuple[int, float, str, str]]] = {}
    for siret, post, contract, person, first, last in zip(
            _strings(absences["establishment_siret"]), _strings(absences["post"]), _strings(absences["contract_id"]),
            _strings(absences["person_key"]),
            absences["start_day"].tolist(), absences["end_day"].to_numpy(dtype="float64", na_value=np.nan).tolist(),
            strict=True):
        if (siret, post) in jobs:
            by_job.setdefault((siret, post), []).append((int(first), math.inf if math.isnan(last) else last, contract,
                                                         person))
    for away in by_job.values():
        away.sort()
    return by_job
