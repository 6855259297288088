"""Commands of the web application: serve, access-log, users (add, list, disable, enable, password, region), and the
page benchmark.

The main `champollion` command registers `commands` and `users`, and `bench_page` under `bench`;
each receives the shared `champollion.cli.Context` in `ctx.obj`.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from champollion.cli_support import MODEL_HOME_HELP, fail, model_home_of, resolve_month

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

commands = typer.Typer(help="The web application: lists, establishments and control outcomes, behind a login.")
users = typer.Typer(help="Local accounts of the web application (Argon2-hashed passwords).", no_args_is_help=True)
PASSWORD_ENV = "CHAMPOLLION_NEW_PASSWORD"
# What `serve` says at start when the recorded controls could not reach the inspections store (`publish_outcomes`).
UNPUBLISHED_OUTCOMES = {
    "busy": ("the warehouse is busy: recorded controls will reach the inspections store on the next record",
             typer.colors.YELLOW),
    "broken": ("the warehouse needs mending (see the error above): recorded controls will reach the inspections store "
               "on the first record or start after that", typer.colors.RED),
    "failed": ("recorded controls could not be written to the inspections store (see the error above): they will be "
               "on the first record or start whose writing succeeds", typer.colors.RED),
}


@commands.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: web.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: web.port).")] = None,
) -> None:
    """Serve the web application with uvicorn over the home's lists, warehouse and registry."""
    import threading

    import uvicorn

    from web.app import create_app
    from web.data import list_months

    context = ctx.obj
    settings = context.config.web
    app = create_app(context.home, context.config)
    published = app.state.publish_outcomes()
    if published != "published":
        message, colour = UNPUBLISHED_OUTCOMES[published]
        typer.secho(message, fg=colour, err=True)
    months = list_months(context.home)
    if months:  # the latest list's data is loaded while the server starts, not by the first page opened
        threading.Thread(target=app.state.data.warm, args=(months[0],), daemon=True, name="warm").start()
    chosen_host, chosen_port = host or settings.host, port or settings.port
    typer.echo(f"Champollion on http://{chosen_host}:{chosen_port} (home {context.home.root})")
    uvicorn.run(app, host=chosen_host, port=chosen_port, proxy_headers=True,
                forwarded_allow_ips=list(settings.trusted_proxies), log_level="info")


@commands.command("access-log")
def access_log(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="Rows shown, latest first.")] = 100,
    login: Annotated[str | None, typer.Option(help="Only this account's rows.")] = None,
    refused: Annotated[bool, typer.Option("--refused", help="Only the refusals.")] = False,
) -> None:
    """The web application's access log, as the administrator's page shows it: when (Paris time), account, action,
    granted or refused, region, SIRET and list month; tab-separated, latest first."""
    from core.french import in_paris
    from web.database import access_records, database_url, open_database

    context = ctx.obj
    sessions = open_database(database_url(context.home, context.config.web))
    with sessions() as session:
        records = access_records(session, limit, login, refused)
    typer.echo("at (Europe/Paris)\taccount\taction\tdecision\tregion\tsiret\tlist")
    for r in records:
        at = in_paris(r.at).isoformat(sep=" ", timespec="seconds")
        typer.echo(f"{at}\t{r.user.login}\t{r.what}\t{'granted' if r.granted else 'refused'}\t{r.region_code or '-'}\t"
                   f"{r.siret or '-'}\t{f'{r.list_month:%Y-%m}' if r.list_month else '-'}")


@users.command("add")
def users_add(
    ctx: typer.Context,
    login: Annotated[str, typer.Argument(help="Login: the agent's e-mail address.")],
    role: Annotated[str, typer.Option(help="inspecteur | responsable | evaluateur | administrateur")],
    name: Annotated[str | None, typer.Option(help="Name shown (default: the login).")] = None,
    region: Annotated[str | None, typer.Option(help="Region code (INSEE), for inspecteur and responsable.")] = None,
    sso_only: Annotated[bool, typer.Option("--sso-only", help="No password: signs in through ProConnect only.")] = False,
) -> None:
    """Create an account; the password is asked twice (or read from $CHAMPOLLION_NEW_PASSWORD)."""
    from web.accounts import AccountError, add_user
    from web.database import database_url, open_database

    context = ctx.obj
    password = None if sso_only else _new_password()
    sessions = open_database(database_url(context.home, context.config.web))
    with sessions() as session:
        try:
            user = add_user(session, login, name or login, role, region, password)
        except AccountError as exc:
            raise fail(str(exc)) from exc
    typer.echo(f"account {user.login} created: {role}" + (f", region {region}" if region else ""))


