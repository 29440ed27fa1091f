"""Logged outcomes join the export's history as the leads were logged, point in time kept: no
snapshot of a logged lead after the moment it was scored as of, each source's recent leads left
out against its own end, the store's outcome as the label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from features.examples import build_examples
from features.load import CRMTables, clean, coerce
from features.logged import records_from_tables
from features.spec import DatasetSpec
from features.transform import LeadTransform
from tests.features.conftest import make_spec, raw_crm
from training.logged_outcomes import (NO_SNAPSHOT_IN_RECORD, choose_logged, history_examples, logged_history,
                                      read_logged, refuse_unplaceable)

DAY = pd.Timedelta(days=1)


def canonical(spec, tables) -> CRMTables:
    cleaned, _ = clean(spec, CRMTables(**tables))
    return coerce(spec, cleaned)


def only(tables: CRMTables, ids, until: pd.Timestamp | None = None) -> CRMTables:
    """The tables of the leads in `ids`, as an export taken at `until` would hold them."""
    keep = lambda frame: frame[frame["lead_id"].isin(ids).to_numpy()]  # noqa: E731
    acts, outs = keep(tables.activities), keep(tables.outcomes)
    if until is not None:
        acts, outs = acts[acts["occurred_at"] <= until], outs[outs["closed_at"] <= until]
    return CRMTables(leads=keep(tables.leads).reset_index(drop=True), activities=acts.reset_index(drop=True),
                     outcomes=outs.reset_index(drop=True))


def scored(spec: DatasetSpec, crm: CRMTables, ids, as_of: dict[str, pd.Timestamp]) -> pd.DataFrame:
    """The score log's records of `ids`, each scored as of its own moment (as
    serving.store.report_inputs.logged_records gives them)."""
    rows, by_moment = [], {}
    for lead_id in ids:
        by_moment.setdefault(as_of[lead_id], []).append(lead_id)
    for moment, group in by_moment.items():
        leads = crm.leads[crm.leads["lead_id"].isin(group)]
        for lead_id, (lead, acts) in zip(leads["lead_id"], records_from_tables(spec, leads, crm.activities, moment)):
            rows.append((lead_id, moment, moment, lead, acts))
    return pd.DataFrame(rows, columns=["lead_id", "scored_at", "as_of", "lead", "activities"])


def store_outcomes(crm: CRMTables, ids) -> pd.DataFrame:
    out = crm.outcomes[crm.outcomes["lead_id"].isin(ids) & crm.outcomes["won"].notna()]
    out = out.drop_duplicates("lead_id", keep="last")
    return pd.DataFrame({"lead_id": out["lead_id"].to_numpy(), "outcome": np.where(out["won"] == 1, "won", "lost"),
                         "closed_at": out["closed_at"].to_numpy("datetime64[ns]")})


@pytest.fixture(scope="module")
def loop():
    """A CRM of 600 leads: the export holds the oldest 400 as of the 400th's creation; the
    other 200 were scored in 10 batches, each as of 3 to 30 days after its newest lead was
    created, and their deals closed."""
    spec = make_spec(features={"as_of_days_after_created": [0, 1, 7, 30, 90], "random_snapshots": 3,
                               "outcome_maturity_days": 0})
    crm = canonical(spec, raw_crm(600, seed=3))
    crm.leads = crm.leads.dropna(subset=["created_at"]).drop_duplicates("lead_id").sort_values("created_at")
    ids = crm.leads["lead_id"].tolist()
    old, new = ids[:400], ids[400:]
    end = crm.leads["created_at"].iloc[399]
    rng = np.random.default_rng(5)
    created = crm.leads.set_index("lead_id")["created_at"]
    as_of = {}
    for batch in np.array_split(np.array(new, dtype=object), 10):
        moment = (created[batch].max() + int(rng.integers(3, 31)) * DAY).floor("h")
        as_of |= dict.fromkeys(batch, moment)
    export = only(crm, old, end)
    records = scored(spec, crm, new, as_of)
    return spec, crm, export, records, store_outcomes(crm, new), as_of


def joined(spec, export, records, outcomes):
    choice = choose_logged(records, outcomes, export.leads["lead_id"])
    tables, report = read_logged(spec, choice)
    assert report.success, report.summary()
    history = logged_history(choice, tables, report)
    return history, *history_examples(spec, export, history)


def test_no_logged_lead_is_seen_after_the_moment_it_was_scored_as_of(loop):
    spec, crm, export, records, outcomes, as_of = loop
    history, tables, examples = joined(spec, export, records, outcomes)
    logged = examples.leads["lead_id"].isin(history.observed_until.index).to_numpy()
    moments = examples.leads.loc[logged, "lead_id"].map(as_of).to_numpy("datetime64[ns]")
    assert logged.any() and (examples.as_of[logged] <= moments).all()

    # every snapshot the whole CRM would take at or before as_of, and only those, with the same label
    full = build_examples(spec, crm)
    mine = full.leads["lead_id"].isin(history.observed_until.index).to_numpy()
    known = mine & (full.as_of <= full.leads["lead_id"].map(as_of).to_numpy("datetime64[ns]"))
    key = lambda ex, rows: sorted(zip(ex.leads["lead_id"][rows], ex.as_of[rows], ex.label[rows]))  # noqa: E731
    assert key(examples, logged) == key(full, known)
    beyond = int((mine & ~known).sum())
    assert beyond > 0 and history.counts["snapshots_after_record"] == beyond == examples.counts["after_record"]
    assert examples.counts["snapshots"] == len(examples)
    assert examples.counts["leads"] == len(set(examples.leads["lead_id"]))


def test_the_records_show_each_snapshot_as_the_whole_crm_does_and_only_up_to_their_moment(loop):
    """Features of a logged lead's snapshots, from its record, are those the complete CRM gives
    at the same moment; at moments after the record they would not be (what the bound avoids)."""
    spec, crm, export, records, outcomes, as_of = loop
    history, tables, examples = joined(spec, export, records, outcomes)
    transform = LeadTransform.fit(spec, crm.leads, crm.activities, min_category_count=1)
    logged = examples.leads["lead_id"].isin(history.observed_until.index).to_numpy()
    leads = examples.leads[logged].reset_index(drop=True)
    truth = crm.leads.set_index("lead_id").loc[leads["lead_id"]].reset_index()
    np.testing.assert_array_equal(transform.transform_frame(leads, tables.activities, examples.as_of[logged]),
                                  transform.transform_frame(truth, crm.activities, examples.as_of[logged]))

    # without the bound, the same history would have snapshots the records cannot show
    unbounded = build_examples(spec, tables)
    rows = unbounded.leads["lead_id"].isin(history.observed_until.index).to_numpy()
    after = rows & (unbounded.as_of > unbounded.leads["lead_id"].map(as_of).to_numpy("datetime64[ns]"))
    leads = unbounded.leads[after].reset_index(drop=True)
    truth = crm.leads.set_index("lead_id").loc[leads["lead_id"]].reset_index()
    differs = (transform.transform_frame(leads, tables.activities, unbounded.as_of[after])
               != transform.transform_frame(truth, crm.activities, unbounded.as_of[after])).any(axis=1)
    assert after.any() and differs.mean() > 0.5


def test_the_export_decides_for_its_own_leads_and_the_counts_say_what_joined(loop):
    spec, crm, export, records, outcomes, as_of = loop
    in_export = export.leads["lead_id"].iloc[:30].tolist()
    also = store_outcomes(crm, in_export).assign(outcome="won")  # the store disagrees: the export wins
    never = pd.DataFrame({"lead_id": ["nobody-1", "nobody-2"], "outcome": "lost",
                          "closed_at": pd.Timestamp("2025-06-01")})
    extra = scored(spec, crm, in_export[:10], {i: pd.Timestamp("2026-01-01") for i in in_export[:10]})
    history, tables, examples = joined(spec, export, pd.concat([records, extra], ignore_index=True),
                                      pd.concat([outcomes, also, never], ignore_index=True))
    c = history.counts
    assert c["used"] == len(outcomes) and c["won"] == int((outcomes["outcome"] == "won").sum())
    assert c["skipped_in_export"] == len(also) and c["skipped_no_record"] == 2
    assert c["open"] == len(records) - len(outcomes)
    labels = pd.Series(examples.label, index=examples.leads["lead_id"]).groupby(level=0).first()
    truth = export.outcomes.drop_duplicates("lead_id", keep="last").set_index("lead_id")["won"]
    shared = labels.index.intersection(in_export)
    assert len(shared) and (labels[shared] == truth[shared]).all()
    assert len(tables.leads) == len(export.leads) + c["used"]


def test_each_source_leaves_out_its_own_recent_leads(loop):
    spec, crm, export, records, outcomes, as_of = loop
    spec = make_spec(features={**spec.features.model_dump(), "outcome_maturity_days": 100})
    history, tables, examples = joined(spec, export, records, outcomes)
    alone = build_examples(spec, export)
    exported = examples.leads["lead_id"].isin(export.leads["lead_id"]).to_numpy()
    assert set(examples.leads["lead_id"][exported]) == set(alone.leads["lead_id"])
    assert int(exported.sum()) == len(alone)
    key = next(k for k in examples.excluded if "outcome_maturity_days" in k)
    created = tables.leads.set_index("lead_id")["created_at"]
    recent_logged = created[history.observed_until.index] > history.end - 100 * DAY
    assert history.counts["too_recent"] == int(recent_logged.sum()) > 0
    assert examples.excluded[key] == alone.excluded[key] + history.counts["too_recent"]


def test_a_lead_scored_before_it_was_created_gives_no_example_and_is_counted(loop):
    spec, crm, export, records, outcomes, as_of = loop
    early = records.copy()
    early.loc[:4, "as_of"] = early.loc[:4, "as_of"] - pd.Timedelta(days=60)
    history, tables, examples = joined(spec, export, early, outcomes)
    gone = set(early.loc[:4, "lead_id"]) & set(outcomes["lead_id"])
    assert gone and not gone & set(examples.leads["lead_id"])
    assert examples.excluded[NO_SNAPSHOT_IN_RECORD] == len(gone)


def test_a_flat_export_takes_the_store_outcome_as_its_label():
    spec = DatasetSpec.model_validate({
        "name": "flat", "leads": {"file": "leads", "id": "id", "created_at": "created", "label": "converted",
                                  "categorical": ["source"], "numeric": ["visits"]}})
    raw = pd.DataFrame({"id": [f"A{i}" for i in range(40)],
                        "created": pd.date_range("2025-01-01", periods=40, freq="D").astype(str),
                        "converted": ["1", "0"] * 20, "source": ["web", "ads"] * 20,
                        "visits": [str(i) for i in range(40)]})
    crm = canonical(spec, {"leads": raw})
    export = CRMTables(leads=crm.leads.iloc[:30].reset_index(drop=True))
    newer = crm.leads.iloc[30:]
    moment = pd.Timestamp("2025-03-01")
    records = pd.DataFrame([(i, moment, moment, lead, acts) for i, (lead, acts) in
                            zip(newer["lead_id"], records_from_tables(spec, newer, None, moment))],
                           columns=["lead_id", "scored_at", "as_of", "lead", "activities"])
    outcomes = pd.DataFrame({"lead_id": newer["lead_id"], "outcome": "won", "closed_at": moment})
    history, tables, examples = joined(spec, export, records, outcomes)
    assert len(examples) == 40 and history.counts["used"] == 10
    labels = pd.Series(examples.label, index=examples.leads["lead_id"])
    assert (labels[newer["lead_id"]] == 1).all()  # the store's outcome
    assert (labels[export.leads["lead_id"]] == export.leads["won"].to_numpy()).all()
    assert list(examples.leads["visits"].iloc[-10:]) == list(range(30, 40))


def test_a_spec_that_cannot_place_logged_leads_in_time_is_refused():
    from tests.conftest import ROOT
    from features.spec import load_spec

    with pytest.raises(DataError, match="needs leads.created_at.*Lead Number.*leave out --with-logged-outcomes"):
        refuse_unplaceable(load_spec(ROOT / "data" / "specs" / "x_education.yaml"))
    flat = DatasetSpec.model_validate({"name": "flat", "leads": {"file": "l", "id": "id", "created_at": "c",
                                                                   "order_by": "n", "label": "y"}})
    with pytest.raises(DataError, match="leads.order_by 'n'.*remove leads.order_by"):
        refuse_unplaceable(flat)


def test_outcomes_only_of_export_leads_choose_nothing_without_failing(loop):
    spec, crm, export, records, outcomes, as_of = loop
    in_export = export.leads["lead_id"].iloc[:20].tolist()
    extra = scored(spec, crm, in_export, {i: pd.Timestamp("2026-01-01") for i in in_export})
    closed = store_outcomes(crm, in_export)
    choice = choose_logged(extra, closed, export.leads["lead_id"])
    assert choice.counts["used"] == 0 and choice.counts["skipped_in_export"] == len(closed) > 0
    assert len(choice.records) == 0
