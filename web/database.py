"""What the application writes: users, control outcomes (append-only), sign-in attempts, the access log.

SQLite under the home by default, PostgreSQL (or any SQLAlchemy URL) from `web.database_url`.
The schema is created and upgraded by the Alembic migrations of `web/migrations`, never by
`create_all`, so that a site's database follows the code's versions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    create_engine,
    event,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column, relationship, sessionmaker

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
    `corrects_id` names the row it replaces. The rows of one control form a chain: its first row (`chain_id` None,
    `revision` 0) and its corrections (`chain_id` the first row's id, `revision` 1, 2, ...); the row of highest
    revision is the control's outcome. (chain_id, revision) is unique, so that of two corrections of the same row
    only the first recorded is kept, whatever the timing; `form_token` is unique, so that a form sent twice records
    once; (siret, inspection_date, day_entry) is unique, so that of two new entries of one establishment and day
    sent at once (two tabs) only the first recorded is kept."""

    __tablename__ = "control_outcomes"
    __table_args__ = (Index("ix_control_outcomes_chain_revision", "chain_id", "revision", unique=True),
                      Index("ix_control_outcomes_day_entry", "siret", "inspection_date", "day_entry", unique=True))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    siret: Mapped[str] = mapped_column(String(14), index=True)
    region_code: Mapped[str] = mapped_column(String(3))
    list_month: Mapped[date] = mapped_column(Date)  # the list the establishment was opened from
    exploration: Mapped[bool] = mapped_column(Boolean, default=False)
    # Its line was on that list (None: recorded before migration 0009; then an exploration line was, and for the
    # others the month's list as it is now decides).
    listed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    inspection_date: Mapped[date] = mapped_column(Date)
    abuse_found: Mapped[bool] = mapped_column(Boolean)
    confirmed_rules: Mapped[str] = mapped_column(String(200), default="")  # rule ids, comma separated
    follow_up: Mapped[str] = mapped_column(String(20))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("control_outcomes.id"), nullable=True)
    chain_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the first row's id (kept by record_outcome)
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    form_token: Mapped[str | None] = mapped_column(String(64), unique=True, index=True, nullable=True)
    # A first row's place among the first rows of its SIRET and day (0, then 1 once the first was corrected to another
    # day...); None for a correction. Set by record_outcome.
    day_entry: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author: Mapped[User] = relationship(foreign_keys=[author_id])

    @property
    def chain(self) -> int:
        """The id of the first row of this control's chain."""
        return self.chain_id if self.chain_id is not None else self.id


class OutcomeGuard(Base):
    """One row per establishment whose control outcomes were sent: `record_outcome` writes it first, so that two
    entries of one establishment sent at once are written one after the other, the second checked against the first
    (the row's lock in PostgreSQL, the database's write lock in SQLite, held until the entry is committed)."""

    __tablename__ = "outcome_guards"
    siret: Mapped[str] = mapped_column(String(14), primary_key=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)  # entries sent for the establishment, kept or not


class LoginAttempt(Base):
    """One sign-in attempt, kept to limit failures per login and per address."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(200), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime, default=utc_now, index=True)


class SignedIn(Base):
    """A signed-in session: the session cookie holds a random token, the database its SHA-256. Signing out deletes the
    row, so that a copy of the cookie no longer opens any page; rows older than the session's length are purged at
    sign-in."""

    __tablename__ = "signed_in_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class AccessRecord(Base):
    """What an agent did with personal data, and when: a region's list read (one row a day per account, list and
    region, however often it is read, filtered or sorted), an establishment's page, figure or printable explanation
    opened, a list's export downloaded, a control outcome recorded or corrected (`granted`); or what they were
    refused: a list, an export or an establishment of another region, a page of another role (`granted` False).
    `what` is the action as the access log shows it, in French; `region_code` the region of the list or establishment
    (None in rows written before migration 0004, and for a page of another role); `siret` None for a list's events;
    `list_month` None for a page that belongs to no month (the models, the audit, the access log)."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_user_at", "user_id", "at"),)  # a reader's rows of a day (a list read)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    siret: Mapped[str | None] = mapped_column(String(14), index=True, nullable=True)
    list_month: Mapped[date | None] = mapped_column(Date, nullable=True)
    region_code: Mapped[str | None] = mapped_column(String(3), nullable=True)
    what: Mapped[str] = mapped_column(String(40))
    granted: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    user: Mapped[User] = relationship()


def access_records(session: Session, limit: int, login: str | None = None, refused: bool = False) -> list[AccessRecord]:
    """The access log's last `limit` rows, latest first (those of the account `login`, or the refusals only, when
    asked), their account loaded."""
    query = select(AccessRecord).join(User, AccessRecord.user_id == User.id)
    if login is not None:
        query = query.where(User.login == login.strip().lower())
    if refused:
        query = query.where(AccessRecord.granted.is_(False))
    records = list(session.scalars(query.order_by(AccessRecord.id.desc()).limit(limit)))
    for record in records:
        _ = record.user.login
    return records


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


