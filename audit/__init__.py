"""The evaluators' audit of a registered model: drivers, faithfulness, fairness, stability, drift, selection bias."""
