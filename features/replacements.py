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
run between the SQL stages of the rule checks so that DuckDB and Spark share it.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import pandas as pd


def covered_replacements(replacements: pd.DataFrame, absences: pd.DataFrame, margin_days: int) -> pd.DataFrame:
    """The replacement contracts that cover a declared absence, one absence held by one of them at a time.

    `replacements`: contract_id, establishment_siret, post, person_key, start_day, held_until_day (the last
    day it surely ran: `features.rules` `_held_until`); `absences`: establishment_siret, post, person_key,
    start_day, end_day (missing: not ended); day numbers. One row per covered contract: contract_id, and the
    absence it covers: its establishment, post, person_key and start_day (establishment_siret, absence_post,
    absence_person_key, absence_start_day).
    """
    away_by_job = _absences_by_job(absences)
    ordered = replacements.sort_values(["establishment_siret", "post", "start_day", "contract_id"], kind="stable")
    rows: list[tuple[str, str, str, str, int]] = []
    job: tuple[str, str] | None = None
    away: list[_Absence] = []
    arrived = 0  # absences of the job, by start, that began by the margin after the current start
    candidates: list[int] = []  # of those, the ones not ended before the margin before it
    held: list[tuple[int, int, str]] = []  # (last day held, absence, contract) of the running replacements
    taken: dict[int, tuple[str, str]] = {}  # absence -> (person, contract) of the replacement holding it
    for contract, siret, post, person, start, until in ordered[[
            "contract_id", "establishment_siret", "post", "person_key", "start_day", "held_until_day"]].itertuples(
            index=False):
        contract, person, start = str(contract), str(person), int(start)
        if (str(siret), str(post)) != job:
            job = (str(siret), str(post))
            away, arrived, candidates, held, taken = away_by_job.get(job, []), 0, [], [], {}
        while arrived < len(away) and away[arrived].first <= start + margin_days:
            candidates.append(arrived)
            arrived += 1
        candidates = [i for i in candidates if away[i].last >= start - margin_days]
        while held and held[0][0] < start:
            _, index, holder = heapq.heappop(held)
            if taken.get(index, ("", ""))[1] == holder:
                del taken[index]
        for index in [i for i, (who, _) in taken.items() if who == person]:
            del taken[index]  # a new contract of the same person: the one before has ended
        free = [i for i in candidates if i not in taken and away[i].person != person]
        if not free:
            continue
        chosen = min(free, key=lambda i: (abs(away[i].first - start), away[i].last, i))
        taken[chosen] = (person, contract)
        heapq.heappush(held, (int(until), chosen, contract))
        rows.append((contract, *job, away[chosen].person, away[chosen].first))
    return pd.DataFrame(rows, columns=["contract_id", "establishment_siret", "absence_post", "absence_person_key",
                                       "absence_start_day"])


@dataclass(frozen=True)
class _Absence:
    first: int
    last: float  # inf: not ended
    person: str


def _absences_by_job(absences: pd.DataFrame) -> dict[tuple[str, str], list[_Absence]]:
    """The absences of each job (establishment, post), in the order of their start."""
    by_job: dict[tuple[str, str], list[_Absence]] = {}
    for siret, post, person, first, last in absences[["establishment_siret", "post", "person_key", "start_day",
                                                      "end_day"]].itertuples(index=False):
        by_job.setdefault((str(siret), str(post)), []).append(
            _Absence(int(first), math.inf if pd.isna(last) else float(last), str(person)))
    for away in by_job.values():
        away.sort(key=lambda absence: (absence.first, absence.last, absence.person))
    return by_job
