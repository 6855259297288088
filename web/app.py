"""The web application: routes, sessions, CSRF, permissions and the access log.

Every route but sign-in and the static files needs a signed-in user; each names the permission it checks (web.access),
so that a user of another role, or a list of another region, gets 403; an establishment of another region answers 404,
as one not scored. The access log keeps the lists read (once a day) and establishments opened, the exports downloaded,
the controls recorded and the refusals of another region's list, export or establishment, or of a page of another
role. Every form carries the session's CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import jinja2
import pandas as pd
import pyarrow as pa
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from web.access import Permission, allowed, role_allows
from web.accounts import oidc_user, sign_in
from web.data import SORTS, EstablishmentView, HomeData, ListFilters, audit_reports, list_months
from web.database import (
    FOLLOW_UPS,
    ROLE_LABELS,
    AccessRecord,
    ControlOutcome,
    Recording,
    SignedIn,
    User,
    access_records,
    current_entry,
    current_outcomes,
    database_url,
    open_database,
    record_outcome,
    utc_now,
)
from web.models_page import versions_fr
from web.project import (
    KIND_FR,
    RECORDED_NAME,
    RULES,
    Config,
    ForeignLayout,
    Home,
    MissingVersion,
    SettingsSkew,
    WarehouseBusy,
    address_fr,
    audit_paragraph,
    date_fr,
    drawn_up_at,
    explanation_text,
    imported_outcomes,
    in_paris,
    lines_csv,
    list_models,
    lists_folder,
    month_fr,
    number_fr,
    of_month_fr,
    paris_day_start,
    paris_time_fr,
    percent_fr,
    reason_label,
    region_names,
    signed_fr,
    slug,
    store_recorded_inspections,
    timeline_png,
    tiny_fr,
)

log = logging.getLogger("champollion.web")
# What became of the recorded control outcomes (`publish_outcomes`): in the inspections store, or kept in the
# application's database because another run writes the warehouse, because its links need mending by hand, or
# because writing it failed (a full disk, a permission: logged with its trace).
OutcomesPublished = Literal["published", "busy", "broken", "failed"]
PACKAGE = Path(__file__).resolve().parent
SESSION_COOKIE = "champollion_session"
PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# The audit report is one self-contained file: its pictures are inline, its styles in the page.
REPORT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"
RULE_LABELS = {r.id: r.label_fr for r in RULES}
CHANGE_FR = {"new": "nouveau", "still": "déjà listé", "first": "première liste", "left": "sorti"}
ERROR_TITLES = {400: "Demande incorrecte", 403: "Accès refusé", 404: "Page introuvable", 405: "Méthode non permise",
                429: "Trop de tentatives"}
REFUSED_FR = "Votre rôle ou votre région ne donne pas accès à cette page."
# What the page says of an error raised outside the routes (Starlette's details are in English): an unknown address, a
# method the address does not take, a form that cannot be read (a field over 1 MB, a malformed body).
ERRORS_FR = {404: "Cette page n'existe pas.", 405: "Cette adresse ne s'ouvre pas ainsi.",
             400: "Le formulaire n'a pas pu être lu : un champ est trop long ou mal formé."}


class SignInRequired(Exception):
    """No signed-in user: the page sends to the sign-in form."""


def session_key(home: Home, config: Config) -> str:
    """The key signing session cookies, from the home's key file (written, mode 600, when missing)."""
    path = home.root / config.web.session_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def parse_month(text: str) -> date:
    """The month of an address, written YYYY-MM as the pages write it (2026-9 is not another name for 2026-09: a page
    has one address); 404, in French, otherwise."""
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}", text) is None:
            raise ValueError(text)
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError as exc:
        raise HTTPException(404, "Mois inconnu : l'adresse doit nommer un mois écrit AAAA-MM, par exemple 2026-09.") from exc


def month_or_none(text: str) -> date | None:
    """The month YYYY-MM `text` names, or None (a page refused before its month is read)."""
    try:
        return parse_month(text)
    except HTTPException:
        return None


def _siret_fr(siret: str) -> str:
    return f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}" if len(siret) == 14 else siret


def drawn_up_fr(home: Home, month: date, ranked: pd.DataFrame) -> str:
    """When the month's list was drawn up and by which model version, in French (« Liste établie le 31/01/2025 à
    11:00 (heure de Paris) par la version 3 du modèle. »), from what its files say ('' when they say neither)."""
    at = drawn_up_at(home, month)
    versions = ranked["model_version"].dropna().astype(str).unique() if "model_version" in ranked else []
    local = in_paris(at) if at is not None else None
    when = f" le {local:%d/%m/%Y} à {local:%H:%M} (heure de Paris)" if local is not None else ""
    by = f" par la version {versions[0]} du modèle" if len(versions) == 1 else ""
    return f"Liste établie{when}{by}." if when or by else ""


