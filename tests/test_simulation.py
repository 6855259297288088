"""The simulated population: determinism, DSN format (every rubric valid against the CT2024 tables, blocks
nested in norm order, payroll amounts that add up), truth consistency, calibration, and a round trip (an
independent minimal DSN reader rebuilds the contracts and finds the truth)."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import simulation
from features.branch_agreements import required_carence_days
from simulation import presets
from simulation.calendar import (
    Period,
    date_of,
    day_after_opening_days,
    day_of,
    opening_days_between,
)
from simulation.contracts import RULE_BIT, RULES, ContractColumns, SlotBook
from simulation.geography import DEPARTEMENTS, postal_code
from simulation.identity import luhn_valid
from simulation.random_stream import stream_for
from simulation.rules import checked_rules, lasting_job_contracts
from simulation.sectors import POSTS, SECTORS

pytestmark = pytest.mark.slow

LINE = re.compile(r"^S\d\d\.G\d\d\.\d\d\.\d{3},'.*'$")
NIR = re.compile(r"^[12]\d{2}(0[1-9]|1[0-2])(\d{2}|2A|2B)\d{6}$")
TINY = replace(presets.SMALL, name="tiny", n_establishments=60, n_months=8, first_month="2026-03")
REFERENCE = Path(__file__).resolve().parents[1] / "warehouse" / "reference"  # the CT2024 norm tables
URSSAF_CODES = {"018", "040", "045", "048", "049", "068", "072", "074", "075", "076", "079", "081", "100", "128",
                "129"}  # individual contributions (S21.G00.81.001) the URSSAF bordereau aggregates
RETIREMENT_CODES = {"106", "131", "132"}  # Agirc-Arrco
EXEMPT_PRIMES = {"001", "007"}  # severance pays, outside the contribution bases


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small")
    simulation.simulate(out, preset="small", seed=0)
    return out


@pytest.fixture(scope="module")
def parsed(small: Path) -> tuple[list[dict], dict[str, str]]:
    return _parse_dsn(small / "dsn")


def _read(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas(date_as_object=False)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# -- calendar helpers at their boundaries ------------------------------------------------------------

def test_carence_is_a_third_from_14_days_and_a_half_below() -> None:
    assert [required_carence_days(d) for d in (1, 13, 14, 30, 31)] == [1, 7, 5, 10, 11]


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
    for departement, _ in DEPARTEMENTS:
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
            slot = book.take(post=0, start=first)
            book.book(0, slot, first, first + duration - 1, "031")
            free_from = book.free_from(0, first + duration)
            assert opening_days_between(first + duration - 1, free_from) >= required_carence_days(duration)
            assert book.take(post=0, start=free_from - 1) is None  # within the waiting period: wait
            assert book.take(post=0, start=free_from) == slot


def test_slot_book_has_no_more_posts_than_it_held_at_once() -> None:
    # Two peak workers for 30 days, then 15-day contracts one at a time: while the peak is within the post
    # memory its second post is vacant and free, so a contract can take it; once it is past, the job has one
    # post, and a start within the waiting period of the one just left waits.
    book, monday = SlotBook(), day_of(pd.Timestamp("2025-03-03").date())
    peak = [book.take(0, monday), None]
    book.book(0, peak[0], monday, monday + 29, "031")
    peak[1] = book.take(0, monday)
    book.book(0, peak[1], monday, monday + 29, "031")
    assert peak == [SlotBook.FIRST_EXTRA_SLOT, SlotBook.FIRST_EXTRA_SLOT + 1]
    taken = []
    for start in (monday + 45, monday + 62, monday + 79):
        slot = book.take(0, start)
        book.book(0, slot, start, start + 14, "031")
        taken.append(slot)
    assert taken == [peak[0], peak[1], peak[0]]  # the chain alternates between the peak's two posts
    assert book.take(0, monday + 96) is None  # the peak is 66 days past: one post, left 2 days ago
    assert book.free_from(0, monday + 96) > monday + 96


def test_carence_follows_the_branch_agreement() -> None:
    period = Period("2025-01", 24)
    monday = day_of(pd.Timestamp("2025-03-03").date())
    # 40 days, then 9 calendar days: short of a quarter (10) in the métallurgie, of nothing in cleaning, and of
    # the statutory 14 opening days elsewhere.
    pair = _contracts({"start": monday, "end": monday + 39}, {"start": monday + 49, "end": monday + 60, "person": 1})
    for carence, broken in (("statutory", True), ("quarter_21_calendar", True), ("none", False)):
        flags = checked_rules(pair, usage_allowed=np.array([True]), carence=np.array([carence]), period=period)
        assert bool(flags[1] & RULE_BIT["carence"]) is broken, carence
    # Ended early by the employee: no délai (L1244-4).
    early = _contracts({"start": monday, "end": monday + 39, "end_motif": "037"},
                       {"start": monday + 41, "end": monday + 60, "person": 1})
    assert not checked_rules(early, usage_allowed=np.array([True]), carence=np.array(["statutory"]),
                             period=period)[1] & RULE_BIT["carence"]
    # 10 calendar days later: on time in the métallurgie only.
    later = _contracts({"start": monday, "end": monday + 39}, {"start": monday + 50, "end": monday + 60, "person": 1})
    flags = checked_rules(later, usage_allowed=np.array([True]), carence=np.array(["quarter_21_calendar"]), period=period)
    assert not flags[1] & RULE_BIT["carence"]


def test_slot_book_reads_posts_as_the_features_do() -> None:
    book = SlotBook()
    first = book.take(post=0, start=100)
    book.book(0, first, 100, 129, "031")  # 30 days: 10 days of carence
    second = book.take(post=0, start=110)  # the first is held: a new post
    book.book(0, second, 110, 112, "037")  # ended early by the employee: no carence
    assert book.take(post=0, start=131) == second  # the first post is within its carence, the second is free
    # A post left more than 60 days ago is gone: a start then is a new post, even within a long carence.
    book = SlotBook()
    slot = book.take(post=0, start=0)
    book.book(0, slot, 0, 539, "031")
    assert book.take(post=0, start=600) is None
    assert book.take(post=0, start=601) == SlotBook.FIRST_EXTRA_SLOT + 1


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
    flags = checked_rules(contracts, usage_allowed=np.array([False]), carence=np.array(["statutory"]), period=period)
    named = [{name for bit, name in enumerate(RULES) if flag >> bit & 1} for flag in flags.tolist()]
    assert named == [set(), {"carence"}, set(), set(), set(), {"duree_max"}, {"renouvellements"},
                     {"usage_hors_secteur"}]


def test_the_lasting_job_truth_names_the_holder_of_a_post_two_contracts_share_most_of_the_year() -> None:
    """A job of one post in 2025: two CDD side by side from January to 10 November (314 days, under 90 % of the
    year at two), then a third to the end of the year. On no day of theirs was either twin needed to keep one post;
    the post's holder (the first by its id, the twins tied) held it all the same, and the third took it over."""
    period = Period("2025-01", 12)

    def day(text: str) -> int:
        return day_of(pd.Timestamp(text).date())

    contracts = _contracts(
        {"start": day("2025-01-01"), "end": day("2025-11-10"), "person": 0},
        {"start": day("2025-01-01"), "end": day("2025-11-10"), "person": 1},
        {"start": day("2025-11-11"), "end": day("2025-12-31"), "person": 2},
        # Another job: one contract all year, then a peak of a month beside it, which holds no post.
        {"start": day("2025-01-01"), "end": day("2025-12-31"), "post": 1, "person": 3},
        {"start": day("2025-03-01"), "end": day("2025-03-31"), "post": 1, "person": 4},
    )
    assert lasting_job_contracts(contracts, period).tolist() == [True, False, True, True, False]


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


