"""Everything the web application uses from the rest of Champollion, imported in one place.

Moving a package of the pipeline means editing the imports here only.
"""

from __future__ import annotations

from champollion.config import Config, WebConfig, load_config
from champollion.csv_files import neutralise_frame
from champollion.home import Home
from features.asof import add_months, prepare_as_of, prepare_establishment_contracts
from features.build import feature_dir, load_features
from features.inspections import RECORDED_NAME, load_inspections, store_recorded_inspections
from features.rules import RULES
from features.sql_engine import DuckDBEngine
from features.warehouse_state import WarehouseBusy
from scoring.evidence_groups import group_evidence
from scoring.explain import (
    LABELS_FR,
    KIND_FR,
    Explanation,
    audit_paragraph,
    establishment_contracts,
    explain_line,
    explain_month,
    explanation_text,
    month_contracts,
    timeline_figure,
)
from scoring.french import date_fr, month_fr, percent_fr
from scoring.monthly import load_model, lists_folder, slug
from scoring.reasons import LEGAL_RULES, SectorBenchmarks, format_value, region_names
from training.workflow import list_models

__all__ = [
    "LABELS_FR", "RECORDED_NAME", "DuckDBEngine", "establishment_contracts", "prepare_as_of",
    "prepare_establishment_contracts", "LEGAL_RULES", "format_value", "Config", "Explanation", "Home", "KIND_FR", "RULES", "SectorBenchmarks", "WarehouseBusy", "WebConfig", "add_months",
    "audit_paragraph", "date_fr", "explain_line", "explain_month", "explanation_text", "feature_dir", "group_evidence", "list_models",
    "lists_folder", "load_config", "load_features", "load_inspections", "load_model", "month_contracts", "month_fr",
    "percent_fr", "region_names", "slug", "store_recorded_inspections", "timeline_figure", "neutralise_frame",
]
