"""The web application: every route with every role, sign-in limits, CSRF, outcomes into the inspections store."""

from __future__ import annotations

import csv
import html
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from tests.web_world import PASSWORD, csrf_of, make_web_world

pytestmark = pytest.mark.slow

ROLES = ["anonyme", "inspecteur A", "inspecteur B", "responsable A", "responsable B", "evaluateur", "administrateur"]
Y, N, U = "autorisé", "refusé", "introuvable"
# route -> expected answer per role of ROLES[1:] (anonymous users are always sent to the sign-in form); an establishment
# of another region is « introuvable » (404) as a SIRET not scored, so that its answer does not say it is scored elsewhere
EXPECTED = {
    "GET /listes/{m}/{A}":                          [Y, N, Y, N, N, Y],
    "GET /listes/{m}/{A}/export.csv":               [N, N, Y, N, N, Y],
    "GET /listes/{m}/{A}/export.xlsx":              [N, N, Y, N, N, Y],
    "GET /etablissements/{m}/{siret}":              [Y, U, Y, U, N, Y],
    "GET /etablissements/{m}/{siret}/frise.png":    [Y, U, Y, U, N, Y],
    "GET /etablissements/{m}/{siret}/explication.txt": [Y, U, Y, U, N, Y],
    "GET /etablissements/{m}/{siret}/controle":     [Y, U, Y, U, N, N],
    "POST /etablissements/{m}/{siret}/controle":    [Y, U, Y, U, N, N],
    "GET /synthese/{m}":                            [N, N, N, N, Y, Y],
    "GET /modeles":                                 [N, N, N, N, Y, Y],
    "GET /audit":                                   [N, N, N, N, Y, Y],
    "GET /audit/{report}":                          [N, N, N, N, Y, Y],
    "GET /journal":                                 [N, N, N, N, N, Y],
}
# Routes every signed-in user may open, and those open to all.
OPEN = {"GET /": "any signed-in user", "GET /connexion": "public", "POST /connexion": "public",
        "POST /deconnexion": "any signed-in user"}


