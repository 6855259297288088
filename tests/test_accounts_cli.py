"""Account administration from the command line: an agent who forgot a password, changed region or came back."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from champollion.cli import app
from core.config import load_config
from core.home import Home
from web.accounts import sign_in
from web.database import SignedIn, User, database_url, open_database

OLD, NEW = "Motdepasse-ancien-1", "Motdepasse-nouveau-2"


def _run(home: Home, *arguments: str, password: str | None = None) -> str:
    env = {"CHAMPOLLION_NEW_PASSWORD": password} if password else {}
    result = CliRunner().invoke(app, ["--home", str(home.root), "users", *arguments], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_account_is_disabled_enabled_given_a_new_password_and_moved(tmp_path):
    home = Home(tmp_path / "home")
    settings = load_config(None).web
    _run(home, "add", "agent@dreets.gouv.fr", "--role", "inspecteur", "--region", "11", password=OLD)
    sessions = open_database(database_url(home, settings))

    def signs_in(password: str) -> bool:
        with sessions() as session:
            return sign_in(session, "agent@dreets.gouv.fr", password, "10.0.0.1", settings).user is not None

    with sessions() as session:  # a session open before the account is disabled (a stolen cookie)
        user_id = session.scalar(select(User.id).where(User.login == "agent@dreets.gouv.fr"))
        session.add(SignedIn(token_hash="1" * 64, user_id=user_id))
        session.commit()
    _run(home, "disable", "agent@dreets.gouv.fr")
    assert not signs_in(OLD)
    with sessions() as session:  # ended: enabling the account again does not open it again
        assert session.scalar(select(SignedIn).where(SignedIn.user_id == user_id)) is None
    _run(home, "enable", "Agent@dreets.gouv.fr")  # the login in any case, as at sign-in
    assert signs_in(OLD)
    with sessions() as session:  # a session open with the old password (`SignedIn`, as the application keeps it)
        session.add(SignedIn(token_hash="0" * 64, user_id=user_id))
        session.commit()
    _run(home, "password", "agent@dreets.gouv.fr", password=NEW)
    assert signs_in(NEW) and not signs_in(OLD)
    with sessions() as session:  # ended by the new password
        assert session.scalar(select(SignedIn).where(SignedIn.user_id == user_id)) is None
    assert "moved to region 84" in _run(home, "region", "agent@dreets.gouv.fr", "84")
    with sessions() as session:
        assert session.scalar(select(User.region_code).where(User.login == "agent@dreets.gouv.fr")) == "84"


def test_a_change_that_cannot_be_made_is_refused_in_words(tmp_path):
    home = Home(tmp_path / "home")
    _run(home, "add", "eval@dreets.gouv.fr", "--role", "evaluateur", password=OLD)
    runner = CliRunner()
    for arguments, said in ((["region", "eval@dreets.gouv.fr", "84"], "n'a pas de région"),
                            (["enable", "nobody@dreets.gouv.fr"], "aucun compte"),
                            (["password", "eval@dreets.gouv.fr"], "12 caractères")):
        result = runner.invoke(app, ["--home", str(home.root), "users", *arguments],
                               env={"CHAMPOLLION_NEW_PASSWORD": "court"})
        assert result.exit_code == 2 and said in result.output, result.output


def test_the_access_log_is_shown_in_paris_time_with_its_refusals(tmp_path):
    """`champollion access-log`: the rows the administrator's page shows, latest first, of one account or the
    refusals only; times kept in UTC are shown in Paris time with their offset."""
    from datetime import date, datetime

    from web.database import AccessRecord

    home = Home(tmp_path / "home")
    _run(home, "add", "agent@dreets.gouv.fr", "--role", "inspecteur", "--region", "11", password=OLD)
    _run(home, "add", "chef@dreets.gouv.fr", "--role", "responsable", "--region", "84", password=OLD)
    sessions = open_database(database_url(home, load_config(None).web))
    with sessions() as session:
        agent, chef = (session.scalar(select(User.id).where(User.login == login))
                       for login in ("agent@dreets.gouv.fr", "chef@dreets.gouv.fr"))
        session.add_all([
            AccessRecord(user_id=agent, siret="12345678901234", list_month=date(2026, 10, 1), region_code="11",
                         what="fiche", at=datetime(2026, 10, 24, 23, 30)),
            AccessRecord(user_id=agent, siret="98765432109876", list_month=date(2026, 10, 1), region_code="84",
                         what="fiche", granted=False, at=datetime(2026, 10, 25, 1, 30)),
            AccessRecord(user_id=chef, list_month=date(2026, 10, 1), region_code="84", what="export CSV",
                         at=datetime(2026, 10, 25, 2, 0)),
            AccessRecord(user_id=agent, list_month=None, what="journal des accès", granted=False,
                         at=datetime(2026, 10, 25, 3, 0))])
        session.commit()

    def shown(*arguments: str) -> list[str]:
        result = CliRunner().invoke(app, ["--home", str(home.root), "access-log", *arguments])
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    assert shown() == [
        "at (Europe/Paris)\taccount\taction\tdecision\tregion\tsiret\tlist",
        "2026-10-25 04:00:00+01:00\tagent@dreets.gouv.fr\tjournal des accès\trefused\t-\t-\t-",
        "2026-10-25 03:00:00+01:00\tchef@dreets.gouv.fr\texport CSV\tgranted\t84\t-\t2026-10",
        "2026-10-25 02:30:00+01:00\tagent@dreets.gouv.fr\tfiche\trefused\t84\t98765432109876\t2026-10",
        "2026-10-25 01:30:00+02:00\tagent@dreets.gouv.fr\tfiche\tgranted\t11\t12345678901234\t2026-10"]
    assert [line.split("\t")[1] for line in shown("--login", "Agent@dreets.gouv.fr")[1:]] == ["agent@dreets.gouv.fr"] * 3
    assert [line.split("\t")[5] for line in shown("--refused")[1:]] == ["-", "98765432109876"]
    assert len(shown("--limit", "1")) == 2
