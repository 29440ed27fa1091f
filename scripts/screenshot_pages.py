"""Pictures of the web pages for the README, taken in headless Chromium: the lead queue, a lead
in Italian, the stages, the report and the model card (docs/images/ui-*.png), plus the queue
on a phone-sized screen. `make screenshot` runs it after the demo (`make demo`):

    .venv/bin/python scripts/screenshot_pages.py docs/images

It starts `leadscore serve` on the demo loop's score log and outcomes (data/demo/loop, written
by scripts/demo_loop.py) with the demo's champion, waits for the outcome report, takes the
pictures through Playwright driving Debian's Chromium, and stops the service.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from demo_serve import free_port  # noqa: E402
from screenshot_report import CHARTS_DRAWN, HIDE_TOOLBAR, find_chromium  # noqa: E402

LOOP_DB = ROOT / "data" / "demo" / "loop" / "leadscore.db"


def start(database: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "LEADSCORE_DATABASE_URL": f"sqlite:///{database}", "LEADSCORE_REPORT_REFRESH_SECONDS": "600"}
    return subprocess.Popen([str(ROOT / ".venv" / "bin" / "leadscore"), "serve", "--spec",
                             str(ROOT / "data" / "specs" / "demo_crm.yaml"), "--port", str(port), "--host", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def wait_for(url: str, service: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(f"leadscore serve exited:\n{service.stdout.read()}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer 200 within {seconds:.0f} s")


def pages(base: str) -> list[tuple[str, str, dict]]:
    """(file name, address, viewport) of each picture; the lead is the most ready MQL."""
    queue = httpx.get(f"{base}/ui/leads", params={"stage": "MQL", "order": "ready"}, timeout=30).text
    found = re.search(r'href="/ui/lead\?id=([^"]+)"', queue)
    if not found:
        raise SystemExit("no MQL in the demo loop's score log: run `make demo` first")
    wide, phone = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
    return [("ui-queue.png", f"{base}/ui/leads?order=ready&lang=en", wide),
            ("ui-lead-it.png", f"{base}/ui/lead?id={found.group(1)}&lang=it", wide),
            ("ui-stages.png", f"{base}/ui/stages?lang=en", wide),
            ("ui-model.png", f"{base}/ui/model?lang=en", wide),
            ("ui-report.png", f"{base}/ui/report?lang=en", wide),
            ("ui-queue-phone.png", f"{base}/ui/leads?order=ready&lang=it", phone)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="screenshot_pages.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", default=ROOT / "docs" / "images",
                        help="where the pictures go (default: docs/images)")
    parser.add_argument("--database", type=Path, default=LOOP_DB,
                        help="the score log and outcomes to show (default: the demo loop's)")
    parser.add_argument("--max-height", type=int, default=1800, help="cut a longer page here, in pixels")
    parser.add_argument("--chromium", help="the Chromium to drive (default: chromium on the PATH)")
    args = parser.parse_args(argv)
    if not args.database.is_file():
        parser.error(f"{args.database}: no such file; run `make demo` (its last step writes it)")
    chromium = find_chromium(args.chromium)
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    service = start(args.database, port)
    try:
        wait_for(f"{base}/readyz", service)
        wait_for(f"{base}/report", service)
        args.folder.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            try:
                for name, url, viewport in pages(base):
                    page = browser.new_page(viewport=viewport, device_scale_factor=1)
                    page.goto(url, wait_until="load", timeout=60_000)
                    page.wait_for_function(CHARTS_DRAWN, timeout=60_000)
                    page.add_style_tag(content=HIDE_TOOLBAR)
                    height = min(int(page.evaluate("document.documentElement.scrollHeight")), args.max_height)
                    path = args.folder / name
                    page.screenshot(path=str(path), full_page=True,
                                    clip={"x": 0, "y": 0, "width": viewport["width"], "height": height})
                    print(f"wrote {path}: {viewport['width']} x {height} pixels ({url.removeprefix(base)})")
                    page.close()
            finally:
                browser.close()
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        service.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
