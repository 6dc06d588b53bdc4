"""The layers of the house (README: Layout), checked by import-linter's contract in
pyproject.toml: no package imports a layer above it, and siblings stay apart."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_layer_contract_is_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_the_contract_names_every_package_in_its_layer() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    (contract,) = cfg["importlinter"]["contracts"]
    layers = [[p.strip() for p in layer.split("|")] for layer in contract["layers"]]
    assert layers == [["heatwatch", "grafana"], ["documents", "desk"], ["alerts", "simulators"],
                      ["collector", "analyzer"], ["storage"], ["district", "workflow"], ["policy"]]
    packages = set(cfg["setuptools"]["packages"]["find"]["include"])
    assert {f"{p}*" for layer in layers for p in layer} == packages


def test_no_production_path_imports_the_simulators() -> None:
    """issue 19: the collector, analyzer, alerts and desk services and every operator command
    start without importing `simulators` (the demo alone brings them in)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "import heatwatch.cli, heatwatch.services, heatwatch.bootstrap, heatwatch.config\n"
            "import heatwatch.commands.alerts, heatwatch.commands.analyze, "
            "heatwatch.commands.report, heatwatch.commands.refunds, "
            "heatwatch.commands.dispute, heatwatch.commands.calls, heatwatch.commands.desk\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'simulators'))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"
