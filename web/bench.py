"""`champollion bench page`: how long an establishment's page takes, through the application itself.

A throw-away database with one administrator account serves the pages (the home's own database is
not touched); the month's data is loaded, the warehouse attached and the first listed establishment opened
as the server does at start (`HomeData.warm`), timed apart; then each page is timed as a browser asks for it: the HTML, then the
timeline picture. Beside it, once: one establishment's contracts by the whole month's rebuild (as
`explain` did) and by its declarants only, and `explain`.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from web.project import (
    Config,
    DuckDBEngine,
    Home,
    establishment_contracts,
    explain_month,
    has_contract_states,
    load_average,
    prepare_as_of,
    prepare_establishment_contracts,
)

BENCH_LOGIN = "bench@champollion.invalid"


@dataclass
class PageBench:
    """The timings, one row per measure (seconds), and what to read them with."""

    results: pd.DataFrame
    scored: int
    load_before: str
    load_after: str
    notes: list[str] = field(default_factory=list)


def bench_sirets(ranked: pd.DataFrame, pages: int) -> list[str]:
    """`pages` listed SIRETs: the first line of each region, then the second, and so on."""
    listed = ranked[ranked["in_list"]].sort_values(["list_position", "region_code"])
    return listed["siret"].astype(str).head(pages).tolist()


def run_page_bench(home: Home, config: Config, month: date, pages: int, reference: bool,
                   model_home: Home | None = None) -> PageBench:
    """Time `pages` establishment pages of `month`'s list (see the module docstring); the model comes from the
    registry of `model_home` (default: `home`'s), as when the list was scored by `bench month --model-home`."""
    from fastapi.testclient import TestClient

    from web.accounts import add_user
    from web.app import create_app
    from web.database import open_database

    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="champollion-bench-") as folder:
        sessions = open_database(f"sqlite:///{Path(folder) / 'bench.db'}")
        password = os.urandom(16).hex()
        with sessions() as session:
            add_user(session, BENCH_LOGIN, "banc d'essai", "administrateur", None, password)
        app = create_app(home, config, sessions, model_home)
        m = f"{month:%Y-%m}"
        with TestClient(app, base_url="https://testserver") as client:
            client.get("/connexion")
            signed = client.post("/connexion", data={"login": BENCH_LOGIN, "password": password, "suivant": "/",
                                                     "csrf_token": _csrf(client)}, follow_redirects=False)
            if signed.status_code != 303:
                raise LookupError(f"benchmark sign-in refused ({signed.status_code})")
            started = time.perf_counter()
            app.state.data.warm(month)
            loading = time.perf_counter() - started
            ranked = app.state.data.ranked(month)
            html, pictures = [], []
            sirets = bench_sirets(ranked, pages)
            if not sirets:
                raise LookupError(f"no establishment listed in {m}: no page to time")
            for siret in sirets:
                started = time.perf_counter()
                response = client.get(f"/etablissements/{m}/{siret}")
                html.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise LookupError(f"page of {siret}: HTTP {response.status_code}")
                started = time.perf_counter()
                picture = client.get(f"/etablissements/{m}/{siret}/frise.png")
                pictures.append(time.perf_counter() - started)
                if picture.status_code != 200:
                    raise LookupError(f"timeline of {siret}: HTTP {picture.status_code}")
    rows = [
        {"measure": "month loaded once per process (ranked lines, feature table, sector medians, model, "
                    "warehouse attached, first listed establishment opened)",
         "pages": 1, "median_s": round(loading, 3), "max_s": round(loading, 3)},
        {"measure": "establishment page (HTML: contracts of this SIRET, SHAP, evidence, controls)",
         "pages": len(html), "median_s": round(statistics.median(html), 3), "max_s": round(max(html), 3)},
        {"measure": "timeline picture (PNG)", "pages": len(pictures), "median_s": round(statistics.median(pictures), 3),
         "max_s": round(max(pictures), 3)},
        {"measure": "page + picture", "pages": len(html),
         "median_s": round(statistics.median([a + b for a, b in zip(html, pictures, strict=True)]), 3),
         "max_s": round(max(a + b for a, b in zip(html, pictures, strict=True)), 3)},
    ]
    notes = [f"pages timed: {', '.join(sirets)}"]
    if reference:
        former, narrowed = _contract_rebuilds(home, config, month, sirets[0])
        started = time.perf_counter()
        explain_month(home, config, sirets[0], month, model_home=model_home)
        explained = time.perf_counter() - started
        rows += [
            {"measure": "contracts of one SIRET, as before: the whole month rebuilt from its snapshots (prepare_as_of)",
             "pages": 1, "median_s": round(former, 3), "max_s": round(former, 3)},
            {"measure": "contracts of one SIRET now: its declarants only, from the versioned contracts if any "
                        "(prepare_establishment_contracts)",
             "pages": 1, "median_s": round(narrowed, 3), "max_s": round(narrowed, 3)},
            {"measure": "`champollion explain` (loads the month and the line of its list; contracts of this SIRET only)",
             "pages": 1, "median_s": round(explained, 3), "max_s": round(explained, 3)},
        ]
        page_and_picture = statistics.median([a + b for a, b in zip(html, pictures, strict=True)])
        notes.append(f"contracts: whole month / one SIRET's declarants: {former / narrowed:.1f}x; "
                     f"`explain` / page + picture (median): {explained / page_and_picture:.1f}x")
    return PageBench(pd.DataFrame(rows), len(ranked), load_before, load_average(), notes)


def _contract_rebuilds(home: Home, config: Config, month: date, siret: str) -> tuple[float, float]:
    """Seconds to get one establishment's contracts by the whole month's rebuild, and by its declarants only."""
    times = []
    for prepare in (
        lambda engine: prepare_as_of(engine, month, config.features, config.ingest.inferred_end_after_months),
        lambda engine: prepare_establishment_contracts(engine, month, config.features, siret,
                                                       config.ingest.inferred_end_after_months,
                                                       from_states=has_contract_states(home.warehouse)),
    ):
        started = time.perf_counter()
        with DuckDBEngine.spilling_to(home.duckdb_tmp) as engine:
            engine.attach_warehouse(home.warehouse)
            prepare(engine)
            establishment_contracts(engine.con, siret)
        times.append(time.perf_counter() - started)
    return times[0], times[1]


def _csrf(client: object) -> str:
    """The CSRF token of the sign-in form just fetched (it is in the signed session, and in the form)."""
    import re

    page = client.get("/connexion").text  # type: ignore[attr-defined]
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if not found:
        raise LookupError("no CSRF token in the sign-in form")
    return found.group(1)
