"""A local certificate authority made in the test with the openssl command: a CA, and a
server certificate it signs for localhost and 127.0.0.1 (no key ever leaves tmp_path)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.services import binary

_EXTENSIONS = """subjectAltName = DNS:localhost, IP:127.0.0.1
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
"""


@dataclass(frozen=True)
class Tls:
    """A folder laid out as TLS_DIR in .env: ca.crt, server.crt, server.key."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def cert(self) -> Path:
        return self.folder / "server.crt"

    @property
    def key(self) -> Path:
        return self.folder / "server.key"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([binary("openssl"), *args], cwd=cwd, check=True, capture_output=True,
                   timeout=60)


def make_tls(folder: Path, name: str = "heatwatch test CA") -> Tls:
    """A fresh CA and a server certificate it signed, valid for two days."""
    folder.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    _openssl("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=folder)
    (folder / "server.ext").write_text(_EXTENSIONS)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext",
             cwd=folder)
    return Tls(folder)
