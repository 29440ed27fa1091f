"""A stage definition in words, in each language leadscore speaks: the one wording of the
MQL/SQL promise that `leadscore stages`, `GET /stages`, the model card and the web pages show.

A definition (training.stages.StageDefinition, kept in the model bundle as a dict) carries its
numbers and the business rule it came from as a kind and its arguments (`rule_kind`,
`rule_args`), so the rule can be written in any language; bundles trained before rules were
kept that way carry the English text only (`rule`), which is shown as it is.

The note that says why a rule had to adapt names configuration keys for whoever trains the
model; it is kept in English in every language.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from features.i18n import DEFAULT_LANGUAGE, N_, localized, percent_text, translations, with_article

RULES: dict[str, str] = {
    "min_precision": N_("at least {share} of SQLs buy"),
    "capacity_fallback": N_("sales take the top {share} of leads"),
    "sql_capacity_share": N_("sales can take the top {share} of leads"),
    "expected_value": N_("expected deal value ({value} x probability) above the {cost} cost of a sales contact"),
    "min_recall": N_("MQLs and SQLs hold at least {share} of buyers"),
    "mql_capacity_share": N_("marketing can nurture the top {share} of leads"),
}
"""Each rule kind's words; `share` is a configured share (0-1), `value` and `cost` amounts."""
PER_WEEK_RULES: dict[str, tuple[str, str]] = {
    "sql_capacity_per_week": (N_("sales can contact {n} lead a week"), N_("sales can contact {n} leads a week")),
    "mql_capacity_per_week": (N_("marketing can work {n} lead a week"), N_("marketing can work {n} leads a week")),
}
"""Rule kinds with a number of leads a week (`n`): the words for 1, and for any other number
(English and Italian both set 1 apart from every other number)."""


def plain_threshold(value: float, language: str = DEFAULT_LANGUAGE) -> str:
    """The threshold with as few decimals as show it exactly (at least two): 0.62 -> "0.62"
    ("0,62" in Italian), 0.125 -> "0.125"."""
    for decimals in range(2, 13):
        text = f"{value:.{decimals}f}"
        if float(text) == value:
            return localized(text, language)
    return localized(repr(float(value)), language)


def configured_share(share: float, language: str = DEFAULT_LANGUAGE) -> str:
    """A configured share as written (0.125 -> "12.5%", "12,5%" in Italian)."""
    return localized(f"{share * 100:g}", language) + "%"


class Rule(NamedTuple):
    """A stage's business rule: its kind (a key of RULES or PER_WEEK_RULES) and arguments."""

    kind: str
    args: dict[str, float]

    def words(self, language: str = DEFAULT_LANGUAGE) -> str:
        """The rule in words: Rule("min_precision", {"share": 0.5}) -> "at least 50% of SQLs buy"."""
        tr = translations(language)
        if self.kind in PER_WEEK_RULES:
            n = self.args["n"]
            one, many = PER_WEEK_RULES[self.kind]
            return tr.gettext(one if n == 1 else many).format(n=_amount(n, language))  # en, it: 1 or other
        args = {key: (configured_share(value, language) if key == "share" else _amount(value, language))
                for key, value in self.args.items()}
        return tr.gettext(RULES[self.kind]).format(**args, **_articled(args, language))


def _amount(value: float, language: str) -> str:
    """An amount as configured (`:g`), in the language's marks."""
    return localized(f"{value:g}", language)


def _articled(numbers: Mapping[str, str], language: str) -> dict[str, str]:
    """`the_<name>` for each number: the number with its article (features.i18n.with_article),
    for the languages whose sentences need one (the Italian catalogue uses them)."""
    return {f"the_{key}": with_article(text, language) for key, text in numbers.items()}


def rule_words(definition: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> str:
    """A stored definition's rule in `language` (its English text when it has no rule kind)."""
    kind = definition.get("rule_kind")
    if kind in RULES or kind in PER_WEEK_RULES:
        return Rule(kind, dict(definition.get("rule_args") or {})).words(language)
    return str(definition.get("rule", ""))


def stage_words(definition: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> str:
    """The definition of one stage (a StageDefinition's dict) in words: "SQL: probability 0.62
    and above; 71% of such leads bought; they were 12% of leads and 58% of buyers (rule: at
    least 50% of SQLs buy)", then the MQL band's conversion and the note, when there are."""
    _ = translations(language).gettext
    shares = {key: percent_text(definition[key], language) for key in ("conversion", "share_of_leads", "share_of_buyers")}
    text = _("{name}: probability {threshold} and above; {conversion} of such leads bought; they were "
             "{share_of_leads} of leads and {share_of_buyers} of buyers (rule: {rule})").format(
        name=definition["name"], threshold=plain_threshold(float(definition["threshold"]), language),
        rule=rule_words(definition, language), **shares, **_articled(shares, language))
    band, band_share = definition.get("band_conversion"), definition.get("band_share_of_leads")
    if band is not None and band_share:
        shares = {"share": percent_text(band_share, language), "conversion": percent_text(band, language)}
        text += _(". MQLs not yet SQL ({share} of leads) bought at {conversion}").format(
            **shares, **_articled(shares, language))
    if definition.get("note"):
        text += _(". Note: {note}").format(note=definition["note"])
    return text
