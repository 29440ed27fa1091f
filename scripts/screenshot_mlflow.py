"""Pictures of a champion's MLflow pages for the docs, taken in headless Chromium: its training
run (docs/images/mlflow-run.png: the run's name, the model card as its description, the
datasets it learnt from, its figures and tags) and its registered version
(docs/images/mlflow-version.png: the same card as the version's description, its aliases).
`make screenshot` runs it after the demo (`make demo`):

    .venv/bin/python scripts/screenshot_mlflow.py docs/images

It starts the MLflow UI (`mlflow ui`) on leadscore's registry (the settings' tracking URI:
models/mlflow.db unless MLFLOW_TRACKING_URI says otherwise), opens the pages through Playwright
driving Debian's Chromium, and stops the UI.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from demo_serve import free_port  # noqa: E402
from screenshot_pages import wait_for  # noqa: E402
from screenshot_report import find_chromium  # noqa: E402

WIDE = {"width": 1440, "height": 2000}
"""Tall: the UI scrolls inside its own panel, so what a picture shows is what fits the window."""


def champion_pages(spec: str, base: str) -> list[tuple[str, str, list[str]]]:
    """(file name, address, texts to wait for) of the champion's run page and version page."""
    from leadscore.settings import get_settings
    from training.registry import Registry, model_name_for

    registry = Registry.from_settings(get_settings(), model_name_for(spec))
    champion = registry.champion()
    if champion is None:
        raise SystemExit(f"{registry.model_name} has no champion: run `make demo` (or `leadscore train`) first")
    run = registry.client.get_run(champion.run_id)
    return [("mlflow-run.png", f"{base}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}",
             [run.info.run_name, f"{spec}.leads", "Promotion gates"]),
            ("mlflow-version.png", f"{base}/#/models/{registry.model_name}/versions/{champion.version}",
             ["Promotion gates", "champion"])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="screenshot_mlflow.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", default=ROOT / "docs" / "images",
                        help="where the pictures go (default: docs/images)")
    parser.add_argument("--spec", default="demo-crm", help="the spec whose champion is shown (default: demo-crm)")
    parser.add_argument("--chromium", help="the Chromium to drive (default: chromium on the PATH)")
    args = parser.parse_args(argv)
    chromium = find_chromium(args.chromium)
    from leadscore.settings import get_settings

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pages = champion_pages(args.spec, base)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    ui = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "ui", "--backend-store-uri",
                           get_settings().resolved_tracking_uri, "--host", "127.0.0.1", "--port", str(port)],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)
    from playwright.sync_api import sync_playwright

    try:
        wait_for(f"{base}/health", ui)
        args.folder.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            try:
                for name, url, texts in pages:
                    page = browser.new_page(viewport=WIDE, device_scale_factor=1)
                    page.goto(url, wait_until="load", timeout=90_000)
                    for text in texts:  # the UI fills the page in as its API calls answer
                        page.get_by_text(text).first.wait_for(timeout=90_000)
                    close = page.get_by_role("button", name="Close", exact=True)
                    if close.count():  # the MLflow Assistant's side panel, which has nothing to say here
                        close.last.click()
                        close.last.wait_for(state="detached", timeout=10_000)
                    more = page.get_by_text("Show more", exact=True)
                    if more.count():  # the whole description (the model card), not its first lines
                        more.first.click()
                    path = args.folder / name
                    page.screenshot(path=str(path))
                    print(f"wrote {path}: {WIDE['width']} x {WIDE['height']} pixels ({url.removeprefix(base)})")
                    page.close()
            finally:
                browser.close()
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
