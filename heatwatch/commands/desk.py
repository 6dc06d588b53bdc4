"""`heatwatch staff add NAME --role ROLE` (the password from stdin or a file, never argv),
`heatwatch staff list`, and `heatwatch desk`: the clerks' web desk on [desk] host:port."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from desk.auth import AuthError, add_staff
from heatwatch.bootstrap import open_workflow
from heatwatch.config import Config
from heatwatch.errors import UserError
from workflow.staff import ROLES


def _password(a: argparse.Namespace) -> str:
    if a.password_file:
        try:
            text = Path(a.password_file).read_text(encoding="utf-8")
        except OSError as e:
            raise UserError(f"--password-file: cannot read: {e.strerror}") from None
    else:
        if sys.stdin.isatty():
            import getpass

            return getpass.getpass(f"password for {a.name}: ")
        text = sys.stdin.read()
    return text.splitlines()[0] if text.strip() else ""


def staff_command(cfg: Config, a: argparse.Namespace) -> int:
    db = open_workflow(cfg)
    try:
        if a.verb == "list":
            for p in db.staff.find():
                print(f"{p.name}\t{p.role}\t{'active' if p.active else 'inactive'}")
            return 0
        if not a.name or not a.role:
            raise UserError("staff add needs NAME --role ROLE")
        try:
            add_staff(db, a.name, a.role, _password(a), int(time.time() * 1000))
        except AuthError as e:
            raise UserError(str(e)) from None
        print(f"{a.name} ({a.role})")
        return 0
    finally:
        db.close()


def desk_command(cfg: Config) -> int:
    import uvicorn

    from desk.app import build_app
    from heatwatch.bootstrap import build_intake, measurement_outdoor_mean, readings_or_none

    db = open_workflow(cfg)
    opened = readings_or_none(cfg)
    store = opened.store if opened else None
    intake = build_intake(cfg, db, store)
    app = build_app(cfg.desk, intake,
                    outdoor_mean=measurement_outdoor_mean(cfg, store, intake.records))
    print(f"heatwatch desk on http://{cfg.desk.host}:{cfg.desk.port}/"
          f"{'' if opened else ' (no readings store: the cards show no sensor data)'}",
          flush=True)
    try:
        uvicorn.run(app, host=cfg.desk.host, port=cfg.desk.port, log_level="warning")
    finally:
        db.close()
        if opened is not None:
            opened.store.close()
    return 0


def add_desk_parsers(command: Callable[..., argparse.ArgumentParser],
                     load: Callable[[argparse.Namespace], Config]) -> None:
    p = command("staff", lambda a: staff_command(load(a), a),
                "the desk's staff: add NAME --role ROLE (password on stdin or --password-file)")
    p.add_argument("verb", choices=["add", "list"])
    p.add_argument("name", nargs="?")
    p.add_argument("--role", choices=ROLES, default=None)
    p.add_argument("--password-file", default=None, metavar="FILE")
    command("desk", lambda a: desk_command(load(a)),
            "the clerks' web desk (客服坐席) on [desk] host:port")
