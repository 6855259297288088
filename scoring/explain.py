"""One establishment's score explained, for the inspector who prepares the visit and for the audit.

`champollion explain SIRET --month YYYY-MM` shows, for one establishment of a month's feature table:
its line of the month's list (`ranked.csv`) or, when none was drawn up or a model is named, its score and
ranks as the monthly run computes them (`scoring.monthly.score_table`), the
SHAP contribution of every feature (log-odds, adding up with the base value to the raw score), the
grouped reasons in French, the contracts behind each potential infraction (`rule_evidence`) and the
establishment's contract timeline per post, read from `contracts_asof` (`features.asof`): for a line a list
explained, as that list knew them (`month_contracts`, `warehouse.arrivals`).

It also answers the duty to explain an individual decision taken with an algorithm (Code des
relations entre le public et l'administration, art. L311-3-1 and R311-3-1-2): the data used, the
parameters and their weight in this case, the operations performed. Persons appear only as
« salarié 1, 2, … » (numbered by their first contract start in the establishment): never a NIR, a
name or a pseudonym.

Files: `lists/YYYY-MM/explain/{siret}.txt` (plain text, 100 columns, printable) and `{siret}.png`
(the timeline).
"""

from __future__ import annotations

import io
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.config import Config
from core.french import address_fr, date_fr, month_fr, number_fr, of_month_fr, percent_fr, signed_fr, tiny_fr
from core.geography import places_table
from core.home import Home
from core.months import month_end, months_between
from features.asof import AsOfWindow, undeclared_months
from features.catalog import CATEGORICAL, FEATURES
from features.rules import JOB_NAMES_SQL, RULES
from features.store import declared_months
from scoring.evidence_groups import group_evidence, rule_labels, successions
from scoring.list_inputs import ListInputs, as_drawn_up, read_list_inputs
from scoring.monthly import RANKED_COLUMNS, explain_ranked, explain_rows, lists_folder, rank_table, read_ranking
from scoring.reasons import (
    LEGAL_RULES,
    WHOLE_WINDOWS,
    CoveredWindows,
    EstablishmentEvidence,
    SectorBenchmarks,
    benchmark_label,
    covered_windows,
    evidence_posts,
    format_value,
    grouped_contributions,
    sentence,
    windowed_label,
)
from training.saved_model import SavedModel
from warehouse.arrivals import Arrivals, ListKnowledge, arrivals
from warehouse.engine import published_version
from warehouse.sql_engine import DuckDBEngine

if TYPE_CHECKING:
    import duckdb
    from matplotlib.figure import Figure
    from rich.box import Box
    from rich.console import JustifyMethod, RenderableType

LABELS_FR: dict[str, str] = {f.name: f.label_fr for f in FEATURES}
RULES_BY_ID = {r.id: r for r in RULES}
KIND_FR = {
    "cdi": "CDI",
    "cdd": "CDD",
    "usage": "CDD d'usage",
    "mission": "intérim (mission)",
    "other": "autre (formation, insertion)",
}
KIND_COLOURS = {"cdi": "#4d7f4d", "cdd": "#e08a1e", "usage": "#8c4fb0", "mission": "#2f6db5", "other": "#9a9a9a"}
RULE_MARKERS = {
    "carence": "v", "renouvellements": "s", "duree_max": "D", "remplacement_sans_absence": "X",
    "usage_hors_secteur": "P", "poste_permanent": "*",
}
# Facts weighing less than this (log-odds) are left to the detailed table.
REASON_MIN_WEIGHT = 0.01
# Timeline rows drawn at most: evidence rows first, then the busiest (the text lists every contract).
MAX_TIMELINE_ROWS = 60
CONTRACT_COLUMNS = ["contract_no", "post", "post_shown", "person", "kind", "motif", "start_date", "end_date",
                    "period_end", "running", "renewals", "n_evidence"]
# The calibration methods of training.calibration, as the audit paragraph names them.
CALIBRATION_FR = {"platt": "de Platt", "isotonic": "isotonique"}


@dataclass(frozen=True)
class Explanation:
    """Everything shown for one establishment in one month. No column holds a person key or a contract id."""

    month: date
    model_version: str
    establishment: pd.Series  # its line of score_table: siret, address, region, naf, headcount, score, ranks...
    scored_in_region: int
    scored_national: int
    contributions: pd.DataFrame  # feature, label_fr, value, shown, contribution (log-odds), by |contribution|
    bias: float  # the model's base value (log-odds)
    raw_score: float  # the booster's margin for this establishment (log-odds)
    reasons: pd.DataFrame  # group, label_fr, contribution, sentence, listed_reason
    evidence: pd.DataFrame  # rule, rule_label, succession, article, post, person, event/start/end dates, gap, detail_fr
    contracts: pd.DataFrame  # CONTRACT_COLUMNS, by post then person then start
    # as_of, as_of_end, window_start, history_start; history_from and window_from: where the warehouse's declarations
    # let them begin (its first declared month when later)
    window: dict[str, date]
    model_facts: dict[str, Any] = field(default_factory=dict)
    notice: str = ""  # how the month's published list differs from this explanation, in French ('' when it does not)
    timeline_note: str = ""  # how its contracts stand to the declarations that arrived after the list (`KnownContracts`)
    timeline_today: bool = False  # its contracts are today's, not the list's, which they may contradict
    gaps: tuple[date, ...] = ()  # months from history_from to the month explained the warehouse declares nothing for
    covered: CoveredWindows = WHOLE_WINDOWS  # the windows the establishment's own declarations cover (its reasons')

    @property
    def shap_gap(self) -> float:
        """|base value + sum of contributions - raw score|, in log-odds."""
        return abs(self.bias + float(self.contributions["contribution"].sum()) - self.raw_score)

    @property
    def examined(self) -> str:
        """The months the indicators and rule checks read, in French (`examined_fr`)."""
        return examined_fr(self.window, self.gaps, int(self.model_facts["window_months"]), self.covered)


def person_labels(contracts: pd.DataFrame) -> dict[str, str]:
    """person_key -> « salarié N », in the order of N: numbered by first contract start, then by that contract's id
    (whose order is not the pseudonyms': `warehouse.contracts.CONTRACT_ID_SQL`), so that the numbers do not depend on
    the key."""
    if contracts.empty:
        return {}
    first = contracts.sort_values(["start_date", "contract_id", "person_key"], kind="mergesort")
    first = first.drop_duplicates("person_key")
    return {key: f"salarié {n}" for n, key in enumerate(first["person_key"], start=1)}


# What identifies a contract in the evidence (`features.rules.EVIDENCE_COLUMNS`) and in `contracts_asof`.
_EVIDENCE_IDENTITY = ["declaring_siret", "person_key", "contract_number", "start_date"]
_CONTRACT_IDENTITY = ["siret", "person_key", "contract_number", "start_date"]


