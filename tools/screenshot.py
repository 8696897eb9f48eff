"""Screenshot a page of a running central station (``vitals serve``) for the docs.

Starts nothing itself: point it at a board that runs (``make demo``) and it opens the URL
in headless Debian Chromium (``tools/ensure_chromium.sh``), waits (bounded) until the
page has drawn what ``--wait-for`` names and the live stream says "live", and writes a PNG.

    python tools/screenshot.py http://127.0.0.1:8000/ docs/ward.png --width 1280
    python tools/screenshot.py http://127.0.0.1:8000/patients/P001 /tmp/p.png --width 390 --full-page

Exit status 1, with the reason, when the page did not draw in ``--timeout`` seconds or
printed a JavaScript error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
TILES_DRAWN = "section.tile canvas, .chart canvas"  # a ward's sparklines, a patient's charts


def screenshot(
    url: str,
    out: Path,
    *,
    width: int = 1280,
    height: int = 800,
    wait_for: str = TILES_DRAWN,
    full_page: bool = False,
    timeout_s: float = 30,
) -> int:
    """Write the PNG of ``url`` at ``width`` x ``height`` CSS px (scale 1) to ``out``;
    returns its size in bytes. Raises ``RuntimeError`` naming what the page lacked."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            # reduced motion: a blinking control (sound off during a HIGH alarm) is in the
            # picture whatever the moment of the shot
            page = browser.new_page(
                viewport={"width": width, "height": height}, reduced_motion="reduce"
            )
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url, timeout=timeout_s * 1000)
            try:
                page.wait_for_selector(wait_for, timeout=timeout_s * 1000)
                page.wait_for_function(
                    "() => (document.getElementById('conn') || {}).className === 'conn live'",
                    timeout=timeout_s * 1000,
                )
            except PlaywrightError as e:
                raise RuntimeError(f"{url}: no {wait_for!r} or no live stream: {e}") from None
            page.evaluate("document.fonts.ready")
            if errors:
                raise RuntimeError(f"{url}: JavaScript errors: {errors}")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=full_page)
        finally:
            browser.close()
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="a page of a running board, e.g. http://127.0.0.1:8000/")
    ap.add_argument("out", type=Path, help="the PNG to write, e.g. docs/ward.png")
    ap.add_argument("--width", type=int, default=1280, help="viewport width, CSS px")
    ap.add_argument("--height", type=int, default=800, help="viewport height, CSS px")
    ap.add_argument("--wait-for", default=TILES_DRAWN, help="CSS selector drawn before the shot")
    ap.add_argument("--full-page", action="store_true", help="the whole page, not the viewport")
    ap.add_argument("--timeout", type=float, default=30, help="seconds to wait for the page")
    a = ap.parse_args(argv)
    try:
        size = screenshot(
            a.url,
            a.out,
            width=a.width,
            height=a.height,
            wait_for=a.wait_for,
            full_page=a.full_page,
            timeout_s=a.timeout,
        )
    except (RuntimeError, PlaywrightError) as e:
        print(f"screenshot: {e}", file=sys.stderr)
        return 1
    print(f"{a.out}: {size // 1024} KB, {a.width} x {a.height} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
