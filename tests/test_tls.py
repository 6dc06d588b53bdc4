"""TLS where a person or an outside device connects, with certificates from a local CA made
here: the real mosquitto on the shipped config's 8883 listener, and the real nginx on
deploy/nginx/nginx.conf in front of plain-HTTP services, each refusing plain text."""

from __future__ import annotations

import http.client
import http.server
import os
import re
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import binary, free_port, have, wait_port
from tests.test_compose import (
    BENCH,
    NGINX_CONF,
    DeployMosquitto,
    compose_model,
    connect_reason,
    make_passwd,
    read_env_file,
    write_env_file,
)
from tests.tls import Tls, make_tls

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parent.parent
START_SH = ROOT / "deploy" / "mosquitto" / "start.sh"
PASSWD_EXAMPLE = ROOT / "deploy" / "mosquitto" / "passwd.example"
# an MQTT 3.1.1 CONNECT (client id "p", no password): a plain-text client's first bytes
PLAIN_CONNECT = bytes.fromhex("100d00044d5154540402003c000170")


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    if not have("openssl"):
        pytest.skip("openssl is not installed")
    return make_tls(tmp_path / "tls")


def plain_mqtt_answer(port: int) -> bytes:
    """What a broker port answers a plain-text CONNECT with (b"": it closed the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(PLAIN_CONNECT)
        try:
            return s.recv(16)
        except (ConnectionResetError, TimeoutError):
            return b""


# --- MQTT: the shipped 8883 listener --------------------------------------------------------

@pytest.fixture
def tls_broker(tmp_path: Path, tls: Tls) -> Iterator[tuple[DeployMosquitto, str]]:
    if not have("mosquitto"):
        pytest.skip("mosquitto is not installed")
    passwd, password = make_passwd(tmp_path)
    broker = DeployMosquitto(tmp_path / "mosquitto", password_file=passwd)
    broker.tls_dir = tls.folder
    broker.start()
    wait_port(broker.tls_port)
    yield broker, password
    broker.kill()


def test_mqtt_over_tls_on_8883_with_the_deploy_config(tls_broker: tuple[DeployMosquitto, str],
                                                      tls: Tls) -> None:
    broker, password = tls_broker
    assert not connect_reason(broker.tls_port, "heatwatch", password, ca=tls.ca).is_failure
    # TLS does not replace the password
    assert connect_reason(broker.tls_port, "heatwatch", "wrong", ca=tls.ca).is_failure
    # the plant network's plain listener still speaks MQTT (and still wants a password)
    assert not connect_reason(broker.port, "heatwatch", password).is_failure
    assert plain_mqtt_answer(broker.port)[:1] == b"\x20"  # a CONNACK


def test_8883_refuses_plain_text_and_an_unknown_ca(tls_broker: tuple[DeployMosquitto, str],
                                                   tmp_path: Path) -> None:
    broker, password = tls_broker
    assert plain_mqtt_answer(broker.tls_port) == b""
    other = make_tls(tmp_path / "other", "another CA")
    with pytest.raises(ssl.SSLCertVerificationError):
        connect_reason(broker.tls_port, "heatwatch", password, ca=other.ca)


# --- the broker's start: the example password file is refused -------------------------------

def start_sh(conf: Path, passwd_example: Path = PASSWD_EXAMPLE) -> subprocess.Popen[str]:
    env = {"PATH": "/usr/bin:/bin", "MOSQUITTO_CONF": str(conf),
           "MOSQUITTO_PASSWD_EXAMPLE": str(passwd_example), "MOSQUITTO_BIN": binary("mosquitto")}
    return subprocess.Popen(["sh", str(START_SH)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_start_sh_refuses_the_example_password_file_in_one_line(tmp_path: Path) -> None:
    if not have("mosquitto"):
        pytest.skip("mosquitto is not installed")
    copied = tmp_path / "passwd"
    # the example with a user of its own added is still the example
    copied.write_text(PASSWD_EXAMPLE.read_text() + "gateway-b12:$7$101$x$y\n")
    broker = DeployMosquitto(tmp_path / "m", password_file=copied)
    broker.command()  # writes the adapted mosquitto.conf
    proc = start_sh(broker.workdir / "mosquitto.conf")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        f"mosquitto: {copied} holds the example user of deploy/mosquitto/passwd.example: make "
        "the password file with mosquitto_passwd (MOSQUITTO_PASSWD_FILE in .env)"]


def test_start_sh_runs_the_broker_on_a_real_password_file(tmp_path: Path) -> None:
    if not have("mosquitto"):
        pytest.skip("mosquitto is not installed")
    passwd, password = make_passwd(tmp_path)
    broker = DeployMosquitto(tmp_path / "m", password_file=passwd)
    broker.command()
    proc = start_sh(broker.workdir / "mosquitto.conf")
    try:
        wait_port(broker.port)
        assert not connect_reason(broker.port, "heatwatch", password).is_failure
    finally:
        proc.kill()
        proc.communicate()


# --- HTTPS: nginx on the shipped config ----------------------------------------------------

class Upstream(http.server.ThreadingHTTPServer):
    """A plain-HTTP service on loopback, as the desk, the crews' endpoint and Grafana are on
    the compose network: it answers with its name and keeps each request's headers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[dict[str, str]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.seen.append({k.lower(): v for k, v in self.headers.items()})
                body = outer.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def listen_ports(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"^\s*listen (\d+) ssl;", text, re.MULTILINE)]


