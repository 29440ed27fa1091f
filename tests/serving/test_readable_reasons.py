"""Reasons a salesperson can read, and answers keyed the way the export keys its leads.

Display names (the spec's, else made from the column name), numbers rounded to what a person
reads, categories in the export's own most common spelling in the API and in batch files alike,
a missing value never given as a reason for buying, and the spec's id column name in every
answer (POST /score, POST /outcomes, the OpenAPI document, `leadscore score`).
"""

from __future__ import annotations

import re
import signal
import subprocess
from datetime import datetime

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.reasons import TOO_LARGE, display_name, readable_number
from serving.schema import InputError, answer_id_key, check_outcomes, outcome_models, score_response_model
from serving.scorer import LeadScorer

from .conftest import PROSPECT_ID
from .test_serve_process import environment, free_port, leadscore_command, wait_until_ready

AS_OF = "2026-11-01T00:00:00"
SCALE = {"": 1.0, "million": 1e6, "billion": 1e9, "trillion": 1e12}


@pytest.fixture(scope="module")
def scorer(profiled_bundle_dir):
    return LeadScorer.from_bundle_dir(profiled_bundle_dir)


@pytest.fixture(scope="module")
def renamed(renamed_bundle_dir):
    return LeadScorer.from_bundle_dir(renamed_bundle_dir)


def _group(writer, key):
    return next(g for g in writer.groups if g.key == key)


def _only(writer, key, contribution, n):
    """Contributions where one reason, `key`, has `contribution` for each of n leads."""
    grouped = np.zeros((n, len(writer.groups)))
    grouped[:, writer.groups.index(_group(writer, key))] = contribution
    return grouped


# ================================================================================ words
@pytest.mark.parametrize("column, words", [
    ("ExitRates", "exit rates"),
    ("Total Time Spent on Website", "total time spent on website"),
    ("employee_count", "employee count"),
    ("pageViewsPerVisit", "page views per visit"),
    ("TotalVisits", "total visits"),
    ("CRMSource", "CRM source"),
    ("lead_source_ID", "lead source ID"),
    ("How did you hear about X Education", "how did you hear about X education"),
    ("I agree to pay the amount through cheque", "I agree to pay the amount through cheque"),
])
def test_a_column_name_becomes_words(column, words):
    assert display_name(column) == words


@pytest.mark.parametrize("value, text", [
    (1532.0, "1,530"), (0.42, "0.42"), (12.0, "12"), (2.5, "2.5"), (-1532.4, "-1,530"),
    (0.000123, "0.000123"), (999.5, "1,000"), (123456.0, "123,000"), (1234567.0, "1.23 million"),
    (1.2e6, "1.2 million"), (4.5e10, "45 billion"), (999_999.0, "1 million"), (-0.0, "0"), (1e-9, "0"),
    (1.23457e29, "over 1,000 trillion"),
])
def test_numbers_read_as_a_person_writes_them(value, text):
    assert readable_number(value) == text


def _read_back(text: str) -> float:
    number, _, word = text.partition(" ")
    return float(number.replace(",", "")) * SCALE[word]


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-TOO_LARGE, max_value=TOO_LARGE,
                 exclude_min=True, exclude_max=True)
       | st.floats(min_value=-1e4, max_value=1e4) | st.integers(-10**14, 10**14).map(float))
def test_a_number_never_reads_in_e_notation_and_keeps_at_most_three_significant_digits(value):
    text = readable_number(value)
    assert "e" not in text.lower(), text
    assert re.fullmatch(r"-?\d{1,3}(,\d{3})*(\.\d+)?( (million|billion|trillion))?", text), text
    number = text.partition(" ")[0]
    significant = re.sub(r"\D", "", number).lstrip("0")
    if "." not in number:
        significant = significant.rstrip("0")
    assert len(significant) <= 3, text
    assert abs(_read_back(text) - value) <= 0.0051 * abs(value) + 5e-7, text


