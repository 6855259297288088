"""Settings of the scoring stage: which model, how long the lists are, exploration, explanations.

Who is scored is the feature table's population: every establishment that declared in the
`features.window_months` (12) months up to the month.

`core.config.Config` holds it as `scoring`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ScoringConfig(BaseModel):
    """How the monthly lists are drawn up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(default="champion", description="Registry alias or version number scored with.")
    list_share: float = Field(
        default=0.05, gt=0, le=1, description="Length of a region's list: this share of its scored establishments."
    )
    list_size_by_region: dict[str, int] = Field(
        default={}, description="Fixed list lengths by INSEE region code, overriding list_share, e.g. {'11': 120}."
    )
    max_list_lines: int | None = Field(
        default=500, ge=1,
        description="Most lines list_share gives a region's list, what its inspectors can work through in a month "
                    "(null: no limit); list_size_by_region is not limited by it.",
    )
    exclude_inspected_months: int = Field(
        default=12, ge=0, le=60, description="Establishments inspected this many months before the month's end are left out."
    )
    exploration_share: float = Field(
        default=0.10, ge=0, lt=1,
        description="Share of each list drawn at random among the other eligible establishments (unbiased future labels).",
    )
    seed: int = Field(default=0, ge=0, le=2**63 - 1,
                      description="With the month and the region, fixes the exploration draw (numpy: not negative).")
    reasons: int = Field(default=3, ge=1, le=10, description="Reasons written per listed establishment.")
    file_workers: int | None = Field(
        default=None, ge=1, le=64,
        description="Processes writing the regions' workbooks and pages side by side; null: one per usable CPU.",
    )

    @model_validator(mode="after")
    def _sizes_are_positive(self) -> ScoringConfig:
        bad = {code: size for code, size in self.list_size_by_region.items() if size < 1}
        if bad:
            raise ValueError(f"list_size_by_region must give at least 1 per region: {bad}")
        return self


class AuditConfig(BaseModel):
    """Thresholds of the evaluators' audit (`champollion audit`). Each check ends réussi, alerte or échec;
    an échec fails the audit, an alerte asks an evaluator to look (`audit/verdict.py`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shap_tolerance: float = Field(default=1e-6, gt=0, description="Largest |sum of SHAP values - raw score| accepted.")
    min_importance_correlation: float = Field(
        default=0.5, ge=-1, le=1, description="Spearman correlation of SHAP and permutation importance, at least."
    )
    min_top_reason_agreement: float = Field(
        default=0.5, ge=0, le=1,
        description="Share of listed establishments whose top reason survives a retraining (other seed, one month less).",
    )
    tau: float = Field(
        default=0.8, gt=0, le=1,
        description="Disparity ratios outside [tau, 1/tau] alert (Aequitas); an FDR ratio whose 95% interval lies "
                    "wholly outside fails.",
    )
    min_group_size: int = Field(default=20, ge=1, description="Smaller groups are shown but not flagged.")
    min_outcomes: int = Field(
        default=10, ge=1,
        description="A group's FDR is flagged only with this many listed establishments of known outcome.",
    )
    psi_alert: float = Field(default=0.1, gt=0, description="A feature whose PSI exceeds this alerts (moving).")
    psi_threshold: float = Field(default=0.25, gt=0, description="A feature whose PSI exceeds this fails (shifted).")
    drift_months: int = Field(default=6, ge=1, le=24, description="Recent months each compared with the audited month.")
    max_propensity_auc: float = Field(
        default=0.7, gt=0.5, le=1,
        description="Inspected establishments told from the others with this ROC AUC or more: selection-bias alert.",
    )
    min_rule_precision: float = Field(
        default=0.8, ge=0, le=1, description="A legal rule's findings (established and probable) less precise fail.",
    )
    rule_precision_alert: float = Field(
        default=0.95, ge=0, le=1, description="A legal rule's findings less precise than this alert.",
    )
    dependence_plots: int = Field(default=4, ge=0, le=12)
    sample_rows: int = Field(
        default=5000, ge=100, description="Rows used for permutation importance and SHAP interactions (a seeded sample)."
    )
