"""Open a generated HTML page in Debian's headless Chromium (driven by playwright), collecting errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's default of 30 s per action is too short on a shared 2-core machine running two test workers: a
# screenshot of the audit report once timed out in CI. Slow is not wrong here; a page that never loads still fails.
ACTION_TIMEOUT_MS = 120_000
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@dataclass
class OpenedPage:
    """A page, with the console errors, page errors and request URLs seen while it was open."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextmanager
def opened(path: Path) -> Iterator[OpenedPage]:
    """Load `path` in headless Chromium; fails (never skips) when Chromium or playwright is missing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the HTML pages are tested in Debian's Chromium. "
            "Install it with `apt-get update && apt-get install -y chromium` (as root); .ci/run does so in CI."
        )
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("the Python package playwright is missing: install the dev extras, pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(ACTION_TIMEOUT_MS)
            seen = OpenedPage(page)
            page.on("console", lambda m: seen.errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: seen.errors.append(f"page error: {e}"))
            page.on("request", lambda r: seen.requests.append(r.url))
            page.goto(path.as_uri())
            yield seen
        finally:
            browser.close()


def screenshot_sections(page: Any, folder: Path, anchors: list[str]) -> list[Path]:
    """A PNG of the first screen and one of each `section#<anchor>`, written to `folder` (never the repository).

    The sections cover the page; one bitmap of the whole of a long report with its figures is what timed out.
    """
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    shots = [folder / "page.png"]
    page.screenshot(path=str(shots[0]))
    page.evaluate("for (const nav of document.querySelectorAll('nav')) nav.style.position = 'static'")  # not over sections
    for anchor in anchors:
        path = folder / f"{anchor}.png"
        page.locator(f"section#{anchor}").screenshot(path=str(path))
        shots.append(path)
    return shots
