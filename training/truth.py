"""What no real deployment can measure: precision@k against the simulated population's hidden truth.

Every establishment of a month's feature table is scored; each region's top share is compared
with who was really abusing that month (`truth/establishment_months.parquet`). Two references:
the oracle ranks by the true latent probability of abuse (the establishment's propensity, what
could be known before any abuse shows); the perfect list ranks by the abuse itself (the ceiling:
a region with fewer abusers than visits cannot reach precision 1). On a DSN that shows abuse as
it happens, models can beat the oracle; nothing beats the perfect list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.capacity import siret_key
from training.metrics import average_precision, bootstrap_at_share, region_keys, roc_auc

ORACLE = "oracle"
PERFECT = "perfect_list"


def truth_at(establishment_months: pd.DataFrame, month: pd.Timestamp) -> pd.DataFrame:
    """siret, abusing (0/1) and latent_abuse_probability of the given month."""
    frame = establishment_months[pd.to_datetime(establishment_months["month"]) == pd.Timestamp(month)]
    out = frame[["siret", "abusing", "latent_abuse_probability"]].copy()
    out["siret"] = out["siret"].astype(str)
    out["abusing"] = out["abusing"].astype("int64")
    return out.reset_index(drop=True)


def align_truth(table: pd.DataFrame, truth: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The feature table's rows that have a truth row that month, with abusing and latent probability
    added; and how many rows had none."""
    joined = table.assign(siret=table["siret"].astype(str)).merge(truth, on="siret", how="left", indicator=True)
    missing = int((joined["_merge"] == "left_only").sum())
    return joined[joined["_merge"] == "both"].drop(columns="_merge").reset_index(drop=True), missing


def truth_comparison(
    table: pd.DataFrame,
    scores: dict[str, np.ndarray],
    shares: list[float],
    resamples: int,
    seed: int,
) -> pd.DataFrame:
    """One row per model (oracle and perfect list added) and share: precision and recall at k against
    `abusing` with 95% intervals (`metrics.bootstrap_at_share`), average precision, ROC AUC, and the gaps to the oracle's and
    the perfect list's precision.

    `table` holds region_code, abusing and latent_abuse_probability; `scores[model]` is aligned with it.
    """
    y = table["abusing"].to_numpy().astype(int)
    regions = region_keys(table["region_code"])
    everything = np.zeros(len(table), dtype=int)
    tiebreak = siret_key(table["siret"])
    latent = table["latent_abuse_probability"].to_numpy(dtype=float)
    all_scores = {**scores, ORACLE: latent, PERFECT: y + latent / 2}
    records = []
    for share in shares:
        for name, values in all_scores.items():
            values = np.asarray(values, dtype=float)
            result = bootstrap_at_share(y, values, regions, everything, share, tiebreak, resamples, seed)
            p, r = result["precision"]["all"], result["recall"]["all"]
            records.append(
                {
                    "model": name, "share": share,
                    "precision": p.value, "precision_low": p.low, "precision_high": p.high,
                    "recall": r.value, "recall_low": r.low, "recall_high": r.high,
                    "average_precision": average_precision(y, values), "roc_auc": roc_auc(y, values),
                    "n": len(y), "abusing": int(y.sum()),
                }
            )
    out = pd.DataFrame.from_records(records)
    for reference, column in ((ORACLE, "gap_to_oracle"), (PERFECT, "gap_to_perfect")):
        best = out[out["model"] == reference].set_index("share")["precision"]
        out[column] = best.reindex(out["share"]).to_numpy() - out["precision"].to_numpy()
    return out
