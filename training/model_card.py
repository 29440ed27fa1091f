"""A version's model card in words (Markdown): the description of its MLflow run and of its
registered model version, so the MLflow UI tells what the model learnt from, how it did on the
holdout, which gates it passed and what its stages promise."""

from __future__ import annotations

from typing import Any

HOLDOUT_FIGURES = (("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC"), ("log_loss", "log loss"), ("brier", "Brier score"),
                   ("ece", "expected calibration error (ECE)"), ("lift_top10", "lift in the top 10%"),
                   ("captured_top10", "share of buyers in the top 10%"))
MODEL_NAMES = {"lightgbm": "LightGBM", "logistic": "logistic regression", "blend": "blend of LightGBM and logistic"}


def card_description(card: dict[str, Any], stages: dict[str, dict[str, Any]], gates: list[dict[str, Any]],
                     heading: str) -> str:
    """Markdown of a model card.

    `card` is the bundle's card (`leadscore train` writes it: model, trained_at, data_window,
    examples, holdout_metrics, baseline_metrics); `stages` the stage definitions by name, each
    with its `words`; `gates` the promotion gates as `training.promotion.gate_summary` gives
    them; `heading` the first line ("leadscore-demo-crm, version 3")."""
    lines = [f"### {heading}", ""]
    model = MODEL_NAMES.get(card.get("model", ""), card.get("model") or "model")
    lines.append(f"{model} trained on spec `{card.get('spec', '?')}` at {card.get('trained_at', '?')}.")
    window = card.get("data_window") or {}
    if "first_lead" in window:
        lines.append(f"Leads created from {window['first_lead']} to {window['last_lead']}; the holdout is the most "
                     f"recent, created from {window['holdout_from']} to {window['holdout_to']}.")
    examples = card.get("examples") or {}
    if examples:
        lines.append(f"Examples: {examples.get('fit', 0):,} to fit, {examples.get('validation', 0):,} to validate, "
                     f"{examples.get('holdout', 0):,} in the holdout; calibrated on "
                     f"{examples.get('calibrated_on', '?')}.")
    training_data = card.get("training_data") or {}
    if training_data.get("won_leads") is not None:
        lines.append(f"Leads with an outcome: {training_data['won_leads']:,} won, {training_data['lost_leads']:,} lost"
                     + (f"; {training_data['reason']}." if training_data.get("reason") else "."))
    if training_data.get("sample"):
        lines.append(f"Trained on {training_data['sample']}.")
    if card.get("stages_from_version"):
        lines.append(f"Stages re-planned from version {card['stages_from_version']} at "
                     f"{card.get('stages_planned_at', '?')}; the model is that version's.")
    holdout, baseline = card.get("holdout_metrics") or {}, card.get("baseline_metrics") or {}
    if holdout:
        lines += ["", "| holdout (calibrated) | this model | logistic baseline |", "| --- | ---: | ---: |"]
        for key, label in HOLDOUT_FIGURES:
            if key in holdout:
                lines.append(f"| {label} | {holdout[key]:.4f} | {_figure(baseline.get(key))} |")
    if gates:
        lines += ["", "**Promotion gates**", ""]
        lines += [f"- {'passed' if g['passed'] else 'FAILED'}: {g['gate']}: {g['detail']}" for g in gates]
    if stages:
        lines += ["", "**Stages**", ""]
        lines += [f"- {stage.get('words') or name}" for name, stage in stages.items()]
    segments = card.get("segments")
    if segments:  # training.segments: every segment looked at, used or why not
        lines += ["", f"**Segment models** (by `{segments['column']}`; the figures above are the global model's, these each "
                  "segment model's on its own holdout)", "",
                  "| segment | won | lost | holdout ROC-AUC | ECE | scored by |", "| --- | ---: | ---: | ---: | ---: | --- |"]
        for s in segments["segments"]:
            lines.append(f"| {s['value']} | {s['won']:,} | {s['lost']:,} | {_figure(s.get('holdout_roc_auc'))} | "
                         f"{_figure(s.get('holdout_ece'))} | {'its own model' if s['used'] else 'global: ' + s['note']} |")
        lines += [f"- {note}" for note in segments.get("notes", [])]
    return "\n".join(lines) + "\n"


def _figure(value: Any) -> str:
    return "" if value is None else f"{float(value):.4f}"
