"""Training examples: a lead as of a moment, labelled by what happened after it.

With an event log and an outcomes table, each lead is looked at several times: as of each
snapshot age in `features.as_of_days_after_created` (0, 1, 7, 30 and 90 days after it was
created, by default) at which it was still open, and as of `features.random_snapshots` (3)
more ages drawn at random while it was open, up to the last listed age (the draws come from a
hash of the lead's id: the same lead gets the same ages in every export). Its features use only
what was known at that moment, its label is whether the deal it became was won, and its age is
a model input, so a lead scored at any age meets the situation it was trained on. A lead that
had closed by an age has no snapshot at that age (its outcome was known); one closed before
the first age has none at all, and is reported as excluded. Without an event log nothing about
a lead changes after its creation: it is one example as of creation, and no closed lead is left
out. A lead still open has no label yet. A flat export without dates (a label column) gives one example per
labelled lead, ordered by `order_by` when the spec has it.

All snapshots of a lead stay together: the time split and the folds are by lead. Figures that
count leads (validation, holdout, stages) take one snapshot per lead, `evaluated`: its last
snapshot at a listed age at or before `features.evaluation_age_days` (30), or its first listed
one if it has none so early.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.errors import DataError
from features.load import CLOSED_AT, CREATED_AT, LEAD_ID, ORDER, WON, CRMTables, export_end, outcome_rows
from features.spec import DatasetSpec

WINS_EXCLUDED_WARNING = 0.10
"""Above this share of the won leads left out of training, the summary warns."""
_DAY = pd.Timedelta(days=1)
CLOSED_BEFORE = "closed before the as-of moment"
"""Why a closed lead has no example: it closed before its first snapshot age."""


@dataclass
class Examples:
    leads: pd.DataFrame  # canonical lead rows, one per example (a lead once per snapshot)
    as_of: np.ndarray | None  # datetime64[ns] per example, None without dates or event log
    label: np.ndarray  # 1 won, 0 lost
    order: np.ndarray  # per example, its lead's place in time: created_at (ns) or the spec's order_by
    excluded: dict[str, int]  # leads (or outcome rows) left out, by reason
    lead: np.ndarray | None = None  # per example, its lead's number (0, 1, ...); None: one example per lead
    age_days: np.ndarray | None = None  # per example, the snapshot age; None without snapshots
    evaluated: np.ndarray | None = None  # per example, True for the one snapshot its lead is counted at
    drawn: np.ndarray | None = None  # per example, True for a snapshot at an age drawn at random
    counts: dict = field(default_factory=dict)  # leads, snapshots, wins and what was left out (lines())
    lead_share: float = 1.0  # the share of the export's leads with an outcome these hold (a sample: kept / all)

    def __len__(self) -> int:
        return len(self.label)

    @property
    def lead_of(self) -> np.ndarray:
        return self.lead if self.lead is not None else np.arange(len(self.label))

    @property
    def is_evaluated(self) -> np.ndarray:
        return self.evaluated if self.evaluated is not None else np.ones(len(self.label), dtype=bool)

    def of_leads(self, keep: np.ndarray) -> "Examples":
        """The examples of some leads: `keep` says per example whether its lead is kept, and
        must say the same for every snapshot of a lead (a lead is never cut in two: its
        snapshots stay together, in the same order). Counts of what was left out are not
        carried over (they describe the whole export); the share of the export's leads the
        examples stand for (`lead_share`, below 1 for a sample) is."""
        keep = np.asarray(keep, dtype=bool)
        lead = self.lead_of
        kept_leads = np.unique(lead[keep])
        if np.isin(lead[~keep], kept_leads).any():
            raise ValueError("Examples.of_leads: keep must take every snapshot of a lead or none")
        rows = np.flatnonzero(keep)

        def take(values):
            return values[rows] if values is not None else None

        return Examples(self.leads.iloc[rows].reset_index(drop=True), take(self.as_of), self.label[rows],
                        self.order[rows], {}, lead=take(self.lead), age_days=take(self.age_days),
                        evaluated=take(self.evaluated), drawn=take(self.drawn), lead_share=self.lead_share)

    def age_groups(self, rows: np.ndarray) -> list[tuple[float | None, np.ndarray]]:
        """The given rows by snapshot age: (age, rows) per listed age, ascending, then (None,
        rows) for the ages drawn at random; one group (None, rows) without snapshots."""
        rows = np.asarray(rows)
        if self.age_days is None:
            return [(None, rows)]
        drawn = self.drawn[rows] if self.drawn is not None else np.zeros(len(rows), dtype=bool)
        age = self.age_days[rows]
        groups = [(float(a), rows[~drawn & (age == a)]) for a in np.unique(age[~drawn])]
        return groups + ([(None, rows[drawn])] if drawn.any() else [])

    def in_time_order(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The given row positions (default: all), leads ordered by time (ties keep row order),
        each lead's snapshots together and by age."""
        rows = np.arange(len(self.label)) if rows is None else np.asarray(rows)
        lead = self.lead_of[rows]
        age = self.age_days[rows] if self.age_days is not None else np.zeros(len(rows))
        return rows[np.lexsort((age, lead, self.order[rows]))]

    def split_by_time(self, holdout_fraction: float, rows: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Row positions of (the older leads' examples, the examples of the most recent
        holdout_fraction of the leads), among `rows` (default: all). Every snapshot of a lead
        falls on the same side."""
        ranked = self.in_time_order(rows)
        lead = self.lead_of[ranked]
        starts = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]]) if len(ranked) else np.zeros(0, dtype=int)
        cut = int(round(len(starts) * (1 - holdout_fraction)))
        boundary = starts[cut] if cut < len(starts) else len(ranked)
        return ranked[:boundary], ranked[boundary:]

    def time_folds(self, rows: np.ndarray, folds: int) -> np.ndarray:
        """Per row of `rows`, its fold (0 oldest .. folds-1 newest): consecutive blocks of about
        the same number of leads in time order, a lead's snapshots in one fold."""
        ranked = self.in_time_order(rows)
        lead = self.lead_of[ranked]
        number = np.cumsum(np.r_[True, lead[1:] != lead[:-1]]) - 1 if len(ranked) else np.zeros(0, dtype=int)
        n_leads = int(number[-1]) + 1 if len(number) else 0
        fold_of_ranked = (number * folds) // max(n_leads, 1)
        where = np.empty(len(self.label), dtype=np.int64)
        where[np.asarray(rows)] = np.arange(len(rows))
        out = np.empty(len(rows), dtype=np.int64)
        out[where[ranked]] = fold_of_ranked
        return out

    def lines(self) -> list[str]:
        """What the examples hold and what was left out, in words (the train summary)."""
        c = self.counts
        if not c:
            return [f"examples: {len(self):,}; excluded: " + ", ".join(f"{k} {v:,}" for k, v in self.excluded.items())]
        out = []
        left = ", ".join(f"{k} {v:,}" for k, v in self.excluded.items() if v) or "none"
        export = " in the export" if self.lead_share < 1 else ""  # a sample is trained on: the counts are the export's
        used = "in the export (a sample of them is trained on)" if export else "used"
        out.append(f"leads: {c['leads']:,} with an outcome {used}; left out: {left}")
        if c.get("ages"):
            ages = ", ".join(f"{_days(a)}: {n:,}" for a, n in zip(c["ages"], c["snapshots_by_age"]))
            drawn = (f", {c['drawn']:,} at ages drawn at random up to {_days(c['ages'][-1])} days"
                     if c.get("drawn") else "")
            out.append(f"snapshots{export}: {c['snapshots']:,} (by age in days {ages}{drawn}); {c['closed_by_then']:,} not "
                       "taken at a listed age because the lead had closed by then")
        share = c["wins_excluded"] / c["wins"] if c["wins"] else 0.0
        out.append(f"wins{export}: {c['wins']:,} won leads, {c['wins_excluded']:,} ({share:.0%}) excluded"
                   + (f" ({', '.join(f'{k} {v:,}' for k, v in c['wins_excluded_by'].items() if v)})"
                      if c["wins_excluded"] else ""))
        return out

    def warnings(self) -> list[str]:
        """Warnings for the train summary: too many wins left out of training."""
        c = self.counts
        if not c or not c.get("wins"):
            return []
        share = c["wins_excluded"] / c["wins"]
        if share <= WINS_EXCLUDED_WARNING:
            return []
        first = c["ages"][0] if c.get("ages") else 0.0
        early = c["wins_excluded_by"].get(CLOSED_BEFORE, 0)
        fix = (f"; {early:,} closed before the first snapshot age ({_days(first)} days): add 0 to "
               "features.as_of_days_after_created in the spec so every lead is seen at its creation"
               if first and early else "")
        missing = c["wins_excluded_by"].get("no created time", 0)
        fix += f"; {missing:,} have no created time" if missing else ""
        return [f"{share:.0%} of the won leads ({c['wins_excluded']:,} of {c['wins']:,}) are not in the training "
                f"examples{fix}"]


def _days(age: float) -> str:
    return f"{age:g}"


def build_examples(spec: DatasetSpec, tables: CRMTables, as_of_days: float | list[float] | None = None) -> Examples:
    """The examples of a CRM export. as_of_days: snapshot ages instead of the spec's (one number:
    one age), with no ages drawn at random."""
    if spec.leads.label is not None:
        return _flat_examples(spec, tables)
    ages = spec.snapshot_ages
    random = spec.features.random_snapshots
    if as_of_days is not None and ages is not None:
        ages, random = sorted(float(a) for a in np.atleast_1d(as_of_days)), 0
    if spec.activities is None:
        random = 0  # nothing about a lead changes after its creation
    return _snapshot_examples(spec, tables, ages, random)


def _flat_examples(spec: DatasetSpec, tables: CRMTables) -> Examples:
    """One example per labelled lead of a flat export (a label column, no closing times)."""
    leads = tables.leads
    labelled = leads[WON].notna().to_numpy()
    chosen = leads[labelled].reset_index(drop=True)
    if ORDER in chosen:
        order = chosen[ORDER].to_numpy(dtype="float64")
    elif CREATED_AT in chosen:
        order = chosen[CREATED_AT].to_numpy("datetime64[ns]").view(np.int64).astype("float64")
    else:
        order = np.arange(len(chosen), dtype="float64")
    as_of = age = None
    ages = spec.snapshot_ages
    if ages and CREATED_AT in chosen:
        as_of = (chosen[CREATED_AT] + ages[0] * _DAY).to_numpy("datetime64[ns]")
    label = chosen[WON].to_numpy(dtype="int8")
    wins = int(label.sum())
    counts = {"leads": len(chosen), "snapshots": len(chosen), "wins": wins, "wins_excluded": 0,
              "wins_excluded_by": {}}
    return Examples(chosen, as_of, label, order, {"no label": int((~labelled).sum())}, age_days=age, counts=counts)


def lead_outcomes(tables: CRMTables) -> tuple[pd.DataFrame, np.ndarray, dict[str, int]]:
    """(the leads with the WON and CLOSED_AT of their outcome (the last known one), per lead
    whether it closed, outcome rows left out by reason)."""
    all_outcomes = outcome_rows(tables)
    known = all_outcomes[WON].notna()
    outcomes = all_outcomes[known].drop_duplicates(LEAD_ID, keep="last")
    merged = tables.leads.merge(outcomes[[LEAD_ID, WON, CLOSED_AT]], on=LEAD_ID, how="left", validate="one_to_one")
    closed = merged[CLOSED_AT].notna().to_numpy() & merged[WON].notna().to_numpy()
    return merged, closed, {"unknown outcome value": int((~known).sum())}


def _snapshot_examples(spec: DatasetSpec, tables: CRMTables, ages: list[float] | None, random: int) -> Examples:
    merged, closed, excluded = lead_outcomes(tables)
    won = merged[WON].fillna(False).to_numpy(dtype=bool) & closed
    excluded["still open"] = int((~closed).sum())
    if CREATED_AT in merged:
        order_all = merged[CREATED_AT].to_numpy("datetime64[ns]").view(np.int64).astype("float64")
    elif ORDER in merged:
        order_all = merged[ORDER].to_numpy(dtype="float64")
    else:
        order_all = np.arange(len(merged), dtype="float64")

    if ages is None or CREATED_AT not in merged:  # no creation times: one example per closed lead
        pos = np.flatnonzero(closed)
        return _assemble(merged, pos, None, None, np.ones(len(pos), dtype=bool), None, order_all, won, excluded,
                         {"leads": len(pos), "snapshots": len(pos), "wins": int(won.sum()), "wins_excluded": 0,
                          "wins_excluded_by": {}})

    created = merged[CREATED_AT]
    no_time = closed & created.isna().to_numpy()
    usable = closed & ~no_time
    maturity = outcome_maturity_days(spec, merged[CREATED_AT], merged[CLOSED_AT], closed)
    recent = np.zeros(len(merged), dtype=bool)
    if maturity:
        recent = (created > export_end(tables) - maturity * _DAY).to_numpy(dtype=bool)
        excluded["still open"] = int((~closed & ~recent).sum())
        excluded[too_recent(maturity)] = int(recent.sum())
        usable &= ~recent
        if closed.any() and not usable.any():
            raise DataError(f"{spec.source or 'the dataset spec'}: features.outcome_maturity_days {maturity:g} leaves "
                            f"out every closed lead: all were created within {maturity:g} days of the export's end "
                            f"({export_end(tables):%Y-%m-%d}); lower it, or set it to 0 to keep every lead")
    closed_at = merged[CLOSED_AT]
    parts, part_ages, part_moments, taken_by_age = [], [], [], []
    has_any = np.zeros(len(merged), dtype=bool)
    closed_by_then = 0
    for age in ages:
        moment = created + age * _DAY
        # The outcome comes after the moment; at creation, every closed lead (it cannot have
        # closed before it existed, validation sees to that).
        after = (closed_at >= moment) if age == 0 else (closed_at > moment)
        take = usable & after.fillna(False).to_numpy(dtype=bool)
        closed_by_then += int((usable & has_any & ~take).sum())
        has_any |= take
        pos = np.flatnonzero(take)
        parts.append(pos)
        part_ages.append(np.full(len(pos), age))
        part_moments.append(moment.to_numpy("datetime64[ns]")[pos])
        taken_by_age.append(len(pos))
    n_drawn = 0
    if random and ages[-1] > 0:
        # Ages drawn uniformly over the time the lead was open, up to the last listed age.
        open_days = ((closed_at - created) / _DAY).to_numpy(dtype="float64", na_value=np.nan)
        span = np.minimum(open_days, ages[-1])
        for draw in range(random):
            drawn_age = lead_uniforms(merged[LEAD_ID], draw) * span
            moment = created + pd.to_timedelta(drawn_age, unit="D")
            take = usable & (span > 0) & ((closed_at > moment) | (drawn_age == 0)).fillna(False).to_numpy(dtype=bool)
            has_any |= take
            pos = np.flatnonzero(take)
            parts.append(pos)
            part_ages.append(drawn_age[pos])
            part_moments.append(moment.to_numpy("datetime64[ns]")[pos])
            n_drawn += len(pos)
    never = usable & ~has_any
    if no_time.any():
        excluded["no created time"] = int(no_time.sum())
    if ages[0] > 0 or never.any():
        excluded[CLOSED_BEFORE] = int(never.sum())
    pos = np.concatenate(parts)
    age = np.concatenate(part_ages)
    moments = np.concatenate(part_moments)
    drawn = np.arange(len(pos)) >= len(pos) - n_drawn
    evaluated = evaluated_snapshot(pos, age, spec.features.evaluation_age_days, drawn)
    wins_by = {"no created time": int((won & no_time).sum()), CLOSED_BEFORE: int((won & never).sum()),
               **({too_recent(maturity): int((won & recent).sum())} if maturity else {})}
    counts = {"leads": int(has_any.sum()), "snapshots": len(pos), "ages": list(ages), "snapshots_by_age": taken_by_age,
              "drawn": n_drawn, "closed_by_then": closed_by_then, "wins": int(won.sum()), "wins_excluded": sum(wins_by.values()),
              "wins_excluded_by": wins_by}
    return _assemble(merged, pos, age, moments, evaluated, drawn, order_all, won, excluded, counts)


MATURITY_QUANTILE = 0.95
"""outcome_maturity_days: auto is the time within which this share of closed deals closed."""


def outcome_maturity_days(spec: DatasetSpec, created: pd.Series, closed_at: pd.Series, closed: np.ndarray) -> float:
    """The spec's features.outcome_maturity_days in days; auto: the MATURITY_QUANTILE of the
    days from creation to close over the closed leads (0 when none has both times)."""
    stated = spec.features.outcome_maturity_days
    if stated != "auto":
        return float(stated)
    days = ((closed_at - created) / _DAY).to_numpy(dtype="float64", na_value=np.nan)[closed]
    days = days[np.isfinite(days)]
    return float(np.quantile(days, MATURITY_QUANTILE)) if len(days) else 0.0


def too_recent(maturity: float) -> str:
    """Why a lead has no example: created too close to the export's end (see the spec key)."""
    return f"created in the last {maturity:.0f} days, outcome not known yet (features.outcome_maturity_days)"


def lead_uniforms(lead_ids: pd.Series, draw: int) -> np.ndarray:
    """A number in [0, 1) per lead for its draw-th random snapshot, from a hash of the lead's id
    (pandas' fixed-key hash, then a splitmix64 step per draw): the same lead gets the same ages
    in every export, whatever else the export holds."""
    h = pd.util.hash_pandas_object(lead_ids.astype(str), index=False).to_numpy(np.uint64)
    with np.errstate(over="ignore"):
        z = h + np.uint64(draw + 1) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**53


def drawn_at_most(lead_ids: pd.Series, draw: int, cut: float | None) -> np.ndarray:
    """Per lead, whether its `lead_uniforms(lead_ids, draw)` is at most `cut` (every lead when
    None): the one test of which leads a hash-drawn sample keeps (training.minimum_data)."""
    if cut is None:
        return np.ones(len(lead_ids), dtype=bool)
    return lead_uniforms(lead_ids, draw) <= cut


def evaluated_snapshot(pos: np.ndarray, age: np.ndarray, evaluation_age: float, drawn: np.ndarray | None = None) -> np.ndarray:
    """Per snapshot, whether it is its lead's evaluation snapshot: the last at a listed age (not
    `drawn`) at or before the evaluation age, or the lead's first listed one when none is (its
    first drawn one when it has no listed one)."""
    out = np.zeros(len(pos), dtype=bool)
    if drawn is not None and drawn.any():
        listed = np.flatnonzero(~drawn)
        out[listed] = evaluated_snapshot(pos[listed], age[listed], evaluation_age)
        only_drawn = np.flatnonzero(~np.isin(pos, pos[listed]))  # closed before the first listed age
        if len(only_drawn):
            out[only_drawn] = evaluated_snapshot(pos[only_drawn], age[only_drawn], -1.0)  # the earliest
        return out
    if not len(pos):
        return out
    order = np.lexsort((age, pos))
    lead = pos[order]
    start = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]])
    group = np.cumsum(np.r_[True, lead[1:] != lead[:-1]]) - 1
    early = np.bincount(group, weights=age[order] <= evaluation_age, minlength=len(start)).astype(np.int64)
    out[order[np.where(early > 0, start + early - 1, start)]] = True  # snapshots of a lead go by age
    return out


def _assemble(merged: pd.DataFrame, pos: np.ndarray, age: np.ndarray | None, moments: np.ndarray | None,
              evaluated: np.ndarray, drawn: np.ndarray | None, order_all: np.ndarray, won: np.ndarray,
              excluded: dict[str, int], counts: dict) -> Examples:
    """The examples in time order: leads by time, each lead's snapshots together by age."""
    sort_age = age if age is not None else np.zeros(len(pos))
    ranked = np.lexsort((sort_age, pos, order_all[pos]))
    pos, evaluated = pos[ranked], evaluated[ranked]
    drawn = drawn[ranked] if drawn is not None else None
    age = age[ranked] if age is not None else None
    chosen = merged.iloc[pos].reset_index(drop=True)
    as_of = moments[ranked] if moments is not None else None
    lead = np.cumsum(np.r_[True, pos[1:] != pos[:-1]]) - 1 if len(pos) else np.zeros(0, dtype=np.int64)
    return Examples(chosen.drop(columns=[WON, CLOSED_AT]), as_of, won[pos].astype("int8"), order_all[pos], excluded,
                    lead=lead.astype(np.int64), age_days=age, evaluated=evaluated, drawn=drawn, counts=counts)