def with_contract_ids(evidence: pd.DataFrame, contracts: pd.DataFrame) -> pd.DataFrame:
    """`evidence` with each row's `contract_id` that of its contract in `contracts` (rows of `establishment_contracts`),
    matched by declarant, person, number and start: evidence kept with a list, or stored, before contract ids were made
    the way `contracts` makes them (`warehouse.contracts.CONTRACT_ID_SQL`) still points at its contracts. A row of no
    contract there keeps its id."""
    if evidence.empty or contracts.empty:
        return evidence
    ids = dict(zip(_identities(contracts, _CONTRACT_IDENTITY), contracts["contract_id"], strict=True))
    found = [ids.get(key) for key in _identities(evidence, _EVIDENCE_IDENTITY)]
    current = pd.Series(found, index=evidence.index, dtype="object")
    return evidence.assign(contract_id=current.where(current.notna(), evidence["contract_id"]))


def _identities(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Each row's values of `columns` (its start date as a day), comparable between frames."""
    days = pd.to_datetime(frame[columns[3]]).dt.normalize()
    return list(zip(*(frame[c].astype("string").tolist() for c in columns[:3]), days.tolist(), strict=True))


def contract_timeline(contracts: pd.DataFrame, evidence: pd.DataFrame, persons: dict[str, str],
                      as_of_end: date) -> pd.DataFrame:
    """The establishment's contracts (rows of `establishment_contracts`) with persons as « salarié N », each post
    shown by its job's one name (and its PCS-ESE code when posts are keyed by it), and the number of
    evidence rows about each contract. Columns: CONTRACT_COLUMNS."""
    if contracts.empty:
        return pd.DataFrame(columns=CONTRACT_COLUMNS)
    frame = contracts.copy()
    frame["post"] = frame["post"].astype("string").fillna("non renseigné")
    labels = frame["job_label"].astype("string").fillna("non renseigné")  # the name its findings use
    frame["post_shown"] = [f"{label} ({post.upper()})" if post.startswith("pcs ") else str(label)
                           for post, label in zip(frame["post"], labels, strict=True)]
    frame["person"] = frame["person_key"].map(persons)
    frame["start_date"] = pd.to_datetime(frame["start_date"])
    frame["end_date"] = pd.to_datetime(frame["end_date"])
    frame["period_end"] = pd.to_datetime(frame["period_end"])
    frame["running"] = frame["end_date"].isna() | (frame["end_date"] > pd.Timestamp(as_of_end))
    counts = evidence.groupby("contract_id").size() if not evidence.empty else pd.Series(dtype="int64")
    frame["n_evidence"] = frame["contract_id"].map(counts).fillna(0).astype("int64")
    frame["person_number"] = frame["person_key"].map({key: n for n, key in enumerate(persons)})  # 2 before 10
    frame = frame.sort_values(["post_shown", "start_date", "person_number"], kind="mergesort").reset_index(drop=True)
    frame["contract_no"] = np.arange(1, len(frame) + 1)
    return frame[[*CONTRACT_COLUMNS, "contract_id"]]


def evidence_rows(evidence: pd.DataFrame, persons: dict[str, str], contracts: pd.DataFrame) -> pd.DataFrame:
    """The establishment's rule evidence as shown: rule label (a succession's for a duree_max finding over several
    contracts, flagged in `succession`), article and confidence, post, « salarié N », the contract's number in the
    timeline and in the DSN (S21.G00.40.009) with its declarant, dates, gap."""
    columns = ["rule", "rule_label", "succession", "article", "confidence", "post", "post_no", "posts_concerned", "person",
               "contract_no", "contract_number", "declaring_siret", "event_date", "start_date", "end_date",
               "gap_opening_days", "required_opening_days", "detail_fr"]
    if evidence.empty:
        return pd.DataFrame(columns=columns)
    frame = evidence.copy()
    unknown = sorted(set(frame["person_key"].dropna()) - set(persons))
    names = dict(persons)
    names.update({key: f"salarié {len(persons) + n}" for n, key in enumerate(unknown, start=1)})
    frame["person"] = frame["person_key"].map(names).fillna("non renseigné")
    frame["succession"] = successions(frame)
    frame["rule_label"] = rule_labels(frame)
    numbers = dict(zip(contracts["contract_id"], contracts["contract_no"], strict=True)) if not contracts.empty else {}
    frame["contract_no"] = frame["contract_id"].map(numbers).astype("Int64")
    for column in ("event_date", "start_date", "end_date"):
        frame[column] = pd.to_datetime(frame[column])
    frame = frame.sort_values(["rule", "event_date", "contract_no"], kind="mergesort").reset_index(drop=True)
    return frame[columns]


def explain_establishment(
    model: SavedModel,
    model_version: str,
    table: pd.DataFrame,
    evidence: pd.DataFrame,
    contracts: pd.DataFrame,
    siret: str,
    month: date,
    config: Config,
    inspections: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    published: pd.DataFrame | None = None,
    benchmarks: SectorBenchmarks | None = None,
    *,
    declared: Collection[date],
) -> Explanation:
    """Explain one SIRET of the month's feature table `table` (sector medians: `benchmarks`, default those of
    `table`); `declared`: the warehouse's declared months (`features.store.declared_months`), which say over which
    months the contracts and indicators were really read.

    `evidence` is the month's rule evidence (at least the establishment's), `contracts` the rows of `contracts_asof`
    whose establishment_siret is `siret`. Score, ranks and list come from the `published` ranking (the month's
    ranked.csv, `read_ranking`) when given, so that the explanation says what the list said; else from ranking the
    whole table (`rank_table`), the establishment's line explained as `score_table` explains it (its reasons when
    listed; no other line's). Contributions are the model's path-dependent SHAP values, checked to add up to the raw
    score. Raises LookupError when the SIRET is not in the table.
    """
    sirets = table["siret"].astype(str)
    where = np.flatnonzero(sirets.to_numpy() == siret)
    if len(where) == 0:
        raise LookupError(f"SIRET {siret} is not in the feature table of {month:%Y-%m} "
                          f"(not active in the {config.features.window_months} months up to it)")
    if benchmarks is None:
        benchmarks = SectorBenchmarks.of(table, model.features, config.features.benchmark_min_group)
    if published is not None:
        ranked = published
        line = ranked.loc[ranked["siret"] == siret].iloc[0]
    else:  # every line ranked, this one alone explained: a national list's SHAP reasons took 36 s
        ranked = rank_table(model, table, month, config, inspections, previous)
        own = ranked.loc[ranked["siret"] == siret]
        line = explain_ranked(model, table, own, evidence, config, benchmarks=benchmarks).iloc[0]
    return explain_line(model, model_version, table, where[0], line, evidence, contracts, month, config, benchmarks,
                        int((ranked["region_code"] == line["region_code"]).sum()), len(ranked), declared)


def explain_line(
    model: Any,
    model_version: str,
    table: pd.DataFrame,
    position: int,
    line: pd.Series,
    evidence: pd.DataFrame,
    contracts: pd.DataFrame,
    month: date,
    config: Config,
    benchmarks: SectorBenchmarks,
    scored_in_region: int,
    scored_national: int,
    declared: Collection[date],
) -> Explanation:
    """Explain the establishment at row `position` of the feature table `table`, whose line of `score_table`
    (score, ranks, list, reasons: as computed, or as stored in ranked.csv) is `line`.

    `evidence` holds at least the establishment's rule evidence, `contracts` its rows of `contracts_asof`,
    `benchmarks` the sector medians of the whole table; `scored_in_region` and `scored_national` count the
    establishments ranked with it; `declared` holds the warehouse's declared months."""
    siret = str(line["siret"])
    row_index = table.index[[position]]
    row = table.loc[row_index[0]]

    values = explain_rows(model, table, row_index, config.audit.shap_tolerance)
    raw = float(model.raw_scores(table.loc[row_index])[0])
    own = values.iloc[0]
    bias = float(own["bias"])
    covered = covered_windows(row, config.features)
    contributions = pd.DataFrame({
        "feature": model.features,
        "label_fr": [windowed_label(f, benchmark_label(f, row, benchmarks) or LABELS_FR[f], covered) if f in LABELS_FR else f
                     for f in model.features],
        "value": [row.get(f) for f in model.features],
        "shown": [format_value(f, row.get(f)) for f in model.features],
        "contribution": own[model.features].to_numpy(dtype=np.float64),
    })
    contributions = contributions.iloc[np.argsort(-np.abs(contributions["contribution"].to_numpy()), kind="stable")]
    contributions = contributions.reset_index(drop=True)

    window = _window(month, config, declared)
    gaps = tuple(undeclared_months(window["history_from"], window["as_of"], declared))
    examined = examined_fr(window, gaps, config.features.window_months, covered)
    own_evidence = evidence[evidence["establishment_siret"].astype(str) == siret]
    own_posts = evidence_posts(own_evidence).get(siret)
    grouped = grouped_contributions(values, model.features).iloc[0].sort_values(ascending=False)
    listed_groups = {line.get(f"reason_{i}_feature", "") for i in range(1, config.scoring.reasons + 1)} - {""}
    reasons = pd.DataFrame({
        "group": grouped.index,
        "label_fr": [("vérifications des règles du Code du travail" if g == LEGAL_RULES else LABELS_FR.get(g, g))
                     for g in grouped.index],
        "contribution": grouped.to_numpy(),
        "sentence": [fact_sentence(g, row, benchmarks, own_posts, examined, covered) for g in grouped.index],
        "listed_reason": [g in listed_groups for g in grouped.index],
    })

    persons = person_labels(contracts)
    own_evidence = with_contract_ids(own_evidence, contracts)
    timeline = contract_timeline(contracts, own_evidence, persons, window["as_of_end"])
    shown_evidence = evidence_rows(own_evidence, persons, timeline)
    timeline = timeline.drop(columns=["contract_id"])

    shown = line.drop(labels=[c for c in line.index if c.startswith("reason_")])
    shown["idcc"] = row.get("idcc")
    return Explanation(
        month=month,
        model_version=model_version,
        establishment=shown,
        scored_in_region=scored_in_region,
        scored_national=scored_national,
        contributions=contributions,
        bias=bias,
        raw_score=raw,
        reasons=reasons,
        evidence=shown_evidence,
        contracts=timeline,
        window=window,
        model_facts=model_facts(model, config),
        gaps=gaps,
        covered=covered,
    )


def fact_sentence(group: str, row: pd.Series, benchmarks: SectorBenchmarks,
                  found_here: EstablishmentEvidence | None, examined: str,
                  covered: CoveredWindows = WHOLE_WINDOWS) -> str:
    """The reason sentence of `scoring.reasons.sentence` (`covered`: the establishment's windows, as the list's
    reasons state them); for a fact it passes over (it does not set the establishment apart), the plain value, said
    to be left out of the reasons. `examined`: the months the rules were checked over, in French (`examined_fr`)."""
    text = sentence(group, row, benchmarks, found_here, covered)
    if text is not None:
        return text
    if group == LEGAL_RULES:
        return f"Aucune infraction potentielle relevée {examined}"
    label = windowed_label(group, LABELS_FR[group], covered) if group in LABELS_FR else group
    why = ("un groupe auquel l'établissement appartient, pas un fait à vérifier sur place"
           if group in CATEGORICAL else "ne distingue pas l'établissement de son secteur")
    return f"{label[:1].upper()}{label[1:]} : {format_value(group, row.get(group))} ({why} : pas retenu comme raison)"


def model_facts(model: SavedModel, config: Config) -> dict[str, Any]:
    """What the audit paragraph states about the model: size, data months, calibration, list settings."""
    booster = model.booster
    trees = booster.dump_model()["tree_info"]
    calibrator = getattr(model, "calibrator", None)
    return {
        "registered_model": config.training.registered_model,
        "trees": len(trees),
        "max_leaves": max((t["num_leaves"] for t in trees), default=0),
        "max_depth": max((_depth(t["tree_structure"]) for t in trees), default=0),
        "features": len(model.features),
        "data_months": list(getattr(model, "data_months", [])),
        "calibration": getattr(calibrator, "method", "inconnue"),
        "list_share": config.scoring.list_share,
        "max_list_lines": config.scoring.max_list_lines,
        "list_size_by_region": dict(config.scoring.list_size_by_region),
        "exploration_share": config.scoring.exploration_share,
        "exclude_inspected_months": config.scoring.exclude_inspected_months,
        "window_months": config.features.window_months,
        "benchmark_min_group": config.features.benchmark_min_group,
        "history_months": config.features.history_months,
    }


def _depth(node: dict[str, Any]) -> int:
    if "split_index" not in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def _window(month: date, config: Config, declared: Collection[date]) -> dict[str, date]:
    """The dates of `Explanation.window`: the configured history and window, and where the warehouse's first declared
    month (in `declared`) lets each begin."""
    window = AsOfWindow.of(month, config.features)
    first = min(declared, default=window.history_start)
    return {"as_of": window.as_of, "as_of_end": month_end(window.as_of), "window_start": window.window_start,
            "history_start": window.history_start, "history_from": max(window.history_start, first),
            "window_from": max(window.window_start, first)}


# --- Reading the home ------------------------------------------------------------------------------------

def establishment_contracts(con: duckdb.DuckDBPyConnection, siret: str) -> pd.DataFrame:
    """Rows of `contracts_asof` (prepared by `features.asof.prepare_as_of`) counted at `siret`, with the one name
    of their job (`job_label`, as the rule checks name it: features.rules.JOB_NAMES_SQL)."""
    table = con.execute(
        f"SELECT c.* EXCLUDE (establishment_number, person_number), j.job_label FROM contracts_asof c "
        f"LEFT JOIN ({JOB_NAMES_SQL}) j ON j.establishment_siret = c.establishment_siret AND j.post = c.post "
        f"WHERE c.establishment_siret = ? ORDER BY c.start_date, c.contract_id", [siret]).to_arrow_table()
    return table.to_pandas(date_as_object=False)  # dates as datetimes (ENGINEERING-NOTES: pandas 3)


@dataclass(frozen=True, eq=False)  # a frame: no equality nor hash
class KnownContracts:
    """One establishment's contracts as of a month (`month_contracts`), and what its timeline must say of the
    declarations that arrived after the month's list (`note`, in French; '' when it need say nothing)."""

    contracts: pd.DataFrame
    note: str = ""
    today: bool = False  # a list's line whose contracts as the list knew them cannot be rebuilt: today's are shown


def month_contracts(home: Home, config: Config, month: date, siret: str, attached: DuckDBEngine | None = None,
                    agencies: pd.DataFrame | None = None, knew: ListKnowledge | None = None,
                    version: Path | None = None) -> KnownContracts:
    """The contracts of one establishment as known at the end of `month`, from the warehouse (rebuilt from its
    own declarations and those of the temp-work agencies that placed workers there, not the whole month's).
    `attached`: an engine with the warehouse `version` (by default the published one) already attached (its temp tables
    `asof_params` and `contracts_asof` are replaced); by default a new one. `agencies`: the month's `placing_agencies`,
    if read.

    `knew`: what the month's list knew, for a line it explained (`list_knowledge`). The contracts are then those the
    list knew, the declarations of the files stamped after its own left out (`warehouse.arrivals`), unless one of
    them may have displaced a declaration the list read, or what arrived is not known: then they are today's. The
    note says which."""
    from features.asof import AsOfWindow, establishment_declarants, placing_agencies, prepare_establishment_contracts
    from warehouse.contracts import has_contract_states

    def read(engine: DuckDBEngine, attached_version: Path) -> KnownContracts:
        placed = agencies if agencies is not None else placing_agencies(engine, month, config.features, siret)
        arrived = Arrivals()
        if knew is not None:
            declarants = {*establishment_declarants(engine, month, config.features, siret, placed), *knew.named}
            window = AsOfWindow.of(month, config.features)
            arrived = arrivals(engine, attached_version, sorted(declarants), (window.history_start, window.as_of), knew)
        prepare_establishment_contracts(engine, month, config.features, siret, config.ingest.inferred_end_after_months,
                                        from_states=has_contract_states(home.warehouse), agencies=placed,
                                        left_out=arrived.late if arrived.known_then else ())
        return KnownContracts(establishment_contracts(engine.con, siret), timeline_note(arrived, month),
                              knew is not None and not arrived.known_then)

    chosen = version or published_version(home.warehouse)
    if attached is not None:
        return read(attached, chosen)
    with DuckDBEngine.spilling_to(home.duckdb_tmp) as engine:
        engine.attach_warehouse(chosen)
        return read(engine, chosen)


def timeline_note(arrived: Arrivals, month: date) -> str:
    """What a list's timeline says of the declarations `arrived` after the list of `month`, in French."""
    listed = f"la liste {of_month_fr(month)}"
    today = "Contrats tels que déclarés aujourd'hui : "
    differ = " Ils peuvent différer des infractions potentielles relevées, qui sont celles de la liste."
    whose = "de l'établissement ou d'une agence d'intérim qui y place des salariés"
    if arrived.unknown == "untracked":
        return (today + listed + " a été établie par une version antérieure de l'application, qui ne "
                "gardait pas trace des fichiers DSN lus : les déclarations reçues depuis ne peuvent être distinguées "
                "des autres." + differ)
    if arrived.unknown:
        return (today + "des fichiers DSN lus pour " + listed + " ne sont plus inventoriés par l'entrepôt, ou son "
                "inventaire des fichiers reçus est introuvable : les déclarations reçues depuis ne peuvent être "
                "distinguées des autres." + differ)
    if arrived.displaced:
        return (today + "depuis que " + listed + f" a été établie, des déclarations {whose} en ont remplacé, annulé "
                "ou écarté d'autres que la liste a pu prendre en compte, et les contrats tels qu'elle les connaissait ne "
                "peuvent être reconstitués." + differ)
    if arrived.late:
        n = len(arrived.late)
        received = "une déclaration reçue" if n == 1 else f"{number_fr(n)} déclarations reçues"
        return (f"Contrats tels qu'ils étaient connus lorsque {listed} a été établie : {received} depuis, pour "
                f"{month_fr(month)} ou un mois antérieur, {whose}, n'y {'figure' if n == 1 else 'figurent'} pas.")
    return ""


def explain_month(home: Home, config: Config, siret: str, month: date, model_reference: str | None = None,
                  model_home: Home | None = None) -> Explanation:
    """Load the model (from the registry of `model_home`, default `home`'s), the month's features, evidence,
    inspections, last month's list and the contracts, then `explain_establishment`.

    When the month's list was drawn up and no model is named, the line explained is the list's, with the model
    version that scored it: from the features, evidence and sector medians the list kept of it (`scoring.list_inputs`)
    when it kept them, else from the month's features as they are now, provided that this version gives them the
    list's score. The explanation then says what the list an inspector holds says. Otherwise (a model named; the
    establishment not in the list's file; controls imported, definitions or the registry changed since, and nothing
    kept) the month is scored again with what is known now, and the explanation's `notice` says how the list's line
    differs."""
    from features.build import refuse_other_settings
    from scoring.monthly import load_model, month_features, previous_ranking
    from warehouse.inspections import load_inspections

    registry = model_home or home
    ranking = published_ranking(home, month)
    own = ranking[ranking["siret"] == siret] if ranking is not None else None
    line = own.iloc[0] if own is not None and len(own) else None
    model, version, gone = None, "", ""
    if line is not None and model_reference is None:
        try:
            # Not refused for other settings yet: a line its list explained reads only what the list kept.
            model, version = load_model(registry, config, str(line["model_version"]), settings_checked=False)
        except LookupError as exc:
            gone = str(exc)
    if model is None:
        model, version = load_model(registry, config, model_reference)
    warehouse = published_version(home.warehouse)
    declared = declared_months(warehouse)
    kept = read_list_inputs(home, month) if line is not None else None
    config = as_drawn_up(config, kept)  # the list's length and exploration, as it was drawn up
    if (line is not None and model_reference is None and not gone and kept is not None
            and kept_explains(kept, model, version, siret, line)):
        # Explained from what the list kept, with the months it knew declared (a late declaration of a past month
        # fills a gap today that the list had) and its contracts as it knew them; a line explained from today's
        # features, with today's months and contracts.
        evidence = kept.evidence_of(siret)
        known = month_contracts(home, config, month, siret, knew=list_knowledge(kept, siret, evidence), version=warehouse)
        explanation = explain_establishment(model, version, kept.features, evidence, known.contracts,
                                            siret, month, config, published=ranking, benchmarks=kept.benchmarks,
                                            declared=list_declared(kept, declared))
        return replace(explanation, timeline_note=known.note, timeline_today=known.today)
    refuse_other_settings(model, version, config)  # today's features, computed with other settings than it learned from
    contracts = month_contracts(home, config, month, siret).contracts
    inspections = load_inspections(home.warehouse)
    stored = month_features(home, config, month, inspections)
    table = stored.table
    if line is not None and model_reference is None and not gone and scores_as_published(model, table, siret, line):
        return explain_establishment(model, version, table, stored.evidence({siret}), contracts, siret,
                                     month, config, published=ranking, declared=declared)
    explanation = explain_establishment(model, version, table, stored.evidence({siret}), contracts, siret, month,
                                        config, inspections, previous_ranking(home, month), declared=declared)
    return replace(explanation, notice=_differs_from_list(ranking, line, explanation, bool(gone)))


def list_knowledge(kept: ListInputs, siret: str, evidence: pd.DataFrame) -> ListKnowledge:
    """What the list `kept` knew for its line of `siret`, whose kept `evidence` names the declarants of its contracts
    (`month_contracts`)."""
    named = evidence["declaring_siret"].dropna().astype(str) if "declaring_siret" in evidence else pd.Series(dtype=str)
    return ListKnowledge(kept.files, tuple(sorted(set(named) - {siret})))


def list_declared(kept: ListInputs | None, today: Collection[date]) -> Collection[date]:
    """The warehouse's declared months a published list's line is explained with: those its list kept (`kept`: as they
    were when it was drawn up), else `today`'s (a list kept before they were, or nothing kept)."""
    return kept.declared if kept is not None and kept.declared is not None else today


def published_ranking(home: Home, month: date) -> pd.DataFrame | None:
    """The month's ranked.csv (`read_ranking`) when a list was drawn up in the current format, else None."""
    path = lists_folder(home, month) / "ranked.csv"
    if not path.exists():
        return None
    ranking = read_ranking(path)
    return ranking if {*RANKED_COLUMNS, "model_version"} <= set(ranking.columns) else None


def _same_score(a: float, b: float) -> bool:
    """Two probabilities equal to the last digits (a score read back from ranked.csv is the model's own); False when
    one is missing."""
    return abs(a - b) <= 1e-9


def scores_as_published(model: SavedModel, table: pd.DataFrame, siret: str, line: pd.Series) -> bool:
    """Whether `model` gives the establishment's row of `table` the score its published `line` shows."""
    return _same_score(_score_now(model, table, siret), float(line["score"]))


def kept_explains(kept: ListInputs, model: SavedModel, version: str, siret: str, line: pd.Series) -> bool:
    """Whether what the list kept (`scoring.list_inputs`) explains its `line`: kept by the same model `version`, and
    giving the line's score (a run stopped between the list and its inputs leaves another run's)."""
    return kept.model_version == version and siret in kept.positions and scores_as_published(model, kept.features,
                                                                                              siret, line)


def _score_now(model: SavedModel, table: pd.DataFrame, siret: str) -> float:
    rows = table.index[table["siret"].astype(str).to_numpy() == siret]
    return float(model.predict_proba(table.loc[rows[:1]])[0]) if len(rows) else float("nan")


def _place_fr(line: pd.Series) -> str:
    if bool(line["in_list"]):
        return f"en ligne {int(line['list_position'])}"
    return "hors liste (contrôlé récemment)" if bool(line["recently_inspected"]) else "hors liste"


def _two_scores_fr(published: float, now: float) -> tuple[str, str]:
    """Both probabilities in French, with more decimals when one would show different ones equal."""
    decimals = 3 if percent_fr(published) == percent_fr(now) and not _same_score(published, now) else 1
    return percent_fr(published, decimals), percent_fr(now, decimals)


def stale_notice(model: SavedModel, table: pd.DataFrame, siret: str, line: pd.Series, month: date) -> str:
    """In French, when the model no longer gives the published `line` its score on today's features `table` (features
    computed again since the list): what the list said and what the model gives now; '' when it still does."""
    now = _score_now(model, table, siret)
    if np.isnan(now) or _same_score(now, float(line["score"])):  # no row to score: explain_line refuses it
        return ""
    published, today = _two_scores_fr(float(line["score"]), now)
    return (f"les données de l'établissement ou ses contrôles connus ont changé depuis la liste {of_month_fr(month)}. "
            f"Elle lui donnait une probabilité de {published} ; le modèle lui donne aujourd'hui {today}. Les "
            "contributions ci-dessous portent sur les données d'aujourd'hui.")


def _differs_from_list(ranking: pd.DataFrame | None, line: pd.Series | None, explanation: Explanation,
                       version_gone: bool) -> str:
    """In French, how the published list's line differs from an explanation scored again ('' when no list was drawn
    up, or when it says the same)."""
    month = of_month_fr(explanation.month)
    if ranking is None:
        return (f"la liste {month} n'a pas été établie : le rang et la place sur la liste ci-dessous sont ceux que "
                "le modèle donne avec les données connues aujourd'hui, pas ceux d'une liste publiée.")
    if line is None:
        return (f"l'établissement n'a pas été classé lors de l'établissement de la liste {month} ; son score est "
                "calculé avec les données connues aujourd'hui.")
    now = explanation.establishment
    published_version = str(line["model_version"])
    if (_place_fr(now) == _place_fr(line) and _same_score(float(now["score"]), float(line["score"]))
            and explanation.model_version == published_version):
        return ""
    if version_gone:
        why = f"la version {published_version} du modèle, qui a établi la liste, n'est plus disponible"
    elif explanation.model_version != published_version:
        why = f"l'explication est demandée avec la version {explanation.model_version} du modèle"
    else:
        why = "les données de l'établissement ou ses contrôles connus ont changé depuis"
    published, today = _two_scores_fr(float(line["score"]), float(now["score"]))
    return (f"la liste publiée {month} place l'établissement {_place_fr(line)}, avec une probabilité de {published} "
            f"(version {published_version} du modèle). Cause de l'écart : {why}. Score recalculé avec les données "
            f"connues aujourd'hui : {_place_fr(now)}, probabilité {today} (version {explanation.model_version} du "
            "modèle). L'explication ci-dessous porte sur ce nouveau calcul.")


# --- Text ---------------------------------------------------------------------------------------------

def _date(value: Any) -> str:
    return date_fr(value, empty="—")


def _siret_fr(siret: str) -> str:
    return f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}" if len(siret) == 14 else siret


