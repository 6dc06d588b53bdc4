"""Crew link tokens (issue 10, item 6): per order, per member, signed, expiring."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.config import AlertsConfig, AlertsConfigError
from alerts.links import KEY_FILE, LinkError, LinkSigner, load_key
from alerts.service import AlertsService, build_service
from district.records import load_records
from tests.test_alerts_support import write_records

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


def _build(tmp_path: Path, http: dict[str, object]) -> AlertsService:
    cfg = AlertsConfig.from_mapping({"http": http, "crew": [
        {"id": "north", "substations": ["S1"], "members": ["wang"]}]})
    rec = load_records(write_records(tmp_path / "records"))
    return build_service(cfg, rec, str(tmp_path / "data"), clock_ms=lambda: int(NOW * 1000))


def test_links_survive_a_restart_and_a_configured_secret_replaces_the_key_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _build(tmp_path, {})
    tok = first.messenger.signer.token("O-1", "wang", NOW)
    assert (tmp_path / "data" / KEY_FILE).exists()
    again = _build(tmp_path, {})
    assert again.messenger.signer.check("O-1", tok, NOW).member == "wang"
    monkeypatch.setenv("HW_TEST_LINK_SECRET", "s" * 32)
    configured = _build(tmp_path, {"link_secret": "${HW_TEST_LINK_SECRET}"})
    with pytest.raises(LinkError):
        configured.messenger.signer.check("O-1", tok, NOW)


def test_a_listing_command_makes_no_key_file(tmp_path: Path) -> None:
    svc = _build(tmp_path, {})
    assert svc.db.orders.find() == []
    assert not (tmp_path / "data" / KEY_FILE).exists()


@pytest.mark.parametrize(("secret", "says"), [
    ("${HW_TEST_UNSET_LINK_SECRET}", "[alerts.http] link_secret: environment variable "
                                     "HW_TEST_UNSET_LINK_SECRET is not set"),
    ("short", "[alerts.http] link_secret must be at least 16 characters"),
])
def test_a_bad_link_secret_is_one_line(tmp_path: Path, secret: str, says: str) -> None:
    with pytest.raises(AlertsConfigError) as e:
        _build(tmp_path, {"link_secret": secret})
    assert str(e.value) == says


def test_a_member_name_must_be_a_name() -> None:
    with pytest.raises(AlertsConfigError, match="is not a name"):
        AlertsConfig.from_mapping({"crew": [{"id": "n", "members": ["wang", " "]}]}).crews()
