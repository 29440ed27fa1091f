"""The languages people read leadscore in: English and Italian, through gettext catalogues.

Every text a salesperson reads (reasons, stage definitions, the web pages) is an English
message marked for translation (`N_` where it is defined, `gettext` where it is used); its
Italian lives in `features/locale/it/LC_MESSAGES/leadscore.po`, written by a person, not
machine-translated. Babel reads the catalogue (no compiled `.mo` file is kept: reading the
`.po` once per process takes milliseconds) and formats numbers the language's way ("1,530"
and "0.42" in English, "1.530" and "0,42" in Italian).

Which language: `?lang=` on a page, else the browser's `Accept-Language`, else the service's
`LEADSCORE_LANGUAGE`, else English (`choose_language`). `make messages` extracts the marked
texts into the catalogue template and merges them into the Italian catalogue;
`tests/features/test_i18n.py` fails while any is untranslated.
"""

from __future__ import annotations

import gettext
import io
import os
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("en", "it")
"""The languages leadscore speaks, English first (the language its messages are written in)."""
DEFAULT_LANGUAGE = "en"
LANGUAGE_VARIABLE = "LEADSCORE_LANGUAGE"
DOMAIN = "leadscore"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGE_NAMES = {"en": "English", "it": "Italiano"}


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; it is translated where it is used."""
    return message


class LanguageError(ValueError):
    """A language leadscore does not speak."""


def check_language(value: str, where: str) -> str:
    """`value` as one of LANGUAGES ("IT", " it " -> "it"); LanguageError naming `where` else."""
    language = value.strip().lower().replace("_", "-").split("-")[0]
    if language not in LANGUAGES:
        raise LanguageError(f"{where}: {value!r} is not a language leadscore speaks; use one of "
                            f"{', '.join(LANGUAGES)}")
    return language


def configured_language() -> str:
    """The service's default language: LEADSCORE_LANGUAGE, or English when unset.
    LanguageError when it names a language leadscore does not speak."""
    value = os.environ.get(LANGUAGE_VARIABLE, "").strip()
    return check_language(value, LANGUAGE_VARIABLE) if value else DEFAULT_LANGUAGE


def accepted_languages(header: str | None) -> list[str]:
    """The languages of an Accept-Language header that leadscore speaks, most wanted first
    ("it-IT,it;q=0.9,en;q=0.8" -> ["it", "en"]); q=0 means "not this one" (RFC 9110 12.5.4)."""
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in LANGUAGES and quality > 0:
            wanted.append((-quality, position, language))
    return list(dict.fromkeys(language for _, _, language in sorted(wanted)))


def choose_language(asked: str | None = None, accept_language: str | None = None,
                    default: str | None = None) -> str:
    """The language to answer in: `asked` (a page's ?lang=, when leadscore speaks it), else the
    first of the Accept-Language header it speaks, else `default` (LEADSCORE_LANGUAGE's)."""
    if asked:
        try:
            return check_language(asked, "lang")
        except LanguageError:
            pass
    accepted = accepted_languages(accept_language)
    return accepted[0] if accepted else (default or DEFAULT_LANGUAGE)


@lru_cache(maxsize=None)
def translations(language: str) -> gettext.NullTranslations:
    """The gettext translations of `language` (English: the messages as written). Raises
    LanguageError for a language leadscore does not speak, FileNotFoundError when its
    catalogue is missing from the installation."""
    language = check_language(language, "language")
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@lru_cache(maxsize=None)
def _marks(language: str) -> dict[int, str]:
    from babel.numbers import get_decimal_symbol, get_group_symbol

    return {ord(","): get_group_symbol(language), ord("."): get_decimal_symbol(language)}


def localized(text: str, language: str) -> str:
    """A number written the English way ("1,530.5", "0.50", "4.9e-322") with the language's
    thousands and decimal marks (Babel's CLDR data): "1.530,5", "0,50" in Italian. The digits
    are kept as they are: every number leadscore shows is written once, the English way, then
    marked for its language."""
    return text if language == DEFAULT_LANGUAGE else text.translate(_marks(language))


def number_text(value: float, language: str, decimals: int = 0) -> str:
    """`value` with up to `decimals` decimals (trailing zeros dropped), grouped the language's
    way: 1530.5, 1 -> "1,530.5" (en), "1.530,5" (it)."""
    text = f"{value:,.{max(decimals, 0)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return localized("0" if text in ("-0", "") else text, language)


def percent_text(share: float, language: str) -> str:
    """A share in percent as features.metrics.percent writes it, in the language's marks
    (0.004 -> "0.4%" in English, "0,4%" in Italian)."""
    from features.metrics import percent

    return localized(percent(share), language)


_ELIDED = ("1", "11")


def with_article(number: str, language: str) -> str:
    """A number as the subject or object of a sentence, with the article Italian puts before
    it: "il 30%", "l'80%", "l'11%" (the article is elided before a number said with a vowel
    first: uno, otto, undici, ottanta...; "il 18%": diciotto starts with a consonant), "lo 0,4%";
    English needs none ("30%")."""
    if language != "it":
        return number
    whole = number.split(",")[0].replace(".", "").rstrip("%")
    if whole.startswith("0"):  # zero takes "lo", as every word beginning with z does
        return "lo " + number
    vowel = whole in _ELIDED or whole.startswith("8")  # otto, ottanta, ottocento...
    return ("l'" if vowel else "il ") + number


def month_name(month: int, language: str) -> str:
    """The month's name as written mid-sentence: "March" (en), "marzo" (it)."""
    from babel.dates import get_month_names

    return get_month_names("wide", context="format", locale=language)[month]


def words_in(words: str | dict[str, str], language: str) -> str | None:
    """The words of a spec entry (`display_names`, `reason_phrases`) in `language`: one text for
    every language, or a mapping by language with English as the fall-back (None when the
    mapping has neither)."""
    if isinstance(words, str):
        return words
    return words.get(language) or words.get(DEFAULT_LANGUAGE)