def current_outcomes(session: Session, siret: str | None = None) -> list[ControlOutcome]:
    """The outcome of every recorded control (of `siret` only, when given), by inspection date: the last row of each
    chain; of chains whose outcomes give the same SIRET and day (entries recorded twice before the application
    refused it, or at the same instant), the one recorded last, so that a visit counts once."""
    later = aliased(ControlOutcome)
    superseded = select(later.id).where(later.chain_id == func.coalesce(ControlOutcome.chain_id, ControlOutcome.id),
                                        later.revision > ControlOutcome.revision).exists()
    query = select(ControlOutcome).where(~superseded)
    if siret is not None:
        query = query.where(ControlOutcome.siret == siret)
    by_visit = {(r.siret, r.inspection_date): r for r in session.scalars(query.order_by(ControlOutcome.id))}
    return sorted(by_visit.values(), key=lambda r: (r.inspection_date, r.id))


def current_entry(session: Session, entry: ControlOutcome) -> ControlOutcome:
    """The current entry of `entry`'s control: the last of its chain (that of its SIRET and day: `current_outcomes`)."""
    query = select(ControlOutcome).where(or_(ControlOutcome.id == entry.chain, ControlOutcome.chain_id == entry.chain))
    last = session.scalars(query.order_by(ControlOutcome.revision.desc())).first() or entry
    by_visit = {(r.siret, r.inspection_date): r for r in current_outcomes(session, entry.siret)}
    return by_visit.get((last.siret, last.inspection_date), last)


@dataclass(frozen=True)
class Recording:
    """What became of an outcome sent (`record_outcome`): "recorded"; "repeated": the database holds it already (a form
    sent twice, sent again after going back), nothing added; "form_reused": its form recorded another outcome (going
    back, then changing the date for another visit), nothing added, a new form to send; "superseded": the entry it
    corrects was corrected already; "same_day": another entry gives this establishment's control of that day.
    `current`: the current entry of the control concerned (the one recorded, for "recorded"; for "form_reused", the
    entry its form recorded, which may be another establishment's: not to be shown)."""

    status: Literal["recorded", "repeated", "form_reused", "superseded", "same_day"]
    current: ControlOutcome


def record_outcome(session: Session, outcome: ControlOutcome, corrected: ControlOutcome | None) -> Recording:
    """Add `outcome`, a correction of `corrected` when given, unless it repeats an entry or would make a second
    outcome of one control. The establishment's guard (`OutcomeGuard`) is written first: entries of one establishment
    sent at once (two tabs, two agents) are checked and written one after the other, so that a correction moved onto
    a day and a new entry of that day cannot both be kept. The database's unique indexes stay a second defence: two
    corrections of one entry (chain_id, revision), a form token sent twice, two new entries of one establishment and day
    (siret, inspection_date, day_entry)."""
    guard_outcomes(session, outcome.siret)
    if corrected is None:
        outcome.day_entry = session.scalar(select(func.count()).select_from(ControlOutcome).where(
            ControlOutcome.siret == outcome.siret, ControlOutcome.inspection_date == outcome.inspection_date,
            ControlOutcome.chain_id.is_(None)))
    if (found := _recorded_already(session, outcome, corrected)) is not None:
        session.commit()  # frees the guard (a rollback would also expire `found`'s entry, read after the session)
        return found
    if corrected is not None:
        outcome.corrects_id, outcome.chain_id, outcome.revision = corrected.id, corrected.chain, corrected.revision + 1
    session.add(outcome)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        if (found := _recorded_already(session, outcome, corrected)) is None:
            raise
        return found
    return Recording("recorded", outcome)


def guard_outcomes(session: Session, siret: str) -> None:
    """Write the guard of `siret`'s outcomes in `session`'s transaction: another session that writes it waits until
    this one commits or rolls back (an insert or update of one row, in PostgreSQL and SQLite alike)."""
    session.execute(text("INSERT INTO outcome_guards (siret, sent) VALUES (:siret, 1) "
                         "ON CONFLICT (siret) DO UPDATE SET sent = outcome_guards.sent + 1"), {"siret": siret})


def _recorded_already(session: Session, outcome: ControlOutcome, corrected: ControlOutcome | None) -> Recording | None:
    """Why `outcome` is not to be added (`Recording`), or None."""
    if outcome.form_token is not None:
        sent = session.scalar(select(ControlOutcome).where(ControlOutcome.form_token == outcome.form_token))
        if sent is not None:
            # the entry this form recorded, not the control's current one: sent again after a correction, the old
            # outcome is a repeat, not another visit to record
            same = sent.siret == outcome.siret and _same_outcome(sent, outcome)
            return Recording("repeated" if same else "form_reused", current_entry(session, sent))
    if corrected is not None:
        now = current_entry(session, corrected)
        if now.id != corrected.id:
            return Recording("repeated" if _same_outcome(now, outcome) else "superseded", now)
    for other in current_outcomes(session, outcome.siret):
        if other.inspection_date == outcome.inspection_date and (corrected is None or other.id != corrected.id):
            return Recording("repeated" if corrected is None and _same_outcome(other, outcome) else "same_day", other)
    return None


def _same_outcome(entry: ControlOutcome, outcome: ControlOutcome) -> bool:
    """Whether two entries say the same of the same control."""
    rules = {r for r in entry.confirmed_rules.split(",") if r} == {r for r in outcome.confirmed_rules.split(",") if r}
    return (entry.inspection_date, entry.abuse_found, entry.follow_up) == (
        outcome.inspection_date, outcome.abuse_found, outcome.follow_up) and rules
