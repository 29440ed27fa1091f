"""From history to a calibrated probability: time split, LightGBM, calibration, evaluation,
stage thresholds and the MLflow registry with champion and challenger."""