def examined_fr(window: dict[str, date], gaps: Collection[date], window_months: int,
                covered: CoveredWindows = WHOLE_WINDOWS) -> str:
    """The months the indicators and rule checks read (`Explanation.window`, `Explanation.gaps`), in French, as
    « relevée … » goes on: « sur les 12 derniers mois », or from the warehouse's first declared month when the window
    begins before it; and the months of the window it declares nothing for. An establishment whose own declarations
    do not cover the window whole (`covered`) is said to be examined over those it covers, as its reasons say:
    « sur 4 mois au lieu des 12 derniers (depuis le 01/05/2025) »."""
    if covered.long is not None:
        return covered.long
    if window["window_from"] > window["window_start"]:
        text = f"depuis le {_date(window['window_from'])}, premier mois de DSN disponible (historique incomplet)"
    else:
        text = f"sur les {window_months} derniers mois"
    missing = [month for month in gaps if month >= window["window_from"]]
    return text + (f", sans DSN pour {', '.join(month_fr(month) for month in missing)}" if missing else "")


def _months_read_fr(explanation: Explanation) -> str:
    """Over which months the contracts were rebuilt and the indicators computed, in French: the configured ones, or
    those the warehouse's declarations cover when they begin later or miss months."""
    facts, window = explanation.model_facts, explanation.window
    history, length = facts["history_months"], facts["window_months"]
    if window["history_from"] > window["history_start"]:
        read = len(months_between(window["history_from"], window["as_of"]))
        contracts = (f"sur {read} mois au lieu de {history} (depuis le {_date(window['history_from'])}, premier mois de "
                     "DSN disponible : historique incomplet, les contrats terminés avant ce mois ne sont pas connus)")
    else:
        contracts = f"sur {history} mois (depuis le {_date(window['history_start'])})"
    if window["window_from"] > window["window_start"]:
        read = len(months_between(window["window_from"], window["as_of"]))
        indicators = (f"sur {read} mois au lieu des {length} derniers (depuis le {_date(window['window_from'])}) : ceux "
                      f"dits « sur {length} mois » portent sur une période plus courte")
    else:
        indicators = f"sur les {length} derniers mois (depuis le {_date(window['window_start'])})"
    text = f"Les contrats sont reconstitués {contracts} et les indicateurs calculés {indicators}."
    if explanation.covered.long is not None:
        text += (f" Les DSN de l'établissement ne couvrent pas toute cette période : ses indicateurs « sur {length} "
                 f"mois » portent {explanation.covered.long}.")
    if explanation.gaps:
        text += (f" Aucune DSN n'est disponible pour {', '.join(month_fr(month) for month in explanation.gaps)} : ces "
                 "mois manquent aux contrats et aux indicateurs.")
    return text


