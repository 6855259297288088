"""The simulated population: determinism, DSN format, truth consistency, calibration, and a round trip
(an independent minimal DSN reader rebuilds the contracts and finds the truth)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import simulation
from simulation import presets
from simulation.calendar import (
    Period,
    date_of,
    day_after_opening_days,
    day_of,
    opening_days_between,
    required_carence,
)
from simulation.contracts import RULES, ContractColumns, SlotBook
from simulation.geography import DEPARTEMENTS, postal_code
from simulation.identity import luhn_valid
from simulation.random_stream import stream_for
from simulation.rules import checked_rules

pytestmark = pytest.mark.slow

LINE = re.compile(r"^S\d\d\.G\d\d\.\d\d\.\d{3},'.*'$")
NIR = re.compile(r"^[12]\d{2}(0[1-9]|1[0-2])(\d{2}|2A|2B)\d{6}$")
TINY = replace(presets.SMALL, name="tiny", n_establishments=60, n_months=8, first_month="2026-03")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small")
    simulation.simulate(out, preset="small", seed=0)
    return out


def _read(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas(date_as_object=False)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# -- calendar helpers at their boundaries ------------------------------------------------------------

def test_carence_is_a_third_from_14_days_and_a_half_below() -> None:
    assert required_carence(np.array([1, 13, 14, 30, 31])).tolist() == [1, 7, 5, 10, 11]


def test_opening_days_skip_sundays() -> None:
    saturday = day_of(pd.Timestamp("2025-03-01").date())
    assert opening_days_between(saturday, saturday + 1) == 0  # touching
    assert opening_days_between(saturday, saturday + 2) == 0  # only the Sunday between
    assert opening_days_between(saturday, saturday + 9) == 6  # Sun 2 .. Sun 9 minus two Sundays
    for day in range(saturday, saturday + 7):
        for waited in range(12):
            assert opening_days_between(day, day_after_opening_days(day, waited)) == waited


def test_postal_codes_follow_their_departement() -> None:
    stream = stream_for(0, 99)
    for departement, _, _ in DEPARTEMENTS:
        for _ in range(30):
            code = postal_code(departement, stream)
            assert re.fullmatch(r"\d{5}", code)
            if departement == "2A":
                assert "20000" <= code <= "20199"
            elif departement == "2B":
                assert "20200" <= code <= "20699"
            else:
                assert code.startswith(departement)


def test_slot_book_waits_out_the_carence_whatever_the_weekday() -> None:
    for duration in range(1, 60):
        for first in range(day_of(pd.Timestamp("2025-03-03").date()), day_of(pd.Timestamp("2025-03-10").date())):
            book = SlotBook()
            slot = book.take(post=0, start=first, end=first + duration - 1)
            free_from = book._free_from[0][slot - SlotBook.FIRST_EXTRA_SLOT]
            assert opening_days_between(first + duration - 1, free_from) >= required_carence(duration)


def _contracts(*rows: dict) -> ContractColumns:
    """A hand-made contract table: CDD ATA contracts on one slot unless a row says otherwise."""
    defaults = {"declaring": 0, "work": 0, "person": 0, "post": 0, "slot": 1000, "nature": "02", "motif": "02",
                "nature_final": "02", "conversion_day": -1, "end_motif": "031", "title": "Vendeur", "hours": 151.67,
                "rate": 12.0, "origin": "test", "rules": 0, "episode": -1}
    rows = [{**defaults, **row} for row in rows]
    width = max(len(row.get("versions", ())) or 1 for row in rows)
    versions = np.full((len(rows), width), -1)
    for i, row in enumerate(rows):
        planned = row.get("versions", (row["end"],))
        versions[i, : len(planned)] = planned
    columns = {name: np.array([row[name] for row in rows], dtype=object if isinstance(defaults.get(name), str)
                              else None) for name in [*defaults, "start", "end"]}
    return ContractColumns(**columns, versions=versions, n_versions=(versions >= 0).sum(axis=1),
                           dropped=np.zeros(len(rows), dtype=bool))


def test_checked_rules_at_their_boundaries() -> None:
    period = Period("2025-01", 24)

    def day(text: str) -> int:
        return day_of(pd.Timestamp(text).date())

    monday = day("2025-03-03")
    # 3-15 March 2025, 13 days: 7 opening days of carence, Monday 17 to Saturday 22 then Monday 24
    contracts = _contracts(
        {"start": monday, "end": day("2025-03-15")},
        {"start": day("2025-03-24"), "end": day("2025-03-28"), "person": 1},  # one opening day short
        {"start": monday, "end": day("2025-03-15"), "slot": 1001},
        {"start": day("2025-03-25"), "end": day("2025-03-28"), "slot": 1001},  # exactly on time
        {"start": monday, "end": monday + 547, "slot": 1002},  # 548 days: the maximum
        {"start": monday, "end": monday + 548, "slot": 1003},  # 549 days
        {"start": monday, "end": monday + 200, "slot": 1004,
         "versions": (monday + 20, monday + 60, monday + 100, monday + 200)},  # three renewals
        {"start": monday, "end": monday, "slot": -1, "motif": "05"},  # CDD d'usage outside D1242-1
    )
    flags = checked_rules(contracts, usage_allowed=np.array([False]), period=period)
    named = [{name for bit, name in enumerate(RULES) if flag >> bit & 1} for flag in flags.tolist()]
    assert named == [set(), {"carence"}, set(), set(), set(), {"duree_max"}, {"renouvellements"},
                     {"usage_hors_secteur"}]


# -- determinism -------------------------------------------------------------------------------------

def test_same_seed_gives_identical_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(presets.PRESETS, "tiny", TINY)
    first = simulation.simulate(tmp_path / "a", preset="tiny", seed=7)
    simulation.simulate(tmp_path / "b", preset="tiny", seed=7)
    other = simulation.simulate(tmp_path / "c", preset="tiny", seed=8)
    assert first.n_files > 0
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    assert _hashes(tmp_path / "a") != _hashes(tmp_path / "c")
    assert other.n_establishments == TINY.n_establishments


def test_summary_describes_the_run(small: Path) -> None:
    manifest = json.loads((small / "truth" / "manifest.json").read_text())
    assert manifest["first_month"] == "2024-11" and manifest["last_month"] == "2026-10"
    assert manifest["n_establishments"] == presets.SMALL.n_establishments
    assert sum(p.stat().st_size for p in (small / "dsn").rglob("*.dsn")) == manifest["dsn_bytes"]


# -- the DSN files -----------------------------------------------------------------------------------

def test_files_are_latin1_norm_lines_with_right_totals(small: Path) -> None:
    files = sorted((small / "dsn").rglob("*.dsn"))
    assert files
    endings = set()
    for path in files:
        raw = path.read_bytes()
        endings.add(b"\r\n" in raw)
        lines = raw.decode("latin-1").splitlines()
        bad = [line for line in lines if not LINE.match(line)]
        assert not bad, f"{path.name}: {bad[:3]}"
        assert lines[0].startswith("S10.G00.00.001,")
        year = int(path.parent.name[:4])
        assert f"S10.G00.00.006,'P{year % 100:02d}V01'" in lines
        total, declarations = lines[-2], lines[-1]
        assert total == f"S90.G00.90.001,'{len(lines)}'", path.name
        assert declarations == f"S90.G00.90.002,'{sum(line.startswith('S20.G00.05.001,') for line in lines)}'"
        if year >= 2026:
            assert not any(line.startswith(("S21.G00.11.008,", "S21.G00.06.009,")) for line in lines)
    assert endings == {True, False}  # some emitters write CRLF, others LF


def test_identifiers_are_valid(small: Path) -> None:
    establishments = _read(small / "truth" / "establishments.parquet")
    assert establishments["siret"].is_unique
    assert establishments["siret"].map(luhn_valid).all() and establishments["siren"].map(luhn_valid).all()
    assert (establishments["siret"].str[:9] == establishments["siren"]).all()
    text = "".join(p.read_text(encoding="latin-1") for p in sorted((small / "dsn").glob("2025-06/*.dsn")))
    nirs = re.findall(r"S21\.G00\.30\.001,'([^']*)'", text)
    assert nirs and all(NIR.match(nir) for nir in nirs)
    individuals = len(re.findall(r"S21\.G00\.30\.002,", text))
    assert 0.005 < 1 - len(nirs) / individuals < 0.05  # about 2% of people declared without a NIR
    assert "'" in "".join(re.findall(r"S21\.G00\.30\.002,'(.*)'", text))  # names like D'ANGELO


def test_truth_holds_no_personal_data(small: Path) -> None:
    text = "".join(p.read_text(encoding="latin-1") for p in sorted((small / "dsn").rglob("*.dsn")))
    nirs = set(re.findall(r"S21\.G00\.30\.001,'([^']*)'", text))
    births = set(re.findall(r"S21\.G00\.30\.006,'([^']*)'", text))
    assert nirs and births
    for path in sorted((small / "truth").glob("*.parquet")):
        table = _read(path)
        assert not {"nir", "surname", "first_names", "birth_date", "name"} & set(table.columns), path.name
        for column in table.columns:
            values = set(table[column].dropna().astype(str))
            assert not values & (nirs | births), f"{path.name}:{column}"


# -- truth consistency -------------------------------------------------------------------------------

def test_truth_contracts_are_consistent(small: Path) -> None:
    contracts = _read(small / "truth" / "contracts.parquet")
    ended = contracts["end_date"].notna()
    assert (contracts.loc[ended, "start_date"] <= contracts.loc[ended, "end_date"]).all()
    assert set(contracts["nature"]) <= {"01", "02", "03"}
    assert set(contracts["nature_initial"]) <= {"01", "02", "03"}
    fixed_term = contracts["nature_initial"].isin(["02", "03"])
    assert contracts.loc[fixed_term, "motif_initial"].isin(["01", "02", "03", "05"]).all()
    assert contracts.loc[~fixed_term, "motif_initial"].isna().all()
    assert (contracts.loc[fixed_term, "planned_end_initial"] >= contracts.loc[fixed_term, "start_date"]).all()
    missions = contracts["nature_initial"] == "03"
    assert contracts.loc[missions, "user_siret"].notna().all()
    assert contracts.loc[~missions, "user_siret"].isna().all()
    assert not contracts.duplicated(["siret", "contract_number"]).any()
    converted = contracts["conversion_date"].notna()
    assert converted.any() and (contracts.loc[converted, "nature"] == "01").all()
    assert (contracts["abusive"] == contracts["rules_broken"].ne("")).all()
    # missing end blocks are a share of ended contracts, as in real files
    assert 0.05 < 1 - contracts.loc[ended, "end_block_written"].mean() < 0.2


def test_honest_establishments_break_no_rule_and_abusers_leave_traces(small: Path) -> None:
    establishments = _read(small / "truth" / "establishments.parquet").set_index("siret")
    contracts = _read(small / "truth" / "contracts.parquet")
    honest = ~contracts["work_siret"].map(establishments["abusive"])
    assert not contracts.loc[honest, "abusive"].any()
    rules = set(",".join(contracts["rules_broken"]).split(",")) - {""}
    assert rules == {"carence", "renouvellements", "duree_max", "faux_remplacement", "usage_hors_secteur",
                     "poste_permanent", "interim_poste_permanent"}
    assert establishments.loc[~establishments["temp_agency"], "abusive"].between(0, 1).all()


def test_renewals_and_carence_are_checked_on_dates(small: Path) -> None:
    contracts = _read(small / "truth" / "contracts.parquet")
    flagged = contracts["rules_broken"].str.contains("renouvellements")
    assert (contracts.loc[flagged, "n_renewals"] > 2).all()
    carence = contracts[contracts["rules_broken"].str.contains("carence")]
    assert not carence.empty and (carence["motif_initial"] == "02").all()


def test_inspections_are_labels_with_noise(small: Path) -> None:
    public = pd.read_csv(small / "inspections.csv", dtype={"siret": str})
    assert list(public.columns) == ["siret", "inspection_date", "abuse_found"]
    assert set(public["abuse_found"]) <= {0, 1}
    truth = _read(small / "truth" / "inspections.parquet")
    assert len(truth) == len(public)
    assert set(truth["selection_reason"]) == {"campagne", "signalement", "aleatoire"}
    assert pd.to_datetime(public["inspection_date"]).min() >= pd.Timestamp("2025-05-01")  # not in the first 6 months
    abused = truth["abused_last_12_months"]
    assert truth.loc[abused, "abuse_found"].mean() > 0.4  # often but not always found
    assert truth.loc[~abused, "abuse_found"].mean() < 0.15  # rarely "found" where there was none


def test_calibration_is_within_tolerance(small: Path) -> None:
    table = simulation.calibration_table(small)
    assert {"metric", "label", "simulated", "target", "tolerance", "source", "ok"} <= set(table.columns)
    assert table["ok"].all(), table.loc[~table["ok"], ["metric", "simulated", "target", "tolerance"]].to_string()


# -- round trip through an independent minimal reader ------------------------------------------------

def _parse_dsn(root: Path) -> tuple[list[dict], dict[str, str]]:
    """Declarations of every file (in file order) with their contracts; which ids were replaced/cancelled."""
    declarations: list[dict] = []
    for path in sorted(root.rglob("*.dsn")):
        declaration = contract = None
        siren = ""
        for line in path.read_bytes().decode("latin-1").splitlines():
            code, _, value = line.partition(",")
            value = value[1:-1]
            block, field = code[:10], code[11:]
            if block == "S20.G00.05":
                if field == "001":
                    declaration = {"ids": {}, "contracts": {}, "file": path.name}
                    declarations.append(declaration)
                declaration["ids"][field] = value
            elif block == "S21.G00.06" and field == "001":
                siren = value
            elif block == "S21.G00.11" and field == "001":
                declaration["siret"] = siren + value
            elif block == "S21.G00.40":
                if field == "001":
                    contract = {"start": value}
                contract[field] = value
                if field == "009":
                    declaration["contracts"][(value, contract["start"])] = contract
            elif block == "S21.G00.62":
                contract["end" if field == "001" else "end_motif"] = value
    targets = {d["ids"]["006"]: d["ids"]["002"] for d in declarations if "006" in d["ids"]}
    return declarations, targets


def _rebuild(declarations: list[dict], targets: dict[str, str], period: Period) -> dict[tuple, dict]:
    """Contracts rebuilt from the surviving monthly declarations, end inferred when no end block came."""
    surviving = [d for d in declarations
                 if d["ids"]["002"] not in ("04",) and d["ids"]["007"] + d["ids"]["004"] not in targets]
    declared_months: dict[str, set[int]] = defaultdict(set)
    rebuilt: dict[tuple, dict] = {}
    for d in sorted(surviving, key=lambda d: d["ids"]["005"][4:] + d["ids"]["005"][2:4]):
        month = int(period.month_index(day_of(pd.Timestamp(f"{d['ids']['005'][4:]}-{d['ids']['005'][2:4]}-01").date())))
        declared_months[d["siret"]].add(month)
        for (number, start), fields in d["contracts"].items():
            record = rebuilt.setdefault((d["siret"], number, start), {"months": []})
            record["months"].append(month)
            record["nature"] = fields["007"]
            record["motif"] = fields.get("021")
            record["planned"] = fields.get("010")
            if "end" in fields:
                record["end"] = fields["end"]
    for (siret, _, _), record in rebuilt.items():
        if "end" in record:
            continue
        last = max(record["months"])
        if sum(m > last for m in declared_months[siret]) < 3:
            continue  # still open: fewer than three later declarations
        month_end = date_of(period.month_end(last))
        planned = record["planned"]
        if planned and period.month_index(_day(planned)) == last:
            record["end"] = planned
        else:
            record["end"] = month_end.strftime("%d%m%Y")
    return rebuilt


def _day(ddmmyyyy: str) -> int:
    return day_of(pd.Timestamp(f"{ddmmyyyy[4:]}-{ddmmyyyy[2:4]}-{ddmmyyyy[:2]}").date())


def test_rebuilt_contracts_match_truth(small: Path) -> None:
    manifest = json.loads((small / "truth" / "manifest.json").read_text())
    period = Period(manifest["first_month"], manifest["n_months"])
    declarations, targets = _parse_dsn(small / "dsn")
    rebuilt = _rebuild(declarations, targets, period)
    truth = _read(small / "truth" / "contracts.parquet")
    truth = truth[truth["in_dsn"]]
    last_three = period.month_start(period.n_months - 3)
    matched = 0
    for row in truth.itertuples():
        start = row.start_date.strftime("%d%m%Y")
        record = rebuilt.get((row.siret, row.contract_number, start))
        if record is None or record["nature"] != row.nature or (record["motif"] or None) != (
                row.motif if isinstance(row.motif, str) else None):
            continue
        if pd.isna(row.end_date):
            matched += "end" not in record
            continue
        end = day_of(row.end_date.date())
        if "end" not in record:
            matched += (not row.end_block_written) and end >= last_three
            continue
        rebuilt_end = _day(record["end"])
        matched += rebuilt_end == end if row.end_block_written else (
            period.month_index(rebuilt_end) == period.month_index(end))
    print(f"round trip: {matched} of {len(truth)} contracts found ({matched / len(truth):.4f})")
    assert matched / len(truth) >= 0.99, f"{matched} of {len(truth)} contracts found"
    assert len(rebuilt) <= len(truth) * 1.001  # no phantom contracts from cancelled or replaced declarations
