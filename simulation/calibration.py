"""The simulated orders of magnitude, computed from what was written to truth/, next to the public
figures they aim at (shared/DSN.md), each with a tolerance."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from simulation.calendar import Period, date_of
from simulation.inspections import FIRST_INSPECTED_MONTH


@dataclass(frozen=True)
class Target:
    metric: str
    label: str
    target: float
    tolerance: float
    source: str


_DARES_FLOWS = "DARES, mouvements de main-d'oeuvre 2017 (shared/DSN.md)"
TARGETS: tuple[Target, ...] = (
    Target("share_cdd_in_hires_excl_temp", "Share of CDDs among hires, temp work excluded", 0.87, 0.04, _DARES_FLOWS),
    Target("share_cdd_under_1_month", "Share of CDDs lasting under a month (30 days or less)", 0.83, 0.05,
           _DARES_FLOWS),
    Target("share_cdd_one_day", "Share of CDDs lasting a single day", 0.30, 0.06, _DARES_FLOWS),
    Target("median_cdd_days", "Median CDD length (days, renewals included)", 5.0, 3.0, _DARES_FLOWS),
    Target("mean_cdd_days", "Mean CDD length (days, renewals included; loose)", 46.0, 20.0, _DARES_FLOWS),
    Target("rehire_share_of_cdd_hires", "Share of CDD hires re-hiring a former employee (target: 0.70 or more)",
           0.78, 0.08, "DARES/Unedic studies on re-hiring: 70% or more"),
    Target("rehire_concentration_top3pct", "Share of re-hires going to the 3% most re-hired people (loose)", 0.50, 0.25,
           "Unedic: half of re-hires concentrate on 3% of the people hired"),
    Target("one_day_share_construction_industry", "Share of one-day CDDs in construction and industry", 0.02, 0.03,
           "DARES: one-day CDDs almost absent in construction and industry"),
    Target("stock_share_cdi", "Share of CDIs among contracts in force mid-period", 0.86, 0.04,
           "Insee, Enquete emploi 2024"),
    Target("stock_share_cdd", "Share of CDDs among contracts in force mid-period", 0.10, 0.03,
           "Insee, Enquete emploi 2024"),
    Target("stock_share_temp", "Share of temp missions among contracts in force mid-period", 0.03, 0.015,
           "Insee 2024; DARES: about 750,000 temp workers"),
    Target("inspections_per_year_share",
           "Establishments inspected per year for precarious contracts (far above real life, on purpose: enough "
           "labels to learn from)", 0.10, 0.03,
           "assumption; real precarity controls are far fewer (2025 campaign: ~3,000 firms; all topics: ~280,000 "
           "interventions a year for 1.8 M establishments)"),
    Target("share_inspections_finding_abuse", "Share of inspections finding abuse", 0.30, 0.12,
           "assumption: no public figure; campaigns and complaints target likely abusers"),
    Target("share_abusive_establishments", "Share of establishments abusing at some point of the period", 0.125,
           0.035, "assumption: the issue's 10-15%"),
)

REHIRE_BURN_IN_MONTHS = 6  # re-hires are counted once the simulation has this much history
CENSORING_MONTHS = 6  # CDD lengths are measured on hires made at least this long before the end


def _read(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas(date_as_object=False)


def calibration_table(out: Path) -> pd.DataFrame:
    """Columns metric, label, simulated, target, tolerance, source, ok (|simulated - target| <= tolerance)."""
    out = Path(out)
    manifest = json.loads((out / "truth" / "manifest.json").read_text())
    period = Period(manifest["first_month"], manifest["n_months"])
    contracts = _read(out / "truth" / "contracts.parquet")
    establishments = _read(out / "truth" / "establishments.parquet")
    inspections = _read(out / "truth" / "inspections.parquet")
    simulated = {
        **_flow_metrics(contracts, establishments, period),
        **_stock_metrics(contracts, period),
        **_inspection_metrics(inspections, establishments, period),
    }
    rows = []
    for t in TARGETS:
        value = float(simulated[t.metric])
        rows.append({"metric": t.metric, "label": t.label, "simulated": round(value, 4), "target": t.target,
                     "tolerance": t.tolerance, "source": t.source, "ok": bool(abs(value - t.target) <= t.tolerance)})
    return pd.DataFrame(rows)


def _month_start(period: Period, index: int) -> pd.Timestamp:
    return pd.Timestamp(date_of(period.month_start(index)))


def _flow_metrics(contracts: pd.DataFrame, establishments: pd.DataFrame, period: Period) -> dict[str, float]:
    hires = contracts[contracts["start_date"] >= _month_start(period, 0)]
    own = hires["nature_initial"].isin(["01", "02"])
    cdd = hires["nature_initial"] == "02"
    measured = cdd & (hires["start_date"] < _month_start(period, period.n_months - CENSORING_MONTHS))
    days = hires.loc[measured, "duration_days"].to_numpy(dtype=float)
    sector = hires["work_siret"].map(establishments.set_index("siret")["sector"])
    industrial = measured & sector.isin(["construction", "metalwork"])
    return {
        "share_cdd_in_hires_excl_temp": cdd.sum() / own.sum(),
        "share_cdd_under_1_month": float(np.mean(days <= 30)),
        "share_cdd_one_day": float(np.mean(days == 1)),
        "median_cdd_days": float(np.median(days)),
        "mean_cdd_days": float(np.mean(days)),
        "one_day_share_construction_industry": float((hires.loc[industrial, "duration_days"] == 1).mean())
        if industrial.any() else 0.0,
        **_rehire_metrics(contracts, period),
    }


def _rehire_metrics(contracts: pd.DataFrame, period: Period) -> dict[str, float]:
    """Re-hires: CDD hires of a person who already had a contract in the same establishment."""
    frame = contracts[["work_siret", "person_id", "start_date", "nature_initial"]].sort_values(
        ["work_siret", "person_id", "start_date"], kind="stable")
    rehire = frame.groupby(["work_siret", "person_id"]).cumcount() > 0
    counted = (frame["nature_initial"] == "02") & (frame["start_date"] >= _month_start(period, REHIRE_BURN_IN_MONTHS))
    per_person = rehire[counted].groupby(frame.loc[counted, "person_id"]).sum().sort_values(ascending=False)
    top = max(1, round(0.03 * len(per_person)))
    return {
        "rehire_share_of_cdd_hires": float(rehire[counted].mean()),
        "rehire_concentration_top3pct": float(per_person.iloc[:top].sum() / max(1, per_person.sum())),
    }


def _stock_metrics(contracts: pd.DataFrame, period: Period) -> dict[str, float]:
    """Contracts in force on the 15th of the middle month, by nature on that day."""
    day = _month_start(period, period.n_months // 2) + pd.Timedelta(days=14)
    in_force = (contracts["start_date"] <= day) & ~(contracts["end_date"] < day)
    converted = contracts["conversion_date"] <= day
    nature = contracts["nature"].where(converted, contracts["nature_initial"])[in_force]
    return {f"stock_share_{name}": float((nature == code).mean())
            for name, code in (("cdi", "01"), ("cdd", "02"), ("temp", "03"))}


def _inspection_metrics(inspections: pd.DataFrame, establishments: pd.DataFrame, period: Period) -> dict[str, float]:
    years = (period.n_months - FIRST_INSPECTED_MONTH) / 12
    return {
        "inspections_per_year_share": len(inspections) / len(establishments) / years,
        "share_inspections_finding_abuse": float(inspections["abuse_found"].mean()) if len(inspections) else 0.0,
        "share_abusive_establishments": float(establishments["abusive"].mean()),
    }
