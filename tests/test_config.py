"""Config: TOML over defaults, environment overrides for secrets and hosts, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.config import AlertsConfigError
from heatwatch.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_is_valid_and_matches_defaults() -> None:
    cfg = load_config(ROOT / "heatwatch.example.toml", env={})
    default = load_config(None, env={})
    cfg.source = default.source
    assert cfg == default


def test_environment_overrides_secrets_and_hosts(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    cfg = load_config(None, env={
        "HEATWATCH_MQTT_HOST": "broker", "HEATWATCH_MQTT_PORT": "8883",
        "HEATWATCH_STORE_BACKEND": "influxdb",
        "HEATWATCH_STORE_INFLUXDB_PASSWORD_FILE": str(secret),
        "HEATWATCH_STORE_INFLUXDB_CREATE_DATABASE": "false",
    })
    assert (cfg.mqtt.host, cfg.mqtt.port) == ("broker", 8883)
    assert cfg.store.influxdb.password == "s3cret"
    assert cfg.store.influxdb.create_database is False


@pytest.mark.parametrize(("text", "env", "needle"), [
    ("[mqtt]\nhots = 'x'\n", {}, "unknown key 'hots'"),
    ("[mqtt]\nport = 'x'\n", {}, r"\[mqtt\] port: Input should be a valid integer"),
    ("[store]\nbackend = 'postgres'\n", {}, r"\[store\] backend: Input should be 'sqlite' or"),
    ("[mqtt]\nreceive_maximum = 70000\n", {}, "less than or equal to 65535"),
    ("not toml [", {}, "not valid TOML"),
    ("", {"HEATWATCH_MQTT_PORT": "eighty"}, r"HEATWATCH_MQTT_PORT: \[mqtt\] port: "),
])
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, env: dict[str, str],
                                       needle: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config(p, env=env)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_alerts_secrets_come_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[[alerts.crew]]\nid = "north"\ntoken = "${HW_TEST_CREW_TOKEN}"\n'
                 'channels = ["wecom"]\n[[alerts.channel]]\nname = "wecom"\nkind = "wecom"\n'
                 'key = "${HW_TEST_WECOM_KEY}"\n')
    monkeypatch.delenv("HW_TEST_CREW_TOKEN", raising=False)
    monkeypatch.setenv("HW_TEST_WECOM_KEY", "k-123")
    cfg = load_config(p, env={})  # the loader reads no secret: only the alerts service does
    with pytest.raises(AlertsConfigError, match="HW_TEST_CREW_TOKEN is not set"):
        cfg.alerts.crews()
    monkeypatch.setenv("HW_TEST_CREW_TOKEN", "t-456")
    cfg = load_config(p, env={})
    assert cfg.alerts.crews()[0].token == "t-456"
    assert cfg.alerts.channels()[0].key == "k-123"
