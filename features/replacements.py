"""Which declared absence each replacement contract covers (L1242-2 1° a, L1251-6 1° a).

A contract for the replacement of an absent employee names one person (L1242-12), and that person's
absence must have begun, within a margin, by the contract's start. One absence is covered by one
replacement at a time: a long sick leave may be covered by successive contracts, but two contracts
running at once on one job need two absences. In a nursing home where some care assistant is always
away, "an absence on the job" would otherwise justify every replacement on it.

Per job (establishment, post), the replacements are read in the order of their start: each takes, among
the absences of other people of the job that cover its start and that no running replacement holds, the
one that began closest to its start (a replacement is hired when the absence begins; then the one that ends
first), and holds it until the last day it surely ran
(the reading most favourable to the employer when its end was not declared), or until its holder starts
another replacement on the job. A replacement that finds none is not covered by any
declared absence. Plain Python over contracts sorted by job and
date, run between the SQL stages of the rule checks so that DuckDB and Spark share it.
"""

from __future__ import annotations

import heapq
import math

import pandas as pd


def covered_replacements(replacements: pd.DataFrame, absences: pd.DataFrame, margin_days: int) -> pd.DataFrame:
    """The replacement contracts that cover a declared absence, one absence held by one of them at a time.

    `replacements`: contract_id, establishment_siret, post, person_key, start_day, held_until_day (the last
    day it surely ran: `features.rules` `_held_until`); `absences`: establishment_siret, post, person_key,
    start_day, end_day (missing: not ended); day numbers. One row per covered contract: contract_id, and the absence it covers: its
    establishment, post, person_key and start_day (establishment_siret, absence_post, absence_person_key,
    absence_start_day).
    """
    by_job: dict[tuple[str, str], list[tuple[int, float, str]]] = {}
    for siret, post, person, start, end in absences[["establishment_siret", "post", "person_key", "start_day",
                                                     "end_day"]].itertuples(index=False):
        by_job.setdefault((str(siret), str(post)), []).append((int(start), math.nan if pd.isna(end) else float(end),
                                                               str(person)))
    ordered = replacements.sort_values(["establishment_siret", "post", "start_day", "contract_id"], kind="stable")
    rows: list[tuple[str, str, str, str, int]] = []
    job: tuple[str, str] | None = None
    held: list[tuple[int, int, str]] = []  # (last day held, absence index, contract) of the running replacements
    taken: dict[int, tuple[str, str]] = {}  # absence index -> (person, contract) of the replacement holding it
    away: list[tuple[int, float, str]] = []
    for contract, siret, post, person, start, end in ordered[[
            "contract_id", "establishment_siret", "post", "person_key", "start_day", "held_until_day"]].itertuples(
            index=False):
        if (str(siret), str(post)) != job:
            job, held, taken = (str(siret), str(post)), [], {}
            away = by_job.get(job, [])
        start = int(start)
        while held and held[0][0] < start:
            _, index, holder = heapq.heappop(held)
            if taken.get(index, ("", ""))[1] == holder:
                del taken[index]
        for index in [i for i, (who, _) in taken.items() if who == str(person)]:
            del taken[index]  # a new contract of the same person: the one before has ended
        free = [i for i, (first, last, who) in enumerate(away)
                if i not in taken and who != str(person) and first <= start + margin_days
                and (math.isnan(last) or last >= start - margin_days)]
        if not free:
            continue
        chosen = min(free, key=lambda i: (abs(away[i][0] - start), math.inf if math.isnan(away[i][1]) else away[i][1], i))
        taken[chosen] = (str(person), str(contract))
        heapq.heappush(held, (int(end), chosen, str(contract)))
        rows.append((str(contract), *job, away[chosen][2], away[chosen][0]))
    return pd.DataFrame(rows, columns=["contract_id", "establishment_siret", "absence_post", "absence_person_key",
                                       "absence_start_day"])
