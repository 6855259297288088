"""Stage 2: labels from past inspections, temporal validation, LightGBM and baselines, MLflow registry."""
