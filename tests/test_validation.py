"""check-rules on a truth folder that is not one: clear messages, not tracebacks."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from features.validation import rules_against_truth

NO_EVIDENCE = pd.DataFrame(columns=["declaring_siret", "contract_number", "start_date", "rule", "confidence",
                                    "establishment_siret"])


def test_a_folder_without_truth_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no simulated truth there"):
        rules_against_truth(NO_EVIDENCE, tmp_path, date(2025, 6, 1))


def test_a_truth_from_an_older_simulator_is_refused_with_what_it_lacks(tmp_path):
    pd.DataFrame({"siret": ["11111111100011"], "contract_number": ["1"]}).to_parquet(tmp_path / "contracts.parquet")
    with pytest.raises(ValueError, match=r"lacks \[.*'lasting_job'.*\]: it was written by an older simulator"):
        rules_against_truth(NO_EVIDENCE, tmp_path, date(2025, 6, 1))
