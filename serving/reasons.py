"""Reasons in plain words, from the model's own per-feature contributions.

LightGBM's `pred_contrib` splits each score (in log-odds) into one contribution per model
input. Inputs that come from the same raw field are summed (the 7, 30 and 90-day counts of
pricing-page views are one reason), then the largest positive groups become reasons for and
the largest negative ones reasons against, each phrased from the lead's own values.

Phrased for a salesperson: a field by its display name (the spec's `display_names`, else
words made from the column name: `ExitRates` is "exit rates"), a number rounded to what a
person reads (`readable_number`: "1,530", "0.42", "1.2 million"), a known category in the
export's own most common spelling ("Financial Services"; the training profile keeps it), and
never a missing value as a reason *for* buying (it may be one against: "city not given")
unless being missing went with buying in training (`LeadTransform.missing_buys`). A field
training never saw missing is scored as typical when missing and is no reason either way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from features import values as V
from features.activity import NEVER_DAYS
from features.i18n import DEFAULT_LANGUAGE, N_, month_name, number_text, translations, words_in
from features.load import row_keys
from features.transform import OTHER, LeadTransform, month_of_season

MATCHES_IDEAL_CUSTOMER = N_("matches our ideal customer: {details}")
ACTIVITY_NOT_COUNTED = N_("activity not counted: we don't sell what this lead is interested in")

# Per known activity type: what the lead did, {times} in the last {days} days, and the words
# when it did not (features.i18n: translated where used).
ACTIVITY_WORDS: dict[str, tuple[str, str]] = {
    "pricing_view": (N_("viewed the pricing page {times} in the last {days} days"),
                     N_("no pricing-page views in the last {days} days")),
    "demo_request": (N_("requested a demo {times} in the last {days} days"),
                     N_("no demo requests in the last {days} days")),
    "form_fill": (N_("filled in a form {times} in the last {days} days"),
                  N_("no form fills in the last {days} days")),
    "email_open": (N_("opened an email {times} in the last {days} days"),
                   N_("no email opens in the last {days} days")),
    "email_click": (N_("clicked a link in an email {times} in the last {days} days"),
                    N_("no email clicks in the last {days} days")),
    "web_visit": (N_("visited the website {times} in the last {days} days"),
                  N_("no website visits in the last {days} days")),
    "content_download": (N_("downloaded content {times} in the last {days} days"),
                         N_("no content downloads in the last {days} days")),
    "webinar": (N_("attended a webinar {times} in the last {days} days"),
                N_("no webinars attended in the last {days} days")),
    "unsubscribe": (N_("unsubscribed from emails {times} in the last {days} days"),
                    N_("no unsubscribes in the last {days} days")),
}
MIN_CONTRIBUTION = 0.01  # log-odds; smaller effects are not worth a salesperson's attention
_CACHE_LIMIT = 100_000  # phrases remembered (then forgotten all at once)
_TEXT_OR_NONE = {str, type(None)}
FEW_LEADS = 16  # up to this many, reasons are written lead by lead (less fixed cost)
PROFILE_KINDS = ("categorical", "numeric", "yes_no")


@dataclass(frozen=True)
class _Group:
    key: str
    columns: tuple[int, ...]  # model inputs summed into this reason


_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def display_name(column: str) -> str:
    """Words for a column or activity type made from its name: snake_case, camelCase and
    spaced names alike (`ExitRates`, `exit_rates`, `Exit Rates` -> "exit rates"). Capitalised
    and lower-case words are lower-cased; acronyms and single capitals stay ("CRM source",
    "how did you hear about X education", "I agree to pay")."""
    words = []
    for part in re.sub(r"[_\s]+", " ", column).split():
        for word in _WORD_BREAK.split(part):
            plain = word.islower() or (word[:1].isupper() and len(word) > 1 and word[1:].islower())
            words.append(word.lower() if plain else word)
    return " ".join(words) or column


_SCALES = ((1e12, N_("1 trillion"), N_("{n} trillion")), (1e9, N_("1 billion"), N_("{n} billion")),
           (1e6, N_("1 million"), N_("{n} million")))
"""Per scale, its words for exactly one and for any other amount (English and Italian both say
"1" apart from every other number: "1 milione", "1,5 milioni")."""
TOO_LARGE = 1e15
"""From this magnitude on a number reads "over 1,000 trillion": nothing a lead's profile holds
is that large unless it is an error in the export."""


def readable_number(value: float, language: str = DEFAULT_LANGUAGE) -> str:
    """A number as a person reads it: three significant digits at most, thousands separated,
    no trailing zeros, never scientific notation: 1532.0 -> "1,530", 0.4213 -> "0.42"
    (three digits: "0.421"), 12.0 -> "12", 1234567 -> "1.23 million", 4.5e10 -> "45 billion";
    in Italian "1.530", "0,42", "1,23 milioni". Below a millionth it reads "0"; from 1e15 on
    "over 1,000 trillion"."""
    tr = translations(language)
    if value != value:
        return tr.gettext("not given")
    if abs(value) >= TOO_LARGE:
        return tr.gettext("under -1,000 trillion") if value < 0 else tr.gettext("over 1,000 trillion")
    rounded = float(f"{value:.3g}")  # three significant digits, then written out
    magnitude = abs(rounded)
    sign = "-" if rounded < 0 else ""
    for scale, one, many in _SCALES:
        if magnitude >= scale:
            scaled = round(magnitude / scale, 12)  # 999.5e12 rounds to 1,000 trillion
            decimals = 0 if scaled >= 1000 else max(0, 2 - math.floor(math.log10(scaled)))
            if scaled == 1 and not sign:
                return tr.gettext(one)
            amount = float(f"{scaled:.3g}") if scaled < 1000 else scaled
            return tr.gettext(many).format(n=sign + number_text(amount, language, decimals))
    if magnitude >= 1:
        decimals = max(0, 3 - len(str(int(magnitude))))
    else:
        first = -math.floor(math.log10(magnitude)) if magnitude else 0  # 0.042: the 2nd decimal
        decimals = min(first + 2, 6)
    text = number_text(magnitude, language, decimals)
    return "0" if magnitude == 0 or text.strip("0.,") == "" else sign + text


def shown_text(value: Any) -> str:
    """A lead's own text as a reason quotes it: trimmed, without control or format characters
    (a terminal escape sequence, a bell or a right-to-left override sent in a field is never
    echoed back to whoever reads the reasons)."""
    return "".join(ch for ch in str(value) if ch.isprintable()).strip()


def _times(n: float, tr, language: str) -> str:
    """'once', 'twice', '12 times', '10,000 times' (the count grouped the language's way)."""
    n = int(n)
    if n == 2:
        return tr.gettext("twice")
    return tr.ngettext("once", "{n} times", n).format(n=number_text(n, language))


ENGAGEMENT_KINDS = ("lead_age", "days_since_last", "days_since_high_intent", "distinct_types", "trend")
"""The model inputs whose reason is phrased from their value alone (`ReasonWriter._engagement_phrase`)."""


def shown_engagement(kind: str, values: np.ndarray) -> np.ndarray:
    """What the reason of an engagement input (ENGAGEMENT_KINDS) shows of its values, (n,)
    float -> (n,) float: an age or a time since, in whole days (-1 under a day, inf for never);
    the number of kinds of engagement, whole; the sign of a trend; NaN stays NaN. Its phrase is
    written from this alone, so batch scoring writes it once per shown value: on 200,000 demo
    leads the reasons and grades wrote about 197,000 engagement phrases before, one per distinct
    raw value (line profile of score_table)."""
    v = np.asarray(values, dtype=np.float64)
    whole_days = np.where(v < 1, -1.0, np.round(v))  # round half to even, as round() does
    if kind == "lead_age":
        shown = whole_days
    elif kind in ("days_since_last", "days_since_high_intent"):
        shown = np.where(v >= NEVER_DAYS, np.inf, whole_days)
    elif kind == "distinct_types":
        shown = np.where(v <= 0, 0.0, np.trunc(v))
    elif kind == "trend":
        shown = np.sign(v)
    else:
        shown = np.zeros_like(v)  # the phrase is the kind's name
    return np.where(np.isnan(v), np.nan, shown)


def _ago(days: float, tr) -> str:
    if days < 1:
        return tr.gettext("today")
    whole = int(round(days))
    return tr.ngettext("{n} day ago", "{n} days ago", whole).format(n=whole)


class ReasonWriter:
    """Turns one row of contributions into reasons for and against, in words."""

    def __init__(self, transform: LeadTransform, phrases: Mapping[str, Mapping[str, str]] | None = None,
                 display_names: Mapping[str, str] | None = None,
                 spellings: Mapping[str, Mapping[str, str]] | None = None,
                 language: str = DEFAULT_LANGUAGE):
        """phrases: the spec's `reason_phrases`; display_names: the spec's `display_names`
        (each entry one text, or texts by language); spellings: per categorical column and
        cleaned value, the export's most common spelling (the training profile's; a value
        without one shows as cleaned); language: one of features.i18n.LANGUAGES, the language
        the reasons are written in (features.i18n.translations)."""
        self.transform = transform
        self.language = language
        self._tr = translations(language)
        self.phrases = {c: {k.casefold(): words_in(v, language) for k, v in m.items()}
                        for c, m in (phrases or {}).items()}
        given = {k: (words_in(v, language) or "").strip() for k, v in (display_names or {}).items()}
        columns = [*transform.categorical, *transform.numeric, *transform.yes_no]
        self.names = {c: given.get(c) or display_name(c) for c in columns}
        # Activity types are cleaned like categories ("Page Visited" is "page visited").
        self.activity_names = {V.category(k): v for k, v in given.items() if v and k not in self.names}
        self.spellings = {c: dict(m) for c, m in (spellings or {}).items()}
        self.groups: list[_Group] = []
        by_type: dict[str, list[int]] = {}
        totals: list[int] = []
        season: list[int] = []
        for i, info in enumerate(transform.features):
            if info.kind == "count":
                by_type.setdefault(info.activity_type, []).append(i)
            elif info.kind == "total":
                totals.append(i)
            elif info.kind == "season":
                season.append(i)
            else:
                self.groups.append(_Group(info.name, (i,)))
        if season:
            self.groups.append(_Group("season", tuple(season)))
        if totals:
            self.groups.append(_Group("engagements", tuple(totals)))
        self.groups += [_Group(f"activity:{t}", tuple(cols)) for t, cols in by_type.items()]
        self._index = {info.name: i for i, info in enumerate(transform.features)}
        self.group_of = np.zeros(len(transform.features), dtype=np.int64)  # model input -> its reason
        for g, group in enumerate(self.groups):
            self.group_of[list(group.columns)] = g
        self._columns = [np.array(group.columns) for group in self.groups]
        self._is_category = [len(group.columns) == 1 and transform.features[group.columns[0]].kind == "categorical"
                             for group in self.groups]
        kinds = [transform.features[group.columns[0]].kind if len(group.columns) == 1 else None
                 for group in self.groups]
        self._shown_kind = [kind if kind in ENGAGEMENT_KINDS and not group.key.startswith("activity:") else None
                            for kind, group in zip(kinds, self.groups)]
        self._cache: dict[tuple, str] = {}
        self._silent = [(g, np.array(group.columns)) for g, group in enumerate(self.groups)
                        if transform.features[group.columns[0]].kind not in PROFILE_KINDS]
        # A profile field's missing value is never a reason *for* buying (nothing a
        # salesperson can see or act on); it may be one against.
        self._profile = np.array([transform.features[group.columns[0]].kind in PROFILE_KINDS
                                  for group in self.groups], dtype=bool)
        self._profile_column = np.array([group.columns[0] for group in self.groups])
        # ... unless being missing went with buying in training (LeadTransform.missing_buys);
        # and a field filled in with its typical value (LeadTransform.typical) says nothing.
        first = [transform.names[group.columns[0]] for group in self.groups]
        self._may_buy = np.array([name in transform.missing_buys for name in first], dtype=bool)
        self._typical = np.array([name in transform.typical for name in first], dtype=bool)
        self._profile_cells = [group.columns[0] if is_profile and not may_buy else None  # (single-lead path)
                               for group, is_profile, may_buy in zip(self.groups, self._profile.tolist(),
                                                                     self._may_buy.tolist())]
        self._typical_cells = [group.columns[0] if typical else None
                               for group, typical in zip(self.groups, self._typical.tolist())]

    def group_contributions(self, contributions: np.ndarray) -> np.ndarray:
        """(n, p+1) per-input contributions (last column: bias) -> (n, groups)."""
        grouped = np.zeros((len(contributions), len(self.groups)))
        np.add.at(grouped.T, self.group_of, contributions[:, :-1].T)
        return grouped

    def reasons_many(self, grouped: np.ndarray, X: np.ndarray, leads: list[Mapping[str, Any] | None] | None,
                     limit: int = 5) -> list[tuple[list[str], list[str]]]:
        """Reasons for and against for each row. The groups are ranked for all rows at once;
        each phrase is written once per distinct value (phrases repeat a lot across leads)."""
        n, width = grouped.shape
        if n == 0 or limit <= 0:
            return [([], []) for _ in range(n)]
        if n <= FEW_LEADS:
            return [self._reasons_one(grouped[i], X[i], leads[i] if leads else None, limit) for i in range(n)]
        texts, n_for, n_against = self._ranked_texts(grouped, X, leads, limit)
        limit = texts.shape[1] // 2
        texts = texts.tolist()
        return [(row[:a], row[limit:limit + b]) for row, a, b in zip(texts, n_for.tolist(), n_against.tolist())]

    def _ranked_texts(self, grouped: np.ndarray, X: np.ndarray, leads: list | None, limit: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(texts (n, 2k) object: the k reasons for, then the k against, of each row, most
        weighty first, "" past the row's own number; how many for (n,); how many against (n,)),
        k = min(limit, groups): reasons_many and reasons_joined for more than FEW_LEADS rows."""
        n, width = grouped.shape
        limit = min(limit, width)
        grouped = grouped.copy()
        for g, columns in self._silent:  # engagement of a lead we cannot sell to: nothing to say
            grouped[np.isnan(X[:, columns]).any(axis=1), g] = 0.0
        if self._profile.any():  # a missing value: a reason against at most (see __init__)
            missing = np.zeros_like(grouped, dtype=bool)
            missing[:, self._profile] = np.isnan(X[:, self._profile_column[self._profile]])
            np.minimum(grouped, 0.0, out=grouped, where=missing & ~self._may_buy)
            grouped[missing & self._typical] = 0.0
        order = np.argsort(-grouped, axis=1, kind="stable")
        ranked = np.concatenate([order[:, :limit], order[:, ::-1][:, :limit]], axis=1)
        n_for = np.minimum((grouped >= MIN_CONTRIBUTION).sum(axis=1), limit)
        n_against = np.minimum((grouped <= -MIN_CONTRIBUTION).sum(axis=1), limit)
        slot = np.arange(limit)
        wanted = np.concatenate([slot < n_for[:, None], slot < n_against[:, None]], axis=1)
        texts = np.full(ranked.shape, "", dtype=object)
        for g in np.unique(ranked[wanted]).tolist():
            rows, slots = np.nonzero((ranked == g) & wanted)
            texts[rows, slots] = self._phrases_for(g, X, rows, leads)
        return texts, n_for, n_against

    def _reasons_one(self, grouped: np.ndarray, row: np.ndarray, lead: Mapping[str, Any] | None,
                     limit: int) -> tuple[list[str], list[str]]:
        """The same as reasons_many for one lead, without its fixed cost (the single-lead path)."""
        order = np.argsort(-grouped, kind="stable").tolist()
        values = grouped.tolist()
        cells = row.tolist()
        pros: list[str] = []
        profile_cells = self._profile_cells
        for g in order:
            if values[g] < MIN_CONTRIBUTION or len(pros) >= limit:
                break
            c = profile_cells[g]
            if c is not None and cells[c] != cells[c]:  # a missing value: not a reason for
                continue
            text = self._phrase_cached(g, cells, row, lead)
            if text:
                pros.append(text)
        cons: list[str] = []
        typical_cells = self._typical_cells
        for g in reversed(order):
            if values[g] > -MIN_CONTRIBUTION or len(cons) >= limit:
                break
            c = typical_cells[g]
            if c is not None and cells[c] != cells[c]:  # filled in as typical: nothing to say
                continue
            text = self._phrase_cached(g, cells, row, lead)
            if text:
                cons.append(text)
        return pros, cons

    def _phrase_cached(self, g: int, cells: list[float], row: np.ndarray, lead: Mapping[str, Any] | None) -> str:
        raw = None
        if self._is_category[g] and lead is not None:
            raw = lead.get(self.groups[g].key)
            if raw is not None and type(raw) is not str:  # 1, 1.0 and True are one key: no cache
                return self.phrase(self.groups[g], row, lead)
        key = (g, *[None if cells[c] != cells[c] else cells[c] for c in self.groups[g].columns], raw, lead is None)
        return self._remembered(key, lambda: self.phrase(self.groups[g], row, lead))

    def _remembered(self, key: tuple, write) -> str:
        """The phrase under `key`, written by `write()` the first time (bounded memory)."""
        text = self._cache.get(key)
        if text is None:
            if len(self._cache) > _CACHE_LIMIT:
                self._cache.clear()
            text = self._cache[key] = write()
        return text

    def reasons_joined(self, grouped: np.ndarray, X: np.ndarray, limit: int = 3,
                       separator: str = "; ") -> tuple[list[str], list[str]]:
        """The reasons for and against of each row as one text each (batch files): the texts of
        reasons_many joined. Past FEW_LEADS rows, Arrow joins each row's reasons (`binary_join` of
        a list array), not Python lists: on 200,000 demo leads, building those lists took 2.6 s of
        the 8.2 s reasons_many spent for the reasons and the grades (line profile of score_table)."""
        n = len(grouped)
        if n <= FEW_LEADS or limit <= 0:
            written = self.reasons_many(grouped, X, None, limit)
            return [separator.join(pros) for pros, _ in written], [separator.join(cons) for _, cons in written]
        import pyarrow as pa
        import pyarrow.compute as pc

        texts, n_for, n_against = self._ranked_texts(grouped, X, None, limit)
        k = texts.shape[1] // 2
        glue = pa.scalar(separator, type=pa.large_string())

        def joined(first: int, counts: np.ndarray) -> list[str]:  # each row's first counts[i] slots
            kept = texts[:, first:first + k][np.arange(k) < counts[:, None]]
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            lists = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(kept, type=pa.large_string()))
            return pc.binary_join(lists, glue).to_pylist()

        return joined(0, n_for), joined(k, n_against)

    def _phrases_for(self, g: int, X: np.ndarray, rows: np.ndarray, leads: list | None) -> list[str] | np.ndarray:
        """The phrase of group g for each of `rows`. Phrases that depend on the values only are
        written once per distinct value; a category's phrase also shows the lead's own text."""
        group = self.groups[g]
        values = X[np.ix_(rows, self._columns[g])]
        if not (self._is_category[g] and leads is not None):
            shown = self._shown_kind[g]
            if shown is not None:  # its phrase reads this much of the value
                values = shown_engagement(shown, values)
            first, inverse = _distinct_rows(values)
            texts = [self._remembered((g, *[None if v != v else v for v in values[i].tolist()], shown, leads is None),
                                      lambda i=i: self.phrase(group, X[rows[i]], None))
                     for i in first.tolist()]
            return np.array(texts, dtype=object)[inverse]
        # A category's phrase shows the lead's own text: one phrase per distinct text sent (the
        # code follows from the text, so the text is the key).
        key_name = group.key
        raws = [leads[r].get(key_name) if leads[r] is not None else None for r in rows.tolist()]
        if set(map(type, raws)) <= _TEXT_OR_NONE:  # not 1 and True: equal as keys
            codes = pd.factorize(np.array(raws, dtype=object), use_na_sentinel=False)[0]
            texts = [self._remembered((g, raws[i], "raw"), lambda i=i: self.phrase(group, X[rows[i]], leads[rows[i]]))
                     for i in _first_rows(codes).tolist()]
            return np.array(texts, dtype=object)[codes]
        return [self.phrase(group, X[r], leads[r]) for r in rows.tolist()]  # numbers, lists...: rare

    def groups_of(self, columns: list[str]) -> list[int]:
        """The reason groups of these lead columns (one each)."""
        index = {group.key: g for g, group in enumerate(self.groups)}
        return [index[column] for column in columns]

    def ideal_customer_phrase(self, columns: list[str], row: np.ndarray, lead: Mapping[str, Any] | None) -> str:
        """"matches our ideal customer: industry is Software, seniority is Director", each
        listed column phrased as its own reason would be (features.ideal_customer)."""
        index = {group.key: group for group in self.groups}
        details = ", ".join(self.phrase(index[column], row, lead) for column in columns)
        return self._tr.gettext(MATCHES_IDEAL_CUSTOMER).format(details=details)

    def activity_not_counted(self) -> str:
        """Why a not-a-fit lead's intent says nothing of its activity."""
        return self._tr.gettext(ACTIVITY_NOT_COUNTED)

    # ------------------------------------------------------------------------------ phrasing
    def phrase(self, group: _Group, row: np.ndarray, lead: Mapping[str, Any] | None) -> str:
        if any(math.isnan(row[c]) for c in group.columns) and \
                self.transform.features[group.columns[0]].kind not in PROFILE_KINDS:
            return ""  # engagement is not used for a lead we cannot sell to: nothing to say about it
        _ = self._tr.gettext
        if group.key.startswith("activity:"):
            return self._activity_phrase(group.key.split(":", 1)[1], group.columns, row)
        if group.key == "season":  # features.transform.season_inputs: (sin, cos) of the time of year
            month = month_of_season(row[group.columns[0]], row[group.columns[1]])
            return _("created in {month}").format(month=month_name(month, self.language))
        if group.key == "engagements":
            return self._windowed(group.columns, row, None, _("no marketing touches in the last {days} days"))
        i = group.columns[0]
        info = self.transform.features[i]
        value = row[i]
        if info.kind == "categorical":
            return self._category_phrase(info.column, value, lead)
        name = self.names.get(info.column)
        if info.kind == "numeric":
            return _("{name} not given").format(name=name) if math.isnan(value) else \
                _("{name} is {value}").format(name=name, value=readable_number(value, self.language))
        if info.kind == "yes_no":
            if math.isnan(value):
                return _("{name}: not answered").format(name=name)
            return (_("{name}: yes") if value == 1 else _("{name}: no")).format(name=name)
        return self._engagement_phrase(info.kind, value)

    def _category_phrase(self, column: str, value: float, lead: Mapping[str, Any] | None) -> str:
        _ = self._tr.gettext
        label = self.names[column]
        if math.isnan(value):
            return _("{name} not given").format(name=label)
        known = self.transform.describe_value(self.transform.features[self.transform.categorical.index(column)], value)
        raw = lead.get(column) if lead is not None else None
        cleaned = self.transform.clean_category(column, raw) if raw is not None else known
        special = self.phrases.get(column, {}).get(cleaned or "")
        if special:
            return special
        if known == OTHER:  # no spelling of ours: the lead's own text, when we have it
            shown = shown_text(raw) if raw is not None else ""
            return _("{name} is {value}, rare in our history").format(name=label, value=shown) \
                if shown else _("{name} is rare in our history").format(name=label)
        return _("{name} is {value}").format(name=label, value=self.spellings.get(column, {}).get(known, known))

    def _activity_phrase(self, activity_type: str, columns: tuple[int, ...], row: np.ndarray) -> str:
        _ = self._tr.gettext
        named = self.activity_names.get(activity_type)
        if named is None and activity_type in ACTIVITY_WORDS:
            some, none = ACTIVITY_WORDS[activity_type]
            return self._windowed(columns, row, _(some), _(none))
        name = named or display_name(activity_type)
        return self._windowed(columns, row, _("{name} {times} in the last {days} days").replace("{name}", name),
                              _("{name}: none in the last {days} days").replace("{name}", name))

    def _windowed(self, columns: tuple[int, ...], row: np.ndarray, some: str | None, none: str) -> str:
        """The count in the shortest window that has any (`some`, with {times} and {days}; None:
        marketing touches), or none in the longest."""
        windows = sorted((self.transform.features[c].window_days, row[c]) for c in columns)
        for days, count in windows:
            if count > 0:
                if some is None:
                    return self._tr.ngettext("{n} marketing touch in the last {days} days",
                                             "{n} marketing touches in the last {days} days",
                                             int(count)).format(n=number_text(int(count), self.language),
                                                                days=days)
                return some.format(times=_times(count, self._tr, self.language), days=days)
        return none.format(days=windows[-1][0])

    def _engagement_phrase(self, kind: str, value: float) -> str:
        value = float(shown_engagement(kind, np.array([value]))[0])
        tr = self._tr
        _ = tr.gettext
        if kind == "lead_age":  # features.transform.LEAD_AGE: days since the lead was created
            return _("new lead, created today") if value < 1 else _("lead created {ago}").format(ago=_ago(value, tr))
        if kind == "days_since_last":
            return _("no activity recorded") if value >= NEVER_DAYS else \
                _("last activity {ago}").format(ago=_ago(value, tr))
        if kind == "days_since_high_intent":
            return _("no high-intent activity yet") if value >= NEVER_DAYS else \
                _("last high-intent action {ago}").format(ago=_ago(value, tr))
        if kind == "distinct_types":
            if value <= 0:
                return _("no engagement of any kind")
            return _("engaged in one way only") if value == 1 else \
                _("engaged in {n} different ways").format(n=int(value))
        if kind == "trend":
            return _("engagement is rising") if value > 0 else _("engagement is slowing") if value < 0 \
                else _("engagement is flat")
        return kind


def _distinct_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of each distinct row's first row, each row's distinct number); NaN equals NaN."""
    if values.shape[1] == 1:
        codes = pd.factorize(values[:, 0], use_na_sentinel=False)[0]
    else:  # one 64-bit key per row; if two different rows ever share a key, compare exactly
        codes = pd.factorize(row_keys(pd.DataFrame(values)))[0]
        if not np.array_equal(values[_first_rows(codes)[codes]] + 0.0, values + 0.0, equal_nan=True):
            filled = np.where(np.isnan(values), np.inf, values)  # inputs are finite: inf marks missing
            codes = pd.MultiIndex.from_arrays(list(filled.T)).factorize()[0]
    codes = np.asarray(codes)
    return _first_rows(codes), codes


def _first_rows(codes: np.ndarray) -> np.ndarray:
    """For codes 0..k-1, the index of each code's first row."""
    return np.unique(codes, return_index=True)[1] if len(codes) else np.zeros(0, dtype=np.int64)