def create_app(home: Home, config: Config, sessions: sessionmaker[Session] | None = None,
               model_home: Home | None = None) -> FastAPI:
    """The application over `home` with `config`; `sessions` defaults to the configured database (migrated);
    the models are read from the registry of `model_home` (default: `home`'s)."""
    settings = config.web
    db = sessions or open_database(database_url(home, settings))
    data = HomeData(home, config, model_home)
    # Every value escaped: the templates are named .html.j2, which Starlette's default (escape .html, .htm and .xml
    # only) left unescaped, so a link could inject markup (a redirect, an HTMX request recording a control).
    templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(PACKAGE / "templates"),
                                                       autoescape=True))
    templates.env.globals.update(month_fr=month_fr, of_month_fr=of_month_fr, date_fr=date_fr, percent_fr=percent_fr,
                                 paris_time_fr=paris_time_fr, address_fr=address_fr, signed_fr=signed_fr, tiny_fr=tiny_fr,
                                 number_fr=number_fr, siret_fr=_siret_fr, role_labels=ROLE_LABELS, change_fr=CHANGE_FR,
                                 follow_ups=FOLLOW_UPS, rules_fr=_rules_fr, kind_fr=KIND_FR, reason_label=reason_label,
                                 regions=region_names(), Permission=Permission, allowed=allowed)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        data.engines.close()

    app = FastAPI(title="Champollion", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.add_middleware(SessionMiddleware, secret_key=session_key(home, config), session_cookie=SESSION_COOKIE,
                       max_age=settings.session_minutes * 60, same_site="lax", https_only=settings.secure_cookies)
    app.mount("/static", StaticFiles(directory=str(PACKAGE / "static")), name="static")
    app.state.data = data
    app.state.db = db
    oauth = _oauth(config)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        # Pages hold personal data: never kept by the browser; the style sheet and script may be.
        response.headers.setdefault("Cache-Control", "max-age=3600" if request.url.path.startswith("/static/")
                                    else "no-store")
        return response

    @app.exception_handler(SignInRequired)
    async def to_sign_in(request: Request, _exc: SignInRequired) -> Response:
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": "/connexion"})
        # back to the page asked for, its filters kept (`?departement=75&tri=score`)
        asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/connexion?suivant={quote(asked, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def error_page(request: Request, exc: StarletteHTTPException) -> Response:
        """The French error page: the route's own detail (always French), else what `ERRORS_FR` says."""
        detail = exc.detail if isinstance(exc, HTTPException) else ERRORS_FR.get(
            exc.status_code, "La demande n'a pas pu être traitée.")
        return error_response(request, exc.status_code, str(detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, _exc: RequestValidationError) -> Response:
        """A parameter of the wrong type: the sign-in form for a visitor (nothing is said before it), else a 400 page."""
        try:
            signed_in(request)
        except SignInRequired:
            return await to_sign_in(request, SignInRequired())
        return error_response(request, 400, "Un paramètre de l'adresse ou du formulaire n'est pas valide.")

    # --- helpers ---------------------------------------------------------------------------------------

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    async def checked_form(request: Request) -> dict[str, Any]:
        form = await request.form()
        sent = str(form.get("csrf_token", ""))
        expected = request.session.get("csrf", "")
        if not expected or not hmac.compare_digest(sent, expected):
            raise HTTPException(403, "Jeton de sécurité (CSRF) absent ou périmé : rechargez la page.")
        return {key: form.getlist(key) if len(form.getlist(key)) > 1 else form.get(key) for key in form}

    def signed_in(request: Request) -> User:
        """The user of the request's session, when the database still holds it (not signed out) and it is not older than
        `web.session_minutes`; else SignInRequired."""
        token = request.session.get("session")
        user = None
        if isinstance(token, str):
            started = utc_now() - timedelta(minutes=settings.session_minutes)
            with db() as session:
                user = session.scalar(select(User).join(SignedIn, SignedIn.user_id == User.id).where(
                    SignedIn.token_hash == _token_hash(token), SignedIn.started_at >= started, User.active.is_(True)))
        if user is None:
            request.session.pop("session", None)
            raise SignInRequired()
        return user

    def require(user: User, permission: Permission, what: str, month: date | None = None) -> None:
        """403 unless `user`'s role gives `permission` (not a regional one: `open_region`, `open_establishment`); the
        refusal is logged as `what`, of `month` when the page has one."""
        if not allowed(user, permission):
            raise refusal(user, what, month)

    def refusal(user: User, what: str, month: date | None, region_code: str | None = None,
                siret: str | None = None) -> HTTPException:
        """The 403 that refuses `user` `what` (of `month`, `region_code` and `siret` as far as the page names them),
        once the refusal is logged."""
        log_access(user, what, month, region_code, siret, granted=False)
        return HTTPException(403, REFUSED_FR)

    def error_response(request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
        """The French error page answering `status`, with the signed-in user's header (none for a visitor)."""
        try:
            user: User | None = signed_in(request)
        except SignInRequired:
            user = None
        response = render(request, "erreur.html.j2", user, title=ERROR_TITLES.get(status, "Erreur"), detail=detail,
                          status=status)
        response.status_code = status
        response.headers.update(headers or {})
        return response

    def render(request: Request, name: str, user: User | None, **context: Any) -> HTMLResponse:
        flash = request.session.pop("flash", None)
        return templates.TemplateResponse(request, name, {
            "user": user, "csrf_token": csrf_token(request), "flash": flash, "months": list_months(home), **context})

    def open_establishment(
        request: Request, month: str, siret: str, permission: Permission, what: str, logged: bool = True
    ) -> tuple[User, date, pd.Series, str]:
        """The signed-in user, the month, the establishment's ranked line and region, once `permission` is checked for
        its region; the opening is logged as `what` when `logged`, a refusal always. An establishment scored in another
        region answers as one not scored (404, « introuvable dans votre région »): a SIRET asked for tells nothing of
        where else it is scored. A role without `permission` is refused (403) whatever the month and the SIRET, logged
        with no region: the answer tells nothing of which months have a list or where a SIRET is scored."""
        user = signed_in(request)
        if not role_allows(user, permission):  # refused whatever the month and the SIRET name, before reading them
            raise refusal(user, what, month_or_none(month), siret=siret if re.fullmatch(r"[0-9]{14}", siret) else None)
        chosen = parse_month(month)
        ranked = drawn_up(chosen)
        if siret in ranked.index:
            line = ranked.loc[siret]
            region_code = str(line["region_code"])
            if allowed(user, permission, region_code):
                if logged:
                    log_access(user, what, chosen, region_code, siret)
                return user, chosen, line, region_code
            log_access(user, what, chosen, region_code, siret, granted=False)
        if user.region_code is not None:
            raise HTTPException(404, f"Établissement {siret} introuvable dans votre région en {month_fr(chosen)} : il "
                                     "n'y est pas classé.")
        raise HTTPException(404, f"Établissement {siret} non classé en {month_fr(chosen)}.")

    def open_region(request: Request, month: str, region_code: str, permission: Permission,
                    what: str) -> tuple[User, date]:
        """The signed-in user and the month of a region's list, once `permission` is checked for the region (404 for a
        region that does not exist; a refusal is logged as `what`)."""
        user = signed_in(request)
        known = region_code in region_names()
        if not role_allows(user, permission):  # refused whatever the month and the region name
            raise refusal(user, what, month_or_none(month), region_code if known else None)
        chosen = parse_month(month)
        if not known:
            raise HTTPException(404, f"Région {region_code} inconnue.")
        if not allowed(user, permission, region_code):
            raise refusal(user, what, chosen, region_code)
        return user, chosen

    def log_access(user: User, what: str, month: date | None, region_code: str | None, siret: str | None = None,
                   granted: bool = True) -> None:
        """One row of the access log: `user` did (or was refused, `granted` False) `what` on `month`'s list of
        `region_code`, on the establishment `siret` when given (a page of another role: no region, and no month but
        the aggregates')."""
        with db() as session:
            session.add(AccessRecord(user_id=user.id, siret=siret, list_month=month, region_code=region_code, what=what,
                                     granted=granted, at=utc_now()))
            session.commit()

    def outcomes_of(siret: str) -> tuple[list[ControlOutcome], set[int]]:
        """The establishment's recorded entries, latest first, and the ids of the current ones (the only ones that can
        be corrected)."""
        with db() as session:
            query = select(ControlOutcome).where(ControlOutcome.siret == siret).order_by(ControlOutcome.id.desc())
            rows = list(session.scalars(query))
            for row in rows:
                _ = row.author.display_name
            return rows, {r.id for r in current_outcomes(session, siret)}

    def named_entry(siret: str, corrige: str) -> tuple[ControlOutcome, ControlOutcome]:
        """The entry of the establishment that `corrige` names, and the current entry of its control (itself when it is
        current); 404 when it names none."""
        with db() as session:
            entry = session.get(ControlOutcome, int(corrige)) if re.fullmatch(r"[0-9]{1,18}", corrige) else None
            if entry is None or entry.siret != siret:
                raise HTTPException(404, "Le contrôle à corriger n'existe pas pour cet établissement.")
            return entry, current_entry(session, entry)

    def publish_outcomes() -> OutcomesPublished:
        """Write every control's current outcome into the inspections store: "published" (or nothing new), "busy"
        while another run writes the warehouse, "broken" when its links need mending by hand, "failed" when writing
        failed otherwise (both logged); the outcomes stay in the application's database and are written at the next
        record or start."""
        with db() as session:
            rows = current_outcomes(session)
        frame = pd.DataFrame({
            "siret": [r.siret for r in rows],
            "inspection_date": pd.to_datetime([r.inspection_date for r in rows]),
            "abuse_found": [int(r.abuse_found) for r in rows],
        })
        stored = home.warehouse / RECORDED_NAME
        try:
            if frame.empty and not stored.exists():
                return "published"  # nothing recorded yet: no new version of the warehouse
            if _stored_rows(stored) == _rows(frame):
                return "published"  # the store already holds them (a restart)
            store_recorded_inspections(frame, home)
        except WarehouseBusy as exc:
            log.warning("control outcomes not yet in the inspections store: %s", exc)
            return "busy"
        except (MissingVersion, ForeignLayout) as exc:
            log.error("control outcomes not in the inspections store until the warehouse is mended: %s", exc)
            return "broken"
        except (OSError, pa.ArrowException):  # the outcome is recorded already: the agent is told so
            log.exception("control outcomes not in the inspections store: the warehouse could not be written")
            return "failed"
        return "published"

    app.state.publish_outcomes = publish_outcomes

    # --- sign-in ---------------------------------------------------------------------------------------

    @app.get("/connexion", response_class=HTMLResponse)
    def sign_in_form(request: Request, suivant: str = "/") -> HTMLResponse:
        return render(request, "connexion.html.j2", None, next=_local_path(suivant), error=None,
                      oidc=oauth is not None)

    @app.post("/connexion")
    async def sign_in_post(request: Request) -> Response:
        form = await checked_form(request)
        address = request.client.host if request.client else "inconnue"
        with db() as session:
            result = sign_in(session, str(form.get("login", "")), str(form.get("password", "")), address, settings)
        if result.user is None:
            response = render(request, "connexion.html.j2", None, next=_local_path(str(form.get("suivant", "/"))),
                              error=result.refusal, oidc=oauth is not None)
            response.status_code = 429 if result.limited else 401
            return response
        return _open_session(request, result.user, str(form.get("suivant", "/")))

    def _open_session(request: Request, user: User, target: str) -> Response:
        """Sign `user` in: a new session in the database (those past their length purged), its token in the cookie."""
        token = secrets.token_urlsafe(32)
        with db() as session:
            session.execute(delete(SignedIn).where(
                SignedIn.started_at < utc_now() - timedelta(minutes=settings.session_minutes)))
            session.add(SignedIn(token_hash=_token_hash(token), user_id=user.id, started_at=utc_now()))
            session.commit()
        request.session.clear()
        request.session.update({"session": token, "csrf": secrets.token_urlsafe(32)})
        return RedirectResponse(_local_path(target), status_code=303)

    @app.post("/deconnexion")
    async def sign_out(request: Request) -> Response:
        """End the session in the database (a copy of the cookie opens nothing after), then in the browser."""
        await checked_form(request)
        token = request.session.get("session")
        if isinstance(token, str):
            with db() as session:
                session.execute(delete(SignedIn).where(SignedIn.token_hash == _token_hash(token)))
                session.commit()
        request.session.clear()
        return RedirectResponse("/connexion", status_code=303)

    if oauth is not None:
        @app.get("/connexion/proconnect")
        async def oidc_start(request: Request) -> Response:
            return await oauth.proconnect.authorize_redirect(request, str(request.url_for("oidc_return")))

        @app.get("/connexion/proconnect/retour", name="oidc_return")
        async def oidc_return(request: Request) -> Response:
            token = await oauth.proconnect.authorize_access_token(request)
            claims = dict(token.get("userinfo") or await oauth.proconnect.userinfo(token=token))
            with db() as session:
                user = oidc_user(session, claims, settings)
            if user is None:
                raise HTTPException(403, "Votre compte ProConnect n'a pas de rôle dans Champollion.")
            return _open_session(request, user, "/")

    # --- pages -----------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def home_page(request: Request) -> Response:
        user = signed_in(request)
        months = list_months(home)
        if user.role in ("inspecteur", "responsable") and months:
            return RedirectResponse(f"/listes/{months[0]:%Y-%m}/{user.region_code}", status_code=303)
        summaries = []
        if months and allowed(user, Permission.LIST):
            ranked = data.ranked(months[0])
            summaries = (ranked[ranked["in_list"]].groupby(["region_code", "region"]).size()
                         .reset_index(name="listed").to_dict(orient="records"))
        return render(request, "accueil.html.j2", user, month=months[0] if months else None, summaries=summaries)

    def drawn_up(chosen: date) -> pd.DataFrame:
        """The month's ranked lines; 404 in French when no list was drawn up for it."""
        try:
            return data.ranked(chosen)
        except FileNotFoundError as exc:
            raise HTTPException(404, f"Aucune liste pour {month_fr(chosen)}.") from exc

    @app.get("/listes/{month}/{region_code}", response_class=HTMLResponse)
    def region_list(request: Request, month: str, region_code: str, departement: str = "", naf: str = "",
                    motif: str = "", exploration: str = "", tri: str = "position") -> HTMLResponse:
        user, chosen = open_region(request, month, region_code, Permission.LIST, "liste")
        ranked = drawn_up(chosen)
        filters = ListFilters(departement, naf, motif, exploration, tri if tri in SORTS else "position")
        lines, left = data.region_lines(chosen, region_code, filters)
        listed = ranked[(ranked["region_code"] == region_code) & ranked["in_list"]]
        reasons = sorted({v for c in listed.columns if c.endswith("_feature") for v in listed[c] if v},
                         key=reason_label)
        with db() as session:
            recorded = {r.siret for r in current_outcomes(session) if r.region_code == region_code}
        context = dict(month=chosen, region_code=region_code, region=region_names()[region_code], lines=lines,
                       left=left, filters=filters, departements=sorted(set(listed["departement"].dropna())),
                       reasons=reasons, listed_total=len(listed), recorded=recorded, query=request.url.query)
        log_list_read(user, chosen, region_code)
        # The lines of a list already shown, filtered or sorted in place; a page the browser's history restores is whole.
        if request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request"):
            response = render(request, "_lignes.html.j2", user, **context)
        else:
            response = render(request, "liste.html.j2", user, **context, drawn_up=drawn_up_fr(home, chosen, ranked))
        response.headers.add_vary_header("HX-Request")
        return response

    def log_list_read(user: User, month: date, region_code: str) -> None:
        """« liste » in the access log once a day (Paris time) per account, month and region: every read of the list's
        lines counts, the page or its lines filtered or sorted in place, but one day's readings make one row."""
        since = paris_day_start(utc_now())
        with db() as session:
            read_today = session.scalar(select(AccessRecord.id).where(
                AccessRecord.user_id == user.id, AccessRecord.list_month == month, AccessRecord.region_code == region_code,
                AccessRecord.what == "liste", AccessRecord.granted.is_(True), AccessRecord.at >= since).limit(1))
        if read_today is None:
            log_access(user, "liste", month, region_code)

    @app.get("/listes/{month}/{region_code}/export.csv")
    def export_csv(request: Request, month: str, region_code: str, departement: str = "", naf: str = "",
                   motif: str = "", exploration: str = "", tri: str = "position") -> Response:
        user, chosen = open_region(request, month, region_code, Permission.EXPORT, "export CSV")
        drawn_up(chosen)
        lines, _ = data.region_lines(chosen, region_code, ListFilters(departement, naf, motif, exploration, tri))
        name = f"champollion-{chosen:%Y-%m}-{region_code}.csv"
        log_access(user, "export CSV", chosen, region_code)
        return Response(lines_csv(lines.reset_index(drop=True)), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/listes/{month}/{region_code}/export.xlsx")
    def export_xlsx(request: Request, month: str, region_code: str) -> Response:
        user, chosen = open_region(request, month, region_code, Permission.EXPORT, "export Excel")
        path = lists_folder(home, chosen) / f"{region_code}-{slug(region_names()[region_code])}.xlsx"
        if not path.exists():
            raise HTTPException(404, f"Pas de classeur pour cette région en {month_fr(chosen)}.")
        log_access(user, "export Excel", chosen, region_code)
        return FileResponse(path, filename=path.name, media_type=(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))

    def explained(month: date, siret: str) -> EstablishmentView:
        """The establishment's view; 404 in French when it cannot be explained (the version that scored the list
        gone from the registry, the establishment missing from the month's features)."""
        try:
            return data.establishment(month, siret)
        except SettingsSkew as exc:
            log.warning("establishment %s of %s not explained: %s", siret, f"{month:%Y-%m}", exc)
            raise HTTPException(404, f"Explication indisponible pour cet établissement en {month_fr(month)} : le "
                                     "modèle qui a établi la liste a été entraîné avec d'autres réglages des "
                                     "indicateurs que ceux d'aujourd'hui ; seules les lignes que la liste a "
                                     "expliquées en l'établissant peuvent l'être.") from exc
        except LookupError as exc:
            log.warning("establishment %s of %s not explained: %s", siret, f"{month:%Y-%m}", exc)
            raise HTTPException(404, f"Explication indisponible pour cet établissement en {month_fr(month)} : le "
                                     "modèle qui a établi la liste ou ses données ne sont plus disponibles.") from exc

    @app.get("/etablissements/{month}/{siret}", response_class=HTMLResponse)
    def establishment_page(request: Request, month: str, siret: str) -> HTMLResponse:
        user, chosen, _line, region_code = open_establishment(request, month, siret, Permission.ESTABLISHMENT, "fiche")
        view = explained(chosen, siret)
        outcomes, current = outcomes_of(siret)
        return render(request, "etablissement.html.j2", user, month=chosen, siret=siret, view=view,
                      e=view.explanation.establishment, paragraph=audit_paragraph(view.explanation),
                      outcomes=outcomes, current=current, region_code=region_code)

    @app.get("/etablissements/{month}/{siret}/frise.png")
    def timeline_picture(request: Request, month: str, siret: str) -> Response:
        _, chosen, _, _ = open_establishment(request, month, siret, Permission.ESTABLISHMENT, "frise")
        return Response(timeline_png(explained(chosen, siret).explanation), media_type="image/png")

    @app.get("/etablissements/{month}/{siret}/explication.txt")
    def explanation_txt(request: Request, month: str, siret: str) -> Response:
        _, chosen, _, _ = open_establishment(request, month, siret, Permission.ESTABLISHMENT, "explication imprimable")
        text = explanation_text(explained(chosen, siret).explanation)
        return PlainTextResponse(text, headers={"Content-Disposition": f'inline; filename="explication-{siret}.txt"'})

    def outcome_page(request: Request, user: User, month: date, siret: str, line: pd.Series, status: int = 200,
                     **context: Any) -> HTMLResponse:
        """The outcome form (`context`: corrected, values, errors, form_token, conflict, form) answering `status`."""
        page = {"corrected": None, "values": _form_values(None), "errors": [], "conflict": None, "form": True, **context}
        if page["form"] and not page.get("form_token"):
            page["form_token"] = secrets.token_urlsafe(24)
        response = render(request, "controle.html.j2", user, month=month, siret=siret, line=line, rules=RULES,
                          today=date.today(), **page)
        response.status_code = status
        return response

    @app.get("/etablissements/{month}/{siret}/controle", response_class=HTMLResponse)
    def outcome_form(request: Request, month: str, siret: str, corrige: str | None = None) -> HTMLResponse:
        user, chosen, line, _ = open_establishment(request, month, siret, Permission.RECORD,
                                                    "formulaire de contrôle", logged=False)
        if corrige is None:
            return outcome_page(request, user, chosen, siret, line)
        corrected, current = named_entry(siret, corrige)
        if current.id != corrected.id:
            return outcome_page(request, user, chosen, siret, line, 409, errors=[_superseded_fr(corrected)],
                                conflict=current, form=False)
        return outcome_page(request, user, chosen, siret, line, corrected=corrected, values=_form_values(corrected))

    @app.post("/etablissements/{month}/{siret}/controle")
    async def record_outcome_post(request: Request, month: str, siret: str) -> Response:
        user, chosen, line, region_code = open_establishment(request, month, siret, Permission.RECORD,
                                                             "enregistrement de contrôle", logged=False)
        form = await checked_form(request)
        values, errors = _read_outcome(form, chosen)
        token = str(form.get("jeton_formulaire") or "")[:64] or None
        corrected = None
        if form.get("corrige"):
            try:
                corrected = named_entry(siret, str(form.get("corrige")))[0]
            except HTTPException as exc:
                errors.append(str(exc.detail))
        if errors:
            return outcome_page(request, user, chosen, siret, line, 400, errors=errors, corrected=corrected,
                                values=values, form_token=token)
        # A correction is of the same control: it stays where the entry it corrects was, on the list that entry was
        # recorded from, whatever the month's list says since (scored again).
        region, list_month = region_code, chosen
        listed, exploration = bool(line["in_list"]), bool(line["exploration"])
        if corrected is not None:
            region, list_month, exploration = corrected.region_code, corrected.list_month, corrected.exploration
            listed = corrected.listed if corrected.listed is not None else listed
        with db() as session:
            recording = record_outcome(session, ControlOutcome(
                siret=siret, region_code=region, list_month=list_month, exploration=exploration, listed=listed,
                inspection_date=values["inspection_date"], abuse_found=values["abuse_found"],
                confirmed_rules=",".join(values["confirmed_rules"]), follow_up=values["follow_up"], author_id=user.id,
                recorded_at=utc_now(), form_token=token), corrected)
        if recording.status == "form_reused":  # what was typed is kept, in a new form
            return outcome_page(request, user, chosen, siret, line, 409, corrected=corrected, values=values, errors=[
                "Ce formulaire a déjà servi à enregistrer un contrôle : rien n'a été ajouté. Vérifiez la saisie "
                "ci-dessous et envoyez-la de nouveau pour enregistrer ce contrôle."])
        if recording.status in ("superseded", "same_day"):
            return outcome_page(request, user, chosen, siret, line, 409, errors=[_conflict_fr(recording, corrected)],
                                conflict=recording.current, form=False)
        if recording.status == "repeated":
            request.session["flash"] = (f"Ce contrôle est déjà enregistré (contrôle du "
                                        f"{date_fr(recording.current.inspection_date)}) : rien n'a été ajouté.")
            return RedirectResponse(f"/etablissements/{month}/{siret}#controles", status_code=303)
        log_access(user, "contrôle corrigé" if corrected is not None else "contrôle enregistré", chosen, region_code, siret)
        official = imported_outcomes(home.warehouse, siret, values["inspection_date"])
        status = publish_outcomes()
        published = {
            "published": "Contrôle enregistré ; il compte parmi les contrôles que lit l'apprentissage.",
            "busy": "Contrôle enregistré ; l'entrepôt est occupé (ingestion en cours) : il y sera reporté au prochain "
                    "enregistrement ou redémarrage.",
            "broken": "Contrôle enregistré ; l'entrepôt de données est à réparer (voir le journal du serveur) : il y "
                      "sera reporté au premier enregistrement ou redémarrage qui suivra la réparation.",
            "failed": "Contrôle enregistré dans l'application ; son report dans l'entrepôt de données a échoué (erreur "
                      "d'écriture, voir le journal du serveur) : il y sera reporté au premier enregistrement ou "
                      "redémarrage dont l'écriture réussira.",
        }[status]
        differs = _official_differs_fr(values["inspection_date"], values["abuse_found"], official)
        if differs:  # it counts, but not its outcome: the imported one is read for that control
            published = "Contrôle enregistré." if status == "published" else published
        request.session["flash"] = f"{published} {differs}" if differs else published
        return RedirectResponse(f"/etablissements/{month}/{siret}#controles", status_code=303)

    @app.get("/synthese/{month}", response_class=HTMLResponse)
    def aggregates(request: Request, month: str) -> HTMLResponse:
        user = signed_in(request)
        require(user, Permission.AGGREGATES, "synthèse", month_or_none(month))
        chosen = parse_month(month)
        ranked = drawn_up(chosen)
        with db() as session:
            outcomes = [o for o in current_outcomes(session) if o.list_month == chosen]
        return render(request, "synthese.html.j2", user, month=chosen, rows=_aggregate(ranked, outcomes, chosen))

    @app.get("/modeles", response_class=HTMLResponse)
    def models_page(request: Request) -> HTMLResponse:
        user = signed_in(request)
        require(user, Permission.MODELS, "modèles")
        try:
            versions = list_models(home, config)
        except Exception as exc:
            log.warning("model registry unreadable: %s", exc)
            versions = pd.DataFrame()
        return render(request, "modeles.html.j2", user, versions=versions_fr(versions))

    @app.get("/audit", response_class=HTMLResponse)
    def audit_index(request: Request) -> HTMLResponse:
        user = signed_in(request)
        require(user, Permission.AUDIT, "audits")
        return render(request, "audit.html.j2", user, reports=[p.name for p in audit_reports(home)])

    @app.get("/audit/{name}")
    def audit_report(request: Request, name: str) -> Response:
        user = signed_in(request)
        require(user, Permission.AUDIT, "rapport d'audit")
        found = {p.name: p for p in audit_reports(home)}
        if name not in found:
            raise HTTPException(404, "Rapport d'audit introuvable.")
        return HTMLResponse(found[name].read_text(encoding="utf-8"),
                            headers={"Content-Security-Policy": REPORT_POLICY})

    @app.get("/journal", response_class=HTMLResponse)
    def access_log(request: Request) -> HTMLResponse:
        user = signed_in(request)
        require(user, Permission.ACCESS_LOG, "journal des accès")
        with db() as session:
            records = access_records(session, 500)
        return render(request, "journal.html.j2", user, records=records)

    return app


def _rows(frame: pd.DataFrame) -> list[tuple[str, date, int]]:
    """Inspections as comparable rows, in order (a row stored twice is not the row once: the file is written again)."""
    return sorted(zip(frame["siret"].astype(str), pd.to_datetime(frame["inspection_date"]).dt.date,
                      frame["abuse_found"].astype(int), strict=False))


def _stored_rows(stored: Path) -> list[tuple[str, date, int]] | None:
    """The recorded inspections the warehouse holds as comparable rows; None when there are none, or when the file
    cannot be read (it is then written again)."""
    if not stored.exists():
        return None
    try:
        return _rows(pd.read_parquet(stored))
    except (OSError, pa.ArrowException, KeyError, ValueError, TypeError) as exc:  # unreadable, or not such rows
        log.warning("%s cannot be read (%s): the recorded control outcomes are written again", stored, exc)
        return None


def _token_hash(token: str) -> str:
    """What the database keeps of a session's token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _rules_fr(confirmed: str) -> str:
    """Stored rule ids, comma separated, as their French labels (« — » for none)."""
    return ", ".join(RULE_LABELS.get(r, r) for r in confirmed.split(",") if r) or "—"


# A path of this site with its query, in the characters a URL writes unencoded (no quote, angle bracket, backslash,
# space or control character): what the sign-in page may send a user back to.
_LOCAL_PATH = re.compile(r"/(?!/)[A-Za-z0-9/_.~%!$&*+,;=:@?-]*")


def _local_path(target: str) -> str:
    """`target` if it is a path of this site (`_LOCAL_PATH`), else '/': no redirect elsewhere after sign-in, and no
    markup carried into the sign-in page."""
    return target if _LOCAL_PATH.fullmatch(target) else "/"


def _superseded_fr(corrected: ControlOutcome) -> str:
    return (f"L'entrée du {date_fr(corrected.inspection_date)} (n° {corrected.id}) a déjà été corrigée : seule l'entrée "
            "en vigueur de ce contrôle peut l'être. Rien n'a été enregistré.")


def _official_differs_fr(day: date, abuse_found: bool, official: set[int]) -> str | None:
    """What an inspector is told when the ministry's imported file gives the control just recorded another outcome: the
    imported one is what training and the exclusions read (`warehouse.inspections.one_per_control`); None otherwise."""
    if not official or official == {int(abuse_found)}:
        return None
    said = " et ".join("oui" if found else "non" for found in sorted(official))
    return (f"Attention : le fichier des contrôles importé du ministère donne un autre résultat pour le contrôle du "
            f"{date_fr(day)} (abus relevé : {said}) ; c'est ce résultat officiel que lisent l'apprentissage et les "
            "exclusions, pas celui saisi ici. Si c'est le fichier qui est faux, il se corrige à la source, puis au "
            "prochain import.")


def _conflict_fr(recording: Recording, corrected: ControlOutcome | None) -> str:
    """Why an outcome was refused (`Recording` "superseded" or "same_day"), in French."""
    if recording.status == "superseded" and corrected is not None:
        return _superseded_fr(corrected)
    return (f"Un contrôle de cet établissement du {date_fr(recording.current.inspection_date)} est déjà enregistré avec "
            "un autre résultat : corrigez cette entrée plutôt que d'en ajouter une. Rien n'a été enregistré.")


def _form_values(corrected: ControlOutcome | None) -> dict[str, Any]:
    if corrected is None:
        return {"inspection_date": None, "abuse_found": None, "confirmed_rules": [], "follow_up": ""}
    return {"inspection_date": corrected.inspection_date, "abuse_found": corrected.abuse_found,
            "confirmed_rules": [r for r in corrected.confirmed_rules.split(",") if r],
            "follow_up": corrected.follow_up}


# Follow-ups that answer an abuse found, as a sentence names them (a letter of observations may follow any control).
ABUSE_FOLLOW_UPS = {"mise_en_demeure": "une mise en demeure", "proces_verbal": "un procès-verbal"}


def _read_outcome(form: dict[str, Any], month: date) -> tuple[dict[str, Any], list[str]]:
    """The outcome form's values, checked; the problems in French."""
    errors: list[str] = []
    values: dict[str, Any] = {"inspection_date": None, "abuse_found": None, "confirmed_rules": [], "follow_up": ""}
    try:
        when = date.fromisoformat(str(form.get("inspection_date", "")))
    except ValueError:
        errors.append("Date du contrôle : une date au format AAAA-MM-JJ.")
    else:
        values["inspection_date"] = when
        if when > date.today():
            errors.append("Date du contrôle : elle ne peut pas être dans le futur.")
        if when < month - timedelta(days=366):
            errors.append("Date du contrôle : plus d'un an avant la liste, elle ne relève pas de cette liste.")
    found = form.get("abuse_found")
    if found not in ("1", "0"):
        errors.append("Indiquez si le contrôle a relevé un recours abusif (oui ou non).")
    else:
        values["abuse_found"] = found == "1"
    rules = form.get("confirmed_rules") or []
    rules = [rules] if isinstance(rules, str) else list(rules)
    unknown = [r for r in rules if r not in RULE_LABELS]
    if unknown:
        errors.append("Infractions confirmées : règle inconnue.")
    values["confirmed_rules"] = [r for r in rules if r in RULE_LABELS]
    if values["abuse_found"] is False and values["confirmed_rules"]:
        errors.append("Des infractions sont cochées alors que le contrôle n'a relevé aucun abus.")
    follow_up = str(form.get("follow_up", ""))
    if follow_up not in FOLLOW_UPS:
        errors.append("Suite donnée : choisissez une suite dans la liste.")
    else:
        values["follow_up"] = follow_up
        if values["abuse_found"] is False and follow_up in ABUSE_FOLLOW_UPS:
            errors.append(f"Suite donnée : {ABUSE_FOLLOW_UPS[follow_up]} suppose un abus relevé, alors que le "
                          "contrôle n'en a relevé aucun.")
    return values, errors


def _aggregate(ranked: pd.DataFrame, outcomes: list[ControlOutcome], month: date) -> list[dict[str, Any]]:
    """Per region: establishments scored and listed, controls recorded and abuse found, by how the line was chosen
    (score or exploration). Only the controls of lines on `month`'s list, dated from the list's month on, are counted:
    others say nothing of what the list selected. Each control as of the list it was recorded from (its region, whether
    its line was listed and drawn for exploration, kept with it): a month scored again after it keeps it where it was.
    An entry recorded before entries kept whether their line was listed counts as listed when it was drawn for
    exploration (`_was_listed`), else is read against the month's list as it is."""
    listed_lines = ranked[ranked["in_list"].astype(bool)]
    listed_now = dict(zip(listed_lines["siret"].astype(str), zip(listed_lines["region_code"].astype(str),
                                                                 listed_lines["exploration"].astype(bool), strict=True),
                          strict=True))
    counted = [((o.region_code, o.exploration) if _was_listed(o) else listed_now[o.siret], o.abuse_found) for o in outcomes
               if o.inspection_date >= month and (_was_listed(o) or (o.listed is None and o.siret in listed_now))]
    recorded = pd.DataFrame({"region_code": pd.Series([line[0] for line, _ in counted], dtype=str),
                             "exploration": pd.Series([line[1] for line, _ in counted], dtype=bool),
                             "abuse_found": pd.Series([found for _, found in counted], dtype=bool)})
    rows = []
    for (code, name), group in ranked.groupby(["region_code", "region"], sort=True):
        listed = group[group["in_list"]]
        own = recorded[recorded["region_code"] == code]
        by_score, explored = own[~own["exploration"]], own[own["exploration"]]
        rows.append({"region_code": code, "region": name, "scored": len(group), "listed": len(listed),
                     "exploration": int(listed["exploration"].sum()), "controls_score": len(by_score),
                     "abuse_score": int(by_score["abuse_found"].sum()), "controls_exploration": len(explored),
                     "abuse_exploration": int(explored["abuse_found"].sum())})
    return rows


def _was_listed(outcome: ControlOutcome) -> bool:
    """Whether the line of a control was on the list it was recorded from: as kept, or, for an entry recorded before
    that was kept, when it was drawn for exploration (an exploration line is always on its list)."""
    return bool(outcome.listed) if outcome.listed is not None else bool(outcome.exploration)


def _oauth(config: Config) -> Any:
    """The OpenID Connect client (Authlib) when an issuer is set, else None."""
    oidc = config.web.oidc
    if not oidc.issuer or not oidc.client_id:
        return None
    import os

    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    oauth.register("proconnect", client_id=oidc.client_id, client_secret=os.environ.get(oidc.client_secret_env, ""),
                   server_metadata_url=oidc.issuer.rstrip("/") + "/.well-known/openid-configuration",
                   client_kwargs={"scope": oidc.scopes})
    return oauth