def test_contracts_carry_a_pcs_code_consistent_per_post(small: Path, parsed) -> None:
    truth = _read(small / "truth" / "contracts.parquet")
    assert truth["pcs"].str.fullmatch(r"\d{3}[a-z]").all()
    assert (truth.groupby("post")["pcs"].nunique() == 1).all()  # one code per canonical post
    code_of_post = {post.canonical: post.pcs for post in POSTS}
    assert (truth["pcs"] == truth["post"].map(code_of_post)).all()
    # distinct posts get distinct codes; the nomenclature groups a few close ones (boulanger, pâtissier)
    assert len(set(code_of_post.values())) >= 0.9 * len(code_of_post)
    for sector in SECTORS:
        assert len({post.pcs for post in sector.posts}) >= len(sector.posts) - 1, sector.key
    # every contract block declares it, as its post's code, mostly in lower case
    declarations, _ = parsed
    expected = dict(zip(zip(truth["siret"], truth["contract_number"], strict=True), truth["pcs"], strict=True))
    cases: Counter = Counter()
    for declaration in declarations:
        for (number, _), contract in declaration["contracts"].items():
            code = contract.get("004")
            assert code is not None and re.fullmatch(r"\d{3}[a-zA-Z]", code), (declaration["file"], number)
            assert code.lower() == expected[(declaration["siret"], number)]
            cases[code == code.lower()] += 1
    assert 0.7 < cases[True] / sum(cases.values()) < 1.0  # some software writes '526A'