@settings(max_examples=500, deadline=None)
@given(st.floats(min_value=-1e14, max_value=1e14, allow_nan=False))
def test_a_number_reads_the_same_in_italian_with_italian_digits_and_words(value):
    english, italian = readable_number(value), readable_number(value, "it")
    words = {"million": "milioni", "billion": "miliardi", "trillion": "mila miliardi"}
    number, _, word = english.partition(" ")
    expected = number.replace(",", "\0").replace(".", ",").replace("\0", ".")
    if word:
        expected += " " + ("milione" if english == "1 million" else "miliardo" if english == "1 billion"
                           else "mille miliardi" if english == "1 trillion" else words[word])
    if english in ("1 trillion",):
        expected = "mille miliardi"
    assert italian == expected


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_italian_reasons_are_the_same_reasons_in_other_words(scorer, trained, data):
    """For any demo lead scored at any age, the Italian answer gives as many reasons for and
    against as the English one, the same probability, and never the English words."""
    _, tables, _, _ = trained
    leads = tables.leads.drop_duplicates("lead_id")
    row = leads.iloc[data.draw(st.integers(0, len(leads) - 1))]
    days = data.draw(st.integers(0, 365))
    lead = {k: (None if pd.isna(v) else (v.isoformat() if isinstance(v, pd.Timestamp) else v))
            for k, v in row.items() if k in scorer.lead_fields}
    acts = tables.activities[tables.activities["lead_id"] == row["lead_id"]]
    lead["activities"] = [{"occurred_at": t.isoformat(), "activity_type": str(a)}
                          for t, a in zip(acts["occurred_at"], acts["activity_type"])]
    moment = (row["created_at"] + pd.Timedelta(days=days)).to_pydatetime()
    english = scorer.score_leads([lead], as_of=moment, reasons=5)[0]
    italian = scorer.score_leads([lead], as_of=moment, reasons=5, language="it")[0]
    assert italian["probability"] == english["probability"] and italian["stage"] == english["stage"]
    assert len(italian["reasons_for"]) == len(english["reasons_for"])
    assert len(italian["reasons_against"]) == len(english["reasons_against"])
    english_words = (" in the last ", " days ago", "not given", " is ", "created in ")
    for text in italian["reasons_for"] + italian["reasons_against"]:
        assert not any(words in text for words in english_words), text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["en", "it"]))
def test_no_control_or_escape_character_sent_in_a_field_comes_back_in_a_reason(scorer, text, language):
    """A category the model never saw is quoted as sent, but never a terminal escape sequence,
    a bell, a NUL or a right-to-left override: every reason is printable text."""
    lead = {"lead_id": "x", "industry": "\x1b[31m" + text + "\u202e\x07", "campaign": text,
            "activities": []}
    for one in (True, False):  # the single-lead path and the batch path
        answers = scorer.score_leads([lead] if one else [lead] * 17, as_of=AS_OF, reasons=5, language=language)
        for answer in answers:
            for reason in answer["reasons_for"] + answer["reasons_against"]:
                assert reason.isprintable(), repr(reason)


# ================================================================================ reasons
def test_reasons_use_the_specs_display_names_and_readable_numbers(scorer, renamed):
    lead = {"employee_count": 1234567.0,
            "activities": [{"occurred_at": "2026-10-30T10:00:00", "activity_type": "webinar"}]}
    X = renamed.transform.transform_one(lead, lead["activities"], AS_OF)
    assert renamed.reasons.phrase(_group(renamed.reasons, "employee_count"), X, lead) == "staff is 1.23 million"
    assert renamed.reasons.phrase(_group(renamed.reasons, "activity:webinar"), X, lead) == \
        "attended a webinar once in the last 7 days"
    plain = {"employee_count": 1532.0}  # no display name: words from the column name
    X = scorer.transform.transform_one(plain, [], AS_OF)
    assert scorer.reasons.phrase(_group(scorer.reasons, "employee_count"), X, plain) == "employee count is 1,530"


def test_a_missing_value_is_never_a_reason_for_buying_alone_or_in_a_batch(scorer):
    writer = scorer.reasons
    leads = [{"lead_id": f"M{i}", "industry": "Software"} for i in range(20)]  # no employee count
    X = scorer.transform.transform_records(leads, [[] for _ in leads], AS_OF)
    for n in (1, len(leads)):  # the single-lead path and the many-lead path
        pushing_up = _only(writer, "employee_count", 1.0, n) + _only(writer, "industry", 0.5, n)
        written = writer.reasons_many(pushing_up, X[:n], leads[:n], 5)
        assert all(pros == ["industry is Software"] for pros, _ in written)
        pulling_down = _only(writer, "employee_count", -1.0, n)
        written = writer.reasons_many(pulling_down, X[:n], leads[:n], 5)
        assert all(cons == ["employee count not given"] for _, cons in written)


def test_categories_read_in_the_exports_most_common_spelling_whatever_the_lead_sent(scorer, training_profile):
    spelled = training_profile["spellings"]["industry"]
    assert spelled["software"] == "Software" and spelled["financial services"] == "Financial Services"
    writer = scorer.reasons
    leads = [{"lead_id": f"S{i}", "industry": text} for i, text in
             enumerate(["software", "SOFTWARE ", " Financial  services", "financial services"] * 5)]
    X = scorer.transform.transform_records(leads, [[] for _ in leads], AS_OF)
    for n in (1, 4, len(leads)):
        written = writer.reasons_many(_only(writer, "industry", 1.0, n), X[:n], leads[:n], 1)
        expected = [["industry is Software"], ["industry is Software"], ["industry is Financial Services"],
                    ["industry is Financial Services"]] * 5
        assert [pros for pros, _ in written] == expected[:n]
    batch = writer.reasons_joined(_only(writer, "industry", 1.0, len(leads)), X)[0]  # a file's path: no raw text
    assert batch == [p[0] for p in expected]


