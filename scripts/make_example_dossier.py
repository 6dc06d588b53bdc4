"""Make docs/dispute-example.html and .pdf: the dispute dossier of household B02-0103 in the
sample district's two days with every fault once (its supply sensor open for 6 h), with
docs/rules.md worked example 7's verification (+6 %, 3,000 kWh in dispute).

The readings come from the real simulator on the bundled sample district, as the analyzer
scenario tests make them; the analyzer then finds the faults. Run from the repository root:
`.venv/bin/python scripts/make_example_dossier.py` (needs Chromium for the PDF)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from heatwatch.commands.dispute import dispute_command  # noqa: E402
from heatwatch.config import load_config  # noqa: E402
from tests.test_analyzer_scenarios import TZ, run_folder  # noqa: E402

SCENARIO = ROOT / "tests" / "scenarios" / "analyzer" / "sample_every_behaviour_once"
ACCOUNT = "B02-0103"
# a fixed "generated at", so the committed files change only when the content does
CLOCK = dt.datetime(2024, 12, 5, 9, 30, tzinfo=TZ).timestamp()


def main() -> int:
    # paths relative to the repository, so the sources the dossier names are the same anywhere
    os.chdir(ROOT)
    data = Path("var") / "example-dossier"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    _, wf, store, _ = run_folder(SCENARIO, data)
    wf.close()
    store.close()
    cfg = load_config(None, env={})
    cfg.site.data_dir = str(data)
    cfg.site.records_dir = "district/sample"
    for fmt in ("html", "pdf"):
        out = Path("docs") / f"dispute-example.{fmt}"
        dispute_command(cfg, ACCOUNT, 2024, str(out), False, 6.0, billed_kwh=3000.0,
                        clock=lambda: CLOCK, format_=fmt, force=True)
    shutil.rmtree(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