def nginx_conf(tmp: Path, tls: Tls, ports: dict[int, int], upstreams: dict[str, int]) -> Path:
    """deploy/nginx/nginx.conf with its paths in tmp, its ports and upstreams on loopback."""
    text = NGINX_CONF.read_text(encoding="utf-8").replace("/etc/nginx/tls/", f"{tls.folder}/")
    for port, free in ports.items():
        text = text.replace(f"listen {port} ssl;", f"listen 127.0.0.1:{free} ssl;")
    for host, port in upstreams.items():
        text = re.sub(rf"server {host}:\d+;", f"server 127.0.0.1:{port};", text)
    text = text.replace("access_log /dev/stdout;", f"access_log {tmp}/access.log;")
    temp = "".join(f"    {kind}_temp_path {tmp}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = text.replace("http {\n", "http {\n" + temp, 1)
    head = f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n"
    if os.geteuid() == 0:
        head += "user root;\n"  # workers as nobody could not enter pytest's 0700 tmp dirs
    conf = tmp / "nginx.conf"
    conf.write_text(head + text)
    return conf


@pytest.fixture
def proxy(tmp_path: Path, tls: Tls) -> Iterator[tuple[dict[int, int], dict[str, Upstream]]]:
    if not have("nginx"):
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    upstreams = {name: Upstream(name) for name in ("alerts", "desk", "grafana")}
    ports = {p: free_port() for p in listen_ports(NGINX_CONF.read_text())}
    conf = nginx_conf(tmp_path, tls, ports, {n: u.port for n, u in upstreams.items()})
    base = [binary("nginx"), "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
            "-c", str(conf)]
    check = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([*base, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    try:
        for port in ports.values():
            wait_port(port)
        yield ports, upstreams
    finally:
        proc.terminate()
        proc.wait(30)
        for u in upstreams.values():
            u.shutdown()
            u.server_close()


def https_get(port: int, ca: Path, path: str = "/health") -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=str(ca))
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def plain_get(port: int) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/health")
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


# which TLS port of nginx.conf serves which compose service
ROUTES = {443: "alerts", 8443: "desk", 3443: "grafana"}


def test_each_page_is_served_over_tls_to_its_service(proxy: Any, tls: Tls) -> None:
    ports, upstreams = proxy
    assert set(ports) == set(ROUTES)
    for port, name in ROUTES.items():
        assert https_get(ports[port], tls.ca) == (200, name)
        headers = upstreams[name].seen[-1]
        assert headers["x-forwarded-proto"] == "https"
        assert headers["x-forwarded-for"] == "127.0.0.1"


def test_plain_http_is_refused_and_never_reaches_a_service(proxy: Any, tls: Tls,
                                                           tmp_path: Path) -> None:
    ports, upstreams = proxy
    for port, name in ROUTES.items():
        status, body = plain_get(ports[port])
        assert status == 400 and "plain HTTP request was sent to HTTPS port" in body
        assert upstreams[name].seen == []
        with pytest.raises(ssl.SSLCertVerificationError):
            https_get(ports[port], make_tls(tmp_path / f"other{port}", "another CA").ca)
        assert upstreams[name].seen == []


def test_compose_publishes_only_tls_for_pages(tmp_path: Path) -> None:
    env = {**read_env_file(ROOT / ".env.example"), **BENCH}
    services = compose_model(write_env_file(tmp_path / ".env", env))["services"]
    published = {name: [p["target"] for p in svc.get("ports", [])]
                 for name, svc in services.items() if svc.get("ports")}
    # the proxy's ports are exactly nginx.conf's TLS listeners; mosquitto: MQTT and MQTT/TLS
    assert published == {"proxy": list(ROUTES), "mosquitto": [1883, 8883]}
    assert listen_ports(NGINX_CONF.read_text()) == list(ROUTES)
    assert not re.search(r"^\s*listen (?!\d+ ssl;)", NGINX_CONF.read_text(), re.MULTILINE)
    proxy = services["proxy"]
    assert {v["target"] for v in proxy["volumes"]} == {"/etc/nginx/nginx.conf", "/etc/nginx/tls"}
    for name in ROUTES.values():
        assert name in proxy["depends_on"]
    assert services["desk"]["environment"]["HEATWATCH_DESK_COOKIE_SECURE"] == "true"
    url = services["alerts"]["environment"]["HEATWATCH_ALERTS_HTTP_BASE_URL"]
    assert url.startswith("https://")
    assert services["grafana"]["environment"]["GF_SERVER_ROOT_URL"].startswith("https://")
