"""A picture of an HTML page, the outcome report, taken in headless Chromium: the README's
docs/images/report.png. `make screenshot` installs what it needs and runs it on the report of
the demo loop (scripts/demo_loop.py):

    .venv/bin/python scripts/screenshot_report.py data/demo/report.html docs/images/report.png

Playwright for Python (a dev dependency: pip install -e ".[dev]") drives the
system's Chromium (Debian's package `chromium`, /usr/bin/chromium; --chromium to choose
another), so no browser is downloaded. The page embeds plotly.js: the shot is taken once every
chart on the page is drawn. Plotly's toolbar, shown only when a pointer is over a chart, is
hidden. The page is taken whole, --width pixels wide; a longer page than --max-height is cut
below the last heading, table row or chart that fits whole.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHARTS_DRAWN = """() => {
    if (document.readyState !== "complete") return false;
    const charts = [...document.querySelectorAll(".plotly-graph-div")];
    return charts.every(c => c.classList.contains("js-plotly-plot") && c._fullLayout && c.querySelector(".main-svg"));
}"""
"""True once the page has loaded and every Plotly chart on it is drawn (Plotly marks a drawn
chart's div with js-plotly-plot and puts its SVG inside); a page without charts is ready when loaded."""
HIDE_TOOLBAR = ".modebar-container { display: none !important; }"
LAST_WHOLE_BLOCK = """(limit) => {
    let best = 0;
    for (const el of document.querySelectorAll("h1, h2, h3, p, ul, ol, li, table, tr, pre, img, .plotly-graph-div")) {
        const bottom = el.getBoundingClientRect().bottom + window.scrollY;
        if (bottom <= limit && bottom > best) best = bottom;
    }
    return Math.ceil(best);
}"""
"""Where a page cut at `limit` pixels ends cleanly: the lowest bottom of a heading, paragraph,
list item, table row or chart that fits whole above the limit."""


def find_chromium(given: str | None) -> str:
    if given:
        if not Path(given).is_file():
            raise SystemExit(f"--chromium {given}: no such file")
        return given
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("no Chromium found: install Debian's (apt-get install -y chromium, as `make screenshot` does) "
                     "or pass --chromium PATH")


def screenshot(html: Path, png: Path, chromium: str, width: int = 1280, max_height: int = 2400,
               timeout_s: float = 60.0) -> tuple[int, int]:
    """Write the PNG of `html`; returns its (width, height) in pixels."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit('Playwright is not installed: .venv/bin/python -m pip install -c requirements.lock -e '
                         '".[dev]" (make install does)') from None
    png.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": min(max_height, 1000)}, device_scale_factor=1)
            page.goto(html.resolve().as_uri(), wait_until="load", timeout=timeout_s * 1000)
            page.wait_for_function(CHARTS_DRAWN, timeout=timeout_s * 1000)
            page.add_style_tag(content=HIDE_TOOLBAR)
            page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
            height = int(page.evaluate("() => document.documentElement.scrollHeight"))
            if height > max_height:  # cut below the last block that fits whole, not through a chart or a row
                fits = int(page.evaluate(LAST_WHOLE_BLOCK, max_height))
                height = fits if fits > 0 else max_height
            page.screenshot(path=str(png), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height})
        finally:
            browser.close()
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="screenshot_report.py",
                                     description="Take a PNG of an HTML page (the outcome report) in headless "
                                                 "Chromium, once its Plotly charts are drawn.")
    parser.add_argument("html", type=Path, nargs="?", default=Path("data/demo/report.html"),
                        help="the page (default: data/demo/report.html, written by scripts/demo_loop.py)")
    parser.add_argument("png", type=Path, nargs="?", default=Path("docs/images/report.png"),
                        help="the picture to write (default: docs/images/report.png)")
    parser.add_argument("--width", type=int, default=1280, help="page width in pixels (default: 1280)")
    parser.add_argument("--max-height", type=int, default=2400,
                        help="cut a longer page here, in pixels (default: 2400)")
    parser.add_argument("--chromium", help="the Chromium to drive (default: chromium on the PATH)")
    args = parser.parse_args(argv)
    html = args.html if args.html.is_absolute() else Path.cwd() / args.html
    if not html.is_file():
        parser.error(f"{args.html}: no such file; write it first (.venv/bin/python scripts/demo_loop.py)")
    if args.width < 200 or args.max_height < 200:
        parser.error("--width and --max-height must be 200 pixels or more")
    width, height = screenshot(html, args.png, find_chromium(args.chromium), args.width, args.max_height)
    print(f"wrote {args.png}: {width} x {height} pixels, {args.png.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