def _norm_tables() -> tuple[dict[str, str | None], list[str], dict[str, tuple]]:
    """Block parents, blocks in norm order, and per rubric (min length, max length, regex, allowed codes)."""
    with open(REFERENCE / "ct2024_blocks.csv", encoding="utf-8") as handle:
        blocks = list(csv.DictReader(handle))
    with open(REFERENCE / "ct2024_fields.csv", encoding="utf-8") as handle:
        fields = list(csv.DictReader(handle))
    rubrics = {
        row["rubric"]: (int(row["len_min"] or 0), int(row["len_max"] or 999),
                        re.compile(row["regex"]) if row["regex"] else None,
                        {item.partition("=")[0].strip() for item in row["values"].split(";")}
                        if row["values"] else None)
        for row in fields
    }
    return {row["block"]: row["parent"] or None for row in blocks}, [row["block"] for row in blocks], rubrics


def test_every_value_fits_the_norm_and_blocks_nest_in_norm_order(small: Path) -> None:
    parents, order, rubrics = _norm_tables()
    rank = {block: i for i, block in enumerate(order)}
    problems: Counter = Counter()
    for path in sorted((small / "dsn").glob("2025-0[16]/*.dsn")):
        stack: list[str] = []
        last_child: dict[str, str] = {}
        block = number = ""
        for line in path.read_bytes().decode("latin-1").splitlines():
            code, _, raw = line.partition(",")
            value = raw[1:-1]
            new_instance = not (code[:10] == block and code[11:] > number)
            block, number = code[:10], code[11:]
            if code not in rubrics:
                problems[f"unknown rubric {code}"] += 1
                continue
            low, high, pattern, codes = rubrics[code]
            if not low <= len(value) <= high or (pattern and not pattern.fullmatch(value)) or (
                    codes and value not in codes and code != "S10.G00.00.006"):  # P25V01, P26V01 are later norms
                problems[f"invalid {code}={value!r}"] += 1
            if not new_instance:
                continue
            parent = parents[block]
            if parent is None:
                stack, last_child = [block], {}
            elif parent not in stack:
                problems[f"{block} outside its parent {parent}"] += 1
            else:
                del stack[stack.index(parent) + 1:]
                last_child = {b: child for b, child in last_child.items() if b in stack}
                previous = last_child.get(parent)
                if previous and rank[block] < rank[previous]:
                    problems[f"{block} after its sibling {previous}"] += 1
                last_child[parent] = block
                stack.append(block)
    assert not problems, problems.most_common(10)


