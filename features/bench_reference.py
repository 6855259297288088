"""A straightforward pandas implementation of a few features, the reference of `champollion bench features`.

It rebuilds the contracts of a sample of establishments from the warehouse and computes, as of a
month, the same values as features/indicators.py and features/rules.py for: headcount, hires_12m,
share_hires_fixed_term_12m, precarity_rate_12m, share_fixed_term_under_1_month_12m,
median_fixed_term_days_12m, n_renouvellements and n_usage_hors_secteur. Plain pandas, no cleverness:
what anyone would write first. It ignores contract renames (S21.G00.41 blocks that change a contract's
number or start), which the national simulation does not write.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds

from core.config import FeaturesConfig
from features.asof import FIXED_TERM_NATURES, OPEN_ENDED_NATURES, TRAINING_MOTIFS, AsOfWindow
from features.rules import _usage_sector_rows
from warehouse.contracts import END_CANCELLED, TEMP_AGENCY_NAF

REFERENCE_FEATURES = (
    "headcount", "hires_12m", "share_hires_fixed_term_12m", "precarity_rate_12m",
    "share_fixed_term_under_1_month_12m", "median_fixed_term_days_12m", "n_renouvellements", "n_usage_hors_secteur",
)
KEY = ["siret", "person_key", "contract_number", "start_date"]


def _read(warehouse: Path, table: str, columns: list[str], row_filter) -> pd.DataFrame:
    dataset = ds.dataset(warehouse / table, format="parquet", partitioning="hive")
    frame = dataset.to_table(columns=columns, filter=row_filter).to_pandas(date_as_object=False)
    return frame


def read_sample(warehouse: Path, sirets: list[str], as_of: date, settings: FeaturesConfig) -> dict[str, pd.DataFrame]:
    """The warehouse rows the reference needs for establishments `sirets` (and the agencies that send them temp workers)."""
    window = AsOfWindow.of(as_of, settings)
    months = (ds.field("month") >= pd.Timestamp(window.history_start)) & (ds.field("month") <= pd.Timestamp(window.as_of))
    wanted = pc.field("siret").isin(sirets) | pc.field("user_siret").isin(sirets)
    snapshots = _read(warehouse, "contract_months",
                      [*KEY, "month", "declaration_key", "line", "nature", "motif", "planned_end", "user_siret"],
                      months & wanted)
    declarants = sorted(set(snapshots["siret"]) | set(sirets))
    in_declarants = pc.field("siret").isin(declarants)
    ends = _read(warehouse, "contract_ends", [*KEY, "month", "end_date", "end_motif"], months & in_declarants)
    declarations = _read(warehouse, "declarations", ["siret", "month", "naf"],
                         (ds.field("month") <= pd.Timestamp(window.as_of)) & in_declarants)
    return {"snapshots": snapshots, "ends": ends, "declarations": declarations}


def declared_ends(ends: pd.DataFrame) -> pd.DataFrame:
    """The end of each contract from its end blocks (`read_sample`'s `ends`): an annulation (099) withdraws the end of
    its date declared in an earlier month; of the ends left, the latest month's; two in one month: the later end, then
    the greater motif (warehouse.contracts)."""
    ends = ends[ends["end_date"].notna()]
    annulation = ends["end_motif"].fillna("") == END_CANCELLED
    dated = [*KEY, "end_date"]
    annulled_in = ends[annulation].groupby(dated, as_index=False)["month"].max().rename(columns={"month": "annulled_in"})
    ends = ends[~annulation].merge(annulled_in, on=dated, how="left")
    ends = ends[~(ends["annulled_in"] > ends["month"])].assign(motif_order=lambda e: e["end_motif"].fillna(""))
    latest = ends.sort_values(["month", "end_date", "motif_order"]).drop_duplicates(KEY, keep="last")
    return latest[[*KEY, "end_date", "end_motif"]].reset_index(drop=True)


def reference_features(tables: dict[str, pd.DataFrame], sirets: list[str], as_of: date, settings: FeaturesConfig,
                       inferred_end_after_months: int = 3) -> pd.DataFrame:
    """The reference features of `sirets` (one row each, indexed by siret) from `read_sample`'s tables."""
    window = AsOfWindow.of(as_of, settings)
    as_of_ts, window_start = pd.Timestamp(window.as_of), pd.Timestamp(window.window_start)
    as_of_end = as_of_ts + pd.offsets.MonthEnd(0)
    snaps = tables["snapshots"].sort_values([*KEY, "month", "declaration_key", "line"])
    grouped = snaps.groupby(KEY, sort=False)
    contracts = grouped.agg(nature=("nature", "last"), motif=("motif", "last"), planned_end=("planned_end", "last"),
                            user_siret=("user_siret", "last"), first_month=("month", "min"), last_month=("month", "max"))
    # `last` skips nulls in pandas: take the last row's values explicitly
    last_rows = snaps.drop_duplicates(KEY, keep="last").set_index(KEY)
    for column in ("nature", "motif", "planned_end", "user_siret"):
        contracts[column] = last_rows[column].reindex(contracts.index)
    dated = snaps[snaps["planned_end"].notna()]
    pushed = dated["planned_end"] > dated.groupby(KEY, sort=False)["planned_end"].shift()
    contracts["renewals"] = pushed.groupby([dated[k] for k in KEY], sort=False).sum().reindex(contracts.index).fillna(0)
    contracts = contracts.reset_index()

    ends = declared_ends(tables["ends"])
    contracts = contracts.merge(ends[[*KEY, "end_date"]], on=KEY, how="left")
    declared = tables["declarations"].drop_duplicates(["siret", "month"])
    after = contracts[["siret", "last_month"]].reset_index().merge(declared, on="siret")
    after = after[after["month"] > after["last_month"]].groupby("index").size()
    contracts["months_after"] = after.reindex(contracts.index).fillna(0)
    last_day = contracts["last_month"] + pd.offsets.MonthEnd(0)
    inferred = np.where(
        (contracts["planned_end"] >= np.maximum(contracts["last_month"], contracts["start_date"]))
        & (contracts["planned_end"] <= last_day),
        contracts["planned_end"], np.maximum(last_day, contracts["start_date"]))
    contracts["end_date"] = contracts["end_date"].where(
        contracts["end_date"].notna(),
        pd.Series(inferred, index=contracts.index).where(contracts["months_after"] >= inferred_end_after_months))

    naf = declared.sort_values("month").groupby("siret")["naf"].last()
    agency = contracts["siret"].map(naf).eq(TEMP_AGENCY_NAF) & contracts["nature"].eq("03")
    valid_user = contracts["user_siret"].fillna("").str.fullmatch(r"[0-9]{14}")
    contracts["establishment"] = contracts["siret"].where(~(agency & valid_user), contracts["user_siret"])
    fixed = contracts["nature"].isin(FIXED_TERM_NATURES)
    contracts["kind"] = np.select(
        [contracts["nature"].isin(OPEN_ENDED_NATURES), contracts["nature"].eq("03"), fixed & contracts["motif"].eq("05"),
         fixed & ~contracts["motif"].fillna("").isin(TRAINING_MOTIFS)],
        ["cdi", "mission", "usage", "cdd"], "other")
    contracts = contracts[(contracts["start_date"] <= as_of_end) & contracts["establishment"].isin(sirets)]
    contracts["period_end"] = contracts["end_date"].fillna(as_of_end).clip(upper=as_of_end)
    contracts["duration"] = (contracts["end_date"] - contracts["start_date"]).dt.days + 1
    is_fixed = contracts["kind"].isin(["cdd", "usage", "mission"])

    out = pd.DataFrame(index=pd.Index(sirets, name="siret"))
    in_force = contracts[(contracts["kind"] != "mission") & (contracts["last_month"] == as_of_ts)
                         & (contracts["end_date"].isna() | (contracts["end_date"] >= as_of_end))]
    out["headcount"] = in_force.groupby("establishment")["person_key"].nunique().reindex(out.index).fillna(0)
    counted = contracts[contracts["kind"].isin(["cdi", "cdd", "usage", "mission"]) & (contracts["period_end"] >= window_start)]
    hires = counted[counted["start_date"] >= window_start]
    out["hires_12m"] = hires.groupby("establishment").size().reindex(out.index).fillna(0)
    fixed_hires = hires[hires["kind"] != "cdi"].groupby("establishment").size().reindex(out.index).fillna(0)
    out["share_hires_fixed_term_12m"] = fixed_hires / out["hires_12m"].replace(0, np.nan)
    days = ((counted["period_end"] - counted["start_date"].clip(lower=window_start)).dt.days + 1).clip(lower=0)
    all_days = days.groupby(counted["establishment"]).sum()
    fixed_days = days[counted["kind"] != "cdi"].groupby(counted["establishment"][counted["kind"] != "cdi"]).sum()
    out["precarity_rate_12m"] = (fixed_days.reindex(all_days.index).fillna(0) / all_days.replace(0, np.nan)).reindex(out.index)
    ended = contracts[is_fixed & contracts["end_date"].between(window_start, as_of_end)]
    under_1_month = (ended["duration"] <= 30).groupby(ended["establishment"]).mean()
    out["share_fixed_term_under_1_month_12m"] = under_1_month.reindex(out.index)
    out["median_fixed_term_days_12m"] = ended.groupby("establishment")["duration"].median().reindex(out.index)

    located = (contracts["kind"] != "mission") | (contracts["establishment"] != contracts["siret"])
    renewed = contracts[contracts["kind"].isin(["cdd", "mission"]) & (contracts["renewals"] > settings.max_renewals) & located
                        & contracts["last_month"].between(window_start, as_of_end)]
    out["n_renouvellements"] = renewed.groupby("establishment").size().reindex(out.index).fillna(0)
    prefixes = tuple(row[0] for row in _usage_sector_rows())
    est_naf = contracts["establishment"].map(naf).fillna("").str.replace(".", "", regex=False).str.upper()
    outside = contracts["kind"].eq("usage") & est_naf.ne("") & ~est_naf.map(lambda code: code.startswith(prefixes))
    usage = contracts[outside & contracts["start_date"].between(window_start, as_of_end)]
    out["n_usage_hors_secteur"] = usage.groupby("establishment").size().reindex(out.index).fillna(0)
    return out[list(REFERENCE_FEATURES)].astype(float)


def compare(reference: pd.DataFrame, engine: pd.DataFrame) -> pd.DataFrame:
    """Per feature: rows compared, max absolute difference, and rows where only one side is null."""
    engine = engine.set_index("siret").reindex(reference.index)
    rows = []
    for feature in REFERENCE_FEATURES:
        a, b = reference[feature].astype(float), engine[feature].astype(float)
        both = a.notna() & b.notna()
        rows.append({"feature": feature, "compared": int(both.sum()),
                     "max_abs_diff": float((a[both] - b[both]).abs().max()) if both.any() else 0.0,
                     "null_mismatches": int((a.isna() != b.isna()).sum())})
    return pd.DataFrame(rows)