def _list_size_fr(facts: dict[str, Any], region_code: str) -> str:
    """How many lines a region's list holds, as the settings say, in French."""
    fixed = facts.get("list_size_by_region", {}).get(region_code)
    if fixed is not None:
        return f"au plus {number_fr(fixed)} (nombre fixé pour la région de l'établissement)"
    share = percent_fr(facts["list_share"])
    most = facts.get("max_list_lines")
    return share if most is None else f"{share} (au plus {number_fr(most)})"


def audit_paragraph(explanation: Explanation) -> str:
    """What data was used and how the score was computed, in French (CRPA L311-3-1, R311-3-1-2)."""
    facts = explanation.model_facts
    months = facts["data_months"]
    trained = f"de {months[0]} à {months[-1]}" if months else "non renseignés"
    region = str(explanation.establishment.get("region_code", ""))
    # A labelled month M reads the inspections of month M + 1: a model that learned from M at or after the month
    # explained learned from inspections after it (a model put in service since, not the one of the time).
    if months and months[-1] >= f"{explanation.month:%Y-%m}":
        trained += (f" ; il a donc appris de contrôles postérieurs au mois {of_month_fr(explanation.month)} : c'est "
                    "un modèle mis en service depuis, pas celui de l'époque")
    return (
        "Données utilisées. Les déclarations sociales nominatives (DSN) mensuelles déposées pour l'établissement "
        f"jusqu'au mois {of_month_fr(explanation.month)} inclus, et rien de postérieur : contrats de travail "
        "(nature, motif de recours, dates de début, de fin prévue et de fin, renouvellements, emploi occupé), "
        "heures rémunérées, absences déclarées, missions d'intérim déclarées par les entreprises de travail "
        "temporaire pour cet établissement utilisateur, code NAF, convention collective, effectif ; ainsi que les "
        f"contrôles antérieurs connus à la fin du mois. {_months_read_fr(explanation)} "
        "Les salariés sont pseudonymisés dès la lecture des fichiers ; ils sont désignés ici par un simple numéro.\n"
        f"Opérations effectuées. {facts['features']} indicateurs, énumérés ci-dessous avec leur valeur, sont "
        f"comparés aux médianes du même secteur (code NAF) dans la région, ou en France quand le secteur y compte "
        f"moins de {facts['benchmark_min_group']} établissements ; six vérifications automatiques des "
        "règles du Code du travail sur les CDD et l'intérim relèvent des infractions potentielles, à confirmer "
        "lors du contrôle. Un modèle d'apprentissage statistique (gradient boosting LightGBM, version "
        f"{explanation.model_version} du modèle « {facts['registered_model']} », {facts['trees']} arbres de profondeur "
        f"{facts['max_depth']} au plus, appris sur les contrôles passés des mois {trained}) calcule un score brut : "
        "la valeur de base du modèle plus la contribution de chaque indicateur (valeurs de Shapley, méthode "
        "TreeSHAP exacte ; leur somme redonne le score brut). Ce score est converti en probabilité qu'un contrôle "
        f"relève un abus (calibration {CALIBRATION_FR.get(facts['calibration'], facts['calibration'])} sur les résultats "
        "de contrôles). Les établissements "
        f"sont classés par probabilité dans chaque région ; la liste d'une région en retient "
        f"{_list_size_fr(facts, region)}, dont {percent_fr(facts['exploration_share'])} tirés au hasard pour évaluer le "
        f"modèle, sans ceux contrôlés dans les {facts['exclude_inspected_months']} derniers mois. Le score oriente "
        "le choix des contrôles ; il ne constitue ni un constat d'infraction ni une décision à l'égard de "
        "l'établissement."
    )


