"""Settings of the training stage: validation windows, capacity, search budget, weighting, registry.

`core.config.Config` holds it as `training`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class TrainingConfig(BaseModel):
    """How models are trained, compared and registered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Temporal validation (expanding window, by inspection date).
    # The configured windows are used when the history allows them; else `training.splitter.choose_folds`
    # shortens the windows, then drops folds (down to two), until every fold trains on min_train_rows.
    n_folds: int = Field(default=3, ge=2, le=12, description="Validation windows, when the history allows them.")
    validation_months: int = Field(default=6, ge=1, le=24, description="Longest validation window, in months.")
    min_train_rows: int = Field(default=50, ge=1, description="Fewest labelled rows a fold may train on.")

    # Capacity: the share of each region's establishments its inspectors can visit in a month.
    capacity_share: float = Field(default=0.05, gt=0, le=1)
    report_shares: list[float] = Field(
        default=[0.05, 0.10, 0.20], description="Shares reported next to the capacity (labelled sets are small)."
    )
    bootstrap_resamples: int = Field(
        default=1000, ge=50, description="Resamples of the recall intervals (precision's are exact)."
    )
    min_promotion_rows: int = Field(
        default=20, ge=1, description=(
            "Fewest inspections `promote` compares a candidate with the champion on, abuse found in some and not in "
            "others: on fewer, or on one outcome alone, the two are not compared and the champion is kept unless "
            "--force."),
    )

    # Tuning.
    trials: int = Field(default=40, ge=1, description="Optuna trials per training (in a new study, or with --resume "
                                                     "in the last study of the same data and settings).")
    objective: Literal["precision_at_k", "mean_precision_at_shares", "average_precision"] = Field(
        default="mean_precision_at_shares",
        description=(
            "What Optuna maximises, averaged over folds: precision at the capacity share, its mean over "
            "report_shares (steadier on small validation sets), or average precision."
        ),
    )
    max_depth: int = Field(default=6, ge=2, le=12, description="Deepest trees searched (SHAP cost grows with depth^2).")
    max_estimators: int = Field(default=400, ge=20, le=3000, description="Most trees searched.")
    pruner_startup_trials: int = Field(default=5, ge=0)

    # Models.
    logistic_c: float = Field(default=0.1, gt=0, description="Inverse L2 strength of the logistic regression.")
    calibration: Literal["platt", "isotonic"] = Field(
        default="platt", description="Fitted on out-of-fold scores; Platt keeps the ranking strict."
    )
    ipw: Literal["auto", "on", "off"] = Field(
        default="auto",
        description=(
            "Inverse-propensity weighting of the inspected rows. auto: decided on the hidden truth when "
            "`--truth` is given (simulated population), else off."
        ),
    )
    ipw_max_weight: float = Field(default=10.0, gt=1, description="Stabilised weights are clipped to [1/max, max].")

    @field_validator("ipw", mode="before")
    @classmethod
    def _yaml_switch(cls, value: object) -> object:
        """YAML 1.1 reads an unquoted `on` or `off` as a boolean: `ipw: on` means "on", as the README writes it."""
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value
    propensity_rows: int = Field(
        default=1_000_000, ge=1_000,
        description="Establishment-months beyond which the inspection-propensity model is fitted on a sample of about "
                    "this many: every inspected one, and the same share of the others in each month, weighted by the "
                    "inverse of their sampling rate (a national month has 1.8 M establishments).",
    )
    threads: int = Field(
        default=1, ge=1, le=64,
        description="LightGBM threads, fixed for reproducibility. Labelled sets are small: one thread is fastest, and "
                    "several threads spin badly when the cores are busy (measured: 0.3 s vs 30 s for one fit).",
    )
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description=(
        "Seeds Optuna, LightGBM, the baselines and the bootstrap (scikit-learn takes seeds from 0 to 2**32 - 1)."))

    # MLflow.
    tracking_uri: str | None = Field(
        default=None, description="Default: sqlite:///<home>/mlruns/mlflow.db, artifacts under <home>/mlruns/artifacts."
    )
    experiment: str = "champollion"
    registered_model: str = "champollion-precarite"

    @model_validator(mode="after")
    def _capacity_is_reported(self) -> TrainingConfig:
        if any(not 0 < s <= 1 for s in self.report_shares):
            raise ValueError("report_shares must lie in (0, 1]")
        return self

    @property
    def shares(self) -> list[float]:
        """The capacity share first, then the other reported shares, in increasing order."""
        others = sorted(s for s in set(self.report_shares) if abs(s - self.capacity_share) > 1e-12)
        return [self.capacity_share, *others]
