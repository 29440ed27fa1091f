"""`leadscore leakage`: how well each column alone predicts the outcome, on the training
examples (as of the scoring moment), with suspicious columns flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from features.examples import build_examples
from features.leakage import LeakageFinding, leakage_report
from features.load import load_clean
from features.spec import load_spec
from features.transform import LeadTransform


def run_leakage(spec_path: Path, data: Path | None = None, threshold: float = 0.95,
                console: Console | None = None) -> list[LeakageFinding]:
    console = console or Console()
    spec = load_spec(spec_path)
    _, tables, _ = load_clean(spec, data)
    examples = build_examples(spec, tables)
    transform = LeadTransform.fit(spec, examples.leads, tables.activities)
    X = transform.transform_frame(examples.leads, tables.activities, examples.as_of)
    columns = {name: X[:, i] for i, name in enumerate(transform.names)}
    for column in [*spec.leads.categorical, *spec.leads.after_contact]:  # categories by their values
        columns[column] = examples.leads[column]
    report = leakage_report(columns, examples.label, threshold, set(spec.leads.after_contact))

    table = Table(title=f"Single-column ROC-AUC against the outcome: {spec.name}, {len(examples):,} examples")
    for name in ("column", "role", "ROC-AUC", "where filled", "filled", "flag"):
        table.add_column(name, justify="left" if name in ("column", "role", "flag") else "right")
    for f in report:
        table.add_row(f.column, "after contact (excluded)" if f.after_contact else "feature", f"{f.auc:.3f}",
                      "" if np.isnan(f.auc_where_filled) else f"{f.auc_where_filled:.3f}", f"{f.filled_share:.0%}",
                      "[bold red]LEAKS[/]" if f.flagged else "")
    console.print(table)
    features = [f.column for f in report if f.flagged and not f.after_contact]
    if features:
        console.print(f"[bold red]{len(features)} feature(s) predict the outcome suspiciously well[/]: "
                      + ", ".join(features) + ". If sales fill them in after contact, list them under "
                      "leads.after_contact in the spec.")
    else:
        console.print(f"no feature reaches ROC-AUC {threshold} on its own")
    return report
