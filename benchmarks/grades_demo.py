"""The done-when of fit and intent on a CRM export: how Home Edition (not-a-fit) leads and
high-intent leads are graded, each lead as of `--age` days after it was created.

    .venv/bin/python benchmarks/grades_demo.py --bundle models/bundles/demo-crm/champion --crm data/demo

Prints, for every lead of the export (training and holdout leads alike: the grades' cut points
come from the training leads): the fit grades of not-a-fit leads, and the intent grades of the
other leads with at least k high-intent activities (the spec's `activities.high_intent`) in the
7 days before their moment, for k = 1..5 (an unsubscribe in those 7 days leaves a lead out).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--crm", type=Path, required=True)
    parser.add_argument("--age", type=float, default=30.0, help="days after creation each lead is scored as of")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from features.load import load_clean
    from serving.scorer import LeadScorer

    scorer = LeadScorer.from_bundle_dir(args.bundle)
    spec = scorer.spec
    _, tables, _ = load_clean(spec, args.crm)
    leads, acts = tables.leads.drop_duplicates("lead_id"), tables.activities
    as_of = (leads["created_at"] + pd.Timedelta(days=args.age)).to_numpy("datetime64[ns]")
    X = scorer.transform.transform_frame(leads, acts, as_of)
    graded = scorer.grades.grade(X, None, 0, scorer.reasons)
    unfit = scorer.bundle.sub_scores.not_a_fit(X)
    print(f"{len(leads):,} leads, each as of {args.age:g} days after it was created; model {scorer.version}")
    print(f"not-a-fit leads: {int(unfit.sum()):,}; their fit grades: {dict(Counter(graded.fit_grade[unfit].tolist()))}")
    moment = pd.Series(as_of, index=leads["lead_id"].astype(str).to_numpy())
    acts = acts.assign(moment=acts["lead_id"].astype(str).map(moment))
    recent = acts[(acts["occurred_at"] < acts["moment"]) & (acts["occurred_at"] >= acts["moment"] - pd.Timedelta(days=7))]
    high = recent[recent["activity_type"].isin(spec.activities.high_intent)].groupby("lead_id", observed=True).size()
    gone = set(recent.loc[recent["activity_type"].isin(spec.activities.negative), "lead_id"].astype(str))
    counts = leads["lead_id"].astype(str).map(high.rename(index=str)).fillna(0).to_numpy()
    keep = ~leads["lead_id"].astype(str).isin(gone).to_numpy() & ~unfit
    print("high-intent actions in the last 7 days | leads (a fit, no unsubscribe) | intent 1 or 2 | intent grades")
    for k in range(1, 6):
        rows = keep & (counts >= k)
        grades = Counter(graded.intent_grade[rows].tolist())
        share = (grades["1"] + grades["2"]) / max(int(rows.sum()), 1)
        print(f"at least {k} | {int(rows.sum()):,} | {share:.1%} | {dict(sorted(grades.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
