"""The web application in Debian's Chromium: sign in, open the list, filter it, open an establishment,
record a control and see it counted. Screenshots go to $CHAMPOLLION_SCREENSHOTS (else the test's
temporary folder), never the repository."""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.browser import ACTION_TIMEOUT_MS, CHROMIUM, CHROMIUM_ARGS
from tests.web_world import PASSWORD, make_web_world

pytestmark = [pytest.mark.slow, pytest.mark.browser]
EXPECT_DEFAULT_MS = 5_000  # Playwright's own timeout of expect()


@pytest.fixture(scope="module")
def served(small_pipeline, tmp_path_factory):
    """The application over a copy of the small pipeline's home, served by uvicorn on a free local port."""
    import uvicorn

    from web.app import create_app

    _, home, config = small_pipeline
    world = make_web_world(home, config, tmp_path_factory.mktemp("web-browser"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(world.home, world.config), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield world, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_an_inspector_records_a_control_that_training_then_reads(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from warehouse.inspections import load_inspections

    world, base = served
    shots = Path(os.environ.get("CHAMPOLLION_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    before = load_inspections(world.home.warehouse)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(ACTION_TIMEOUT_MS)
            expect.set_options(timeout=ACTION_TIMEOUT_MS)
            errors, requests = [], []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))

            page.goto(f"{base}/etablissements/{world.month}/{world.siret_a}")  # not signed in: the sign-in form
            expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
            page.get_by_label("Identifiant").fill(world.logins["inspecteur A"])
            page.get_by_label("Mot de passe").fill(PASSWORD)
            page.get_by_role("button", name="Se connecter").click()
            expect(page.get_by_role("heading", name="Établissement")).to_be_visible()  # back where they asked

            page.goto(f"{base}/")  # an inspector's home is the month's list of their region
            expect(page.locator("table#liste")).to_be_visible()
            page.screenshot(path=str(shots / "liste.png"), full_page=True)
            all_rows = page.locator("table#liste tbody tr").count()
            page.get_by_label("Exploration").select_option("oui")  # HTMX: the table is replaced in place
            expect(page).to_have_url(f"{base}/listes/{world.month}/{world.region_a}?departement=&naf=&motif="
                                     "&exploration=oui&tri=position")
            rows = page.locator("table#liste tbody tr")
            explored = rows.count()
            assert 0 < explored < all_rows
            assert page.locator("table#liste tbody tr.exploration").count() == explored
            page.screenshot(path=str(shots / "liste-filtree.png"), full_page=True)

            rows.first.locator("a").first.click()
            expect(page.locator("section#raisons")).to_be_visible()
            siret = page.url.rsplit("/", 1)[1]
            for section in ("identite", "infractions", "frise", "secteur", "controles", "explication"):
                expect(page.locator(f"section#{section}")).to_be_attached()
            figure = page.locator("section#frise img")
            expect(figure).to_be_visible()
            page.wait_for_load_state("load")  # (wait_for_function's eval is refused by the page's CSP, as it should)
            assert figure.evaluate("img => img.complete && img.naturalWidth > 0")
            page.screenshot(path=str(shots / "etablissement.png"), full_page=True)

            page.get_by_role("link", name="Enregistrer un contrôle").click()
            expect(page.get_by_text("tirée au hasard (exploration)")).to_be_visible()
            when = min(date.fromisoformat(world.month + "-01") + timedelta(days=40), date.today())
            page.get_by_label("Date du contrôle").fill(when.isoformat())
            page.locator("#abus-oui").check()
            page.locator("input[name=confirmed_rules]").first.check()
            page.get_by_label("Suite donnée").select_option("mise_en_demeure")
            page.screenshot(path=str(shots / "controle.png"), full_page=True)
            page.get_by_role("button", name="Enregistrer le contrôle").click()

            expect(page.get_by_role("status")).to_contain_text("Contrôle enregistré")
            counted = page.locator("section#controles table").first
            expect(counted).to_contain_text(when.strftime("%d/%m/%Y"))
            page.locator("section#controles").screenshot(path=str(shots / "controle-compte.png"))
        finally:
            expect.set_options(timeout=EXPECT_DEFAULT_MS)  # the setting is the process's: give later tests theirs back
            browser.close()
    assert errors == [], errors
    assert all(url.startswith(base) for url in requests), [u for u in requests if not u.startswith(base)]
    after = load_inspections(world.home.warehouse)
    assert len(after) == (0 if before is None else len(before)) + 1
    mine = after[(after["siret"] == siret) & (after["inspection_date"].dt.date == when)]
    assert mine["abuse_found"].tolist() == [1]