def test_a_bundle_without_spellings_still_loads_and_shows_the_cleaned_value(bundle_dir, tmp_path):
    import shutil

    shutil.copytree(bundle_dir, tmp_path / "old")
    (tmp_path / "old" / "profile.json").unlink()  # exported before the profile kept spellings
    old = LeadScorer.from_bundle_dir(tmp_path / "old")
    assert old.reasons.spellings == {}
    lead = {"industry": "SOFTWARE"}
    X = old.transform.transform_one(lead, [], AS_OF)
    assert old.reasons.phrase(_group(old.reasons, "industry"), X, lead) == "industry is software"


# ================================================================================ the id
def test_answers_carry_the_lead_id_under_the_specs_id_column(renamed, trained):
    assert renamed.id_key == PROSPECT_ID
    answers = renamed.score_leads([{PROSPECT_ID: "P-1", "industry": "software"}, {PROSPECT_ID: 101}], as_of=AS_OF)
    assert [list(a)[0] for a in answers] == [PROSPECT_ID] * 2 and "lead_id" not in answers[0]
    assert [a[PROSPECT_ID] for a in answers] == ["P-1", "101"]  # read by features.values.lead_id
    _, tables, examples, _ = trained
    table = renamed.score_table(examples.leads.drop_duplicates("lead_id").iloc[:20], tables.activities, AS_OF, reasons=1)
    assert list(table.columns)[0] == PROSPECT_ID
    assert answer_id_key("score") == "lead_id" and answer_id_key("lead_id") == "lead_id"  # a clash keeps lead_id


def test_the_answer_and_outcome_bodies_name_the_id_as_the_spec_does():
    schema = score_response_model(PROSPECT_ID).model_json_schema(mode="serialization")
    lead_score = schema["$defs"]["LeadScore"]
    assert PROSPECT_ID in lead_score["properties"] and PROSPECT_ID in lead_score["required"]
    assert "lead_id" not in lead_score["properties"]
    request, answer = outcome_models(PROSPECT_ID)
    assert PROSPECT_ID in answer.model_json_schema()["$defs"]["OutcomeStatus"]["required"]
    closed = {"outcome": "won", "closed_at": "2026-05-01T00:00:00Z"}
    now = datetime(2026, 6, 1)
    body = request.model_validate({"outcomes": [{PROSPECT_ID: 101.0, **closed}, {"lead_id": " P-2 ", **closed}]})
    checked, keys = check_outcomes(body.outcomes, 1000, now, PROSPECT_ID)
    assert [c[0] for c in checked] == ["101", "P-2"] and keys == [PROSPECT_ID, "lead_id"]
    for item, words in [({PROSPECT_ID: "P-1", "lead_id": "P-1", **closed}, "sent twice"),
                        (closed, f"needs the lead's id in `{PROSPECT_ID}`")]:
        with pytest.raises(InputError) as refused:
            check_outcomes(request.model_validate({"outcomes": [item]}).outcomes, 1000, now, PROSPECT_ID)
        assert refused.value.problems[0].loc == ("outcomes", 0, PROSPECT_ID) and words in refused.value.message()