def test_payroll_blocks_are_complete_and_add_up(small: Path) -> None:
    """One month of files: per versement the contribution bases with their contributions, per establishment
    the bordereau; amounts follow the pay (bases = gross + primes) and the bordereau sums the individual
    contributions; contribution lines are most of the file, as in real DSN."""
    lines_by_block: Counter = Counter()
    problems: Counter = Counter()
    n_declarations = 0

    def check(d: dict | None) -> None:
        if d is None or not d["individuals"]:
            return
        if len(d["ctp"]) < 8 or abs(d["bordereau"] - sum(d["ctp"])) > 0.005:
            problems["bordereau"] += 1
        if abs(sum(d["ctp"]) - d["urssaf"]) > 0.005:
            problems["bordereau != individual URSSAF contributions"] += 1
        if abs(d["payments"].get("7", 0.0) - d["bordereau"]) > 0.005:  # URSSAF SIRETs start with 7 here
            problems["URSSAF payment != bordereau"] += 1
        if abs(d["payments"].get("A", 0.0) - d["retirement"]) > 0.005:
            problems["Agirc-Arrco payment != its contributions"] += 1
        if abs(d["base03"] - d["gross"]) > 0.005:
            problems["base 03 != gross + primes"] += 1
        if d["regimes"] != d["contracts"]:
            problems["a contract without its S21.G00.71"] += 1

    declaration = None
    for path in sorted((small / "dsn").glob("2025-06/*.dsn")):
        for line in path.read_bytes().decode("latin-1").splitlines():
            code, _, raw = line.partition(",")
            value = raw[1:-1]
            block = code[:10]
            lines_by_block[block] += 1
            if code == "S20.G00.05.001":
                check(declaration)
                n_declarations += 1
                declaration = {"individuals": 0, "contracts": 0, "regimes": 0, "ctp": [], "bordereau": 0.0,
                               "urssaf": 0.0, "retirement": 0.0, "payments": {}, "base03": 0.0, "gross": 0.0}
                body = base = contribution = prime = ""
            elif code == "S21.G00.30.002":
                declaration["individuals"] += 1
            elif code == "S21.G00.40.001":
                declaration["contracts"] += 1
            elif code == "S21.G00.71.002":
                declaration["regimes"] += value == "RUAA"
            elif code == "S21.G00.20.001":
                body = value[0]
            elif code == "S21.G00.20.005":
                declaration["payments"][body] = float(value)
            elif code == "S21.G00.22.005":
                declaration["bordereau"] = float(value)
            elif code == "S21.G00.23.005":
                declaration["ctp"].append(float(value))
            elif code == "S21.G00.51.013":
                declaration["gross"] += float(value)
            elif code == "S21.G00.52.001":
                prime = value
            elif code == "S21.G00.52.002" and prime not in EXEMPT_PRIMES:
                declaration["gross"] += float(value)
            elif code == "S21.G00.78.001":
                base = value
            elif code == "S21.G00.78.004" and base == "03":
                declaration["base03"] += float(value)
            elif code == "S21.G00.81.001":
                contribution = value
            elif code == "S21.G00.81.004":
                if contribution in URSSAF_CODES:
                    declaration["urssaf"] += float(value)
                elif contribution in RETIREMENT_CODES:
                    declaration["retirement"] += float(value)
    check(declaration)
    assert not problems, problems
    assert lines_by_block["S21.G00.22"] // 4 > 0.9 * n_declarations  # a bordereau in all but empty declarations
    total = sum(lines_by_block.values())
    contributions = sum(lines_by_block[b] for b in ("S21.G00.78", "S21.G00.79", "S21.G00.81"))
    employee_months = lines_by_block["S21.G00.50"] / 3
    assert contributions / total > 0.5
    assert 100 < total / employee_months < 200
    for block in ("S21.G00.15", "S21.G00.20", "S21.G00.55", "S21.G00.23", "S21.G00.52", "S21.G00.54", "S21.G00.70",
                  "S21.G00.79", "S21.G00.86"):
        assert lines_by_block[block] > 0, block


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
            elif block == "S21.G00.62":  # [date, motif] of each end block
                if field == "001":
                    contract.setdefault("ends", []).append([value, ""])
                elif field == "002":
                    contract["ends"][-1][1] = value
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
            # An annulation (099) withdraws the end of its date declared before; the latest end left counts.
            blocks = fields.get("ends", [])
            withdrawn = {day for day, motif in blocks if motif == "099"}
            record["ends"] = [day for day in record.get("ends", []) if day not in withdrawn] + sorted(
                (day for day, motif in blocks if motif != "099"), key=_day)
    for (siret, _, _), record in rebuilt.items():
        if record.get("ends"):
            record["end"] = record["ends"][-1]
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


def test_rebuilt_contracts_match_truth(small: Path, parsed) -> None:
    manifest = json.loads((small / "truth" / "manifest.json").read_text())
    period = Period(manifest["first_month"], manifest["n_months"])
    declarations, targets = parsed
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


def test_known_inspection_months_split_the_inspections_not_the_world(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The inspectorate knows the first two months of inspections (they start in the seventh simulated
    month); inspections-all.csv has them all. The DSN and the truth are those of the same world."""
    monkeypatch.setitem(presets.PRESETS, "tiny", replace(TINY, n_establishments=150, n_months=10))
    simulation.simulate(tmp_path / "all", preset="tiny", seed=7)
    simulation.simulate(tmp_path / "split", preset="tiny", seed=7, known_inspection_months=2)
    everything = (tmp_path / "all" / "inspections.csv").read_text().splitlines()
    known = (tmp_path / "split" / "inspections.csv").read_text().splitlines()
    assert (tmp_path / "split" / "inspections-all.csv").read_text().splitlines() == everything
    later = everything[len(known):]
    assert known[0] == everything[0] == "siret,inspection_date,abuse_found"
    assert len(known) > 1 and later and known + later == everything
    assert {line.split(",")[1][:7] for line in known[1:]} <= {"2026-09", "2026-10"}  # TINY starts in 2026-03
    assert {line.split(",")[1][:7] for line in later} <= {"2026-11", "2026-12"}
    def world(root: Path) -> dict[str, str]:
        return {path: digest for path, digest in _hashes(root).items()
                if "inspections" not in path and not path.endswith("manifest.json")}

    assert world(tmp_path / "all") == world(tmp_path / "split") and world(tmp_path / "all")
    manifest = json.loads((tmp_path / "split" / "truth" / "manifest.json").read_text())
    assert manifest["known_inspection_months"] == 2 and manifest["n_inspections_known"] == len(known) - 1
    assert not (tmp_path / "all" / "inspections-all.csv").exists()
