"""Push the dashboards to a Grafana that is not provisioned from files (Grafana's HTTP API).

`python -m grafana.push https://grafana.example:3000 --folder-uid heatwatch`; the service
account token comes from HEATWATCH_GRAFANA_TOKEN, never from the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaException

from grafana.dashboards import build_all
from grafana.panels import Json

TOKEN_ENV = "HEATWATCH_GRAFANA_TOKEN"
MESSAGE = "heatwatch: grafana/dashboards.py"


class PushError(Exception):
    """Grafana refused or could not be reached; the text is one line for the operator."""


def connect(url: str, token: str, timeout_s: float = 10.0) -> GrafanaApi:
    """A Grafana API client that sends `Authorization: Bearer <token>`."""
    api: GrafanaApi = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
    return api


def save_request(dashboard: Json, folder_uid: str | None) -> Json:
    """The body of POST /api/dashboards/db (Grafana HTTP API: create / update dashboard)."""
    # id null with a uid: Grafana updates the dashboard with that uid on any install;
    # overwrite: the code is the source of truth, as for the provisioned files
    body: Json = {"dashboard": {**dashboard, "id": None}, "overwrite": True,
                  "message": MESSAGE}
    if folder_uid:
        body["folderUid"] = folder_uid
    return body


def push_dashboards(api: GrafanaApi, dashboards: Mapping[str, Json],
                    folder_uid: str | None = None) -> list[Json]:
    """Save each dashboard in order; the first failure stops and raises PushError."""
    saved: list[Json] = []
    for dash in dashboards.values():
        uid = dash["uid"]
        try:
            # grafana-client posts the body as JSON to /api/dashboards/db
            reply: Any = api.dashboard.update_dashboard(  # type: ignore[no-untyped-call]
                save_request(dash, folder_uid))
        except GrafanaException as e:
            raise PushError(f"grafana refused dashboard {uid}: {describe(e)}") from e
        except OSError as e:  # connection refused, DNS, TLS: niquests errors are OSErrors
            raise PushError(f"cannot reach grafana for dashboard {uid}: "
                            f"{one_line(str(e))}") from e
        saved.append({"uid": reply.get("uid", uid), "url": reply.get("url", ""),
                      "version": reply.get("version")})
    return saved


def describe(e: GrafanaException) -> str:
    """`HTTP 412 version-mismatch: <message>` from Grafana's error body."""
    response = e.response
    if isinstance(response, dict):
        status = response.get("status")
        message = response.get("message") or e.message
        tag = f" {status}" if status else ""
        return one_line(f"HTTP {e.status_code}{tag}: {message}")
    return one_line(f"HTTP {e.status_code}: {response or e.message}")


def one_line(text: str) -> str:
    return " ".join(str(text).split())[:300]


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grafana.push",
                                 description="Save the heatwatch dashboards in a Grafana.")
    ap.add_argument("url", help="Grafana base URL, e.g. http://127.0.0.1:3000")
    ap.add_argument("--folder-uid", default=None, help="folder to save into (default: root)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    args = ap.parse_args(argv)
    environ = os.environ if env is None else env
    token = environ.get(TOKEN_ENV, "")
    if not token:
        print(f"error: set {TOKEN_ENV} to a Grafana service account token (Editor)",
              file=sys.stderr)
        return 2
    try:
        saved = push_dashboards(connect(args.url, token, args.timeout), build_all(),
                                args.folder_uid)
    except PushError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for s in saved:
        print(f"saved {s['uid']} version {s['version']} {s['url']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
