"""What a link or an account carries into a page is text, never markup; the sign-in page sends back to this site only."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.test_web import app, signed_in, world  # noqa: F401 (fixtures)
from web.app import _local_path

pytestmark = pytest.mark.slow

INJECTED = '"><meta http-equiv="refresh" content="0;url=https://phishing.example/"><h1>Maintenance</h1>'


def test_a_link_cannot_put_markup_in_the_sign_in_page(app):  # noqa: F811
    page = TestClient(app, base_url="https://testserver").get(f"/connexion?suivant={quote('/' + INJECTED)}").text
    assert "<meta http-equiv" not in page and "<h1>Maintenance" not in page
    assert 'name="suivant" value="/"' in page  # not a path of this site: back to the home page


def test_a_link_cannot_put_markup_in_a_list_or_an_establishment_page(app, world):  # noqa: F811
    client = signed_in(app, world.logins["inspecteur A"])
    hx = '"><div hx-post="/etablissements/x/controle" hx-trigger="load"></div>'
    listed = client.get(f"/listes/{world.month}/{world.region_a}", params={"naf": hx})
    assert listed.status_code == 200 and "<div hx-post" not in listed.text and "&lt;div hx-post" in listed.text
    unknown = client.get(f"/etablissements/{world.month}/{quote('<img src=x><h1>INJECTE')}")
    assert "<img src=x>" not in unknown.text and "<h1>INJECTE" not in unknown.text


def test_after_sign_in_a_user_comes_back_to_the_page_asked_for_with_its_filters(app, world):  # noqa: F811
    client = TestClient(app, base_url="https://testserver")
    asked = f"/listes/{world.month}/{world.region_a}?departement=75&tri=score"
    answer = client.get(asked, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/connexion?suivant={quote(asked, safe='')}"
    assert f'name="suivant" value="{asked.replace("&", "&amp;")}"' in client.get(answer.headers["location"]).text


@pytest.mark.parametrize(("target", "kept"), [
    ("/listes/2026-10/11?departement=75&tri=score", True), ("/", True),
    ("//evil.example/", False), ("/\\evil.example", False), ("https://evil.example/", False),
    ('/"><h1>x', False), ("/a b", False), ("/\tevil", False),
])
def test_only_paths_of_this_site_are_kept_after_sign_in(target, kept):
    assert _local_path(target) == (target if kept else "/")
