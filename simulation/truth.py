"""The hidden answers (truth/*.parquet, for evaluation only) and what the inspectorate knows
(inspections.csv). No file here carries a NIR, a name or a birth date."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.size_bands import size_band
from simulation.abuse import AbusePlan
from simulation.calendar import OPEN_FOREVER, Period, month_first_days
from simulation.contracts import RULES, Absence, ContractColumns
from simulation.dsn_writer import WrittenDsn
from simulation.inspections import DETERRENCE, FIRST_INSPECTED_MONTH, FOUND_IF_ABUSED, FOUND_IF_HONEST, Inspection
from simulation.population import Establishment
from simulation.presets import Preset
from simulation.rules import fixed_term_end
from simulation.sectors import POSTS


def _dates(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """date32 array from day numbers; null where not `valid`."""
    days = np.asarray(days, dtype="int64")
    valid = np.ones(len(days), dtype=bool) if valid is None else valid
    return pa.array(np.where(valid, days, 0).astype("int32"), mask=~valid).cast(pa.date32())


def _strings(values, valid: np.ndarray | None = None) -> pa.Array:
    values = list(values)
    if valid is None:
        return pa.array(values, type=pa.string())
    return pa.array([v if ok else None for v, ok in zip(values, valid.tolist(), strict=True)], type=pa.string())


def _write_inspections_csv(inspections: list[Inspection], siret: np.ndarray, path: Path) -> None:
    """`siret,inspection_date,abuse_found` by date then SIRET: what the inspectorate knows."""
    lines = ["siret,inspection_date,abuse_found"]
    for inspection in sorted(inspections, key=lambda i: (i.day, siret[i.establishment])):
        date = np.datetime64(inspection.day, "D")
        lines.append(f"{siret[inspection.establishment]},{date},{int(inspection.abuse_found)}")
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


def _write(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


@dataclass
class ContractTruth:
    """What truth/contracts.parquet needs beyond the contract table."""

    numbers: list[str]
    rules: np.ndarray
    renewals: np.ndarray
    in_dsn: np.ndarray  # some filed declaration carries the contract
    end_block_written: np.ndarray
    mistaken_end: np.ndarray  # day of an end declared by mistake, withdrawn (099) the next month; -1: none
    lasting_job: np.ndarray  # holds the base load of its job over the last 12 months (simulation.rules)


def write_truth(out: Path, preset: Preset, seed: int, period: Period, establishments: list[Establishment],
                plan: AbusePlan, first_finding: np.ndarray, contracts: ContractColumns, extra: ContractTruth,
                absences: list[Absence], inspections: list[Inspection], written: WrittenDsn) -> None:
    """Write truth/*.parquet, truth/manifest.json and inspections.csv under `out`."""
    folder = out / "truth"
    folder.mkdir(parents=True, exist_ok=True)
    siret = np.array([e.siret for e in establishments], dtype=object)
    _write(_establishments(establishments, plan, period), folder / "establishments.parquet")
    _write(_establishment_months(establishments, plan, first_finding, period), folder / "establishment_months.parquet")
    _write(_contracts(contracts, extra, siret, period), folder / "contracts.parquet")
    _write(_absences(absences, contracts, extra.numbers, siret), folder / "absences.parquet")
    _write(_inspections(inspections, siret), folder / "inspections.parquet")
    _write(_declarations(written, siret, period), folder / "declarations.parquet")
    known_until = (period.month_start(FIRST_INSPECTED_MONTH + preset.known_inspection_months)
                   if preset.known_inspection_months is not None else None)
    known = [i for i in inspections if known_until is None or i.day < known_until]
    _write_inspections_csv(known, siret, out / "inspections.csv")
    every = out / "inspections-all.csv"
    every.unlink(missing_ok=True)
    if known_until is not None:
        _write_inspections_csv(inspections, siret, every)
    manifest = {"preset": preset.name, "seed": seed, "first_month": period.first_month, "n_months": period.n_months,
                "last_month": period.label(period.n_months - 1), "n_establishments": len(establishments),
                "n_contracts": len(contracts), "n_inspections": len(inspections),
                "known_inspection_months": preset.known_inspection_months, "n_inspections_known": len(known),
                "n_declarations": len(written.declarations), "n_files": written.n_files, "dsn_bytes": written.n_bytes}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="ascii")


def _live_episodes(plan: AbusePlan, period: Period) -> list:
    return [e for e in plan.episodes if not e.dropped and e.start <= period.last_day and e.end >= period.first_day]


def _establishments(establishments: list[Establishment], plan: AbusePlan, period: Period) -> pa.Table:
    n = len(establishments)
    kinds: list[set[str]] = [set() for _ in range(n)]
    first = np.full(n, OPEN_FOREVER)
    last = np.full(n, -1)
    for episode in _live_episodes(plan, period):
        est = episode.establishment
        kinds[est].add(episode.kind)
        first[est] = min(first[est], max(episode.start, period.first_day))
        last[est] = max(last[est], min(episode.end, period.last_day))
    abusive = last >= 0
    first_month = month_first_days(np.where(abusive, first, 0))
    last_month = month_first_days(np.where(abusive, last, 0))
    sizes = [e.size for e in establishments]
    return pa.table({
        "siret": _strings(e.siret for e in establishments),
        "siren": _strings(e.siren for e in establishments),
        "sector": _strings(e.sector.key for e in establishments),
        "naf": _strings(e.naf for e in establishments),
        "idcc": _strings(e.idcc for e in establishments),
        "departement": _strings(e.departement for e in establishments),
        "region_code": _strings(e.region_code for e in establishments),
        "size_band": _strings(size_band(s) for s in sizes),
        "cdi_headcount": pa.array(sizes, type=pa.int32()),
        "temp_agency": pa.array([e.is_agency for e in establishments]),
        "seasonal": _strings([e.seasonal or "" for e in establishments], np.array([e.seasonal is not None
                                                                                  for e in establishments])),
        "usage_allowed": pa.array([e.sector.usage_allowed for e in establishments]),
        "abusive": pa.array(abusive),
        "abuse_types": _strings(",".join(sorted(k)) for k in kinds),
        "first_abuse_month": _dates(first_month, abusive),
        "last_abuse_month": _dates(last_month, abusive),
        "latent_abuse_propensity": pa.array(np.round(plan.propensity, 6)),
    })


def _establishment_months(establishments: list[Establishment], plan: AbusePlan, first_finding: np.ndarray,
                          period: Period) -> pa.Table:
    n, months = len(establishments), period.n_months
    intensity = np.zeros((n, months))
    kinds: dict[tuple[int, int], set[str]] = {}
    for episode in _live_episodes(plan, period):
        first_month = max(0, int(period.month_index(episode.start)))
        last_month = min(months - 1, int(period.month_index(min(episode.end, period.last_day))))
        for month in range(first_month, last_month + 1):
            est = episode.establishment
            intensity[est, month] = max(intensity[est, month], episode.intensity)
            kinds.setdefault((est, month), set()).add(episode.kind)
    deterred = np.arange(months)[None, :] > first_finding[:, None]
    propensity = plan.propensity[:, None] * np.where(deterred, DETERRENCE, 1.0)
    latent = _finding_probability(plan, period, n)
    month_starts = np.array([period.month_start(k) for k in range(months)])
    return pa.table({
        "siret": _strings(np.repeat(np.array([e.siret for e in establishments], dtype=object), months)),
        "month": _dates(np.tile(month_starts, n)),
        "abusing": pa.array((intensity > 0).ravel()),
        "abuse_intensity": pa.array(intensity.ravel()),
        "latent_abuse_probability": pa.array(np.round(latent, 6).ravel()),
        "abuse_propensity": pa.array(np.round(propensity, 6).ravel()),
        "abuse_types_active": _strings(",".join(sorted(kinds.get((est, month), ())))
                                       for est in range(n) for month in range(months)),
    })


def _finding_probability(plan: AbusePlan, period: Period, n: int) -> np.ndarray:
    """Per establishment and month: the probability that an inspection at the end of the month finds
    abuse, as simulation.inspections decides it (the abuse of the past 12 months, by its intensity, or
    the rate of findings at honest establishments). This is what an ideal list would rank by."""
    recent = np.zeros((n, period.n_months))
    for episode in plan.episodes:
        if episode.dropped or episode.end + 365 < period.first_day or episode.start > period.last_day:
            continue
        first = max(0, int(period.month_index(episode.start)))
        last = min(period.n_months - 1, int(period.month_index(episode.end + 365)))
        for month in range(first, last + 1):
            end = period.month_end(month)
            if episode.start <= end and episode.end >= end - 365:
                recent[episode.establishment, month] = max(recent[episode.establishment, month], episode.intensity)
    a, b = FOUND_IF_ABUSED
    return np.where(recent > 0, a + b * recent, FOUND_IF_HONEST)


def _contracts(c: ContractColumns, extra: ContractTruth, siret: np.ndarray, period: Period) -> pa.Table:
    n = len(c)
    fixed_term = np.isin(c.nature, ("02", "03"))
    converted = c.conversion_day >= 0
    ended = c.end <= period.last_day
    final_nature = np.where(converted, c.nature_final, c.nature)
    final_motif = np.where(final_nature == "01", "", c.motif)
    last_version = c.versions[np.arange(n), np.maximum(c.n_versions - 1, 0)]
    duration = fixed_term_end(c) - c.start + 1
    mission = c.nature == "03"
    rules_text = [",".join(name for bit, name in enumerate(RULES) if flags >> bit & 1)
                  for flags in extra.rules.tolist()]
    return pa.table({
        "siret": _strings(siret[c.declaring]),
        "user_siret": _strings(siret[c.work], mission),
        "work_siret": _strings(siret[c.work]),
        "contract_number": _strings(extra.numbers),
        "start_date": _dates(c.start),
        "end_date": _dates(c.end, ended),
        "planned_end_initial": _dates(c.versions[:, 0], fixed_term),
        "planned_end_final": _dates(last_version, fixed_term),
        "duration_days": pa.array(np.where(fixed_term, duration, 0).astype("int32"), mask=~fixed_term),
        "nature": _strings(final_nature),
        "motif": _strings(final_motif, final_motif != ""),
        "nature_initial": _strings(c.nature),
        "motif_initial": _strings(c.motif, c.motif != ""),
        "conversion_date": _dates(c.conversion_day, converted),
        "post": _strings(POSTS[p].canonical for p in c.post.tolist()),
        "pcs": _strings(POSTS[p].pcs for p in c.post.tolist()),
        "post_slot": pa.array(c.slot),
        "person_id": pa.array(c.person),
        "n_renewals": pa.array(extra.renewals.astype("int32")),
        "end_motif": _strings(c.end_motif, ended & (c.end_motif != "")),
        "end_block_written": pa.array(extra.end_block_written),
        "mistaken_end_date": _dates(extra.mistaken_end, extra.mistaken_end >= 0),
        "in_dsn": pa.array(extra.in_dsn),
        "origin": _strings(c.origin),
        "abuse_episode": pa.array(c.episode, mask=c.episode < 0),
        "abusive": pa.array(extra.rules != 0),
        "rules_broken": _strings(rules_text),
        "lasting_job": pa.array(extra.lasting_job),
    })


def _absences(absences: list[Absence], c: ContractColumns, numbers: list[str], siret: np.ndarray) -> pa.Table:
    rows = [a for a in absences if a.contract >= 0]
    contract = np.array([a.contract for a in rows], dtype="int64")
    return pa.table({
        "siret": _strings(siret[c.declaring[contract]] if len(rows) else []),
        "contract_number": _strings(numbers[i] for i in contract.tolist()),
        "post": _strings(POSTS[a.post].canonical for a in rows),
        "post_slot": pa.array([a.slot for a in rows], type=pa.int64()),
        "reason": _strings(a.reason for a in rows),
        "start_date": _dates(np.array([a.start for a in rows], dtype="int64")),
        "end_date": _dates(np.array([a.end for a in rows], dtype="int64")),
        "planned_end_initial": _dates(np.array([a.planned_end for a in rows], dtype="int64")),
    })


def _inspections(inspections: list[Inspection], siret: np.ndarray) -> pa.Table:
    ordered = sorted(inspections, key=lambda i: (i.day, siret[i.establishment]))
    return pa.table({
        "siret": _strings(siret[i.establishment] for i in ordered),
        "inspection_date": _dates(np.array([i.day for i in ordered], dtype="int64")),
        "abuse_found": pa.array([i.abuse_found for i in ordered], type=pa.bool_()),
        "abusing_at_date": pa.array([i.abusing_at_date for i in ordered], type=pa.bool_()),
        "abused_last_12_months": pa.array([i.abused_last_12_months for i in ordered], type=pa.bool_()),
        "selection_reason": _strings(i.selection_reason for i in ordered),
    })


def _declarations(written: WrittenDsn, siret: np.ndarray, period: Period) -> pa.Table:
    records = written.declarations
    return pa.table({
        "siret": _strings(siret[r.establishment] for r in records),
        "month": _dates(np.array([period.month_start(r.month) for r in records], dtype="int64")),
        "type": _strings(r.type for r in records),
        "file": _strings(r.file for r in records),
        "declaration_id": _strings(r.declaration_id for r in records),
        "late": pa.array([r.late for r in records], type=pa.bool_()),
        "replaced": pa.array([r.replaced for r in records], type=pa.bool_()),
        "cancelled": pa.array([r.cancelled for r in records], type=pa.bool_()),
        "surviving": pa.array([r.type != "04" and not (r.replaced or r.cancelled) for r in records],
                              type=pa.bool_()),
    })