def renderables(explanation: Explanation, box_style: Box | None = None) -> list[RenderableType]:
    """The explanation as rich objects (titles, paragraphs, tables), in reading order."""
    from rich import box
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    style = box_style or box.SIMPLE_HEAD
    e = explanation.establishment
    out: list[RenderableType] = []
    siret = str(e["siret"])
    out.append(Text(f"Explication du score de l'établissement {_siret_fr(siret)} — liste {of_month_fr(explanation.month)}",
                    style="bold"))
    if explanation.notice:
        out.append(Text(f"Attention : {explanation.notice}", style="bold"))

    def table(title: str, columns: list[tuple[str, JustifyMethod]]) -> Table:
        t = Table(title=title, title_justify="left", title_style="bold", box=style, show_lines=False)
        for name, justify in columns:
            t.add_column(name, justify=justify, overflow="fold")
        return t

    departements = {p.departement: p.departement_name for p in places_table()}
    ident = table("Établissement", [("", "left"), ("", "left")])
    ident.show_header = False
    position = "non"
    if bool(e["in_list"]):
        how = "tiré au hasard (exploration)" if bool(e["exploration"]) else "retenu par le score"
        position = f"oui, ligne {int(e['list_position'])} ({how})"
    for name, value in [
        ("SIRET", siret),
        ("Adresse", address_fr(e.get("street"), e.get("postal_code"), e.get("city")) or "non déclarée"),
        ("Code NAF", str(e["naf"])),
        ("Département", f"{e['departement']} {departements.get(str(e['departement']), '')}".strip()),
        ("Région", f"{e['region']} ({e['region_code']})"),
        ("Effectif en fin de mois", format_value("headcount", e["headcount"])),
        ("Convention collective (IDCC)", "non renseignée" if pd.isna(e.get("idcc")) else str(e.get("idcc"))),
        ("Probabilité estimée qu'un contrôle relève un abus", percent_fr(float(e["score"]))),
        ("Rang dans la région", f"{number_fr(int(e['rank_in_region']))} sur {number_fr(explanation.scored_in_region)}"),
        ("Rang national", f"{number_fr(int(e['rank_national']))} sur {number_fr(explanation.scored_national)}"),
        ("Sur la liste du mois", position),
        ("Contrôlé récemment (exclu de la liste)", "oui" if bool(e["recently_inspected"]) else "non"),
        ("Modèle", f"{explanation.model_facts['registered_model']}, version {explanation.model_version}"),
    ]:
        ident.add_row(name, value)
    out.append(ident)

    out.append(Text("Données utilisées et calcul du score", style="bold"))
    for paragraph in audit_paragraph(explanation).split("\n"):
        out.append(Text(paragraph))

    reasons = table("Raisons, par fait (somme des contributions des indicateurs qui en parlent)",
                    [("contribution", "right"), ("constat", "left")])
    weighty = explanation.reasons[explanation.reasons["contribution"].abs() >= REASON_MIN_WEIGHT]
    for r in weighty.itertuples(index=False):
        mark = " *" if r.listed_reason else ""
        reasons.add_row(signed_fr(r.contribution) + mark, r.sentence)
    out.append(reasons)
    rest = len(explanation.reasons) - len(weighty)
    out.append(Text(
        ("* raison imprimée sur la liste régionale. " if weighty["listed_reason"].any() else "")
        + "Une contribution positive augmente le score, une contribution négative le diminue (unité : log-odds)."
        + (f" {rest} autres faits pèsent moins de {signed_fr(REASON_MIN_WEIGHT)[1:]} chacun : voir le détail." if rest else "")))

    detail = table("Détail : contribution de chaque indicateur (valeurs de Shapley, log-odds)",
                   [("n°", "right"), ("indicateur", "left"), ("code", "left"), ("valeur", "right"),
                    ("contribution", "right")])
    for n, r in enumerate(explanation.contributions.itertuples(index=False), start=1):
        detail.add_row(str(n), r.label_fr, r.feature, r.shown, signed_fr(r.contribution))
    total = float(explanation.contributions["contribution"].sum())
    detail.add_row("", "valeur de base du modèle", "bias", "", signed_fr(explanation.bias))
    detail.add_row("", "somme : valeur de base + contributions", "", "", signed_fr(explanation.bias + total))
    detail.add_row("", "score brut du modèle", "raw_score", "", signed_fr(explanation.raw_score))
    out.append(detail)
    out.append(Text(f"Vérification : la somme redonne le score brut à {tiny_fr(explanation.shap_gap)} près. "
                    f"Probabilité calibrée correspondante : {percent_fr(float(e['score']))}."))

    ev = explanation.evidence
    if ev.empty:
        out.append(Text(f"Infractions potentielles relevées : aucune {explanation.examined}.", style="bold"))
    else:
        out.append(Text(f"Infractions potentielles relevées ({len(ev)}), par règle et par poste, contrat par contrat",
                        style="bold"))
        n = 0
        for group in group_evidence(ev):
            out.append(Text(group.summary_fr, style="bold"))
            for r in group.rows.itertuples(index=False):
                n += 1
                where = f"poste « {r.post} », {r.person}"
                if not pd.isna(r.contract_no):
                    where += f", contrat n° {r.contract_no} de la frise"
                if not pd.isna(r.contract_number):
                    where += f" (n° {r.contract_number} dans la DSN, déclaré par {r.declaring_siret})"
                where += f" du {_date(r.start_date)} au {_date(r.end_date)}"
                if not pd.isna(r.gap_opening_days) and not pd.isna(r.required_opening_days):
                    where += (f" ; écart de {int(r.gap_opening_days)} j d'ouverture pour "
                              f"{int(r.required_opening_days)} j requis")
                out.append(Text(f"{n}. {r.rule_label} ({r.article}), {r.confidence} — {where}."))
                out.append(Padding(Text(r.detail_fr), (0, 0, 0, 4)))

    contracts = explanation.contracts
    if explanation.timeline_note:
        out.append(Text(explanation.timeline_note, style="italic"))
    timeline = table(
        f"Contrats de l'établissement par poste ({len(contracts)} contrats connus au {_date(explanation.window['as_of_end'])})",
        [("poste", "left"), ("salarié", "left"), ("contrats (n°, nature, début → fin)", "left"), ("infr.", "right")])
    for (post, person), rows in contracts.groupby(["post_shown", "person"], sort=False):
        spans = " ; ".join(
            f"n° {c.contract_no} {KIND_FR.get(c.kind, c.kind)} {_date(c.start_date)} → "
            + ("en cours" if c.running else _date(c.end_date))
            + (f" ({c.renewals} renouv.)" if c.renewals else "")
            for c in rows.itertuples(index=False)
        )
        timeline.add_row(str(post), str(person), spans, str(int(rows["n_evidence"].sum())) or "")
    out.append(timeline)
    return out