@users.command("list")
def users_list(ctx: typer.Context) -> None:
    """The accounts, with role, region and whether they are active."""
    from sqlalchemy import select

    from web.database import User, database_url, open_database

    context = ctx.obj
    sessions = open_database(database_url(context.home, context.config.web))
    with sessions() as session:
        for user in session.scalars(select(User).order_by(User.login)):
            kind = "local" if user.password_hash else "ProConnect"
            typer.echo(f"{user.login}\t{user.role}\t{user.region_code or '-'}\t{kind}\t"
                       f"{'active' if user.active else 'disabled'}")


LOGIN = Annotated[str, typer.Argument(help="Login of the account.")]


def _change_account(ctx: typer.Context, change: Callable[[Session], Any], done: str) -> None:
    """Run `change` on the web database of the home; print `done`, or the refusal (exit 2)."""
    from web.accounts import AccountError
    from web.database import database_url, open_database

    context = ctx.obj
    sessions = open_database(database_url(context.home, context.config.web))
    with sessions() as session:
        try:
            change(session)
        except AccountError as exc:
            raise fail(str(exc)) from exc
    typer.echo(done)


def _new_password() -> str:
    """The password from $CHAMPOLLION_NEW_PASSWORD, else asked twice."""
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        password = getpass.getpass("Mot de passe : ")
        if getpass.getpass("Mot de passe (encore) : ") != password:
            raise fail("the two passwords differ")
    return password


@users.command("disable")
def users_disable(ctx: typer.Context, login: LOGIN) -> None:
    """Disable an account (its records and outcomes stay, with their author)."""
    from web.accounts import set_active

    _change_account(ctx, lambda session: set_active(session, login, False), f"account {login} disabled")


@users.command("enable")
def users_enable(ctx: typer.Context, login: LOGIN) -> None:
    """Enable a disabled account again."""
    from web.accounts import set_active

    _change_account(ctx, lambda session: set_active(session, login, True), f"account {login} enabled")


@users.command("password")
def users_password(ctx: typer.Context, login: LOGIN) -> None:
    """Give an account a new password, asked twice (or read from $CHAMPOLLION_NEW_PASSWORD)."""
    from web.accounts import set_password

    password = _new_password()
    _change_account(ctx, lambda session: set_password(session, login, password), f"account {login}: new password set")


@users.command("region")
def users_region(ctx: typer.Context, login: LOGIN,
                 region: Annotated[str, typer.Argument(help="The new region's code (INSEE).")]) -> None:
    """Move an inspector's or a responsable's account to another region."""
    from web.accounts import set_region

    _change_account(ctx, lambda session: set_region(session, login, region), f"account {login} moved to region {region}")


def bench_page(
    ctx: typer.Context,
    month: Annotated[str, typer.Option(help="Month YYYY-MM of the list, or 'latest'.")] = "latest",
    pages: Annotated[int, typer.Option(min=1, help="Listed establishments whose page is timed (the top of each region "
                                                "first).")] = 10,
    reference: Annotated[bool, typer.Option(help="Also time, on the first one, its contracts rebuilt with the whole "
                                                 "month's (as `explain` did) and `explain` itself.")] = True,
    model_home: Annotated[Path | None, typer.Option(help=MODEL_HOME_HELP)] = None,
) -> None:
    """Time the establishment page: the month's data loaded once, then each page (HTML through the
    application, with the timeline picture), next to the whole month's contract rebuild."""
    from champollion.reporting import print_frame
    from web.bench import run_page_bench

    context = ctx.obj
    chosen = resolve_month(context.home.warehouse, month)
    registry_home = model_home_of(model_home)
    try:
        report = run_page_bench(context.home, context.config, chosen, pages, reference, registry_home)
    except (FileNotFoundError, LookupError) as exc:
        raise fail(str(exc)) from exc
    print_frame(f"Establishment page benchmark, list of {chosen:%Y-%m}: {report.scored:,} establishments scored "
                f"(load average before {report.load_before}, after {report.load_after})", report.results)
    for line in report.notes:
        typer.echo(line)
