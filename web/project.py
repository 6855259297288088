"""Everything the web application uses from the rest of Champollion, imported in one place.

Moving a package of the pipeline means editing the imports here only.
"""

from __future__ import annotations

from audit.baselines import MODEL_LABELS_FR
from core.benchmarks import load_average
from core.config import Config, WebConfig, load_config
from core.french import (
    address_fr,
    date_fr,
    in_paris,
    month_fr,
    number_fr,
    of_month_fr,
    paris_day_start,
    paris_time_fr,
    percent_fr,
    signed_fr,
    tiny_fr,
)
from core.home import Home
from core.months import add_months
from features.asof import placing_agencies, prepare_as_of, prepare_establishment_contracts
from features.build import SettingsSkew, feature_dir, refuse_other_settings
from features.catalog import FEATURES
from features.rules import RULES
from features.store import StoredFeatures, declared_months, stored_as_they_are
from scoring.evidence_groups import group_evidence
from scoring.explain import (
    KIND_FR,
    LABELS_FR,
    Explanation,
    audit_paragraph,
    establishment_contracts,
    explain_line,
    explain_month,
    explanation_text,
    kept_explains,
    list_declared,
    list_knowledge,
    month_contracts,
    stale_notice,
    timeline_png,
)
from scoring.list_inputs import ListInputs, as_drawn_up, list_inputs_folder, read_list_inputs
from scoring.monthly import drawn_up_at, lists_folder, load_model, read_ranking, slug
from scoring.reasons import LEGAL_RULES, SectorBenchmarks, format_value, reason_label, region_names
from scoring.region_files import lines_csv
from training.metrics import Interval
from training.promotion import against_simpler
from training.registry import BASELINES
from training.workflow import list_models
from warehouse.contracts import has_contract_states
from warehouse.engine import published_version
from warehouse.inspections import RECORDED_NAME, imported_outcomes, load_inspections, store_recorded_inspections
from warehouse.sql_engine import DuckDBEngine
from warehouse.versions import ForeignLayout, MissingVersion, WarehouseBusy

__all__ = [
    "BASELINES",
    "FEATURES",
    "KIND_FR",
    "LABELS_FR",
    "LEGAL_RULES",
    "MODEL_LABELS_FR",
    "RECORDED_NAME",
    "RULES",
    "Config",
    "DuckDBEngine",
    "Explanation",
    "ForeignLayout",
    "Home",
    "Interval",
    "ListInputs",
    "MissingVersion",
    "SectorBenchmarks",
    "SettingsSkew",
    "StoredFeatures",
    "WarehouseBusy",
    "WebConfig",
    "add_months",
    "address_fr",
    "against_simpler",
    "as_drawn_up",
    "audit_paragraph",
    "date_fr",
    "declared_months",
    "drawn_up_at",
    "establishment_contracts",
    "explain_line",
    "explain_month",
    "explanation_text",
    "feature_dir",
    "format_value",
    "group_evidence",
    "has_contract_states",
    "imported_outcomes",
    "in_paris",
    "kept_explains",
    "lines_csv",
    "list_declared",
    "list_inputs_folder",
    "list_knowledge",
    "list_models",
    "lists_folder",
    "load_average",
    "load_config",
    "load_inspections",
    "load_model",
    "month_contracts",
    "month_fr",
    "number_fr",
    "of_month_fr",
    "paris_day_start",
    "paris_time_fr",
    "percent_fr",
    "placing_agencies",
    "prepare_as_of",
    "prepare_establishment_contracts",
    "published_version",
    "read_list_inputs",
    "read_ranking",
    "reason_label",
    "refuse_other_settings",
    "region_names",
    "signed_fr",
    "slug",
    "stale_notice",
    "store_recorded_inspections",
    "stored_as_they_are",
    "timeline_png",
    "tiny_fr",
]
