"""`python -m alerts`: the alerts service on an `[alerts]` TOML table (until the CLI wires it)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import tomllib
from pathlib import Path

from alerts.config import AlertsConfig, AlertsConfigError
from alerts.service import build_service, run_loop
from district.records import RecordsError, load_records


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m alerts")
    p.add_argument("--alerts", required=True, help="TOML file with an [alerts] table")
    p.add_argument("--records", required=True, help="records folder")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--once-at-ms", type=int, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        data = tomllib.loads(Path(args.alerts).read_text(encoding="utf-8"))
        cfg = AlertsConfig.from_mapping(data.get("alerts", {}))
        svc = build_service(cfg, load_records(args.records), args.data_dir)
    except (OSError, tomllib.TOMLDecodeError, AlertsConfigError, RecordsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return run_loop(svc, stop, args.once_at_ms)


if __name__ == "__main__":
    sys.exit(main())
