"""English and Italian: every message a person reads is translated, placeholders survive the
translation, and the language is chosen as the pages and the API promise."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from features.i18n import (LANGUAGES, LanguageError, accepted_languages, check_language, choose_language,
                           number_text, percent_text, translations, with_article)

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "features" / "locale" / "it" / "LC_MESSAGES" / "leadscore.po"


def _extracted() -> dict:
    """The messages marked in the source, as `make messages` extracts them (babel.cfg)."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        found[message] = filename
    return found


def _placeholders(text: str) -> set[str]:
    braces = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    return braces | set(re.findall(r"%\((\w+)\)s", text))


@pytest.fixture(scope="module")
def catalogue():
    from babel.messages.pofile import read_po

    with CATALOGUE.open("rb") as source:
        return read_po(source, locale="it")


def test_every_message_in_the_source_has_its_italian(catalogue):
    missing = []
    for message, filename in _extracted().items():
        entry = catalogue.get(message[0] if isinstance(message, tuple) else message)
        strings = entry.string if entry is not None else None
        texts = list(strings) if isinstance(strings, tuple) else [strings]
        if entry is None or entry.fuzzy or not all(texts):
            missing.append(f"{filename}: {message!r}")
    assert not missing, "untranslated (run `make messages` and translate features/locale/it):\n" + "\n".join(missing)


def test_the_italian_keeps_every_placeholder_of_the_english(catalogue):
    """A translation may use `the_<name>` (the number with its article) for `<name>`, and no
    placeholder the code does not fill."""
    wrong = []
    for entry in catalogue:
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        wanted = set().union(*map(_placeholders, ids))
        texts = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for text in texts:
            got = {name.removeprefix("the_") for name in _placeholders(text)}
            if got - wanted or (wanted - got and not ("n" in wanted - got and len(ids) > 1)):
                wrong.append(f"{entry.id!r}: {text!r}")
    assert not wrong, "\n".join(wrong)


def test_no_catalogue_entry_is_left_over_from_removed_source(catalogue):
    extracted = {m[0] if isinstance(m, tuple) else m for m in _extracted()}
    stale = [entry.id for entry in catalogue if entry.id and
             (entry.id[0] if isinstance(entry.id, tuple) else entry.id) not in extracted]
    assert not stale, f"in the catalogue but no longer in the code (run `make messages`): {stale}"


@pytest.mark.parametrize("header, expected", [
    ("it-IT,it;q=0.9,en;q=0.8", ["it", "en"]),
    ("en-GB,en;q=0.9", ["en"]),
    ("fr-FR, de;q=0.5", []),
    ("de, it;q=0.5, en;q=0.7", ["en", "it"]),
    ("it;q=0, en", ["en"]),
    ("IT", ["it"]),
    ("", []),
    ("it;q=abc", []),
])
def test_accept_language_is_read_by_quality(header, expected):
    assert accepted_languages(header) == expected


def test_the_language_is_asked_then_accepted_then_the_default():
    assert choose_language("it", "en", "en") == "it"
    assert choose_language("xx", "it", "en") == "it"  # a switch to a language we do not speak is ignored
    assert choose_language(None, "fr", "it") == "it"  # LEADSCORE_LANGUAGE when the browser says nothing we speak
    assert choose_language(None, None, None) == "en"


def test_an_unknown_language_setting_is_refused_with_the_choices():
    with pytest.raises(LanguageError, match="LEADSCORE_LANGUAGE.*'fr'.*en, it"):
        check_language("fr", "LEADSCORE_LANGUAGE")
    with pytest.raises(LanguageError):
        translations("fr")


@given(st.text(max_size=80))
def test_any_accept_language_header_gives_languages_we_speak(header):
    assert set(accepted_languages(header)) <= set(LANGUAGES)


@given(st.floats(min_value=0, max_value=1, allow_nan=False))
def test_percentages_are_the_same_number_in_both_languages(share):
    english, italian = percent_text(share, "en"), percent_text(share, "it")
    assert italian.replace(".", "").replace(",", ".") == english.replace(",", "")


@pytest.mark.parametrize("number, expected", [
    ("30%", "il 30%"), ("80%", "l'80%"), ("8%", "l'8%"), ("11%", "l'11%"), ("1%", "l'1%"),
    ("1,5%", "l'1,5%"), ("18%", "il 18%"), ("100%", "il 100%"), ("0,4%", "lo 0,4%"), ("0%", "lo 0%"), ("81%", "l'81%"),
])
def test_italian_puts_the_right_article_before_a_number(number, expected):
    assert with_article(number, "it") == expected
    assert with_article(number, "en") == number


def test_numbers_are_grouped_the_languages_way():
    assert number_text(1530.5, "en", 1) == "1,530.5"
    assert number_text(1530.5, "it", 1) == "1.530,5"
