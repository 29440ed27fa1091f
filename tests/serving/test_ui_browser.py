"""The web pages in a real browser: Playwright drives Debian's Chromium against `leadscore serve`
running as a user starts it. A salesperson opens the queue, filters it to SQL, opens a lead,
reads its reasons, records "won" and sees it recorded; switches to Italian and reads the
reasons in Italian; and does the same with the keyboard alone.

Chromium is Debian's package (`make test` installs it when missing); without it this module
fails rather than skip, so a machine that cannot run it says so."""

from __future__ import annotations

import shutil
import subprocess
import time
from urllib.parse import urlencode

import httpx
import pytest

from tests.serving.conftest import api_leads
from tests.serving.test_serve_process import environment, free_port, leadscore_command, wait_until_ready

AS_OF = "2026-06-01T00:00:00Z"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("no Chromium on this machine: `make test` installs Debian's (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def server(bundle_dir, demo_crm_dir, tmp_path_factory):
    """(base URL, the API's English answers by id, the leads sent) of a running service."""
    tmp_path = tmp_path_factory.mktemp("ui-browser")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([*leadscore_command(), "serve", "--port", str(port), "--host", "127.0.0.1",
                                "--bundle", str(bundle_dir), "--workers", "1"],
                               env=environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_ready(base, process)
        leads = api_leads(demo_crm_dir, AS_OF, 60)
        answer = httpx.post(f"{base}/score", json={"leads": leads, "as_of": AS_OF}, timeout=60)
        assert answer.status_code == 200, answer.text
        scored = {a["lead_id"]: a for a in answer.json()["scores"]}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and leads[-1]["lead_id"] not in httpx.get(
                f"{base}/ui/leads?" + urlencode({"q": leads[-1]["lead_id"]})).text:
            time.sleep(0.1)
        yield base, scored, {lead["lead_id"]: lead for lead in leads}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB", viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _stage_of_rows(page) -> list[str]:
    return [text.strip() for text in page.locator("table.queue tbody td .stage").all_inner_texts()]


def test_filter_to_sql_open_a_lead_read_its_reasons_and_record_won(server, page):
    base, scored, _ = server
    page.goto(f"{base}/ui/leads")
    assert page.locator("h1").inner_text() == "Leads to call"
    page.get_by_label("Stage").select_option("SQL")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**stage=SQL**")
    stages = _stage_of_rows(page)
    assert stages and set(stages) == {"SQL"}
    assert len(stages) == sum(a["stage"] == "SQL" for a in scored.values())

    page.locator("table.queue tbody a").first.click()
    page.wait_for_url("**/ui/lead?id=**")
    lead_id = page.locator("h1").inner_text().removeprefix("Lead ").strip()
    reasons = page.locator("ul.for li").all_inner_texts() + page.locator("ul.against li").all_inner_texts()
    assert reasons == scored[lead_id]["reasons_for"] + scored[lead_id]["reasons_against"]

    page.get_by_role("button", name="Won").click()
    page.get_by_role("status").filter(has_text="Recorded: won.").wait_for()
    page.reload()
    assert "Outcome recorded: won" in page.locator("#current-outcome").inner_text()
    # the same outcome as the API keeps it: posting it again is "unchanged"
    again = httpx.post(f"{base}/outcomes", json={"outcomes": [{"lead_id": lead_id, "outcome": "won",
                                                                "closed_at": "2026-06-02T00:00:00Z"}]})
    assert again.status_code == 200 and again.json()["outcomes"][0]["status"] in ("unchanged", "updated")


def test_switch_to_italian_and_read_the_reasons_in_italian(server, page):
    base, scored, leads = server
    lead_id = max(scored, key=lambda i: len(scored[i]["reasons_for"]))
    page.goto(f"{base}/ui/lead?" + urlencode({"id": lead_id}))
    page.get_by_role("link", name="Italiano").click()
    page.wait_for_url("**lang=it**")
    assert page.locator("html").get_attribute("lang") == "it"
    assert page.get_by_role("heading", name="Motivi a favore").is_visible()
    shown = page.locator("ul.for li").all_inner_texts() + page.locator("ul.against li").all_inner_texts()
    italian = httpx.post(f"{base}/score", json={"lead": leads[lead_id], "as_of": AS_OF},
                         headers={"Accept-Language": "it"}).json()["scores"][0]
    assert shown == italian["reasons_for"] + italian["reasons_against"]
    assert shown != scored[lead_id]["reasons_for"] + scored[lead_id]["reasons_against"]
    # the choice stays for the next page
    page.get_by_role("link", name="Fasi").click()
    assert page.get_by_role("heading", name="Cosa vogliono dire MQL e SQL").is_visible()


def test_the_whole_path_works_with_the_keyboard_alone(server, page):
    base, scored, _ = server
    page.goto(f"{base}/ui/leads")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip() == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    def tab_to(predicate: str, limit: int = 40) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(f"(() => {{ const e = document.activeElement; return {predicate}; }})()"):
                return
        raise AssertionError(f"Tab never reached {predicate}")

    tab_to("e.name === 'stage'")
    page.keyboard.press("ArrowDown")  # "All stages" -> the first stage, SQL
    assert page.evaluate("document.activeElement.value") == "SQL"
    tab_to("e.tagName === 'BUTTON'")
    page.keyboard.press("Enter")
    page.wait_for_url("**stage=SQL**")
    tab_to("e.tagName === 'A' && e.href.includes('/ui/lead?id=')")
    lead_id = page.evaluate("document.activeElement.textContent").strip()
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/lead?id=**")
    tab_to("e.tagName === 'BUTTON' && e.dataset.outcome === 'lost'")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"  # focus is visible
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text="Recorded: lost.").wait_for()
    assert scored[lead_id]["stage"] == "SQL"
