"""`leadscore leakage`: how well each column alone predicts the outcome, on the examples
training learns from (as of the scoring moment, the holdout left out), with the columns that
leak flagged (rules in features.leakage). It checks exactly what `leadscore train` checks
before fitting: exit 3 (`LEAK_EXIT`) when a model feature is flagged and not listed under
`allow_leaky`, 0 otherwise. Flagged after-contact columns are shown but are no reason to fail:
the spec already keeps them out of the model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from features.examples import build_examples
from features.leakage import (DEFAULT_LEAKAGE_AUC, FILLED_MIN_AUC, FILLED_MIN_RATIO, GAP_ABOVE_NEXT,
                              GAP_MIN_AUC, LeakageFinding, training_leakage)
from features.load import load_clean
from features.spec import load_spec

LEAK_EXIT = 3  # a model feature is flagged


def _role(f: LeakageFinding) -> str:
    if f.after_contact:
        return "excluded"
    return "allowed" if f.allowed else "feature"


@dataclass
class LeakageRun:
    """What `leadscore leakage` found: the findings it prints, and with `--format json` the
    document `facts()` writes."""

    spec: str
    rows: int
    """Training examples the columns were scored on."""
    threshold: float
    findings: list[LeakageFinding]

    @property
    def leaks(self) -> list[str]:
        """Model features flagged and not under allow_leaky: the reason for LEAK_EXIT."""
        return [f.column for f in self.findings if f.leaks_into_model]

    def facts(self) -> dict:
        return {"spec": self.spec, "training_examples": self.rows, "threshold": self.threshold,
                "leaks": self.leaks,
                "columns": [{**f.as_dict(), "role": _role(f), "leaks_into_model": f.leaks_into_model,
                             "why": f.describe() if f.flagged else None} for f in self.findings]}


def run_leakage(spec_path: Path, data: Path | None = None, threshold: float = DEFAULT_LEAKAGE_AUC,
                console: Console | None = None, min_category_count: int = 10) -> LeakageRun:
    from features.validation import preload_great_expectations, validate_tables

    console = console or Console()
    preload_great_expectations()
    spec = load_spec(spec_path)
    cleaned, tables, _ = load_clean(spec, data)
    validate_tables(spec, cleaned, tables, purpose="train").raise_if_failed()  # the data training would refuse
    examples = build_examples(spec, tables)
    report = training_leakage(spec, examples, tables.activities, threshold, min_category_count)
    rows = len(examples.split_by_time(spec.holdout_fraction)[0])

    table = Table(title=f"Single-column ROC-AUC against the outcome: {spec.name}, {rows:,} training examples",
                  caption="excluded: after_contact, not a model input; allowed: a feature under allow_leaky; "
                  "filled won/lost: share of won and of lost leads with the column filled in")
    for name in ("column", "role", "ROC-AUC", "where filled", "filled", "filled won/lost", "flag"):
        table.add_column(name, justify="left" if name in ("column", "role", "flag") else "right",
                         no_wrap=name not in ("column", "where filled", "filled won/lost"))
    for f in report:
        table.add_row(f.column, _role(f), f"{f.auc:.3f}",
                      "" if np.isnan(f.auc_where_filled) else f"{f.auc_where_filled:.3f}", f"{f.filled_share:.0%}",
                      "" if np.isnan(f.filled_won) else f"{f.filled_won:.0%}/{f.filled_lost:.0%}",
                      "[bold red]LEAKS[/]" if f.flagged else "")
    console.print(table)
    console.print(f"flagged: ROC-AUC {threshold:.2f} or more alone or where filled in; or {GAP_MIN_AUC:.2f} or more "
                  f"and {GAP_ABOVE_NEXT:.2f} above every other feature; or filled in mostly for one outcome "
                  f"(ROC-AUC of being filled in {FILLED_MIN_AUC:.2f} or more, or {FILLED_MIN_RATIO:.0f} times as "
                  "often for one outcome).", highlight=False)
    for f in report:
        if f.flagged:
            role = {"excluded": "after_contact, excluded", "allowed": "allow_leaky"}.get(_role(f), "feature")
            console.print(f"  {f.column} ({role}): {f.describe()}", highlight=False, soft_wrap=True)
    run = LeakageRun(spec.name, rows, threshold, report)
    leaks = run.leaks
    if leaks:
        columns = [c for c in leaks if c in spec.profile_columns]
        derived = [c for c in leaks if c not in spec.profile_columns]
        console.print(f"[bold red]{len(leaks)} feature(s) leak the outcome[/]: " + ", ".join(leaks) + ".",
                      soft_wrap=True)
        if columns:
            console.print(f"  Lead columns ({', '.join(columns)}): `leadscore train` refuses them. If sales fill them "
                          "in after contact, list them under leads.after_contact in the spec; if they are known "
                          "before contact and you have checked them, list them under allow_leaky.", soft_wrap=True)
        if derived:
            console.print(f"  Activity features ({', '.join(derived)}): a model trained on them fails the `no leak` "
                          "gate of `leadscore train` (registered, not promoted). An activity type recorded only "
                          "after a deal is decided (an order signed, a contract sent) belongs out of the export's "
                          "activities; if you have checked it is known before the sale, `leadscore train --promote force --by "
                          "NAME` promotes such a model and records who vouched for it.",
                          soft_wrap=True)
    else:
        console.print(f"no feature reaches ROC-AUC {threshold} on its own, stands far above the others or is "
                      "filled in mostly for one outcome" + (" (apart from those under allow_leaky)"
                                                             if any(f.flagged and f.allowed for f in report) else ""),
                      soft_wrap=True)
    return run
