"""The checks that turn a bad lead into a clear 4xx: `LeadValidator`, built from the served
model's dataset spec at start-up, refuses unknown fields, a missing id, wrong types, NaN or
infinite numbers, over-long text, unreadable timestamps and yes/no fields that are neither,
with the field and the problem named; it reads every time once (ISO 8601 text -> ns). Unknown
category values are accepted: the model scores them as "(other)".
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from itertools import chain, islice, repeat
from typing import Any, Mapping

import numpy as np

from features import values as V
from serving.problems import MAX_PROBLEMS, InputError, Problem, refuse

ACTIVITIES = "activities"
_INT_LIMIT = 2 ** 63
BULK_TIMES = 5_000
"""Requests with more times than this have them parsed together (pandas): faster from a few
thousand on; below that, one by one is faster."""
TIME_CHUNK = 50_000
"""Times are read this many at a time: the memory their reading takes stays bounded however
many a request holds."""


_shown = V.shown
_kind = V.kind_of


def check_moment(text: Any, loc: tuple[str | int, ...]) -> datetime:
    """An ISO 8601 time (`features.values.iso_time_ns`) as a naive UTC datetime (microseconds),
    or an InputError naming `loc`."""
    try:
        ns = V.iso_time_ns(text)
    except V.Unreadable as exc:
        raise refuse(loc, exc.message, exc.kind) from None
    return _EPOCH + timedelta(microseconds=ns // 1000)


_EPOCH = datetime(1970, 1, 1)


class LeadValidator:
    """Checks raw leads against the served model's dataset spec (see the module docstring)."""

    def __init__(self, *, id_field: str, created_at: str | None, categorical: list[str],
                 numeric: list[str], yes_no: list[str], after_contact: list[str],
                 yes_values: list[str], no_values: list[str], missing_values: list[str],
                 activity_fields: Mapping[str, str], max_field_chars: int = 1000,
                 max_activities: int = 10_000):
        self.id_field = id_field
        self.roles: dict[str, str] = {id_field: "id"}
        if created_at:
            self.roles[created_at] = "time"
        for column in [*categorical, *after_contact]:
            self.roles[column] = "category"
        for column in numeric:
            self.roles[column] = "number"
        for column in yes_no:
            self.roles[column] = "yes_no"
        self.has_activities = bool(activity_fields)
        self.activity_time = activity_fields.get("time")
        self.activity_type = activity_fields.get("type")
        self.activity_value = activity_fields.get("value")
        self.activity_keys = {v for v in (self.activity_time, self.activity_type, self.activity_value) if v}
        self.missing = V.placeholders(missing_values)
        self.yes_words, self.no_words = V.words(yes_values), V.words(no_values)
        self.max_chars = max_field_chars
        self.max_activities = max_activities
        self.fields = list(self.roles) + ([ACTIVITIES] if self.has_activities else [])

    @classmethod
    def for_scorer(cls, scorer: Any, max_field_chars: int = 1000, max_activities: int = 10_000) -> "LeadValidator":
        spec = scorer.spec
        lead = spec.leads
        return cls(id_field=scorer.id_field, created_at=lead.created_at, categorical=list(lead.categorical),
                   numeric=list(lead.numeric), yes_no=list(lead.yes_no), after_contact=list(lead.after_contact),
                   yes_values=list(lead.yes_values), no_values=list(lead.no_values),
                   missing_values=list(spec.missing_values), activity_fields=dict(scorer.activity_fields),
                   max_field_chars=max_field_chars, max_activities=max_activities)

    # ---------------------------------------------------------------------------------
    def check_leads(self, leads: list[dict[str, Any]], single: bool = False, at_once: bool = True
                    ) -> list[dict[str, Any]]:
        """The leads ready for the scorer, or an InputError listing the problems.

        Integer ids become text, and activity times are parsed once, here, for the whole
        request (ISO 8601 text -> nanoseconds since the epoch, UTC, the form the features
        read without parsing again). `single`: the body's `lead` rather than `leads`.
        `at_once`: first try `_activities_at_once`, which only says "every activity is good"
        (and reads their times together); the per-activity checks run only when it cannot,
        and they alone word the problems."""
        read = self._activities_at_once(leads) if at_once and self.has_activities else None
        problems: list[Problem] = []
        times: list[tuple] = []  # (lead, its time key, where) or (activities, None, where): times to read
        count = 0
        for i, lead in enumerate(leads):
            found = self._check_lead(lead, ("lead",) if single else ("leads", i), times, read is not None)
            if found:
                count += len(found)
                if len(problems) < MAX_PROBLEMS:
                    problems.extend(found)
        if times:
            found = self._parse_times(times)
            count += len(found)
            problems.extend(found[:max(0, MAX_PROBLEMS - len(problems))])
        if problems:
            raise InputError(problems, total=count)
        if read is not None:
            activities, ns = read
            time_key = self.activity_time
            for activity, t in zip(activities, ns):
                activity[time_key] = t
        return leads

    def _activities_at_once(self, leads: list[dict[str, Any]]) -> tuple[list[dict], list[int]] | None:
        """(every activity of `leads`, its time in ns) when every activity passes the checks of
        `_check_activities` and its time reads; None when any might not (then those checks run,
        one activity at a time, and word the problems). Each test runs over the whole body in
        C (map, set, str methods, numpy; the times by `features.values.iso_times_ns`): the
        per-activity loop took 93 ms of a 1,000-lead call with ~20 activities each
        (benchmarks/score_steps.py, load ~5). Reads the leads, changes nothing."""
        lists = [lead.get(ACTIVITIES) for lead in leads]
        lists = [found for found in lists if found is not None]
        if not lists:
            return [], []
        if set(map(type, lists)) != {list} or max(map(len, lists)) > self.max_activities:
            return None
        activities = list(chain.from_iterable(lists))
        if not activities:
            return [], []
        if set(map(type, activities)) != {dict} or not self.activity_keys.issuperset(set().union(*activities)):
            return None
        max_chars = self.max_chars
        whens = list(map(dict.get, activities, repeat(self.activity_time)))
        if set(map(type, whens)) != {str} or max(map(len, whens)) > max_chars:
            return None
        whats = list(map(dict.get, activities, repeat(self.activity_type)))
        if (set(map(type, whats)) != {str} or not 0 < min(map(len, whats)) <= max(map(len, whats)) <= max_chars
                or any(map(str.isspace, whats))):
            return None
        if self.activity_value is not None:
            amounts = list(map(dict.get, activities, repeat(self.activity_value)))
            kinds = set(map(type, amounts))
            if not kinds <= {int, float, type(None)}:
                return None
            if float in kinds:
                try:
                    finite = np.isfinite(np.array(amounts, dtype=float))
                except OverflowError:  # an integer beyond float: the per-activity checks decide
                    return None
                if len(amounts) - int(finite.sum()) != amounts.count(None):  # None reads as NaN; only it may
                    return None
        ns = self._read_times(whens)
        if V.NAT in ns:
            return None
        return activities, ns

    def _read_times(self, texts: list[str]) -> list[int]:
        """ns per ISO 8601 text (`features.values.NAT` where it does not read): together by
        `iso_times_ns` above BULK_TIMES, else one by one by `iso_time_ns`."""
        if len(texts) > BULK_TIMES:
            import pandas as pd

            return V.iso_times_ns(pd.Series(texts, dtype=object)).tolist()
        values = []
        for text in texts:
            try:
                values.append(V.iso_time_ns(text))
            except V.Unreadable:
                values.append(V.NAT)
        return values

    def _check_lead(self, lead: dict[str, Any], where: tuple, times: list, activities_read: bool = False
                    ) -> list[Problem]:
        problems: list[Problem] = []
        roles = self.roles
        if self.id_field not in lead:
            problems.append(Problem((*where, self.id_field), f"missing: every lead needs its id in "
                                    f"`{self.id_field}`", "missing"))
        max_chars, isfinite = self.max_chars, math.isfinite
        for key, value in lead.items():
            role = roles.get(key)
            kind = type(value)
            # The common cases, checked inline:
            if role == "category":
                if kind is str and len(value) <= max_chars:
                    continue
            elif role == "number":
                if (kind is float and isfinite(value)) or (kind is int and -_INT_LIMIT < value < _INT_LIMIT):
                    continue
            elif role == "time":
                if kind is str and len(value) <= max_chars and not V.is_missing(value, self.missing):
                    times.append((lead, key, where))  # parsed with the others, kept as ns
                    continue
            if role is None:
                if key == ACTIVITIES and self.has_activities:
                    if value is not None and not activities_read:
                        problems.extend(self._check_activities(value, (*where, key), times))
                    continue
                problems.append(Problem((*where, key), self._unknown(key), "extra_forbidden"))
                continue
            problem = self._check_value(role, key, value, where)
            if problem is not None:
                problems.append(problem)
            elif role == "id":
                lead[key] = V.lead_id(value)  # the one key: ' 101', 101 and '101.0' are '101'
        return problems

    def _unknown(self, key: str) -> str:
        shown = key if len(key) <= 60 else key[:60] + "..."
        return f"unknown field {shown!r}; a lead may carry: {', '.join(self.fields)}"

    def _check_value(self, role: str, key: str, value: Any, where: tuple) -> Problem | None:
        """A field's value read by the one parser of its kind (`features.values`): None when it
        reads, else the problem in the parser's words."""
        loc = (*where, key)
        kind = type(value)
        if kind is str and len(value) > self.max_chars:
            return Problem(loc, f"text of {len(value):,} characters; at most {self.max_chars:,} are allowed",
                           "string_too_long")
        if kind is dict or kind is list:
            return Problem(loc, f"must be text, a number, true/false or null, not {_kind(value)}", "type_error")
        if kind is float and value != value:  # NaN is not JSON; a file's empty cell is null here
            return Problem(loc, "NaN is not a finite number: send a number, or null when unknown", "finite_number")
        try:
            if role == "category":
                V.category(value, self.missing)
            elif role == "id":
                if V.lead_id(value) is None or V.is_missing(value, self.missing):
                    return Problem(loc, "missing: the lead id cannot be null" if value is None
                                   else "missing: the lead id is empty", "missing")
            elif role == "number":
                V.number(value, self.missing)
            elif role == "yes_no":
                V.yes_no(value, self.yes_words, self.no_words, self.missing)
            elif role == "time" and not V.is_missing(value, self.missing):
                V.iso_time_ns(value)
        except V.Unreadable as exc:
            return Problem(loc, exc.message, exc.kind)
        return None

    def _check_activities(self, activities: Any, where: tuple, times: list) -> list[Problem]:
        if type(activities) is not list:
            return [Problem(where, f"must be a list of activities, not {_kind(activities)}", "type_error")]
        if len(activities) > self.max_activities:
            return [Problem(where, f"{len(activities):,} activities; at most {self.max_activities:,} per lead "
                            "are allowed (send the most recent ones)", "too_long")]
        problems: list[Problem] = []
        time_key, type_key, value_key = self.activity_time, self.activity_type, self.activity_value
        allowed, max_chars, isfinite = self.activity_keys, self.max_chars, math.isfinite
        times.append((activities, None, where))  # the times that are text, read with the others
        for j, activity in enumerate(activities):
            if type(activity) is not dict:
                problems.append(Problem((*where, j), f"an activity must be an object, not {_kind(activity)}",
                                        "type_error"))
                continue
            if not allowed.issuperset(activity):
                for key in activity.keys() - allowed:
                    shown = key if len(key) <= 60 else key[:60] + "..."
                    problems.append(Problem((*where, j, key), f"unknown field {shown!r}; an activity may carry: "
                                            f"{', '.join(sorted(allowed))}", "extra_forbidden"))
            when = activity.get(time_key)
            if type(when) is not str or len(when) > max_chars:
                problems.append(self._time_problem(when, (*where, j, time_key)))
            what = activity.get(type_key)
            if type(what) is not str or not what or len(what) > max_chars or what.isspace():
                problems.append(self._type_problem(what, (*where, j, type_key)))
            if value_key is not None:
                value = activity.get(value_key)
                if value is not None:
                    kind = type(value)
                    if (kind is float and not isfinite(value)) or (kind is not float and kind is not int):
                        problem = self._check_value("number", value_key, value, (*where, j))
                        if problem:
                            problems.append(problem)
            if len(problems) >= MAX_PROBLEMS:
                break
        return problems

    def _time_problem(self, when: Any, loc: tuple) -> Problem:
        if when is None:
            return Problem(loc, "missing: every activity needs its time", "missing")
        if type(when) is str:
            return Problem(loc, f"text of {len(when):,} characters; at most {self.max_chars:,} are allowed",
                           "string_too_long")
        return Problem(loc, f"must be an ISO 8601 time, not {_kind(when)}", "type_error")

    def _type_problem(self, what: Any, loc: tuple) -> Problem:
        if type(what) is str and len(what) > self.max_chars:
            return Problem(loc, f"text of {len(what):,} characters; at most {self.max_chars:,} are allowed",
                           "string_too_long")
        if what is None or type(what) is str:
            return Problem(loc, "missing: every activity needs its type", "missing")
        return Problem(loc, f"must be text, not {_kind(what)}", "type_error")

    def _time_slots(self, times: list[tuple]):
        """(object, key, where, activity index or None) of each time `times` names, in order:
        a lead's created time, or each activity time that is text (the others are problems
        already)."""
        time_key, max_chars = self.activity_time, self.max_chars
        for owner, key, where in times:
            if key is not None:
                yield owner, key, where, None
                continue
            for j, activity in enumerate(owner):
                if type(activity) is dict:
                    when = activity.get(time_key)
                    if type(when) is str and len(when) <= max_chars:
                        yield activity, time_key, where, j

    def _parse_times(self, times: list[tuple]) -> list[Problem]:
        """Read every collected time with `features.values.iso_time_ns` (ISO 8601 only).
        Activity times and the lead's created time (its age is a model input) are stored back
        as nanoseconds since the epoch, UTC. TIME_CHUNK at a time; a chunk of more than
        BULK_TIMES is read together by `iso_times_ns`, its column form."""
        problems: list[Problem] = []
        slots = self._time_slots(times)
        while chunk := list(islice(slots, TIME_CHUNK)):
            texts = [owner[key] for owner, key, _, _ in chunk]
            values = self._read_times(texts)
            for (owner, key, where, j), text, ns in zip(chunk, texts, values):
                if ns != V.NAT:
                    owner[key] = ns
                    continue
                loc = (*where, key) if j is None else (*where, j, key)
                try:
                    V.iso_time_ns(text)
                    problems.append(Problem(loc, f"not a time: {_shown(text)}", "datetime_parsing"))
                except V.Unreadable as exc:
                    problems.append(Problem(loc, exc.message, exc.kind))
        return problems