def explanation_text(explanation: Explanation, width: int = 100) -> str:
    """The explanation as plain text of `width` columns (ASCII table borders), ready to print."""
    from rich import box
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, legacy_windows=False,
                      emoji=False, highlight=False)
    for item in renderables(explanation, box.ASCII):
        console.print(item)
        console.print()
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    return "\n".join(lines).strip() + "\n"


# --- Picture ------------------------------------------------------------------------------------------

def timeline_figure(explanation: Explanation) -> Figure:
    """One row per post x person: a bar per contract coloured by its kind, evidence events marked, the
    months of the indicators' window the declarations cover shaded. At most MAX_TIMELINE_ROWS rows (those with evidence first)."""
    from matplotlib.artist import Artist
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    contracts = explanation.contracts
    window = explanation.window
    left = pd.Timestamp(window["history_start"])
    right = pd.Timestamp(window["as_of_end"]) + pd.Timedelta(days=1)
    rows = contracts.groupby(["post_shown", "person"], sort=False).agg(
        n_evidence=("n_evidence", "sum"), n=("contract_no", "size"), first=("start_date", "min"),
        first_no=("contract_no", "min")).reset_index()
    rows = rows.sort_values(["n_evidence", "n"], ascending=False, kind="mergesort").head(MAX_TIMELINE_ROWS)
    # In the timeline's order (« salarié 2 » before « salarié 10 »): by post, first start, then first contract.
    rows = rows.sort_values(["post_shown", "first", "first_no"], kind="mergesort").reset_index(drop=True)
    hidden = contracts.groupby(["post_shown", "person"]).ngroups - len(rows)

    height = 1.6 + 0.28 * max(len(rows), 3)
    figure = Figure(figsize=(13, height), dpi=110)
    axes = figure.add_subplot(1, 1, 1)
    axes.axvspan(pd.Timestamp(window["window_from"]), right, color="#f2f2f2", zorder=0)
    position = {(r.post_shown, r.person): i for i, r in rows.iterrows()}
    for c in contracts.itertuples(index=False):
        y = position.get((c.post_shown, c.person))
        if y is None:
            continue
        start = max(c.start_date, left)
        end = min(c.period_end if not pd.isna(c.period_end) else right, right) + pd.Timedelta(days=1)
        if end <= left:
            continue
        axes.barh(y, (end - start).days, left=start, height=0.6, color=KIND_COLOURS.get(c.kind, "#9a9a9a"),
                  edgecolor="white", linewidth=0.4, zorder=2)
    shown = zip(contracts["post_shown"], contracts["person"], strict=True)
    numbers = dict(zip(contracts["contract_no"], shown, strict=True))
    for e in explanation.evidence.itertuples(index=False):
        line = numbers.get(e.contract_no) if not pd.isna(e.contract_no) else None
        y = position.get(line) if line is not None else None
        if y is None or pd.isna(e.event_date):
            continue
        axes.scatter([max(e.event_date, left)], [y], marker=RULE_MARKERS.get(e.rule, "o"), s=46, color="#c0143c",
                     edgecolor="black", linewidth=0.5, zorder=3)
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels([f"{_short(r.post_shown)} — {r.person}" for r in rows.itertuples()], fontsize=7)
    axes.invert_yaxis()
    axes.set_xlim(left, right)
    axes.set_ylim(len(rows) - 0.5 if len(rows) else 0.5, -0.5)
    axes.grid(axis="x", color="#dddddd", linewidth=0.5, zorder=1)
    axes.tick_params(axis="x", labelsize=8)
    axes.xaxis.set_major_formatter(DateFormatter("%m/%Y"))
    siret = str(explanation.establishment["siret"])
    title = (f"Contrats par poste et par salarié — établissement {_siret_fr(siret)} "
             f"({explanation.establishment['naf']}, {explanation.establishment['region']}), "
             f"connus fin {month_fr(explanation.month)}")
    axes.set_title(title, fontsize=10, loc="left")
    note = f"zone grisée : les mois des indicateurs ({explanation.examined})"
    if hidden > 0:
        note += f" ; {hidden} autres lignes non affichées (voir le fichier texte)"
    axes.set_xlabel(note, fontsize=8)
    kinds = [k for k in KIND_FR if k in set(contracts["kind"])] or ["cdd"]
    handles: list[Artist] = [Patch(color=KIND_COLOURS[k], label=KIND_FR[k]) for k in kinds]
    rules = [r for r in RULE_MARKERS if r in set(explanation.evidence["rule"])]
    handles += [Line2D([], [], marker=RULE_MARKERS[r], color="#c0143c", markeredgecolor="black", linestyle="none",
                       label=f"{RULES_BY_ID[r].label_fr}") for r in rules]
    axes.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
    figure.tight_layout()
    return figure


