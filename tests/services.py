"""Real mosquitto and influxd processes on free loopback ports, with temporary data dirs."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


class Service:
    """A server process we own: start, stop gracefully, kill, restart on the same port."""

    name = "service"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        return True

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir)
        wait_port(self.port)
        deadline = time.monotonic() + 10
        while not self.ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready; see {self.log_path}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class Mosquitto(Service):
    name = "mosquitto"

    def __init__(self, workdir: Path, password_file: Path | None = None) -> None:
        super().__init__(workdir)
        self.password_file = password_file

    def command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {self.workdir}/",
            # save the session store often so a broker restart keeps queued QoS 1 messages
            "autosave_interval 1",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            # as root, mosquitto drops to the mosquitto user, which cannot write our temp dirs
            *(["user root"] if os.geteuid() == 0 else []),
            "log_type error",
            "log_type warning",
        ]
        if self.password_file:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        conf.write_text("\n".join(lines) + "\n")
        return [binary("mosquitto"), "-c", str(conf)]


class Influxd(Service):
    name = "influxd"

    def command(self) -> list[str]:
        conf = self.workdir / "influxdb.conf"
        if not hasattr(self, "rpc_port"):
            self.rpc_port = free_port()
        conf.write_text(f"""
reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.workdir}/meta"
[data]
  dir = "{self.workdir}/data"
  wal-dir = "{self.workdir}/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "10s"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  max-row-limit = 0
[logging]
  level = "warn"
""")
        return [binary("influxd"), "-config", str(conf)]

    def ready(self) -> bool:
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            c.request("GET", "/ping")
            ok = c.getresponse().status == 204
            c.close()
            return ok
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def binary(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(name)


def have(name: str) -> bool:
    try:
        binary(name)
        return True
    except FileNotFoundError:
        return False


PG_USER = "heatwatch"
PG_PASSWORD = "heatwatch-test"  # a throwaway cluster's, on loopback only


def pg_binary(name: str) -> str:
    """A PostgreSQL server binary (Debian keeps them under /usr/lib/postgresql/N/bin)."""
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if os.access(d / name, os.X_OK):
            return str(d / name)
    return binary(name)


def have_postgres() -> bool:
    try:
        pg_binary("postgres")
        pg_binary("initdb")
        return True
    except FileNotFoundError:
        return False


class Postgres(Service):
    """A throwaway PostgreSQL cluster: initdb into its own temp dir, the postgres server on a
    free loopback port (TCP only, password auth). As root it runs as the `postgres` user (the
    server refuses root), in a dir that user owns. kill() SIGKILLs the postmaster and all its
    backends, as a crash of the machine's database would."""

    name = "postgres"

    def __init__(self, workdir: Path, fsync: bool = False) -> None:
        super().__init__(workdir)
        import pwd

        self.fsync = fsync
        import tempfile

        self._user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        # pytest's tmp dirs are 0700 root's: the postgres user could not reach a dir inside
        self.base = Path(tempfile.mkdtemp(prefix="heatwatch-pg-"))
        self.data = self.base / "data"
        pwfile = self.base / "pw"
        pwfile.write_text(PG_PASSWORD + "\n")
        if self._user:
            os.chown(self.base, self._user.pw_uid, self._user.pw_gid)
            os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
        subprocess.run([pg_binary("initdb"), "-D", str(self.data), "-U", PG_USER,
                        f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=trust",
                        "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                       check=True, capture_output=True, user=self._uid())
        self._n = 0

    def _uid(self) -> int | None:
        return self._user.pw_uid if self._user else None

    def command(self) -> list[str]:
        # fsync off in tests: a test cluster need not outlive the machine, only a server crash
        return [pg_binary("postgres"), "-D", str(self.data), "-p", str(self.port),
                "-h", "127.0.0.1", "-k", "", "-c", f"fsync={'on' if self.fsync else 'off'}",
                "-c", "max_connections=200"]

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.base, user=self._uid(),
                                         start_new_session=True)
        deadline = time.monotonic() + 30
        while not self.ready():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise TimeoutError(f"postgres not ready; see {self.log_path}")
            time.sleep(0.05)

    def ready(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.url("postgres"), connect_timeout=1).close()
            return True
        except psycopg.Error:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def url(self, database: str = "heatwatch", password: str = PG_PASSWORD) -> str:
        return f"postgresql://{PG_USER}:{password}@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        self._n += 1
        name = f"{prefix}_{os.getpid()}_{self._n}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.base, ignore_errors=True)