@pytest.fixture(scope="module")
def world(small_pipeline, tmp_path_factory):
    _, home, config = small_pipeline
    return make_web_world(home, config, tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def app(world):
    from web.app import create_app

    return create_app(world.home, world.config)


def signed_in(app, login: str) -> TestClient:
    client = TestClient(app, base_url="https://testserver")
    token = csrf_of(client.get("/connexion").text)
    answer = client.post("/connexion", data={"login": login, "password": PASSWORD, "suivant": "/",
                                             "csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


def _outcome_form(world, token: str) -> dict[str, str]:
    month = date.fromisoformat(world.month + "-01")
    when = min(month + timedelta(days=40), date.today())
    return {"csrf_token": token, "inspection_date": when.isoformat(), "abuse_found": "1",
            "confirmed_rules": "carence", "follow_up": "observation"}


def _call(client: TestClient, world, route: str) -> int:
    method, template = route.split(" ", 1)
    path = template.format(m=world.month, A=world.region_a, siret=world.siret_a, report="audit-v1-test.html")
    if method == "GET":
        return client.get(path, follow_redirects=False).status_code
    token = csrf_of(client.get("/connexion").text)  # the session's token, as every form of the session carries
    return client.post(path, data=_outcome_form(world, token), follow_redirects=False).status_code


def test_every_route_with_every_role(app, world, capsys):
    """Allowed answers 200 (303 after recording), refused 403, an establishment of another region 404; anonymous is sent
    to the sign-in form."""
    clients = {"anonyme": TestClient(app, base_url="https://testserver")}
    for role in ROLES[1:]:
        clients[role] = signed_in(app, world.logins[role])
    table, wrong = [], []
    for route, expected in EXPECTED.items():
        row = [route]
        for role, want in zip(ROLES, ["connexion", *expected], strict=False):
            status = _call(clients[role], world, route)
            seen = {200: Y, 303: Y, 403: N, 404: U}.get(status, str(status))
            if role == "anonyme":
                seen = "connexion" if status == 303 else str(status)
            elif route.startswith("POST") and want == Y and status != 303:
                seen = str(status)
            row.append(f"{seen} ({status})")
            if seen != want:
                wrong.append(f"{route} as {role}: {status}, expected {want}")
        table.append(row)
    frame = pd.DataFrame(table, columns=["route", *ROLES])
    text = "Access by route and role (HTTP status in brackets):\n" + frame.to_string(index=False) + "\n"
    with capsys.disabled():
        print("\n" + text)
    if os.environ.get("CHAMPOLLION_ACCESS_TABLE"):  # the table for a report, written outside the repository
        Path(os.environ["CHAMPOLLION_ACCESS_TABLE"]).write_text(text, encoding="utf-8")
    assert not wrong, "\n".join(wrong)


def test_the_table_covers_every_route(app):
    """A new route cannot escape the table above."""
    routes = {f"{method} {route.path}" for route in app.routes for method in getattr(route, "methods", set())
              if method != "HEAD" and not route.path.startswith("/static")}
    named = {r.replace("{m}", "{month}").replace("{A}", "{region_code}").replace("{report}", "{name}")
             for r in EXPECTED} | set(OPEN)
    assert routes == named


def test_an_establishment_page_is_logged_with_its_reader(app, world):
    from web.database import AccessRecord, User

    client = signed_in(app, world.logins["inspecteur A"])
    page = client.get(f"/etablissements/{world.month}/{world.siret_a}")
    assert page.status_code == 200
    # Numbers written as the printable explanation writes them: a decimal comma.
    # the gap under a millionth in words, not « à 6,7e-16 près »
    assert re.search(r"Valeur de base du modèle [+-]\d+,\d{3} ; .* \([+-]\d+,\d{3}\) à moins d’un millionième près",
                     page.text)
    with app.state.db() as session:
        reader = session.scalar(select(User).where(User.login == world.logins["inspecteur A"]))
        records = session.scalars(select(AccessRecord).where(AccessRecord.user_id == reader.id)).all()
    assert any(r.siret == world.siret_a and r.what == "fiche" for r in records)


def test_a_model_trained_with_other_settings_still_explains_the_lines_its_list_explained(world, monkeypatch):
    """A list drawn up by a model trained before a setting changed (here: before `features.outcome_known_after_days`
    existed, which it is compared with as 0) answered 500 on every establishment page, though the page of a line the
    list explained reads only what the list kept. It opens; a line read from today's features, which the model would
    read with other settings than it learned from, answers « explication indisponible » and why, and `explain` and the
    audit refuse it with the reason."""
    import training.registry as registry
    from features.build import SettingsSkew
    from scoring.explain import explain_month
    from web.app import create_app

    registered = registry.load_scoring_model

    def trained_before_the_setting(name: str, version: str) -> Any:
        model = registered(name, version)
        model.features_settings = {k: v for k, v in model.features_settings.items() if k != "outcome_known_after_days"}
        return model

    monkeypatch.setattr(registry, "load_scoring_model", trained_before_the_setting)
    client = signed_in(create_app(world.home, world.config), world.logins["inspecteur A"])
    assert client.get(f"/etablissements/{world.month}/{world.siret_a}").status_code == 200
    month = date.fromisoformat(world.month + "-01")
    assert explain_month(world.home, world.config, world.siret_a, month).establishment["siret"] == world.siret_a
    ranked = pd.read_csv(world.home.lists / world.month / "ranked.csv", dtype=str)
    unlisted = ranked[(ranked["in_list"].str.lower() != "true") & (ranked["region_code"] == world.region_a)]["siret"]
    page = client.get(f"/etablissements/{world.month}/{unlisted.iloc[0]}")
    assert page.status_code == 404 and ("le modèle qui a établi la liste a été entraîné avec d'autres réglages des "
                                        "indicateurs") in html.unescape(page.text)
    with pytest.raises(SettingsSkew, match="outcome_known_after_days: 0 then, 90 now"):
        explain_month(world.home, world.config, unlisted.iloc[0], month)
    # The models page says that the lists cannot be scored with it any more, and why.
    import training.workflow

    monkeypatch.setattr(training.workflow, "load_scoring_model", trained_before_the_setting)
    models = signed_in(create_app(world.home, world.config), world.logins["evaluateur"]).get("/modeles")
    assert models.status_code == 200 and ("non : appris sur des indicateurs calculés avec d'autres réglages "
                                          "(outcome_known_after_days : 0 à l'apprentissage, 90 dans la configuration)"
                                          ) in html.unescape(models.text), models.text
    # Nor is it audited on features it never learned from.
    import audit.run

    monkeypatch.setattr(audit.run, "load_scoring_model", trained_before_the_setting)
    with pytest.raises(SettingsSkew, match=r"0 then, 90 now.*audit the version trained with these settings"):
        audit.run.run_audit(world.home, world.config)


def _log_since(app, first_id: int) -> list[tuple]:
    """The access log's rows from `first_id` on: login, action, region, SIRET, granted."""
    from web.database import AccessRecord

    with app.state.db() as session:
        records = session.scalars(select(AccessRecord).where(AccessRecord.id >= first_id).order_by(AccessRecord.id))
        return [(r.user.login, r.what, r.region_code, r.siret, r.granted) for r in records]


def _next_log_id(app) -> int:
    from sqlalchemy import func

    from web.database import AccessRecord

    with app.state.db() as session:
        return (session.scalar(select(func.max(AccessRecord.id))) or 0) + 1


def test_an_establishment_of_another_region_answers_as_a_siret_not_scored(app, world):
    """An inspector of region B asking for an establishment scored in region A, or for a SIRET scored nowhere, gets the
    same French « introuvable dans votre région » page (404): the answer does not tell which SIRETs are scored
    elsewhere. The attempt on region A's establishment is logged as refused, with its region."""
    ranked = pd.read_csv(world.home.lists / world.month / "ranked.csv", dtype={"siret": str})
    unscored = next(s for s in (f"{n:014d}" for n in range(1, 1000)) if s not in set(ranked["siret"]))
    client = signed_in(app, world.logins["inspecteur B"])
    first = _next_log_id(app)
    pages: dict[tuple[str, str], str] = {}
    for siret in (world.siret_a, unscored):
        for suffix in ("", "/frise.png", "/explication.txt", "/controle", "POST /controle"):
            url = f"/etablissements/{world.month}/{siret}{suffix.removeprefix('POST ')}"
            answer = (client.post(url, data=_outcome_form(world, csrf_of(client.get("/connexion").text)))
                      if suffix.startswith("POST") else client.get(url))
            assert answer.status_code == 404, (siret, suffix, answer.status_code)
            assert "introuvable dans votre région" in answer.text
            pages[siret, suffix] = answer.text.replace(siret, "<SIRET>")
    for suffix in ("", "/frise.png", "/explication.txt", "/controle", "POST /controle"):
        assert pages[world.siret_a, suffix] == pages[unscored, suffix]
    login = world.logins["inspecteur B"]
    assert _log_since(app, first) == [(login, what, world.region_a, world.siret_a, False) for what in (
        "fiche", "frise", "explication imprimable", "formulaire de contrôle", "enregistrement de contrôle")]


def test_the_access_log_keeps_downloads_recorded_controls_and_refusals(app, world):
    """A list read (the page, then its lines sorted in place: one row a day), both exports downloaded, a control
    recorded then corrected, a list and an export of another region asked for: each is a row of the access log
    (account, action, region, SIRET, decision), shown on the administrator's page."""
    from web.database import AccessRecord

    with app.state.db() as session:  # lists this module's other tests read today: one row a day
        session.execute(delete(AccessRecord).where(AccessRecord.what == "liste", AccessRecord.granted.is_(True)))
        session.commit()
    first = _next_log_id(app)
    responsable = signed_in(app, world.logins["responsable A"])
    assert responsable.get(f"/listes/{world.month}/{world.region_a}").status_code == 200
    sorted_in_place = responsable.get(f"/listes/{world.month}/{world.region_a}?tri=score", headers={"HX-Request": "true"})
    assert sorted_in_place.status_code == 200 and "<h1>" not in sorted_in_place.text
    assert "HX-Request" in sorted_in_place.headers["vary"]
    for export in ("export.csv", "export.xlsx"):
        assert responsable.get(f"/listes/{world.month}/{world.region_a}/{export}").status_code == 200
    page = f"/etablissements/{world.month}/{world.siret_a}/controle"
    day = date.fromisoformat(world.month + "-01") - timedelta(days=60)
    assert responsable.post(page, data=_entry(responsable, page, day), follow_redirects=False).status_code == 303
    (entry,) = _entries(app, world.siret_a, day)
    correction = _entry(responsable, page, day, abuse="1", corrige=entry.id)
    assert responsable.post(page, data=correction, follow_redirects=False).status_code == 303
    inspector = signed_in(app, world.logins["inspecteur A"])
    lines_only = inspector.get(f"/listes/{world.month}/{world.region_a}", headers={"HX-Request": "true"})
    assert lines_only.status_code == 200 and "<h1>" not in lines_only.text  # read without the page: logged all the same
    restored = inspector.get(f"/listes/{world.month}/{world.region_a}",
                             headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert restored.status_code == 200 and "<h1>" in restored.text  # the whole page, which the history restores
    other = signed_in(app, world.logins["inspecteur B"])
    assert other.get(f"/listes/{world.month}/{world.region_a}").status_code == 403
    assert other.get(f"/listes/{world.month}/{world.region_a}/export.csv").status_code == 403
    for page in ("/journal", f"/synthese/{world.month}", "/modeles"):  # pages of other roles: refused, logged
        assert other.get(page).status_code == 403, page
    a, b, i = world.logins["responsable A"], world.logins["inspecteur B"], world.logins["inspecteur A"]
    logged = _log_since(app, first)
    assert logged == [
        (a, "liste", world.region_a, None, True),
        (a, "export CSV", world.region_a, None, True),
        (a, "export Excel", world.region_a, None, True),
        (a, "contrôle enregistré", world.region_a, world.siret_a, True),
        (a, "contrôle corrigé", world.region_a, world.siret_a, True),
        (i, "liste", world.region_a, None, True),
        (b, "liste", world.region_a, None, False),
        (b, "export CSV", world.region_a, None, False),
        (b, "journal des accès", None, None, False),
        (b, "synthèse", None, None, False),
        (b, "modèles", None, None, False),
    ]
    with app.state.db() as session:  # the aggregates are a month's; the access log and the models are of no month
        months = session.scalars(select(AccessRecord.list_month).where(AccessRecord.id >= first).order_by(AccessRecord.id))
        assert list(months)[-3:] == [None, date.fromisoformat(world.month + "-01"), None]
    journal = signed_in(app, world.logins["administrateur"]).get("/journal").text
    rows = re.findall(r"<tr><td>.*?</tr>", journal)
    assert any(b in row and "<td>liste</td>" in row and "refusé" in row for row in rows)
    assert any(b in row and "<td>journal des accès</td>" in row and row.endswith("<td>—</td></tr>") for row in rows)
    assert any(a in row and "contrôle corrigé" in row and world.siret_a in row for row in rows)
    # times kept in UTC, shown in Paris time
    from core.french import paris_time_fr

    with app.state.db() as session:
        last = session.scalars(select(AccessRecord).order_by(AccessRecord.id.desc())).first()
    assert "heure de Paris" in journal and "UTC" not in journal
    assert f"<tr><td>{paris_time_fr(last.at, seconds=True)}</td><td>{b}</td>" in journal
    (corrected,) = [e for e in _entries(app, world.siret_a, day) if e.corrects_id]
    shown = responsable.get(f"/etablissements/{world.month}/{world.siret_a}").text
    assert f"n° {corrected.id} — " in shown and f"{paris_time_fr(corrected.recorded_at)} (corrige" in shown
    assert " UTC" not in shown


def test_a_role_refused_is_logged_whatever_the_page_names(app, world):
    """A page of another role is refused and logged before what it names is looked up: a month that does not parse,
    an audit report or a region that does not exist, a SIRET scored nowhere."""
    evaluator, inspector = signed_in(app, world.logins["evaluateur"]), signed_in(app, world.logins["inspecteur A"])
    first = _next_log_id(app)
    for client, page in [(inspector, "/synthese/2025-13"), (inspector, "/audit"), (inspector, "/audit/nothing.html"),
                         (evaluator, f"/listes/{world.month}/99"), (evaluator, f"/etablissements/{world.month}/00000000000000"),
                         (evaluator, f"/etablissements/{world.month}/not-a-siret"), (evaluator, "/listes/2025-13/11"),
                         (evaluator, "/etablissements/2099-01/00000000000000"), (evaluator, f"/listes/2099-01/{world.region_a}")]:
        assert client.get(page).status_code == 403, page  # not 404: tells nothing of which months have a list
    i, e = world.logins["inspecteur A"], world.logins["evaluateur"]
    assert _log_since(app, first) == [
        (i, "synthèse", None, None, False), (i, "audits", None, None, False), (i, "rapport d'audit", None, None, False),
        (e, "liste", None, None, False), (e, "fiche", None, "00000000000000", False), (e, "fiche", None, None, False),
        (e, "liste", "11", None, False), (e, "fiche", None, "00000000000000", False), (e, "liste", world.region_a, None, False)]


@contextmanager
def _migrated(url: str, revision: str, down: bool = False) -> Iterator[Any]:
    """A connection to the SQLite database `url` migrated up (or `down`) to `revision`, committed when the block ends."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from web.database import MIGRATIONS

    engine = sa.create_engine(url)
    settings = AlembicConfig()
    settings.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            settings.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(settings, revision)
            yield connection
    finally:
        engine.dispose()


def test_the_access_log_of_a_database_at_0003_is_upgraded_in_place(tmp_path):
    """Migration 0004 keeps the rows written before (pages opened: granted, region unknown) and takes a list's events,
    which have no SIRET; undone, it keeps the pages opened only."""
    import sqlalchemy as sa

    from web.database import AccessRecord, open_database

    url = f"sqlite:///{tmp_path / 'at-0003.db'}"
    with _migrated(url, "0003") as connection:
        connection.execute(sa.text("INSERT INTO users VALUES (1, 'a', 'A', 'inspecteur', '11', NULL, NULL, 1, "
                                   "'2026-11-01')"))
        for row_id, what in [(1, "fiche"), (2, "frise")]:
            connection.execute(sa.text("INSERT INTO access_log VALUES (:id, 1, '12345678901234', '2026-10-01', :what, "
                                       "'2026-11-02 10:00:00')"), {"id": row_id, "what": what})
    sessions = open_database(url)
    with sessions() as session:
        session.add(AccessRecord(user_id=1, siret=None, list_month=date(2026, 10, 1), region_code="84", what="liste",
                                 granted=False))
        session.commit()
        rows = [(r.id, r.siret, r.what, r.region_code, r.granted, f"{r.at:%Y-%m-%d %H:%M}")
                for r in session.scalars(select(AccessRecord).order_by(AccessRecord.id))]
    assert rows[:2] == [(1, "12345678901234", "fiche", None, True, "2026-11-02 10:00"),
                        (2, "12345678901234", "frise", None, True, "2026-11-02 10:00")]
    assert rows[2][1:5] == (None, "liste", "84", False)
    indexes = sa.inspect(sa.create_engine(url)).get_indexes("access_log")
    assert sorted((i["name"], i["column_names"]) for i in indexes) == [
        ("ix_access_log_siret", ["siret"]), ("ix_access_log_user_at", ["user_id", "at"])]  # 0006: a reader's day
    # Back to 0003 (whose log knows no refusal): a refusal of an establishment is not kept as a page opened.
    with sessions() as session:
        session.add(AccessRecord(user_id=1, siret="99999999999999", list_month=date(2026, 10, 1), region_code="84",
                                 what="fiche", granted=False))
        session.commit()
    with _migrated(url, "0003", down=True) as connection:
        kept = connection.execute(sa.text("SELECT id, siret, what FROM access_log ORDER BY id")).all()
    assert [tuple(row) for row in kept] == [(1, "12345678901234", "fiche"), (2, "12345678901234", "frise")]


def test_a_form_without_its_csrf_token_is_refused(app, world):
    client = signed_in(app, world.logins["inspecteur A"])
    form = _outcome_form(world, "forged")
    answer = client.post(f"/etablissements/{world.month}/{world.siret_a}/controle", data=form)
    assert answer.status_code == 403 and "CSRF" in answer.text
    del form["csrf_token"]
    assert client.post(f"/etablissements/{world.month}/{world.siret_a}/controle", data=form).status_code == 403


def test_sign_in_is_refused_after_too_many_failures_even_with_the_right_password(world, tmp_path):
    """(On a database of its own: failures count per address too, and every test client has the same.)"""
    from web.accounts import add_user
    from web.app import create_app
    from web.database import open_database

    sessions = open_database(f"sqlite:///{tmp_path / 'own.db'}")
    login = world.logins["evaluateur"]
    with sessions() as session:
        add_user(session, login, "évaluateur", "evaluateur", None, PASSWORD)
    app = create_app(world.home, world.config, sessions)
    client = TestClient(app, base_url="https://testserver")
    for _ in range(world.config.web.login_attempts):
        token = csrf_of(client.get("/connexion").text)
        wrong = client.post("/connexion", data={"login": login, "password": "faux", "csrf_token": token})
        assert wrong.status_code == 401
    token = csrf_of(client.get("/connexion").text)
    right = client.post("/connexion", data={"login": login, "password": PASSWORD, "csrf_token": token},
                        follow_redirects=False)
    assert right.status_code == 429 and "Trop de tentatives" in right.text


def test_passwords_are_stored_as_argon2_hashes(app, world):
    from web.database import User

    with app.state.db() as session:
        hashes = [u.password_hash for u in session.scalars(select(User))]
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_session_cookie_is_signed_secure_and_http_only(app, world):
    client = TestClient(app, base_url="https://testserver")
    answer = client.get("/connexion")
    cookie = answer.headers["set-cookie"]
    assert "champollion_session=" in cookie and "secure" in cookie.lower() and "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()


def test_a_correction_is_a_new_entry_and_the_store_holds_the_current_outcome(app, world):
    """Record a control, correct it: both entries stay; training reads the correction only."""
    from warehouse.inspections import load_inspections
    from web.database import ControlOutcome, current_outcomes

    client = signed_in(app, world.logins["responsable A"])
    page = f"/etablissements/{world.month}/{world.siret_a}/controle"
    before = load_inspections(world.home.warehouse)
    form = _outcome_form(world, csrf_of(client.get(page).text))
    form["inspection_date"] = (date.fromisoformat(world.month + "-01") + timedelta(days=45)).isoformat()
    assert client.post(page, data=form, follow_redirects=False).status_code == 303
    with app.state.db() as session:
        first = session.scalars(select(ControlOutcome).order_by(ControlOutcome.id.desc())).first()
        # As if the month had been scored again since: the line drawn for exploration then, not now. The correction
        # is of the same control, on the list it was recorded from.
        first.exploration, first.listed = True, True
        session.commit()
    correction = dict(form, abuse_found="0", confirmed_rules="", follow_up="aucune", corrige=str(first.id))
    correction["csrf_token"] = csrf_of(client.get(f"{page}?corrige={first.id}").text)
    del correction["confirmed_rules"]
    assert client.post(page, data=correction, follow_redirects=False).status_code == 303
    with app.state.db() as session:
        rows = session.scalars(select(ControlOutcome).where(ControlOutcome.siret == world.siret_a)).all()
        current = [o for o in current_outcomes(session) if o.siret == world.siret_a]
    assert first.id in {r.id for r in rows} and any(r.corrects_id == first.id for r in rows)
    assert first.id not in {o.id for o in current}
    # Each entry keeps how its line stood on the list it was recorded from (the summary counts it so), its correction
    # too.
    chain = [r for r in rows if first.id in (r.id, r.corrects_id)]  # other tests record controls of this SIRET too
    assert len(chain) == 2 and {(r.listed, r.exploration, r.list_month) for r in chain} == {
        (True, True, date.fromisoformat(world.month + "-01"))}
    after = load_inspections(world.home.warehouse)
    mine = after[(after["siret"] == world.siret_a)
                 & (after["inspection_date"] == pd.Timestamp(form["inspection_date"]))]
    assert mine["abuse_found"].tolist() == [0]
    assert len(after) >= len(before if before is not None else []) + 1


def test_the_engines_kept_between_pages_follow_the_published_warehouse(app, world, monkeypatch):
    """An engine kept from page to page reads the version published now: after recorded controls publish two
    new versions (the first one stays while the idle engine holds it), an establishment's contracts are still read, and the same;
    the month's temp-work agencies, kept between pages, are read again from the new version, once."""
    import web.data
    from scoring.explain import month_contracts

    reads: list[object] = []
    read_agencies = web.data.placing_agencies
    monkeypatch.setattr(web.data, "placing_agencies", lambda *args: reads.append(args[1]) or read_agencies(*args))
    month = date.fromisoformat(world.month + "-01")
    data = app.state.data
    with data.engines.engine() as (version, engine):
        before = month_contracts(world.home, world.config, month, world.siret_a, engine).contracts
        agencies_before = data.agencies(month, version, engine)
        data.agencies(month, version, engine)
    assert reads == [month]  # kept for this version
    first = world.home.warehouse.resolve()
    client = signed_in(app, world.logins["inspecteur A"])
    page = f"/etablissements/{world.month}/{world.siret_a}/controle"
    for days_before in (1, 2):  # two controls on different dates: two new versions
        form = _outcome_form(world, csrf_of(client.get(page).text))
        form["inspection_date"] = (date.fromisoformat(form["inspection_date"]) - timedelta(days=days_before)).isoformat()
        assert client.post(page, data=form, follow_redirects=False).status_code == 303
    # No longer published; left by the writers while the kept engine holds it (`warehouse.versions.hold_for_reading`)
    assert world.home.warehouse.resolve() != first and first.exists()
    with data.engines.engine() as (version, engine):
        after = month_contracts(world.home, world.config, month, world.siret_a, engine).contracts
        agencies_after = data.agencies(month, version, engine)
        data.agencies(month, version, engine)
    assert version != first and reads == [month, month]  # read again from the new version, then kept
    assert list(engine.held_versions) == [version.parent]  # the engine of the version before was closed
    assert len(before) > 0
    pd.testing.assert_frame_equal(after, before)
    pd.testing.assert_frame_equal(agencies_after, agencies_before)


def test_a_month_scored_again_is_read_again_with_no_restart(world, monkeypatch):
    """The month's lines, feature table and explanations are kept for the files they were read from: a list
    drawn up again (ranked.csv replaced), features computed again (their catalog written last) or their
    past-inspection features brought up to date (the table written first) are read again by the next page, with no
    restart of the server. A new writing is played by moving the files' modification time on (their content stays
    that of the shared test home)."""
    import web.data

    explained: list[str] = []
    explain = web.data.HomeData._explain
    monkeypatch.setattr(web.data.HomeData, "_explain",
                        lambda self, month, siret: explained.append(siret) or explain(self, month, siret))
    data = web.data.HomeData(world.home, world.config)
    month = date.fromisoformat(world.month + "-01")
    ranked, model_features = data.ranked(month), data.model(str(data.ranked(month)["model_version"].iloc[0])).features
    features = data.features(month, model_features)
    data.establishment(month, world.siret_a)
    data.establishment(month, world.siret_a)
    assert data.ranked(month) is ranked and data.features(month, model_features) is features
    assert explained == [world.siret_a]  # kept
    for path in (world.home.lists / world.month / "ranked.csv",
                 world.home.data / "features" / f"as_of={world.month}" / "feature_catalog.json",
                 world.home.data / "features" / f"as_of={world.month}" / "features.parquet"):
        content = path.read_bytes()
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert path.read_bytes() == content
        data.establishment(month, world.siret_a)
    assert data.ranked(month) is not ranked and data.features(month, model_features) is not features
    assert explained == [world.siret_a] * 4  # explained again after each
    pd.testing.assert_frame_equal(data.ranked(month), ranked)


def test_a_bad_outcome_is_refused_with_its_reasons(app, world):
    client = signed_in(app, world.logins["inspecteur A"])
    page = f"/etablissements/{world.month}/{world.siret_a}/controle"
    form = {"csrf_token": csrf_of(client.get(page).text), "inspection_date": "2999-01-01", "abuse_found": "0",
            "confirmed_rules": "carence", "follow_up": "rien"}
    answer = client.post(page, data=form)
    assert answer.status_code == 400
    for reason in ("dans le futur", "aucun abus", "Suite donnée"):
        assert reason in answer.text
    # A procès-verbal or a mise en demeure answers an abuse found: not with « abus relevé : non ».
    form = dict(form, csrf_token=csrf_of(client.get(page).text), inspection_date=world.month + "-15",
                follow_up="proces_verbal", confirmed_rules="")
    answer = client.post(page, data=form)
    assert answer.status_code == 400 and ("Suite donnée : un procès-verbal suppose un abus relevé, alors que le "
                                          "contrôle n'en a relevé aucun.") in html.unescape(answer.text)
    # A month has one address, written YYYY-MM (2026-9 served September's list), and a French answer otherwise.
    from web.app import parse_month

    assert parse_month("2026-09") == date(2026, 9, 1)
    for text in ("2026-9", "2026-13", " 2026-09", "2026-09-01"):
        with pytest.raises(HTTPException, match="Mois inconnu : l'adresse doit nommer un mois écrit AAAA-MM"):
            parse_month(text)
    unknown = client.get(f"/listes/2026-9/{world.region_a}")
    assert unknown.status_code == 404 and "Mois inconnu" in html.unescape(unknown.text)


def test_the_list_filters_and_sorts(app, world):
    client = signed_in(app, world.logins["inspecteur A"])
    base = f"/listes/{world.month}/{world.region_a}"
    everything = client.get(base).text
    explored = client.get(base + "?exploration=oui", headers={"HX-Request": "true"})
    assert explored.status_code == 200 and "<html" not in explored.text  # the table only, for HTMX
    ranked = pd.read_csv(world.home.lists / world.month / "ranked.csv", dtype={"siret": str, "region_code": str})
    region = ranked[(ranked["region_code"] == world.region_a) & ranked["in_list"]]
    assert explored.text.count('class="exploration"') == int(region["exploration"].sum())
    assert everything.count("/etablissements/") >= len(region)
    by_score = client.get(base + "?tri=score", headers={"HX-Request": "true"}).text
    order = [s for s in region.sort_values("score", ascending=False)["siret"]]
    positions = [by_score.index(f"/etablissements/{world.month}/{s}") for s in order]
    assert positions == sorted(positions)


def test_the_list_and_the_establishment_page_show_the_address(app, world):
    """The address as last declared (street, postal code and city), as the exports and the printable explanation give
    it: under each SIRET of the list, and on the establishment's page."""
    from core.french import address_fr

    ranked = pd.read_csv(world.home.lists / world.month / "ranked.csv",
                         dtype={"siret": str, "region_code": str, "postal_code": str, "street": str, "city": str})
    region = ranked[(ranked["region_code"] == world.region_a) & ranked["in_list"]]
    addresses = {siret: address_fr(street, postal_code, city) for siret, street, postal_code, city in zip(
        region["siret"], region["street"], region["postal_code"], region["city"], strict=True)}
    assert addresses[world.siret_a] and all(addresses.values())
    client = signed_in(app, world.logins["inspecteur A"])
    listed = html.unescape(client.get(f"/listes/{world.month}/{world.region_a}").text)
    for siret, address in addresses.items():
        assert re.search(rf"/{siret}\">[0-9 ]+</a><br><span class=\"hint\">{re.escape(address)}</span>", listed), siret
    page = html.unescape(client.get(f"/etablissements/{world.month}/{world.siret_a}").text)
    assert f"<dt>Adresse (dernière déclarée)</dt><dd>{addresses[world.siret_a]}</dd>" in page


def test_the_list_says_when_it_was_drawn_up_and_by_which_model(app, world, tmp_path):
    """The list page gives the time its list was drawn up, kept in UTC in its summary and shown in Paris time, and the
    model version that scored it; it says what its files give, and a page whose files say neither still opens."""
    import json
    from datetime import UTC, datetime

    from core.french import paris_time_fr
    from core.home import Home
    from scoring.monthly import drawn_up_at
    from web.app import drawn_up_fr

    summary = json.loads((world.home.lists / world.month / "summary.json").read_text(encoding="utf-8"))
    at = datetime.fromisoformat(summary["scored_at"])
    assert at.utcoffset() is not None and at.utcoffset().total_seconds() == 0
    day, time = paris_time_fr(at).split(" ")
    page = html.unescape(signed_in(app, world.logins["inspecteur A"]).get(f"/listes/{world.month}/{world.region_a}").text)
    assert (f"listés. Liste établie le {day} à {time} (heure de Paris) par la version {summary['model_version']} du "
            "modèle.") in page
    older = Home(tmp_path / "home")
    folder = older.lists / "2025-01"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text('{"scored_at": "2025-01-31T10:00:00+01:00"}', encoding="utf-8")
    assert drawn_up_at(older, date(2025, 1, 1)) == datetime(2025, 1, 31, 9, 0, tzinfo=UTC)
    month = date(2025, 1, 1)
    scored = pd.DataFrame({"model_version": [3, 3]})
    assert drawn_up_fr(older, month, scored) == "Liste établie le 31/01/2025 à 10:00 (heure de Paris) par la version 3 du modèle."
    assert drawn_up_fr(older, month, scored.iloc[:0]) == "Liste établie le 31/01/2025 à 10:00 (heure de Paris)."
    assert drawn_up_fr(older, month, pd.DataFrame({"siret": ["1"]})) == "Liste établie le 31/01/2025 à 10:00 (heure de Paris)."
    for unreadable in ('{"scored_at": 5}', "[]", "{", ""):
        (folder / "summary.json").write_text(unreadable, encoding="utf-8")
        assert drawn_up_at(older, month) is None, unreadable
    (folder / "summary.json").unlink()
    (folder / "summary.json").mkdir()
    assert drawn_up_at(older, month) is None
    assert drawn_up_fr(older, date(2025, 2, 1), scored) == "Liste établie par la version 3 du modèle."
    assert drawn_up_fr(older, date(2025, 2, 1), scored.iloc[:0]) == ""


def test_migration_0007_keeps_refusals_of_pages_of_no_month_and_drops_them_when_undone(tmp_path):
    import sqlalchemy as sa

    from web.database import AccessRecord, open_database

    url = f"sqlite:///{tmp_path / 'at-0006.db'}"
    with _migrated(url, "0006") as connection:
        connection.execute(sa.text("INSERT INTO users VALUES (1, 'a', 'A', 'inspecteur', '11', NULL, NULL, 1, "
                                   "'2026-11-01')"))
        connection.execute(sa.text("INSERT INTO access_log (id, user_id, siret, list_month, region_code, what, granted, "
                                   "at) VALUES (1, 1, NULL, '2026-10-01', '11', 'liste', 1, '2026-11-02 10:00:00')"))
    sessions = open_database(url)
    with sessions() as session:
        session.add(AccessRecord(user_id=1, list_month=None, what="journal des accès", granted=False))
        session.commit()
        assert [(r.id, r.list_month) for r in session.scalars(select(AccessRecord).order_by(AccessRecord.id))] == [
            (1, date(2026, 10, 1)), (2, None)]
    with _migrated(url, "0006", down=True) as connection:  # the log before 0007 has a month on every row
        kept = connection.execute(sa.text("SELECT id, what FROM access_log ORDER BY id")).all()
    assert [tuple(row) for row in kept] == [(1, "liste")]


def test_migrations_give_the_models_schema(tmp_path):
    """The Alembic migrations and the SQLAlchemy models describe the same tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from web.database import Base, upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_proconnect_claims_find_or_create_the_agent(tmp_path):
    """By subject, else by e-mail (bound to the subject), else created from the mapped role and region."""
    from core.config import OidcConfig, WebConfig
    from web.accounts import add_user, oidc_user
    from web.database import open_database

    settings = WebConfig(oidc=OidcConfig(issuer="https://idp.invalid", client_id="champollion",
                                         role_mapping={"inspection": "inspecteur"}, region_claim="region"))
    sessions = open_database(f"sqlite:///{tmp_path / 'oidc.db'}")
    with sessions() as session:
        local = add_user(session, "chef@travail.gouv.fr", "Chef", "responsable", "11", None)
        bound = oidc_user(session, {"sub": "s-1", "email": "Chef@travail.gouv.fr"}, settings)
        assert bound.id == local.id and bound.oidc_subject == "s-1"
        assert oidc_user(session, {"sub": "s-1"}, settings).id == local.id
        created = oidc_user(session, {"sub": "s-2", "email": "new@travail.gouv.fr", "belonging_population": "inspection",
                                      "region": "84", "given_name": "Léa", "usual_name": "Roux"}, settings)
        assert (created.role, created.region_code, created.display_name) == ("inspecteur", "84", "Léa Roux")
        assert oidc_user(session, {"sub": "s-3", "email": "x@travail.gouv.fr", "belonging_population": "other"},
                         settings) is None
        assert oidc_user(session, {"sub": "s-4", "email": "y@travail.gouv.fr", "belonging_population": "inspection",
                                   "region": "999"}, settings) is None


def test_the_summary_of_a_month_with_no_control_recorded_counts_none():
    """No outcome yet (a new month, a fresh install): each region's controls are zero, not an error."""
    from web.app import _aggregate

    ranked = pd.DataFrame({"siret": ["1", "2", "3"], "region_code": ["11", "11", "84"],
                           "region": ["Île-de-France", "Île-de-France", "ARA"],
                           "in_list": [True, False, True], "exploration": [False, False, True]})
    zero = {"controls_score": 0, "abuse_score": 0, "controls_exploration": 0, "abuse_exploration": 0}
    assert _aggregate(ranked, [], date(2026, 10, 1)) == [
        {"region_code": "11", "region": "Île-de-France", "scored": 2, "listed": 1, "exploration": 0, **zero},
        {"region_code": "84", "region": "ARA", "scored": 1, "listed": 1, "exploration": 1, **zero}]


def test_a_month_with_no_line_says_so_and_offers_no_workbook(app, world, monkeypatch):
    import web.data
    from web.bench import run_page_bench

    ranked = web.data.HomeData.ranked
    monkeypatch.setattr(web.data.HomeData, "ranked",
                        lambda self, month: ranked(self, month).assign(in_list=False))  # all inspected recently
    client = signed_in(app, world.logins["administrateur"])
    page = client.get(f"/listes/{world.month}/{world.region_a}").text
    assert "Aucun établissement de la région n'est sur la liste de ce mois" in page
    assert "export.csv" in page and "export.xlsx" not in page  # no workbook is written for a region with no line
    assert "Aucun établissement n'est sur les listes" in client.get("/").text
    with pytest.raises(LookupError, match="no establishment listed in"):
        run_page_bench(world.home, world.config, date.fromisoformat(world.month + "-01"), pages=2, reference=False)


def test_a_page_whose_score_the_model_no_longer_gives_says_so(app, world, monkeypatch):
    """Features computed again since the list (here: the list's score changed under the model): the page shows the
    list's line and says that the contributions are today's."""
    import web.data

    ranked = web.data.HomeData.ranked
    monkeypatch.setattr(web.data.HomeData, "ranked", lambda self, month: ranked(self, month).assign(
        score=lambda frame: frame["score"].where(frame["siret"] != world.siret_a, 0.001)))
    # Computed again: the catalog's new stamp, so that a page an earlier test explained is not the one shown.
    catalog = world.home.data / "features" / f"as_of={world.month}" / "feature_catalog.json"
    stat = catalog.stat()
    os.utime(catalog, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    client = signed_in(app, world.logins["administrateur"])
    page = client.get(f"/etablissements/{world.month}/{world.siret_a}").text
    assert "Attention :" in page and "Elle lui donnait une probabilité de 0,1" in page
    text = client.get(f"/etablissements/{world.month}/{world.siret_a}/explication.txt").text
    assert "Attention : les données de l'établissement" in text


def test_a_listed_line_is_explained_from_what_the_list_kept(world, monkeypatch):
    """A listed establishment's page reads what the list kept of it, not the month's features (computed again since,
    they would give other contributions): the same explanation as from the stored features, with no notice."""
    import web.data

    month = date.fromisoformat(world.month + "-01")
    from_features = web.data.HomeData(world.home, world.config)
    monkeypatch.setattr(from_features, "list_inputs", lambda month: None)
    expected = from_features.establishment(month, world.siret_a).explanation

    def refused(self, month, features):
        raise AssertionError("the month's features were read for a line the list kept")

    monkeypatch.setattr(web.data.HomeData, "features", refused)
    kept = web.data.HomeData(world.home, world.config).establishment(month, world.siret_a).explanation
    assert kept.notice == "" and kept.establishment["in_list"]
    assert kept.contributions.equals(expected.contributions) and kept.reasons.equals(expected.reasons)
    assert kept.evidence.equals(expected.evidence)


def test_inputs_that_do_not_give_the_list_s_score_are_not_used(world, monkeypatch):
    """A run stopped between a month's list and its kept inputs leaves those of the run before: the page then explains
    the line from the stored features, as `explain` does, and says nothing false; a new writing of the inputs is read
    by the next page."""
    import web.data
    from scoring.list_inputs import ListInputs

    month = date.fromisoformat(world.month + "-01")
    data = web.data.HomeData(world.home, world.config)
    kept = data.list_inputs(month)
    assert kept is not None
    from_features = web.data.HomeData(world.home, world.config)
    monkeypatch.setattr(from_features, "list_inputs", lambda month: None)
    expected = from_features.establishment(month, world.siret_a).explanation
    features = kept.features.copy()
    numeric = [c for c in expected.contributions["feature"] if pd.api.types.is_float_dtype(features[c])]
    features.loc[features["siret"].astype(str) == world.siret_a, numeric] = 0.0  # another run's row
    other = ListInputs(kept.month, kept.model_version, features, kept.benchmarks, kept.folder)
    monkeypatch.setattr(data, "list_inputs", lambda month: other)
    shown = data.establishment(month, world.siret_a).explanation
    assert shown.notice == "" and shown.contributions.equals(expected.contributions)

    explained = []
    data = web.data.HomeData(world.home, world.config)
    monkeypatch.setattr(data, "_explain", lambda *args, _explain=data._explain: explained.append(1) or _explain(*args))
    data.establishment(month, world.siret_a)
    data.establishment(month, world.siret_a)
    stamp = kept.folder / "inputs.json"
    os.utime(stamp, ns=(stamp.stat().st_atime_ns, stamp.stat().st_mtime_ns + 1_000_000))
    data.establishment(month, world.siret_a)
    assert len(explained) == 2  # kept once, then explained again from the inputs written anew


def test_the_page_benchmark_times_pages_after_the_warm_up(world, monkeypatch):
    """`bench page` with its reference rows: every page and picture answered, the timings positive, and the
    warm-up (the server's, at start) opened the first listed establishment, so the first page reuses it."""
    import web.data
    from web.bench import bench_sirets, run_page_bench

    explained: list[str] = []
    explain = web.data.HomeData._explain
    monkeypatch.setattr(web.data.HomeData, "_explain",
                        lambda self, month, siret: explained.append(siret) or explain(self, month, siret))
    month = date.fromisoformat(world.month + "-01")
    bench = run_page_bench(world.home, world.config, month, pages=2, reference=True)
    ranked = pd.read_csv(world.home.lists / world.month / "ranked.csv", dtype={"siret": str})
    sirets, warmed = bench_sirets(ranked, 2), str(ranked.loc[ranked["in_list"], "siret"].iloc[0])
    # the warm-up's establishment, then the pages' (the one already opened is not explained again), then `explain`'s
    assert explained[: len(sirets) + 1] == [warmed, *[s for s in sirets if s != warmed]][: len(sirets) + 1]
    assert bench.scored > 0 and bench.notes[0] == f"pages timed: {', '.join(sirets)}"
    assert len(bench.results) == 7 and (bench.results["median_s"] > 0).all()
    assert (bench.results["max_s"] >= bench.results["median_s"]).all()
    assert bench.results["pages"].tolist() == [1, 2, 2, 2, 1, 1, 1]


@pytest.mark.parametrize(("error", "said"), [
    ("ForeignLayout", "entrepôt de données est à réparer"),
    ("MissingVersion", "entrepôt de données est à réparer"),
    ("OSError", "son report dans l'entrepôt de données a échoué"),
])
def test_a_control_recorded_while_the_warehouse_cannot_take_it_is_kept_and_said_so(app, world, monkeypatch, caplog,
                                                                                     error, said):
    """The warehouse's links broken by hand, or its writing failing (a full disk): the control is kept in the
    application's database, and the page says why it is not in the warehouse yet (not "busy", which would end by
    itself; not a server error, which would leave the agent unsure the control was saved)."""
    import web.app
    import web.project
    from web.database import ControlOutcome

    def broken(frame, home):
        cause = OSError if error == "OSError" else getattr(web.project, error)
        raise cause(f"{home.data / 'current'}: broken by hand")

    monkeypatch.setattr(web.app, "store_recorded_inspections", broken)
    client = signed_in(app, world.logins["responsable A"])
    page = f"/etablissements/{world.month}/{world.siret_a}/controle"
    form = _outcome_form(world, csrf_of(client.get(page).text))
    form["inspection_date"] = (date.fromisoformat(world.month + "-01")
                               + timedelta(days={"ForeignLayout": 50, "MissingVersion": 51, "OSError": 52}[error])
                               ).isoformat()
    answer = client.post(page, data=form, follow_redirects=True)
    assert answer.status_code == 200
    shown = html.unescape(answer.text)  # the page's text: « l'entrepôt » is written l&#39;entrepôt
    assert said in shown and "ingestion en cours" not in shown
    assert "broken by hand" in caplog.text
    with app.state.db() as session:
        dates = {o.inspection_date.isoformat() for o in session.scalars(select(ControlOutcome))}
    assert form["inspection_date"] in dates


def test_a_recorded_inspections_file_that_cannot_be_read_is_written_again(app, world):
    """Compared before writing, an unreadable file of recorded outcomes made every record and start fail for good."""
    import pandas as pd

    from web.project import RECORDED_NAME

    for content in (b"not parquet", "no abuse_found column"):
        stored = world.home.warehouse / RECORDED_NAME
        stored.unlink(missing_ok=True)  # a file of its own, not one a previous version shares
        if isinstance(content, bytes):
            stored.write_bytes(content)
        else:
            pd.DataFrame({"siret": ["1"]}).to_parquet(stored)
        assert app.state.publish_outcomes() == "published"
        assert list(pd.read_parquet(world.home.warehouse / RECORDED_NAME).columns) == [
            "siret", "inspection_date", "abuse_found"]


def test_the_regional_export_opens_in_a_french_spreadsheet(app, world):
    """French titles and values, « ; » between cells and a byte order mark: French Excel opens it as a table."""
    client = signed_in(app, world.logins["responsable A"])
    answer = client.get(f"/listes/{world.month}/{world.region_a}/export.csv")
    assert answer.status_code == 200
    text = answer.content.decode("utf-8")
    assert text.startswith("\ufeffPosition;SIRET;Adresse;Département;Code NAF;Effectif;Score (probabilité estimée);")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    header, first = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert header[-2:] == ["Mois de la liste", "Version du modèle"] and first["Mois de la liste"] == world.month
    assert first["Position"] == "1" and first["Score (probabilité estimée)"].endswith("\u202f%")
    assert {row[header.index("Sélection")] for row in rows[1:]} <= {"score", "exploration (tirage aléatoire)"}
    assert not {"True", "False", "nan", "first", "new"} & {cell for row in rows[1:] for cell in row}
    none = client.get(f"/listes/2001-01/{world.region_a}/export.csv")  # no list drawn up that month: as its page
    assert none.status_code == 404 and "Aucune liste" in none.text


def _entry(client: TestClient, page: str, when: date, abuse: str = "0", corrige: int | None = None) -> dict[str, str]:
    """The outcome form of `page` (correcting `corrige`) as the browser sends it, with its one-time token."""
    html = client.get(page + (f"?corrige={corrige}" if corrige else "")).text
    token = re.search(r'name="jeton_formulaire" value="([^"]+)"', html)
    assert token, "no form token in the outcome form"
    form = {"csrf_token": csrf_of(html), "jeton_formulaire": token.group(1), "inspection_date": when.isoformat(),
            "abuse_found": abuse, "follow_up": "aucune"}
    return dict(form, corrige=str(corrige)) if corrige else form


def _entries(app, siret: str, when: date) -> list:
    from web.database import ControlOutcome

    with app.state.db() as session:
        return list(session.scalars(select(ControlOutcome).where(ControlOutcome.siret == siret)
                                    .where(ControlOutcome.inspection_date == when)))


def test_an_outcome_sent_twice_is_recorded_once(app, world):
    """A double submit (the same form token), then the same outcome sent from a form opened again (Back, then
    « Enregistrer »): one entry, and the agent is told it is recorded already; another outcome for the same day is
    refused with a link to correct the entry."""
    client = signed_in(app, world.logins["inspecteur A"])
    page = f"/etablissements/{world.month}/{world.siret_a}/controle"
    when = date.fromisoformat(world.month + "-01") - timedelta(days=20)
    form = _entry(client, page, when)
    assert client.post(page, data=form, follow_redirects=False).status_code == 303
    again = client.post(page, data=form)
    assert again.status_code == 200 and "Ce contrôle est déjà enregistré" in again.text
    reopened = client.post(page, data=_entry(client, page, when))
    assert reopened.status_code == 200 and "Ce contrôle est déjà enregistré" in reopened.text
    (entry,) = _entries(app, world.siret_a, when)
    other = client.post(page, data=_entry(client, page, when, abuse="1"))
    assert other.status_code == 409 and "déjà enregistré avec un autre résultat" in other.text
    assert f"controle?corrige={entry.id}" in other.text and 'id="formulaire-controle"' not in other.text
    assert len(_entries(app, world.siret_a, when)) == 1
    # Back, then the date changed for another visit, with the form that recorded the first: not taken for it, nothing
    # added, what was typed kept in a new form to send; sent from it, the other visit is recorded.
    later = when + timedelta(days=5)
    reused = client.post(page, data=dict(form, inspection_date=later.isoformat()))
    assert reused.status_code == 409 and "Ce formulaire a déjà servi" in reused.text and not _entries(app, world.siret_a, later)
    assert f'value="{later.isoformat()}"' in reused.text
    token = re.search(r'name="jeton_formulaire" value="([^"]+)"', reused.text).group(1)
    assert token != form["jeton_formulaire"]
    sent = client.post(page, data=dict(form, inspection_date=later.isoformat(), jeton_formulaire=token,
                                       csrf_token=csrf_of(reused.text)), follow_redirects=False)
    assert sent.status_code == 303 and len(_entries(app, world.siret_a, later)) == 1
    # That visit corrected to the day after, then its first form sent again (a reload): a repeat, not a visit to record.
    (recorded,) = _entries(app, world.siret_a, later)
    corrected = dict(_entry(client, page, later + timedelta(days=1), corrige=recorded.id))
    assert client.post(page, data=corrected, follow_redirects=False).status_code == 303
    resent = client.post(page, data=dict(form, inspection_date=later.isoformat(), jeton_formulaire=token,
                                         csrf_token=csrf_of(reused.text)))
    assert resent.status_code == 200 and "Ce contrôle est déjà enregistré" in resent.text
    assert len(_entries(app, world.siret_a, later)) == 1  # the entry corrected, and no other


def test_only_the_current_entry_of_a_control_can_be_corrected(app, world):
    """Two tabs correct the same entry: the second is refused with a link to the current entry, the entry replaced
    shows no « corriger » link, and the inspections store holds one outcome for the visit."""
    from warehouse.inspections import load_inspections

    client = signed_in(app, world.logins["inspecteur A"])
    page = f"/etablissements/{world.month}/{world.siret_a}/controle"
    day = date.fromisoformat(world.month + "-01") - timedelta(days=30)
    assert client.post(page, data=_entry(client, page, day, abuse="1"), follow_redirects=False).status_code == 303
    (first,) = _entries(app, world.siret_a, day)
    tab_1 = _entry(client, page, day + timedelta(days=1), corrige=first.id)
    tab_2 = _entry(client, page, day + timedelta(days=2), corrige=first.id)
    assert client.post(page, data=tab_1, follow_redirects=False).status_code == 303
    refused = client.post(page, data=tab_2)
    (current,) = _entries(app, world.siret_a, day + timedelta(days=1))
    assert refused.status_code == 409 and "a déjà été corrigée" in refused.text
    assert f"controle?corrige={current.id}" in refused.text and not _entries(app, world.siret_a, day + timedelta(days=2))
    reopened = client.get(f"{page}?corrige={first.id}")
    assert reopened.status_code == 409 and f"controle?corrige={current.id}" in reopened.text
    assert 'id="formulaire-controle"' not in reopened.text
    shown = client.get(f"/etablissements/{world.month}/{world.siret_a}").text
    assert f"controle?corrige={first.id}" not in shown and f"controle?corrige={current.id}" in shown
    assert "remplacée" in shown
    stored = load_inspections(world.home.warehouse)
    visit = stored[(stored["siret"] == world.siret_a) & stored["inspection_date"].between(
        pd.Timestamp(day), pd.Timestamp(day + timedelta(days=2)))]
    assert visit["inspection_date"].tolist() == [pd.Timestamp(day + timedelta(days=1))]
    assert visit["abuse_found"].tolist() == [0]
    for wrong in ("abc", "999999999", "-1"):
        answer = client.get(f"{page}?corrige={wrong}")
        assert answer.status_code == 404 and "existe pas pour cet établissement" in answer.text


def test_the_database_keeps_one_correction_of_an_entry_when_two_arrive_at_once(tmp_path, monkeypatch):
    """The check before writing passed for both (two requests at the same instant): the unique (chain, revision)
    refuses the second correction, which is then told the current entry; a form token sent twice records once, and
    is refused for another outcome; of two new entries of one day from two forms, the one saved while the other was
    checked is kept, the other is refused (same_day, or a repeat when it says the same), as a day whose entry was
    corrected to another day takes a new entry."""
    import web.database
    from web.accounts import add_user
    from web.database import ControlOutcome, current_outcomes, open_database, record_outcome

    sessions = open_database(f"sqlite:///{tmp_path / 'race.db'}")

    def outcome(day: int, token: str) -> ControlOutcome:
        return ControlOutcome(siret="12345678901234", region_code="11", list_month=date(2026, 10, 1), exploration=False,
                              inspection_date=date(2026, 11, day), abuse_found=day == 20, confirmed_rules="",
                              follow_up="aucune", author_id=author, form_token=token)

    with sessions() as session:
        author = add_user(session, "a@travail.gouv.fr", "A", "inspecteur", "11", None).id
        first = record_outcome(session, outcome(20, "t0"), None).current
        assert record_outcome(session, outcome(21, "t1"), first).status == "recorded"
        checks = iter([None])
        seen = web.database._recorded_already
        monkeypatch.setattr(web.database, "_recorded_already", lambda *args: next(checks, seen(*args)))
        late = record_outcome(session, outcome(22, "t2"), first)
        assert late.status == "superseded" and late.current.inspection_date == date(2026, 11, 21)
        checks = iter([None])  # the form of the 21st sent again for another day: refused, nothing added
        assert record_outcome(session, outcome(23, "t1"), None).status == "form_reused"
        checks = iter([None])  # and sent again as it was: a repeat
        assert record_outcome(session, outcome(21, "t1"), None).status == "repeated"
        assert [o.inspection_date.day for o in current_outcomes(session)] == [21]
        assert len(session.scalars(select(ControlOutcome)).all()) == 2

        # Without the establishment's guard (which makes the other tab wait: see the test below), the unique indexes
        # still refuse a second new entry of one day.
        monkeypatch.setattr(web.database, "guard_outcomes", lambda *_: None)

        def checked_while_saved_elsewhere(token: str):
            """A check that passes, run while the other tab's entry of the 24th (`token`) is saved: this tab counted that
            day's entries before, the other tab's check and those after are the real ones."""
            def check(*args):
                monkeypatch.setattr(web.database, "_recorded_already", seen)
                with sessions() as elsewhere:
                    assert record_outcome(elsewhere, outcome(24, token), None).status == "recorded"
                return None
            return check

        for token, other_token, abuse, status in [("t3", "t4", True, "same_day"), ("t5", "t6", False, "repeated")]:
            session.execute(delete(ControlOutcome).where(ControlOutcome.inspection_date == date(2026, 11, 24)))
            session.commit()
            monkeypatch.setattr(web.database, "_recorded_already", checked_while_saved_elsewhere(other_token))
            sent = outcome(24, token)
            sent.abuse_found = abuse
            refused = record_outcome(session, sent, None)
            assert refused.status == status and refused.current.form_token == other_token
            assert [o.form_token for o in current_outcomes(session) if o.inspection_date.day == 24] == [other_token]
        assert record_outcome(session, outcome(20, "t7"), None).status == "recorded"  # the 20th was corrected to the 21st
        assert [o.inspection_date.day for o in current_outcomes(session)] == [20, 21, 24]


def test_a_correction_moved_onto_a_day_and_a_new_entry_of_that_day_sent_at_once_are_not_both_kept(tmp_path, monkeypatch):
    """Tab 1 corrects the entry of the 20th to the 21st; tab 2, at the same instant, records a new entry of the 21st.
    Tab 1 holds the establishment's guard while it checks: tab 2 waits for it, then finds the 21st taken (same_day)."""
    import threading

    import web.database
    from web.accounts import add_user
    from web.database import ControlOutcome, current_outcomes, open_database, record_outcome

    sessions = open_database(f"sqlite:///{tmp_path / 'moved.db'}")

    def outcome(day: int, token: str) -> ControlOutcome:
        return ControlOutcome(siret="12345678901234", region_code="11", list_month=date(2026, 10, 1), exploration=False,
                              inspection_date=date(2026, 11, day), abuse_found=token == "tab 2", confirmed_rules="",
                              follow_up="aucune", author_id=author, form_token=token)

    with sessions() as session:
        author = add_user(session, "a@travail.gouv.fr", "A", "inspecteur", "11", None).id
        first = record_outcome(session, outcome(20, "t0"), None).current
    checking, go, results = threading.Event(), threading.Event(), {}
    seen = web.database._recorded_already

    def check(session, sent, corrected):
        if sent.form_token == "tab 1":  # tab 1's check passes; tab 2 is sent meanwhile
            checking.set()
            assert go.wait(30)
        return seen(session, sent, corrected)

    monkeypatch.setattr(web.database, "_recorded_already", check)

    def send(token: str, day: int, corrected: ControlOutcome | None) -> None:
        with sessions() as session:
            recording = record_outcome(session, outcome(day, token), corrected)
        results[token] = recording.status, recording.current.form_token  # read after the session, as the page does

    tab_1 = threading.Thread(target=send, args=("tab 1", 21, first))
    tab_2 = threading.Thread(target=send, args=("tab 2", 21, None))
    tab_1.start()
    assert checking.wait(30)
    tab_2.start()
    tab_2.join(1.0)
    waited = tab_2.is_alive()  # tab 2 waits for tab 1's guard (SQLite: its write lock, for up to 5 s)
    go.set()
    tab_1.join(30)
    tab_2.join(30)
    assert waited and results == {"tab 1": ("recorded", "tab 1"), "tab 2": ("same_day", "tab 1")}
    with sessions() as session:
        assert [(o.inspection_date.day, o.form_token) for o in current_outcomes(session)] == [(21, "tab 1")]


def test_entries_forked_or_recorded_twice_before_count_once(tmp_path):
    """A database written before the chains: two corrections of one entry (the last recorded is the outcome) and an
    entry recorded twice (counted once) give one outcome per visit."""
    import sqlalchemy as sa

    from web.database import ControlOutcome, current_entry, current_outcomes, open_database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    with _migrated(url, "0001") as connection:
        connection.execute(sa.text("INSERT INTO users VALUES (1, 'a', 'A', 'inspecteur', '11', NULL, NULL, 1, "
                                   "'2026-11-01')"))
        for row_id, corrects, day in [(1, None, 20), (2, 1, 21), (3, 1, 22), (4, None, 10), (5, None, 10)]:
            connection.execute(sa.text(
                "INSERT INTO control_outcomes VALUES (:id, '12345678901234', '11', '2026-10-01', 0, :day, 0, '', "
                "'aucune', 1, '2026-11-25', :corrects)"), {"id": row_id, "day": f"2026-11-{day}", "corrects": corrects})
    sessions = open_database(url)
    with sessions() as session:
        assert [o.id for o in current_outcomes(session)] == [5, 3]
        forked = {o.id: o for o in session.scalars(select(ControlOutcome))}
        assert current_entry(session, forked[2]).id == 3 and current_entry(session, forked[4]).id == 5
        # first rows numbered by SIRET and day in the order recorded (the 10th's twice), corrections not
        assert {o.id: o.day_entry for o in forked.values()} == {1: 0, 2: None, 3: None, 4: 0, 5: 1}


def test_recorded_outcomes_stored_twice_are_written_again_once(app, world):
    """A store written before (a control in it twice) is written again with each current outcome once."""
    from web.project import RECORDED_NAME

    app.state.publish_outcomes()
    stored = world.home.warehouse / RECORDED_NAME
    once = pd.read_parquet(stored)
    pd.concat([once, once.head(1)]).to_parquet(stored)
    assert app.state.publish_outcomes() == "published"
    again = pd.read_parquet(world.home.warehouse / RECORDED_NAME)
    assert len(again) == len(once) and not again.duplicated(["siret", "inspection_date"]).any()


def test_the_summary_counts_the_controls_of_listed_establishments_after_the_list():
    """A control of an establishment off the list, or dated before the list, says nothing of the list's selection. A
    month scored again kept a control recorded from an exploration line of its list before only while the line was
    still an exploration line: it vanished from the summary when it was not."""
    from types import SimpleNamespace

    from web.app import _aggregate

    ranked = pd.DataFrame({"siret": ["1", "2", "3"], "region_code": ["11", "11", "11"],
                           "region": ["Île-de-France"] * 3, "in_list": [True, False, True],
                           "exploration": [False, False, True]})
    month = date(2026, 10, 1)
    outcomes = [SimpleNamespace(siret=siret, inspection_date=day, abuse_found=True, listed=None, region_code="11",
                                exploration=False) for siret, day in [
        ("1", date(2026, 10, 20)), ("2", date(2026, 10, 20)), ("1", date(2026, 1, 2)), ("3", date(2026, 11, 2))]]
    (row,) = _aggregate(ranked, outcomes, month)  # type: ignore[arg-type]
    assert (row["controls_score"], row["abuse_score"], row["controls_exploration"], row["abuse_exploration"]) == (
        1, 1, 1, 1)
    # The month scored again: establishment 3 off the list, 2 on it. Controls recorded since entries keep whether their
    # line was listed, and drawn for exploration, count as of the list they were recorded from; those recorded before
    # (listed None) are read against the list as it is.
    again = ranked.assign(in_list=[True, True, False], exploration=[False, True, False])
    kept = [SimpleNamespace(siret="3", inspection_date=date(2026, 11, 2), abuse_found=True, listed=True,
                            region_code="11", exploration=True),
            SimpleNamespace(siret="2", inspection_date=date(2026, 10, 21), abuse_found=False, listed=False,
                            region_code="11", exploration=False),
            SimpleNamespace(siret="2", inspection_date=date(2026, 10, 22), abuse_found=True, listed=None,
                            region_code="11", exploration=False)]
    (row,) = _aggregate(again, kept, month)  # type: ignore[arg-type]
    assert (row["controls_score"], row["abuse_score"], row["controls_exploration"], row["abuse_exploration"]) == (
        0, 0, 2, 2)
    # One recorded before, from an exploration line (always on its list) that the list as it is now leaves out: counted.
    before = SimpleNamespace(siret="3", inspection_date=date(2026, 10, 23), abuse_found=False, listed=None,
                             region_code="11", exploration=True)
    (row,) = _aggregate(again, [before], month)  # type: ignore[arg-type]
    assert (row["controls_exploration"], row["abuse_exploration"]) == (1, 0)


def test_signing_out_ends_the_session_for_a_copy_of_its_cookie(app, world):
    """A cookie copied before « Se déconnecter » opens no page after it; another session of the agent stays open."""
    from web.database import SignedIn

    client, other = signed_in(app, world.logins["inspecteur A"]), signed_in(app, world.logins["inspecteur A"])
    page = f"/etablissements/{world.month}/{world.siret_a}"
    copied = TestClient(app, base_url="https://testserver", cookies=dict(client.cookies))
    assert copied.get(page, follow_redirects=False).status_code == 200
    with app.state.db() as session:
        before = len(session.scalars(select(SignedIn)).all())
    token = csrf_of(client.get(page).text)
    assert client.post("/deconnexion", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    answer = copied.get(page, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/connexion")
    assert other.get(page, follow_redirects=False).status_code == 200
    with app.state.db() as session:
        assert len(session.scalars(select(SignedIn)).all()) == before - 1


def test_failures_sent_from_elsewhere_do_not_lock_an_agent_out_of_their_office(tmp_path):
    """Five failures from one address refuse that address only; many failures of a login from many addresses refuse it
    from addresses it never signed in from, not from the agent's office; the right password is not even tried there."""
    from core.config import WebConfig
    from web.accounts import add_user, sign_in
    from web.database import LoginAttempt, open_database

    settings = WebConfig()
    login, office = "agent@travail.gouv.fr", "10.0.0.1"
    sessions = open_database(f"sqlite:///{tmp_path / 'locks.db'}")
    with sessions() as session:
        add_user(session, login, "Agent", "evaluateur", None, PASSWORD)
        assert sign_in(session, login, PASSWORD, office, settings).user is not None
        for _ in range(settings.login_attempts):
            assert sign_in(session, login, "faux", "203.0.113.1", settings).refusal == "Identifiant ou mot de passe incorrect."
        refused = sign_in(session, login, PASSWORD, "203.0.113.1", settings)
        assert refused.user is None and refused.limited and "depuis ce poste" in refused.refusal
        assert sign_in(session, "other@travail.gouv.fr", "faux", "203.0.113.1", settings).limited  # any login
        assert sign_in(session, login, PASSWORD, office, settings).user is not None
        for n in range(settings.login_account_attempts - settings.login_attempts):
            assert not sign_in(session, login, "faux", f"198.51.100.{n}", settings).limited
        elsewhere = sign_in(session, login, PASSWORD, "192.0.2.50", settings)
        assert elsewhere.user is None and elsewhere.limited and "pour cet identifiant" in elsewhere.refusal
        tried = len(session.scalars(select(LoginAttempt)).all())
        assert sign_in(session, login, "encore faux", "192.0.2.51", settings).limited
        assert len(session.scalars(select(LoginAttempt)).all()) == tried  # no password tried once refused
        assert sign_in(session, login, PASSWORD, office, settings).user is not None


def test_errors_outside_the_routes_answer_the_french_page(app, world):
    """An unknown address, a field over 1 MB: the French error page, with the agent's header when signed in; a
    malformed `corrige` sends a visitor to sign in first."""
    visitor = TestClient(app, base_url="https://testserver")
    unknown = visitor.get("/nulle-part")
    assert unknown.status_code == 404 and "Page introuvable" in unknown.text and '"detail"' not in unknown.text
    assert "Se déconnecter" not in unknown.text
    wrong = visitor.get(f"/etablissements/{world.month}/{world.siret_a}/controle?corrige=abc", follow_redirects=False)
    assert wrong.status_code == 303 and wrong.headers["location"].startswith("/connexion")
    client = signed_in(app, world.logins["inspecteur A"])
    unknown = client.get("/nulle-part")
    assert unknown.status_code == 404 and "Page introuvable" in unknown.text and "Se déconnecter" in unknown.text
    assert client.delete("/connexion").status_code == 405
    page = f"/etablissements/{world.month}/{world.siret_a}/controle"
    huge = client.post(page, data={"inspection_date": "x" * (1024 * 1024 + 1)}, files={"piece": ("a.txt", b"a")})
    assert huge.status_code == 400 and "un champ est trop long" in huge.text and "Field exceeded" not in huge.text


def test_a_parameter_of_the_wrong_type_answers_the_french_page_once_signed_in(world):
    """A typed parameter that does not parse (none of the routes has one today): the sign-in form first, then 400."""
    from web.app import create_app

    def typed(number: int) -> int:
        return number

    app = create_app(world.home, world.config)
    app.get("/essai/{number}")(typed)
    assert TestClient(app, base_url="https://testserver").get("/essai/x", follow_redirects=False).status_code == 303
    answer = signed_in(app, world.logins["evaluateur"]).get("/essai/x")
    assert answer.status_code == 400 and "est pas valide" in answer.text and "int_parsing" not in answer.text


def test_an_inspector_is_told_when_the_ministry_file_gives_the_control_another_outcome(tmp_path):
    """A control both imported and recorded is read with its imported outcome (`one_per_control`): recording another
    one, the inspector is told it is not the one training reads, where « il compte parmi les contrôles » misled him."""
    from warehouse.inspections import imported_outcomes, store_inspections
    from web.app import _official_differs_fr

    store_inspections(pd.DataFrame({"siret": ["12345678900011", "12345678900011"],
                                    "inspection_date": pd.to_datetime(["2025-03-12", "2025-04-02"]),
                                    "abuse_found": [0, 1]}), tmp_path)
    assert imported_outcomes(tmp_path, "12345678900011", date(2025, 3, 12)) == {0}
    assert imported_outcomes(tmp_path, "12345678900011", date(2025, 3, 13)) == set()
    assert imported_outcomes(tmp_path / "none", "12345678900011", date(2025, 3, 12)) == set()
    told = _official_differs_fr(date(2025, 3, 12), True, {0})
    assert told is not None and "contrôle du 12/03/2025 (abus relevé : non)" in told and "pas celui saisi ici" in told
    assert _official_differs_fr(date(2025, 3, 12), False, {0}) is None  # the same outcome: nothing to say
    assert _official_differs_fr(date(2025, 3, 12), True, set()) is None  # not imported: the entry is what is read


def test_a_registry_time_is_shown_in_paris_time_and_a_missing_one_as_nothing():
    from web.models_page import created_fr

    assert "12:00" in created_fr("2026-07-01 10:00")  # summer: UTC+2
    assert [created_fr(missing) for missing in (None, float("nan"), pd.NA)] == ["", "", ""]
    assert created_fr("hier") == "hier"


def test_the_sector_comparison_leaves_out_what_is_a_comparison_with_the_sector_already():
    """A sector's median (or the gap to it), a feature of the model, beside its own sector median read « 73 % / 73 % »."""
    from types import SimpleNamespace

    from web.data import _comparison

    contributions = pd.DataFrame({
        "feature": ["share_hires_fixed_term_12m_benchmark", "share_hires_fixed_term_12m",
                    "share_hires_fixed_term_12m_excess"],
        "label_fr": ["médiane du secteur : part", "part", "écart à la médiane du secteur : part"],
        "shown": ["73 %", "92 %", "+19 %"], "contribution": [0.5, 0.4, 0.3]})
    explanation = SimpleNamespace(establishment={"naf": "5610A", "region_code": "11"}, contributions=contributions)
    benchmarks = SimpleNamespace(lookup=lambda naf, region, feature: (0.73, "region"))
    shown = _comparison(explanation, pd.Series(dtype=object), benchmarks)  # type: ignore[arg-type]
    assert shown["label_fr"].tolist() == ["part"] and shown["benchmark_shown"].tolist() == ["73 %"]