def test_the_service_answers_and_takes_outcomes_under_the_specs_id_name(renamed_bundle_dir, tmp_path):
    """A real `leadscore serve` of a spec whose id column is "Prospect ID"."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([*leadscore_command(), "serve", "--port", str(port), "--host", "127.0.0.1",
                                "--bundle", str(renamed_bundle_dir)], env=environment(tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_until_ready(base, process)
        with httpx.Client(base_url=base, timeout=10) as client:
            lead = {PROSPECT_ID: "P-1", "industry": "FINANCIAL SERVICES", "employee_count": 1532.4}
            answer = client.post("/score", json={"lead": lead, "as_of": "2026-05-10T00:00:00Z"}).json()["scores"][0]
            assert list(answer)[0] == PROSPECT_ID and answer[PROSPECT_ID] == "P-1" and "lead_id" not in answer
            words = answer["reasons_for"] + answer["reasons_against"]
            assert not any("financial services" in w or "FINANCIAL" in w or "e+" in w for w in words), words
            docs = client.get("/docs.json").json()["components"]["schemas"]
            assert PROSPECT_ID in docs["LeadScore"]["properties"] and "lead_id" not in docs["LeadScore"]["properties"]
            closed = {"outcome": "won", "closed_at": "2026-05-20T00:00:00Z"}
            first = client.post("/outcomes", json={"outcomes": [{PROSPECT_ID: "P-1", **closed}]})
            assert first.status_code == 200, first.text
            assert first.json()["outcomes"] == [{PROSPECT_ID: "P-1", "status": "recorded"}]
            again = client.post("/outcomes", json={"outcomes": [{"lead_id": "P-1", **closed}]}).json()
            assert again["outcomes"] == [{PROSPECT_ID: "P-1", "status": "unchanged"}]  # the former name still works
            unknown = client.post("/outcomes", json={"outcomes": [{PROSPECT_ID: "P-404", **closed}]})
            assert unknown.status_code == 404 and unknown.json()["detail"][0]["loc"] == ["outcomes", 0, PROSPECT_ID]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert process.returncode == 0, output


# ================================================================================ batch = API
def test_a_batch_file_and_the_api_give_the_same_reasons_keyed_by_the_specs_id(renamed_bundle_dir, demo_crm_dir,
                                                                               tmp_path):
    """`leadscore score` on a raw export (dirty spellings and all) and POST /score's code path."""
    from leadscore.jobs.score import run_score
    from leadscore.settings import Settings

    leads = pd.read_parquet(demo_crm_dir / "leads.parquet").drop_duplicates("lead_id").head(300)
    leads = leads.rename(columns={"lead_id": PROSPECT_ID})
    source = tmp_path / "leads.csv"
    leads.to_csv(source, index=False)
    output = tmp_path / "scores.csv"
    settings = Settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data",
                        tracking_uri=f"sqlite:///{tmp_path / 'models' / 'mlflow.db'}")
    acts = pd.read_parquet(demo_crm_dir / "activities.parquet")
    run_score(None, source, output, bundle=renamed_bundle_dir, activities=demo_crm_dir / "activities.parquet",
              as_of=AS_OF, reasons=3, settings=settings, show_progress=False)
    batch = pd.read_csv(output, dtype={PROSPECT_ID: str}, keep_default_na=False)
    assert list(batch.columns)[0] == PROSPECT_ID

    raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    acts = acts[acts["lead_id"].astype(str).isin(set(raw[PROSPECT_ID]))]
    by_lead = {k: [{"occurred_at": t.isoformat(), "activity_type": str(a)}
                   for t, a in zip(g["occurred_at"], g["activity_type"])]
               for k, g in acts.groupby(acts["lead_id"].astype(str), observed=True)}
    scorer = LeadScorer.from_bundle_dir(renamed_bundle_dir)
    fields = set(scorer.lead_fields)
    records = [{**{k: v for k, v in r.items() if k in fields}, "activities": by_lead.get(r[PROSPECT_ID], [])}
               for r in raw.to_dict("records")]
    api = scorer.score_leads(records, as_of=datetime.fromisoformat(AS_OF), reasons=3)
    api_for = ["; ".join(a["reasons_for"]) for a in api]
    api_against = ["; ".join(a["reasons_against"]) for a in api]
    assert [a[PROSPECT_ID] for a in api] == batch[PROSPECT_ID].tolist()
    same_words = [(f, b) for f, b, rare in zip(api_for + api_against,
                                              batch["reasons_for"].tolist() + batch["reasons_against"].tolist(),
                                              [("rare in our history" in t) for t in api_for + api_against])
                  if not rare]  # an unknown category: the API quotes the lead's text, a file row has none
    assert len(same_words) > 500 and all(f == b for f, b in same_words)
    shown = " ".join(batch["reasons_for"].tolist() + batch["reasons_against"].tolist())
    industries = {name for name in re.findall(r"industry is ([^;,]+)", shown) if not name.startswith("rare in")}
    assert industries and all(name[0].isupper() for name in industries), industries  # "Software", never "software"
    assert not re.search(r"\d\.\d{4}|e\+\d", shown)  # no 1532.4127 or 1.2e+06


@pytest.mark.parametrize("language, count, words", [("en", 10_000, "10,000"), ("it", 10_000, "10.000"),
                                                     ("en", 999, "999"), ("it", 1_234, "1.234")])
def test_activity_counts_in_reasons_are_grouped_as_the_language_writes_them(scorer, language, count, words):
    """A lead with thousands of touches reads '10,000 marketing touches', not '10000'."""
    writer = scorer.reasons_in(language)
    windowed = [i for i, f in enumerate(writer.transform.features) if getattr(f, "window_days", None)]
    row = np.zeros(len(writer.transform.features))
    row[windowed] = count
    touches = writer._windowed(tuple(windowed), row, None, "none in {days} days")
    typed = writer._windowed(tuple(windowed), row, "pricing page viewed {times} in the last {days} days",
                             "none in {days} days")
    assert re.search(rf"^{re.escape(words)} \w+", touches), touches
    assert f" {words} " in typed, typed
