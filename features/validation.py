"""How well each legal-rule count tracks the truth, on a simulated population (evaluation only)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.rules import RULES


def rules_against_truth(features: pd.DataFrame, truth: Path, as_of: date) -> pd.DataFrame:
    """Per rule: correlation of its count with the establishment abusing at `as_of` (truth), and
    the precision and recall of 'at least one finding'.

    `truth` is a simulated population's `truth/` folder (establishment_months.parquet).
    """
    months = pd.read_parquet(truth / "establishment_months.parquet")
    months["month"] = pd.to_datetime(months["month"])
    state = months.loc[months["month"] == pd.Timestamp(as_of), ["siret", "abusing"]]
    joined = features.merge(state, on="siret", how="inner")
    abusing = joined["abusing"].astype(float)
    rows = []
    for rule in [*RULES, None]:
        column = f"n_{rule.id}" if rule else "n_rule_hits_total"
        counts = joined[column].astype(float)
        flagged = counts > 0
        rows.append(
            {
                "rule": rule.id if rule else "all rules",
                "label_fr": rule.label_fr if rule else "toutes règles",
                "establishments_flagged": int(flagged.sum()),
                "correlation_with_abuse": float(np.corrcoef(counts, abusing)[0, 1]) if counts.std() > 0 else float("nan"),
                "precision_flagged": float(joined.loc[flagged, "abusing"].mean()) if flagged.any() else float("nan"),
                "recall": float(flagged[joined["abusing"].astype(bool)].mean()) if joined["abusing"].any() else float("nan"),
            }
        )
    table = pd.DataFrame(rows)
    table.attrs["establishments"] = len(joined)
    table.attrs["abusing_share"] = float(abusing.mean()) if len(joined) else float("nan")
    return table
