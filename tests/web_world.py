"""A web application over a copy of the small pipeline's home, with one account per role."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.config import Config
from core.home import Home

PASSWORD = "un mot de passe de test"
# (login, role, region: "A" the region of the list's first line, "B" another region with a list, None)
ACCOUNTS = [
    ("inspecteur.a@travail.gouv.fr", "inspecteur", "A"),
    ("inspecteur.b@travail.gouv.fr", "inspecteur", "B"),
    ("responsable.a@travail.gouv.fr", "responsable", "A"),
    ("responsable.b@travail.gouv.fr", "responsable", "B"),
    ("evaluateur@travail.gouv.fr", "evaluateur", None),
    ("admin@travail.gouv.fr", "administrateur", None),
]


@dataclass(frozen=True)
class WebWorld:
    """The copied home, its settings, the list month, two regions and an establishment of region A."""

    home: Home
    config: Config
    month: str
    region_a: str
    region_b: str
    siret_a: str
    logins: dict[str, str]  # account key (e.g. "inspecteur A") -> login


def make_web_world(home: Home, config: Config, folder: Path) -> WebWorld:
    """Copy `home` (a scored home) into `folder`, add an audit report and the accounts."""
    from web.accounts import add_user
    from web.database import database_url, open_database

    copy = Home(folder / "home")
    shutil.copytree(home.root, copy.root, symlinks=True)
    month = sorted(p.name for p in copy.lists.iterdir() if (p / "ranked.csv").exists())[-1]
    ranked = pd.read_csv(copy.lists / month / "ranked.csv", dtype={"siret": str, "region_code": str})
    listed = ranked[ranked["in_list"]].sort_values("rank_national")
    region_a = str(listed["region_code"].iloc[0])
    region_b = str(listed.loc[listed["region_code"] != region_a, "region_code"].iloc[0])
    siret_a = str(listed["siret"].iloc[0])
    copy.reports.mkdir(parents=True, exist_ok=True)
    (copy.reports / "audit-v1-test.html").write_text("<html><body><h1>Audit</h1></body></html>", encoding="utf-8")
    sessions = open_database(database_url(copy, config.web))
    logins = {}
    with sessions() as session:
        for login, role, region in ACCOUNTS:
            code = {"A": region_a, "B": region_b, None: None}[region]
            add_user(session, login, login.split("@")[0], role, code, PASSWORD)
            logins[f"{role} {region}" if region else role] = login
    return WebWorld(copy, config, month, region_a, region_b, siret_a, logins)


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)
