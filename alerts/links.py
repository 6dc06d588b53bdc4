"""Crew links that name a person: per order and per member, signed, with an expiry.

A link is `<base>/o/<order_id>/<token>`; the token carries the member's name and the expiry
and an HMAC-SHA256 over the order id, the member and the expiry with a secret that lives
outside the repo (`[alerts.http] link_secret`, written as `${ENV}`, or a key file the
service makes in its data dir). There is no shared crew token: a link opens one order for
one member until it expires, and whatever it does is that member's act in the audit log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MAC_BYTES = 16  # 128 bits of HMAC-SHA256: far beyond guessing over HTTP
MAX_TOKEN_CHARS = 512
KEY_FILE = "alerts-link.key"


class LinkError(Exception):
    """A token that is not a valid link for this order; the reason stays on the server."""


@dataclass(frozen=True, slots=True)
class LinkGrant:
    """What a valid link grants: this member, on this order, until this instant."""

    order_id: str
    member: str
    expires_s: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64_CHARS = re.compile(r"[A-Za-z0-9_-]*")


def _unb64(text: str) -> bytes:
    """Strict: the URL-safe alphabet, no padding, and only the one string that encodes the
    bytes (no junk, no other last character), so a grant has exactly one valid token."""
    if not _B64_CHARS.fullmatch(text):
        raise ValueError("not unpadded URL-safe base64")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not the canonical encoding")
    return data


class LinkSigner:
    """Makes and checks the tokens of crew links with one secret key."""

    def __init__(self, key: bytes | Callable[[], bytes], ttl_s: float) -> None:
        """`key`, or what makes it when the first link is signed or checked (a command that
        only lists orders then never creates a key file)."""
        self._key = key if isinstance(key, bytes) else None
        self._make_key = key if callable(key) else None
        self._lock = threading.Lock()
        self.ttl_s = ttl_s

    def _secret(self) -> bytes:
        with self._lock:
            if self._key is None:
                assert self._make_key is not None
                self._key = self._make_key()
            if len(self._key) < 16:
                raise ValueError("a link key needs at least 16 bytes")
            return self._key

    def _mac(self, order_id: str, payload: bytes) -> bytes:
        msg = (b"heatwatch-crew-link\x00" + order_id.encode("utf-8", "surrogatepass")
               + b"\x00" + payload)
        return hmac.new(self._secret(), msg, hashlib.sha256).digest()[:MAC_BYTES]

    def token(self, order_id: str, member: str, now_s: float) -> str:
        """A token for `member` on `order_id`, valid for ttl_s from now."""
        if not member or "\x00" in member:
            raise ValueError(f"not a member name: {member!r}")
        payload = f"{int(now_s + self.ttl_s)}\x00{member}".encode()
        return f"{_b64(payload)}.{_b64(self._mac(order_id, payload))}"

    def check(self, order_id: str, token: str, now_s: float) -> LinkGrant:
        """The grant of a token on this order; LinkError if it is forged, for another order,
        garbled or expired."""
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            raise LinkError("malformed")
        body, mac = token.split(".")
        try:
            payload, got = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            raise LinkError("malformed") from None
        if not hmac.compare_digest(got, self._mac(order_id, payload)):
            raise LinkError("bad signature")
        expires, _, member = payload.partition(b"\x00")
        try:
            expires_s, name = int(expires), member.decode()
        except (ValueError, UnicodeDecodeError):
            raise LinkError("malformed") from None
        if now_s >= expires_s:
            raise LinkError("expired")
        return LinkGrant(order_id, name, expires_s)


def load_key(configured: str, data_dir: str | Path) -> bytes:
    """The configured secret (already read from its ${ENV}), or the service's own key file in
    its data dir, made once with 0600 permissions; never a key in the repo."""
    if configured:
        if len(configured) < 16:
            raise ValueError("[alerts.http] link_secret must be at least 16 characters")
        return hashlib.sha256(configured.encode()).digest()
    path = Path(data_dir) / KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # another service on the same data dir may have made it first: keep theirs
        os.link(tmp, path)
    except FileExistsError:
        key = path.read_bytes()
    finally:
        tmp.unlink()
    return key
