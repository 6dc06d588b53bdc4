"""What every command shares and no command owns: the operator's mistake, the site's time
zone, the analyzer's settings and the workflow database's path."""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from pathlib import Path

from analyzer.config import AnalyzerConfig
from heatwatch.config import Config


class CommandError(Exception):
    """A mistake the operator can fix (unknown account, bad season, bad config)."""


def analyzer_config(cfg: Config) -> AnalyzerConfig:
    """The `[analyzer]` section (load_config checked it)."""
    return cfg.analyzer


def timezone(cfg: Config) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(cfg.site.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CommandError(f"[site] timezone {cfg.site.timezone!r} is not a known time zone"
                           ) from None


def workflow_path(cfg: Config) -> Path:
    return cfg.workflow_path()


def output_path(out: str, force: bool, flag: str = "--out") -> Path:
    """A file a command is asked to write, checked before anything is computed or written: not
    a directory, not a symbolic link, in a folder that exists, and an existing file only with
    --force."""
    p = Path(out)
    if p.is_symlink():
        raise CommandError(f"{flag} {out}: is a symbolic link; give the file itself")
    if p.is_dir():
        raise CommandError(f"{flag} {out}: is a directory; give a file name")
    if not p.parent.is_dir():
        raise CommandError(f"{flag} {out}: the folder {p.parent} does not exist")
    if p.exists() and not force:
        raise CommandError(f"{flag} {out}: the file exists; add --force to overwrite it")
    return p


def temporary_beside(p: Path) -> Path:
    """A fresh name in the file's own folder, for writing before the rename into place."""
    return p.with_name(f".{p.name}.{os.getpid()}.tmp")


def write_output(p: Path, data: bytes) -> None:
    """Write through a new temporary file in the same folder, renamed into place: a symbolic
    link put at the path meanwhile is replaced, never followed."""
    tmp = temporary_beside(p)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CommandError(f"cannot write {p}: {e.strerror or e}") from None
