"""Who goes on each region's list: capacity, recent inspections, exploration, last month's list.

Within a region of n scored establishments the list holds k = ceil(list_share x n) lines, at most
`max_list_lines` (or the number configured for the region). Establishments inspected in the `exclude_inspected_months`
months up to the month's end are not eligible. Of the k lines, round(exploration_share x k) are
drawn at random among the eligible establishments that the score did not select, so that the
inspections they lead to give labels free of the model's own choices; the draw depends only on the
seed, the month and the region, so it can be reproduced. The other lines are the highest scores.
"""

from __future__ import annotations

import zlib
from datetime import date

import numpy as np
import pandas as pd

from core.capacity import list_length, ranking_order, select_top, siret_key
from core.months import month_end
from core.scoring_config import ScoringConfig

NEW, STILL, LEFT = "new", "still", "left"
FIRST = "first"  # listed in a month after one with no list drawn up


def list_size(region_code: str, n_scored: int, settings: ScoringConfig) -> int:
    """Lines on a region's list: the configured number, else the share of its scored establishments,
    at most `max_list_lines`."""
    if region_code in settings.list_size_by_region:
        return min(settings.list_size_by_region[region_code], n_scored)
    lines = list_length(n_scored, settings.list_share)
    return lines if settings.max_list_lines is None else min(lines, settings.max_list_lines)


def exploration_rng(seed: int, month: date, region_code: str) -> np.random.Generator:
    """The random generator of one region's exploration draw for one month."""
    return np.random.default_rng([seed, month.year * 100 + month.month, zlib.crc32(region_code.encode())])


def recently_inspected(
    sirets: pd.Series, inspections: pd.DataFrame | None, month: date, months: int
) -> pd.Series:
    """Whether each SIRET was inspected in the `months` months up to the end of `month` (not after)."""
    if inspections is None or inspections.empty or months == 0:
        return pd.Series(False, index=sirets.index)
    end = pd.Timestamp(month_end(month))
    start = pd.Timestamp(month) - pd.DateOffset(months=months - 1)
    dates = pd.to_datetime(inspections["inspection_date"])
    inspected = set(inspections.loc[(dates >= start) & (dates <= end), "siret"].astype(str))
    return sirets.astype(str).isin(inspected)


def rank_and_select(scored: pd.DataFrame, month: date, settings: ScoringConfig) -> pd.DataFrame:
    """Add rank_in_region, rank_national, in_list, exploration and list_position to `scored`
    (columns siret, region_code, score, recently_inspected). Ties are broken by SIRET.

    The highest scores are chosen by `core.capacity.select_top`, the rule training measures."""
    frame = scored.copy()
    frame["region_code"] = frame["region_code"].astype("string").fillna("")
    order = ranking_order(frame["score"].to_numpy(dtype=float), np.zeros(len(frame)), siret_key(frame["siret"]))
    frame, tiebreak = frame.iloc[order], siret_key(frame["siret"])[order]
    frame["rank_national"] = np.arange(1, len(frame) + 1)
    frame["rank_in_region"] = frame.groupby("region_code").cumcount() + 1
    codes, regions = pd.factorize(frame["region_code"], sort=True)
    sizes = np.bincount(codes, minlength=len(regions))
    lines = np.array([list_size(str(r), int(n), settings) for r, n in zip(regions, sizes, strict=True)], dtype=int)
    explored = np.array([round(settings.exploration_share * k) for k in lines], dtype=int)
    eligible = ~frame["recently_inspected"].to_numpy(dtype=bool)
    top = select_top(frame["score"].to_numpy(dtype=float), codes, tiebreak, np.maximum(lines - explored, 0), eligible)
    frame["in_list"] = top
    frame["exploration"] = False
    frame["list_position"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    for code, region_code in enumerate(regions):
        in_region = codes == code
        chosen = frame.index[in_region & top]
        rest = frame.index[in_region & eligible & ~top]
        rng = exploration_rng(settings.seed, month, str(region_code))
        drawn = rest[np.sort(rng.choice(len(rest), size=min(explored[code], len(rest)), replace=False))] if len(rest) else rest
        frame.loc[drawn, ["in_list", "exploration"]] = True
        frame.loc[chosen.append(drawn), "list_position"] = np.arange(1, len(chosen) + len(drawn) + 1)
    return frame


def compare_with_previous(current: pd.DataFrame, previous: pd.DataFrame | None) -> pd.Series:
    """new / still / left for each SIRET of `current` against last month's `in_list`; '' otherwise.
    Without a previous list every listed line is 'first' (nothing to compare with)."""
    listed = current["in_list"].astype(bool)
    if previous is None:
        return pd.Series("", index=current.index, dtype="string").mask(listed, FIRST)
    was_listed = set(previous.loc[previous["in_list"].astype(bool), "siret"].astype(str))
    sirets = current["siret"].astype(str)
    before = sirets.isin(was_listed)
    change = pd.Series("", index=current.index, dtype="string")
    change[listed & ~before] = NEW
    change[listed & before] = STILL
    change[~listed & before] = LEFT
    return change

