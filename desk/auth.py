"""Sign-in per person: argon2 hashes, sessions that expire, a CSRF token per session, failed
sign-ins that slow down. Sessions live in the workflow file, so they survive a restart."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from desk.config import DeskConfig
from workflow.staff import ROLES, Person
from workflow.unit import WorkflowDb

_HASHER = PasswordHasher()
# a hash to verify against when the name is unknown, so both cost the same time
_DUMMY = _HASHER.hash("heatwatch-desk-no-such-person")
MIN_PASSWORD = 8


class AuthError(Exception):
    """A password or a staff record the desk refuses; one line."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"a password has at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def add_staff(db: WorkflowDb, name: str, role: str, password: str, at_ms: int) -> None:
    """Add a person (or reset one's role and password), audited."""
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    if not name.strip() or len(name) > 40:
        raise AuthError("a staff name is 1–40 characters")
    hashed = hash_password(password)
    with db.unit() as u:
        u.staff.put(name, role, hashed, at_ms)
        u.staff.audit(at_ms, "cli", "staff_add", name, True, role)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Signed:
    """A signed-in person on one request."""

    name: str
    role: str
    csrf: str
    token: str


class Auth:
    """Sign-in, sessions and CSRF over the staff repository."""

    def __init__(self, db: WorkflowDb, cfg: DeskConfig) -> None:
        self.db = db
        self.cfg = cfg

    def delay_s(self, name: str, address: str) -> float:
        """How long this attempt waits: base * 2^(n-1) after n failures in a row (name or
        address, whichever failed more), up to the cap."""
        n = max(self.db.staff.failures(f"name:{name}")[0],
                self.db.staff.failures(f"addr:{address}")[0])
        if n == 0:
            return 0.0
        return float(min(self.cfg.signin_delay_max_s,
                         self.cfg.signin_delay_s * 2 ** min(n - 1, 16)))

    def sign_in(self, name: str, password: str, address: str, at_ms: int) -> Signed | None:
        """A new session for a right password; None (audited, counted) otherwise."""
        person = self.db.staff.get(name)
        ok = _verify(person, password)
        with self.db.unit() as u:
            if not ok or person is None:
                u.staff.fail(f"name:{name}", at_ms)
                u.staff.fail(f"addr:{address}", at_ms)
                u.staff.audit(at_ms, name or "-", "sign_in", address, False, "wrong name or "
                              "password")
                return None
            u.staff.clear_failures(f"name:{name}")
            u.staff.clear_failures(f"addr:{address}")
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            u.staff.open_session(token_hash(token), name, csrf, at_ms, self._expiry(at_ms))
            u.staff.audit(at_ms, name, "sign_in", address, True)
            if _HASHER.check_needs_rehash(person.password_hash):
                u.staff.set_hash(name, _HASHER.hash(password))
        return Signed(name, person.role, csrf, token)

    def session(self, token: str | None, at_ms: int) -> tuple[Signed | None, str]:
        """The person of a session cookie, its expiry slid forward; else (None, why)."""
        if not token:
            return None, "no session"
        th = token_hash(token)
        s = self.db.staff.session(th)
        if s is None:
            return None, "unknown session"
        person = self.db.staff.get(s.name)
        with self.db.unit() as u:
            if s.expires_ms < at_ms or person is None or not person.active:
                u.staff.close_session(th)
                u.staff.audit(at_ms, s.name, "session", "", False, "session expired")
                return None, "expired"
            u.staff.touch_session(th, self._expiry(at_ms))
        return Signed(s.name, person.role, s.csrf, token), ""

    def sign_out(self, token: str, name: str, at_ms: int) -> None:
        with self.db.unit() as u:
            u.staff.close_session(token_hash(token))
            u.staff.audit(at_ms, name, "sign_out", "", True)

    def _expiry(self, at_ms: int) -> int:
        return at_ms + round(self.cfg.session_ttl_min * 60_000)


def csrf_ok(signed: Signed, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(signed.csrf, str(sent))


def _verify(person: Person | None, password: str) -> bool:
    try:
        _HASHER.verify(person.password_hash if person and person.active else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return False
    return person is not None and person.active
