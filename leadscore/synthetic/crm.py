"""Putting the demo CRM together: profiles, activity, truth and deals, exported as the three
tables of the data contract plus the truth, as Arrow tables ready to be written or converted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.errors import DataError
from features.metrics import roc_auc
from leadscore.synthetic import activities, dirt, outcomes, profiles, truth, world

MAX_LEADS = 20_000_000
"""Upper bound on --leads: beyond it the lead index no longer fits the sort key, and memory runs
out long before."""
DEFAULT_WON_RATE = 0.15

STAGES = (
    ("profiles", "drawing lead profiles", 1.0),
    ("intent", "generating activity before qualification", 3.0),
    ("deals", "computing the truth and closing deals", 1.0),
    ("follow-up", "generating activity after qualification", 2.0),
    ("event log", "sorting the event log", 4.0),
    ("tables", "assembling the tables", 2.0),
)
"""The stages of generation, with a description and a rough relative cost, in order."""

_STREAMS = ("profiles", "latents", "pre", "deals", "post", "log", "dirt", "hidden", "careless")
"""One independent random stream per concern, so changing one part leaves the others alone."""

ProgressHook = Callable[[str], None]
"""Called with a stage key from STAGES when that stage starts."""


@dataclass
class CRMExport:
    """A generated CRM: the exported tables, the truth kept apart, and summary figures."""

    leads: pa.Table
    activities: pa.Table
    outcomes: pa.Table
    truth: pa.Table
    summary: dict = field(default_factory=dict)


def check_arguments(n_leads: int, seed: int, won_rate: float) -> None:
    """Refuse arguments the generator cannot honour, naming the option and the fix."""
    if isinstance(n_leads, bool) or not isinstance(n_leads, (int, np.integer)) or n_leads <= 0:
        raise DataError(f"--leads must be a positive number of leads, got {n_leads!r}; "
                        "pass for example --leads 20000")
    if n_leads > MAX_LEADS:
        raise DataError(f"--leads {n_leads:,} is more than the generator supports "
                        f"({MAX_LEADS:,}); generate several folders with different seeds instead")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"--seed must be a whole number >= 0, got {seed!r}; pass for example --seed 7")
    if not isinstance(won_rate, (int, float, np.floating)) or not 0.0 < float(won_rate) < 1.0:
        raise DataError(f"--won-rate must be a share strictly between 0 and 1, got {won_rate!r}; "
                        "pass for example --won-rate 0.15 for 15% of leads won")


def lead_ids(n_leads: int, first: int = 1, all_leads: int | None = None) -> pa.Array:
    """"L0000001", "L0000002", ...: seven digits, more when there are more leads. first: the
    number of the first id; all_leads: how many leads the whole CRM has (its ids' width), when
    this is one chunk of it (leadscore.synthetic.chunks)."""
    width = max(7, len(str(all_leads or n_leads)))
    numbers = pc.cast(pa.array(np.arange(first, first + n_leads, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise("L", pc.utf8_lpad(numbers, width, "0"), "")


def _timestamps(seconds: np.ndarray) -> pa.Array:
    return pa.array((seconds * 1000).view("datetime64[ms]"), pa.timestamp("ms"))


def build_crm(n_leads: int, seed: int, won_rate: float = DEFAULT_WON_RATE,
              on_stage: ProgressHook | None = None, careless_history: float = 0.0,
              seasonality: float = 0.0, first_lead: int = 1, all_leads: int | None = None) -> CRMExport:
    """Generate a CRM of n_leads leads. The same arguments give the same tables, bit for bit.

    careless_history: share of the deals of the oldest 70% of leads whose outcome the CRM
    recorded at random (a careless migration). Behaviour and truth are unchanged; only the
    outcomes table is, so training on it gives a worse model of the same world.
    seasonality: how far the won rate swings with the month a lead was created, in log-odds
    (world.SEASON_PEAK_MONTH); with 0.5 a 15% won rate goes from about 10% to 21% by month.
    first_lead, all_leads: the number of the first lead id and the size of the whole CRM, when
    these leads are one chunk of a bigger one (leadscore.synthetic.chunks); the chunk's own
    figures (won rate, intercept) are its own."""
    check_arguments(n_leads, seed, won_rate)
    if not 0.0 <= careless_history <= 1.0:
        raise DataError(f"--careless-history must be a share between 0 and 1, got {careless_history!r}")
    if not isinstance(seasonality, (int, float, np.floating)) or not 0.0 <= float(seasonality) <= world.MAX_SEASONALITY:
        raise DataError(f"--seasonality must be a swing in log-odds between 0 and {world.MAX_SEASONALITY:g}, got "
                        f"{seasonality!r}; pass for example --seasonality 0.5")
    stage = on_stage or (lambda key: None)
    rng = dict(zip(_STREAMS, (np.random.default_rng(s)
                              for s in np.random.SeedSequence(seed).spawn(len(_STREAMS)))))

    stage("profiles")
    people = profiles.draw_profiles(n_leads, rng["profiles"], dirt.draw_hidden(n_leads, rng["hidden"]))
    latents = activities.draw_latents(people, rng["latents"])

    stage("intent")
    pre = activities.pre_qualification(people, latents, rng["pre"])
    intent, unsubscribed = truth.intent_index(pre, n_leads)

    stage("deals")
    logit_rest = truth.logit_before_base(people, intent, unsubscribed, float(seasonality))
    intercept = truth.solve_intercept(logit_rest, float(won_rate))
    p_true = truth.sigmoid(intercept + logit_rest)
    deals = outcomes.close_deals(people, p_true, rng["deals"])

    stage("follow-up")
    post = activities.post_qualification(people, latents, deals.won, deals.closes_s, rng["post"])

    stage("event log")
    log = activities.event_log(people, pre, post, rng["log"])
    del pre, post

    stage("tables")
    recorded = _recorded_outcomes(people, deals, careless_history, rng["careless"])
    ids = lead_ids(n_leads, first_lead, all_leads)
    rows = dirt.duplicate_rows(n_leads, rng["dirt"])
    export = CRMExport(
        leads=_leads_table(ids, people, deals, rows, rng["dirt"]),
        activities=_activities_table(ids, log),
        outcomes=_outcomes_table(ids, deals, recorded),
        truth=pa.table({"lead_id": ids, "p_true": pa.array(p_true, pa.float64())}),
    )
    export.summary = _summary(n_leads, seed, float(won_rate), intercept, p_true, deals, recorded,
                              n_activities=len(log), duplicates=len(rows) - n_leads)
    if careless_history:
        export.summary["careless_history"] = careless_history
    if seasonality:
        export.summary["seasonality"] = float(seasonality)
        export.summary["won_rate_by_month"] = _won_rate_by_month(people, deals, recorded)
    return export


def _won_rate_by_month(people: profiles.Profiles, deals: outcomes.Deals, recorded: np.ndarray) -> dict[str, float]:
    """Won rate among closed leads by calendar month of creation ("01" .. "12")."""
    month = truth.creation_month(people)[deals.closed]
    won = recorded[deals.closed]
    return {f"{m:02d}": round(float(won[month == m].mean()), 4) for m in range(1, 13) if (month == m).any()}


def _leads_table(ids: pa.Array, people: profiles.Profiles, deals: outcomes.Deals,
                 rows: np.ndarray, rng: np.random.Generator) -> pa.Table:
    columns: dict[str, pa.Array] = {
        "lead_id": ids,
        "created_at": _timestamps(people.created_s),
    }
    for trait in world.TRAITS:
        columns[trait.column] = dirt.dirty_category(trait, people.codes[trait.column],
                                                    people.hidden[trait.column], rng)
        if trait is world.COMPANY_SIZE:
            columns["employee_count"] = pa.array(people.employee_count, pa.float64(), from_pandas=True)
    columns["email_opt_in"] = dirt.dirty_yes_no(people.email_opt_in, people.hidden["email_opt_in"], rng)
    ratings = pa.array(["", *world.SALES_RATINGS], pa.string())
    columns["sales_rating"] = ratings.take(pa.array(deals.sales_rating.astype(np.int32) + 1))
    return pa.table(columns).take(pa.array(rows))


def _activities_table(ids: pa.Array, log: activities.ActivityLog) -> pa.Table:
    """lead_id and activity_type are dictionary-encoded: twenty million rows of repeated short
    strings would otherwise cost gigabytes."""
    return pa.table({
        "lead_id": pa.DictionaryArray.from_arrays(pa.array(log.lead, pa.int32()), ids),
        "occurred_at": _timestamps(log.occurred_s),
        "activity_type": pa.DictionaryArray.from_arrays(
            pa.array(log.type_code, pa.int8()), pa.array(world.ACTIVITY_TYPES, pa.string())),
        "value": pa.array(log.value, pa.float64(), from_pandas=True),
    })


def _recorded_outcomes(people: profiles.Profiles, deals: outcomes.Deals, careless: float,
                       rng: np.random.Generator) -> np.ndarray:
    """The won flag as the CRM recorded it."""
    if careless <= 0:
        return deals.won
    old = people.cohort < 0.7
    scrambled = old & (rng.random(len(deals.won)) < careless)
    recorded = deals.won.copy()
    recorded[scrambled] = rng.random(int(scrambled.sum())) < deals.won[deals.closed].mean()
    return recorded


def _outcomes_table(ids: pa.Array, deals: outcomes.Deals, recorded: np.ndarray) -> pa.Table:
    closed = np.flatnonzero(deals.closed)
    names = pa.array(["lost", "won"], pa.string())
    return pa.table({
        "lead_id": ids.take(pa.array(closed)),
        "outcome": names.take(pa.array(recorded[closed].astype(np.int8))),
        "closed_at": _timestamps(deals.closes_s[closed]),
    })


def _summary(n_leads: int, seed: int, won_rate: float, intercept: float, p_true: np.ndarray,
             deals: outcomes.Deals, recorded: np.ndarray, n_activities: int, duplicates: int) -> dict:
    closed_won = recorded[deals.closed]
    n_closed = len(closed_won)
    n_won = int(closed_won.sum())
    return {
        "leads": n_leads,
        "lead_rows": n_leads + duplicates,
        "duplicates_injected": duplicates,
        "activities": n_activities,
        "activities_per_lead": round(n_activities / n_leads, 2),
        "outcomes": {"won": n_won, "lost": n_closed - n_won, "open": n_leads - n_closed},
        "won_rate_closed": round(n_won / n_closed, 4) if n_closed else None,
        "best_achievable_auc": round(roc_auc(closed_won, p_true[deals.closed]), 4),
        "mean_p_true": round(float(p_true.mean()), 4),
        "target_won_rate": won_rate,
        "intercept_b0": round(intercept, 4),
        "seed": seed,
        "export_end": str(world.EXPORT_END).replace("T", " "),
    }
