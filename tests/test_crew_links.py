"""Crew link tokens (issue 10, item 6): per order, per member, signed, expiring."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.links import KEY_FILE, LinkError, LinkSigner, load_key

KEY = b"k" * 32
NOW = 1_733_100_000.0


def test_a_token_names_its_member_and_order_until_it_expires() -> None:
    s = LinkSigner(KEY, ttl_s=3600)
    tok = s.token("O-1", "王五", NOW)
    grant = s.check("O-1", tok, NOW + 3599)
    assert (grant.order_id, grant.member, grant.expires_s) == ("O-1", "王五", int(NOW + 3600))
    with pytest.raises(LinkError, match="expired"):
        s.check("O-1", tok, NOW + 3600)
    with pytest.raises(LinkError, match="signature"):
        s.check("O-2", tok, NOW)  # another order
    with pytest.raises(LinkError, match="signature"):
        LinkSigner(b"x" * 32, 3600).check("O-1", tok, NOW)  # another key


def test_a_changed_member_or_expiry_breaks_the_signature() -> None:
    s = LinkSigner(KEY, ttl_s=3600)
    body, mac = s.token("O-1", "wang", NOW).split(".")
    forged = s.token("O-1", "mallory", NOW).split(".")[0]
    with pytest.raises(LinkError):
        s.check("O-1", f"{forged}.{mac}", NOW)
    later = LinkSigner(KEY, ttl_s=10 ** 9).token("O-1", "wang", NOW).split(".")[0]
    with pytest.raises(LinkError):
        s.check("O-1", f"{later}.{mac}", NOW)


@given(st.text(max_size=600))
def test_any_text_is_refused_or_a_grant_never_a_crash(token: str) -> None:
    s = LinkSigner(KEY, ttl_s=3600)
    with pytest.raises(LinkError):
        s.check("O-1", token, NOW)


def test_the_key_file_is_made_once_private_and_kept(tmp_path: Path) -> None:
    key = load_key("", tmp_path)
    path = tmp_path / KEY_FILE
    assert path.read_bytes() == key and len(key) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key("", tmp_path) == key
    assert load_key("a configured secret, long enough", tmp_path) != key
    with pytest.raises(ValueError, match="at least 16"):
        load_key("short", tmp_path)
