"""What the application writes: users, control outcomes (append-only), sign-in attempts, the access log.

SQLite under the home by default, PostgreSQL (or any SQLAlchemy URL) from `web.database_url`.
The schema is created and upgraded by the Alembic migrations of `web/migrations`, never by
`create_all`, so that a site's database follows the code's versions.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from web.project import Home, WebConfig

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ROLES = ("inspecteur", "responsable", "evaluateur", "administrateur")
ROLE_LABELS = {"inspecteur": "inspecteur", "responsable": "responsable régional", "evaluateur": "évaluateur",
               "administrateur": "administrateur"}
FOLLOW_UPS = {"aucune": "aucune suite", "observation": "lettre d'observations", "mise_en_demeure": "mise en demeure",
              "proces_verbal": "procès-verbal"}


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class User(Base):
    """An agent: a local account (Argon2 password hash) or one known through OpenID Connect (subject)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(200), unique=True)  # an e-mail address for agents
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    region_code: Mapped[str | None] = mapped_column(String(3), nullable=True)  # inspecteur, responsable
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class ControlOutcome(Base):
    """What a control found, as recorded by its author. Never updated: a correction is a new row whose
    `corrects_id` names the row it replaces (the latest row of a chain is the control's outcome)."""

    __tablename__ = "control_outcomes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    siret: Mapped[str] = mapped_column(String(14), index=True)
    region_code: Mapped[str] = mapped_column(String(3))
    list_month: Mapped[date] = mapped_column(Date)  # the list the establishment was opened from
    exploration: Mapped[bool] = mapped_column(Boolean, default=False)
    inspection_date: Mapped[date] = mapped_column(Date)
    abuse_found: Mapped[bool] = mapped_column(Boolean)
    confirmed_rules: Mapped[str] = mapped_column(String(200), default="")  # rule ids, comma separated
    follow_up: Mapped[str] = mapped_column(String(20))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("control_outcomes.id"), nullable=True)
    author: Mapped[User] = relationship(foreign_keys=[author_id])


class LoginAttempt(Base):
    """One sign-in attempt, kept to limit failures per login and per address."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(200), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime, default=utc_now, index=True)


class AccessRecord(Base):
    """Who opened which establishment's page (or its figure, or its printable explanation), and when."""

    __tablename__ = "access_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    siret: Mapped[str] = mapped_column(String(14), index=True)
    list_month: Mapped[date] = mapped_column(Date)
    what: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    user: Mapped[User] = relationship()


def database_url(home: Home, settings: WebConfig) -> str:
    """The configured URL, else SQLite at data/web/champollion.db under the home (folder created)."""
    if settings.database_url:
        return settings.database_url
    folder = home.data / "web"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'champollion.db'}"


def open_database(url: str) -> sessionmaker[Session]:
    """Upgrade the database at `url` to the latest migration and return its session factory."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    upgrade(engine)
    return sessionmaker(engine, expire_on_commit=False)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the one writer
    cursor.close()


def upgrade(engine: Engine) -> None:
    """Alembic `upgrade head` on `engine`."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # not a line per migration plugin on every start
    from alembic import command
    from alembic.config import Config as AlembicConfig

    settings = AlembicConfig()
    settings.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        settings.attributes["connection"] = connection
        command.upgrade(settings, "head")


def current_outcomes(session: Session) -> list[ControlOutcome]:
    """The outcome of every recorded control: the rows no later row corrects, by inspection date."""
    corrected = select(ControlOutcome.corrects_id).where(ControlOutcome.corrects_id.is_not(None))
    query = select(ControlOutcome).where(ControlOutcome.id.not_in(corrected))
    return list(session.scalars(query.order_by(ControlOutcome.inspection_date, ControlOutcome.id)))