def _short(text: str, most: int = 38) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def write_explanation(explanation: Explanation, folder: Path) -> tuple[Path, Path]:
    """Write `{siret}.txt` and `{siret}.png` into `folder` (created); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    siret = str(explanation.establishment["siret"])
    text_path = folder / f"{siret}.txt"
    text_path.write_text(explanation_text(explanation), encoding="utf-8")
    picture_path = folder / f"{siret}.png"
    picture_path.write_bytes(timeline_png(explanation))
    return text_path, picture_path


def timeline_png(explanation: Explanation) -> bytes:
    """`timeline_figure` as a PNG (a Figure without pyplot: the Agg canvas, no display needed)."""
    buffer = io.BytesIO()
    timeline_figure(explanation).savefig(buffer, format="png")
    return buffer.getvalue()


def explain_folder(home: Home, month: date) -> Path:
    """`lists/YYYY-MM/explain/`."""
    return lists_folder(home, month) / "explain"


__all__ = [
    "Explanation",
    "audit_paragraph",
    "contract_timeline",
    "establishment_contracts",
    "evidence_rows",
    "explain_establishment",
    "explain_folder",
    "explain_line",
    "explain_month",
    "explanation_text",
    "list_declared",
    "list_knowledge",
    "model_facts",
    "month_contracts",
    "person_labels",
    "renderables",
    "timeline_figure",
    "timeline_png",
    "write_explanation",
]
