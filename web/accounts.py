"""Local accounts (Argon2-hashed passwords), sign-in with a limit on failures, and accounts from OpenID Connect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from web.database import ROLES, LoginAttempt, SignedIn, User, utc_now
from web.project import WebConfig, region_names

_HASHER = PasswordHasher()
# Verified against when the login is unknown, so that both answers take the same time.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class AccountError(ValueError):
    """An account that cannot be created as asked (the reason in French for the administrator)."""


def add_user(session: Session, login: str, display_name: str, role: str, region_code: str | None,
             password: str | None) -> User:
    """Create an active account; `password` None for an account that signs in through OpenID Connect only."""
    login = login.strip().lower()
    if role not in ROLES:
        raise AccountError(f"rôle {role!r} inconnu : {', '.join(ROLES)}")
    if role in ("inspecteur", "responsable"):
        if region_code not in region_names():
            raise AccountError(f"un {role} a une région : code INSEE parmi {', '.join(sorted(region_names()))}")
    elif region_code is not None:
        raise AccountError(f"un {role} n'a pas de région")
    if password is not None and len(password) < 12:
        raise AccountError("mot de passe de 12 caractères au moins")
    if session.scalar(select(User).where(User.login == login)) is not None:
        raise AccountError(f"le compte {login} existe déjà")
    user = User(login=login, display_name=display_name, role=role, region_code=region_code, active=True,
                password_hash=_HASHER.hash(password) if password is not None else None)
    session.add(user)
    session.commit()
    return user


def _account(session: Session, login: str) -> User:
    """The account of `login` (any case, spaces around), or AccountError."""
    user = session.scalar(select(User).where(User.login == login.strip().lower()))
    if user is None:
        raise AccountError(f"aucun compte {login}")
    return user


def set_active(session: Session, login: str, active: bool) -> User:
    """Enable or disable an account (its records stay): disabling ends its sessions, so that enabling it again does not
    open them again (a cookie stolen before it was disabled)."""
    user = _account(session, login)
    user.active = active
    if not active:
        session.execute(delete(SignedIn).where(SignedIn.user_id == user.id))
    session.commit()
    return user


def set_password(session: Session, login: str, password: str) -> User:
    """Give an account a new password (12 characters at least), e.g. when its agent forgot it or it leaked: its sessions
    signed in with the old one end."""
    if len(password) < 12:
        raise AccountError("mot de passe de 12 caractères au moins")
    user = _account(session, login)
    user.password_hash = _HASHER.hash(password)
    session.execute(delete(SignedIn).where(SignedIn.user_id == user.id))
    session.commit()
    return user


def set_region(session: Session, login: str, region_code: str) -> User:
    """Move an inspector's or a responsable's account to another region (an agent who changes office)."""
    user = _account(session, login)
    if user.role not in ("inspecteur", "responsable"):
        raise AccountError(f"un {user.role} n'a pas de région")
    if region_code not in region_names():
        raise AccountError(f"code de région INSEE parmi {', '.join(sorted(region_names()))}")
    user.region_code = region_code
    session.commit()
    return user


@dataclass(frozen=True)
class SignIn:
    """The result of a sign-in: the user, or why not (in French)."""

    user: User | None
    refusal: str | None = None
    limited: bool = False


def sign_in(session: Session, login: str, password: str, address: str, settings: WebConfig) -> SignIn:
    """Check a password, unless sign-in is refused from this address for this login (`_refusal`)."""
    login = login.strip().lower()
    refusal = _refusal(session, login, address, settings)
    if refusal is not None:
        return SignIn(None, refusal, True)
    user = session.scalar(select(User).where(User.login == login, User.active.is_(True)))
    valid = False
    try:
        valid = _HASHER.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        valid = False
    valid = valid and user is not None and user.password_hash is not None
    session.add(LoginAttempt(login=login[:200], address=address[:64], succeeded=valid))
    session.commit()
    if not valid:
        return SignIn(None, "Identifiant ou mot de passe incorrect.")
    return SignIn(user)


def _refusal(session: Session, login: str, address: str, settings: WebConfig) -> str | None:
    """Why `login` may not try a password from `address` now (in French), or None. An address that failed
    `login_attempts` times within `login_window_minutes`, whatever the logins, is refused: guessing from one place is
    slow. A login that failed `login_account_attempts` times within `login_account_window_minutes`, from anywhere, is
    refused from the addresses it did not sign in from within `login_known_days`: guessing from many places is slow
    too, yet failures sent from elsewhere cannot lock its agent out of the places they work from."""
    now = utc_now()
    failures = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.succeeded.is_(False))
    here = failures.where(LoginAttempt.address == address,
                          LoginAttempt.at >= now - timedelta(minutes=settings.login_window_minutes))
    if (session.scalar(here) or 0) >= settings.login_attempts:
        return f"Trop de tentatives échouées depuis ce poste : réessayez dans {settings.login_window_minutes} minutes."
    known = select(LoginAttempt.id).where(LoginAttempt.login == login, LoginAttempt.address == address,
                                          LoginAttempt.succeeded.is_(True),
                                          LoginAttempt.at >= now - timedelta(days=settings.login_known_days)).limit(1)
    if session.scalar(known) is not None:
        return None
    everywhere = failures.where(LoginAttempt.login == login,
                                LoginAttempt.at >= now - timedelta(minutes=settings.login_account_window_minutes))
    if (session.scalar(everywhere) or 0) >= settings.login_account_attempts:
        return ("Trop de tentatives échouées pour cet identifiant : connectez-vous depuis un poste d'où vous vous êtes "
                f"déjà connecté, ou réessayez dans {settings.login_account_window_minutes} minutes.")
    return None


def oidc_user(session: Session, claims: dict, settings: WebConfig) -> User | None:
    """The account of an agent signed in by the identity provider: found by subject, else by e-mail (then
    bound to the subject), else created from the role and region claims. None when the claims give no role."""
    subject = str(claims.get("sub", ""))
    email = str(claims.get("email", "")).strip().lower()
    user = session.scalar(select(User).where(User.oidc_subject == subject)) if subject else None
    if user is None and email:
        user = session.scalar(select(User).where(User.login == email))
        if user is not None and user.oidc_subject is None:
            user.oidc_subject = subject
            session.commit()
    if user is not None:
        return user if user.active else None
    oidc = settings.oidc
    role = oidc.role_mapping.get(str(claims.get(oidc.role_claim, "")))
    region = str(claims.get(oidc.region_claim)) if oidc.region_claim and claims.get(oidc.region_claim) else None
    if role is None or not email or (role in ("inspecteur", "responsable") and region not in region_names()):
        return None
    name = " ".join(str(claims.get(k, "")) for k in ("given_name", "usual_name")).strip() or email
    user = User(login=email, display_name=name, role=role, region_code=region if role in ("inspecteur", "responsable")
                else None, oidc_subject=subject, active=True)
    session.add(user)
    session.commit()
    return user
