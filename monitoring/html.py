"""The outcome report as one self-contained HTML page: the verdicts in words, then the charts a
person would rather look at than read (buy rate by stage against its promise, with intervals;
the reliability curve; the mean score by week; drift by feature), then the tables by dimension.

Charts are Plotly figures with plotly.js written into the page itself, once (about 4.6 MB), so
the file opens offline and needs no CDN. Input: the dict of `monitoring.report.build_report`.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from features.i18n import DEFAULT_LANGUAGE, number_text, translations

PLOTLY_FIRST = "inline"  # plotly.js goes into the first chart; the others reuse it


def report_figures(report: dict[str, Any], language: str = DEFAULT_LANGUAGE,
                   names: Mapping[str, str] | None = None, stages_defined: Mapping | None = None
                   ) -> list[tuple[str, Any]]:
    """The report's charts as (name, Plotly figure), titled and labelled in `language`
    (features.i18n): `names`, the words for each drifted input (display names; else its column
    name), `stages_defined`, the stage definitions (for the stages' names)."""
    import plotly.graph_objects as go

    from monitoring.report import promise_name

    _ = translations(language).gettext
    figures = []
    stages = [s for s in report.get("stages", []) if s.get("closed")]
    if stages:
        names_of_stages = [promise_name(s, language, stages_defined) for s in stages]
        observed = [s["observed_won_rate"] for s in stages]
        figure = go.Figure([
            go.Bar(name=_("observed"), x=names_of_stages, y=observed,
                   error_y={"type": "data", "symmetric": False,
                            "array": [s["high"] - s["observed_won_rate"] for s in stages],
                            "arrayminus": [s["observed_won_rate"] - s["low"] for s in stages]}),
            go.Scatter(name=_("promised"), x=names_of_stages, y=[s["promised_won_rate"] for s in stages],
                       mode="markers",
                       marker={"symbol": "line-ew-open", "size": 40, "line": {"width": 3}}),
        ])
        figure.update_layout(title=_("Buy rate by stage: observed (95% interval) against the promise"),
                             yaxis={"tickformat": ".0%", "rangemode": "tozero"})
        figures.append(("stages", figure))
    reliability = report.get("reliability") or []
    if reliability:
        figure = go.Figure([
            go.Scatter(name=_("closed leads"), x=[b["mean_probability"] for b in reliability],
                       y=[b["won_rate"] for b in reliability], mode="lines+markers",
                       text=[_("{n} leads").format(n=number_text(b["n"], language)) for b in reliability]),
            go.Scatter(name=_("perfectly calibrated"), x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot"}),
        ])
        figure.update_layout(title=_("Reliability: of leads scored p, the share that bought"),
                             xaxis={"title": _("probability"), "tickformat": ".0%"},
                             yaxis={"title": _("bought"), "tickformat": ".0%"})
        figures.append(("reliability", figure))
    weeks = report.get("mean_probability_by_week") or []
    if weeks:
        figure = go.Figure(go.Scatter(x=[w["week_start"] for w in weeks], y=[w["mean_probability"] for w in weeks],
                                      mode="lines+markers", text=[_("{n} leads").format(n=number_text(w["leads"], language)) for w in weeks]))
        figure.update_layout(title=_("Mean probability of the leads scored each week"), yaxis={"tickformat": ".1%"})
        figures.append(("scores", figure))
    drift = report.get("drift") or []
    if drift:
        figure = go.Figure(go.Bar(x=[(names or {}).get(d["feature"], d["feature"]) for d in drift],
                                  y=[d["psi"] for d in drift],
                                  marker={"color": ["crimson" if d["drifted"] else "steelblue" for d in drift]}))
        figure.add_hline(y=report.get("drift_threshold", 0.2), line_dash="dot")
        figure.update_layout(title=_("Drift: population stability index against training (red: above the line)"))
        figures.append(("drift", figure))
    for _name, figure in figures:  # the language's decimal mark and thousands separator
        figure.update_layout(separators=",." if language == "it" else ".,")
    return figures


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    def cell(value: Any, key: str) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.1%}" if any(w in key for w in ("rate", "share", "probability")) else f"{value:,.2f}"
        return html.escape(f"{value:,}" if isinstance(value, int) else str(value))

    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(row.get(key), key)}</td>" for key, _ in columns) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _moment(value: Any) -> str:
    """An ISO time as a person reads it: the date, and the time of day when it is not midnight."""
    text = str(value).replace("T", " ")
    return text[:10] if text[10:].strip() in ("", "00:00:00", "00:00") else text[:16]


def report_html(report: dict[str, Any], title: str = "leadscore: do the stages keep their promise?") -> str:
    """The whole page (a str of HTML, UTF-8), self-contained."""
    period = report.get("period", {})
    model = report.get("model", {})
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>{period.get('leads', 0):,} leads scored"
             + (f" from {html.escape(_moment(period['since']))}" if period.get("since") else "")
             + (f" until {html.escape(_moment(period['until']))}" if period.get("until") else "")
             + f"; {period.get('closed', 0):,} closed ({period.get('won', 0):,} won), {period.get('open', 0):,} "
             f"still open." + (f" Promises of {html.escape(str(model.get('spec')))} version "
                               f"{html.escape(str(model.get('champion_version')))}." if model else "") + "</p>",
             "<ul>" + "".join(f"<li class=\"{'broken' if s.get('broken') else 'kept'}\">{html.escape(s['verdict'])}</li>"
                              for s in report.get("stages", [])) + "</ul>"]
    for i, (name, figure) in enumerate(report_figures(report)):
        parts.append(f"<div class=\"chart\" id=\"{name}\">"
                     + figure.to_html(full_html=False, include_plotlyjs=PLOTLY_FIRST if i == 0 else False)
                     + "</div>")
    for dimension, rows in (report.get("by_dimension") or {}).items():
        parts.append(f"<h2>By {html.escape(dimension)}</h2>" + _table(rows, [
            ("value", dimension), ("leads", "leads"), ("mql_or_better_share", "MQL or better"),
            ("sql_share", "SQL"), ("closed", "closed"), ("won_rate", "bought"), ("expected_wins_open", "expected wins, open"),
            ("median_days_to_close", "median days to close")]))
    if report.get("calibration_by_month"):
        holdout = model.get("holdout") or {}
        known = [f"{label} {holdout[key]:.3f}" for key, label in (("roc_auc", "ROC-AUC"), ("ece", "calibration error"))
                 if holdout.get(key) is not None]
        parts.append("<h2>By month</h2>" + (f"<p>On its holdout at training the model had {', '.join(known)}.</p>"
                                            if known else "") + _table(report["calibration_by_month"], [
            ("month", "month"), ("leads", "leads"), ("closed", "closed"), ("won_rate", "bought"),
            ("mean_probability", "mean probability"), ("roc_auc", "ROC-AUC"), ("ece", "calibration error")]))
    style = ("body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}"
             "li.broken{color:#b00020;font-weight:600}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}td:first-child,th:first-child"
             "{text-align:left}.chart{margin:1.5em 0}")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
