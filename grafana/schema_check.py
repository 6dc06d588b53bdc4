"""Check dashboards against Grafana's published schema (@grafana/schema) with `tsc`.

Each dashboard becomes a TypeScript file declaring it as `Dashboard` (grafana/schema/
dashboard.ts); `tsc` rejects an unknown panel type, a key Grafana does not define and a value
outside its enum. The npm packages are pinned in grafana/schema/package-lock.json and
installed by scripts/test (`npm ci --prefix grafana/schema`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

SCHEMA_DIR: Final = Path(__file__).resolve().parent / "schema"
TSC: Final = SCHEMA_DIR / "node_modules" / "typescript" / "bin" / "tsc"
SCHEMA_PACKAGE: Final = SCHEMA_DIR / "node_modules" / "@grafana" / "schema" / "package.json"
_ERROR = re.compile(r"^(?P<file>[^()\s]+\.ts)\(\d+,\d+\): error (?P<msg>TS\d+: .*)$")


class SchemaToolMissing(RuntimeError):
    """node or the pinned npm packages are not installed."""


def schema_version() -> str:
    """The @grafana/schema version installed (it follows Grafana's own version)."""
    return str(json.loads(SCHEMA_PACKAGE.read_text(encoding="utf-8"))["version"])


def typescript(dash: Mapping[str, Any]) -> str:
    """The dashboard as TypeScript: each panel typed by its own plugin, then the dashboard."""
    def lit(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, indent=1)

    schema = json.dumps(str(SCHEMA_DIR / "dashboard"))
    out = [f"import type {{ Dashboard, Panels }} from {schema};"]
    panels = dash.get("panels", [])
    for i, p in enumerate(panels):
        # a type Grafana does not know cannot index Panels: tsc says so by name
        out.append(f"const panel{i}: Panels[{lit(p.get('type'))}] = {lit(p)};")
    rest = {k: v for k, v in dash.items() if k != "panels"}
    body = lit(rest)[:-1].rstrip()
    refs = ", ".join(f"panel{i}" for i in range(len(panels)))
    sep = "," if rest else ""
    out.append(f"export const dashboard: Dashboard = {body}{sep}\n \"panels\": [{refs}]\n}};")
    return "\n".join(out) + "\n"


def check(dashboards: Mapping[str, Mapping[str, Any]], workdir: Path) -> dict[str, list[str]]:
    """Name → tsc's errors for that dashboard (empty list: valid), all in one tsc run."""
    node = shutil.which("node")
    if node is None or not TSC.is_file() or not SCHEMA_PACKAGE.is_file():
        raise SchemaToolMissing("node and grafana/schema/node_modules are needed: "
                                "npm ci --prefix grafana/schema")
    workdir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for i, (name, dash) in enumerate(dashboards.items()):
        ts = workdir / f"dashboard_{i}.ts"
        ts.write_text(typescript(dash), encoding="utf-8")
        files[ts.name] = name
    config = {"extends": str(SCHEMA_DIR / "tsconfig.json"), "files": sorted(files)}
    (workdir / "tsconfig.json").write_text(json.dumps(config), encoding="utf-8")
    done = subprocess.run([node, str(TSC), "-p", str(workdir / "tsconfig.json"), "--pretty",
                           "false"], capture_output=True, text=True, timeout=300, check=False)
    errors: dict[str, list[str]] = {name: [] for name in dashboards}
    unplaced = []
    for line in done.stdout.splitlines():
        m = _ERROR.match(line)
        if m and Path(m["file"]).name in files:
            errors[files[Path(m["file"]).name]].append(m["msg"])
        elif line.strip() and not line.startswith(" "):
            unplaced.append(line)
    if done.returncode not in (0, 2) or unplaced:
        # tsc itself failed (bad config, the schema package broken): not a dashboard's fault
        raise RuntimeError(f"tsc exit {done.returncode}: "
                           f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return errors
