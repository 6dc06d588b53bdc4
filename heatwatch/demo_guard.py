"""issue 20 item 7: no silent success on nonsense: a demo's numbers are checked, and a folder a
running demo holds is refused to a second one (an fcntl lock beside the folder)."""

from __future__ import annotations

import dataclasses
import fcntl
import math
import os
from pathlib import Path
from typing import IO

from heatwatch.errors import UserError
from simulators.scenario import Scenario, load_scenario


def check_demo_args(hours: float | None, speed: float | None) -> None:
    """Refuse negative or zero hours and a speed that is not positive, in one line."""
    if hours is not None and not (math.isfinite(hours) and hours > 0):
        raise UserError(f"--hours must be a positive number of district hours, not {hours:g}")
    if speed is not None and not (math.isfinite(speed) and speed > 0):
        raise UserError(f"--speed must be positive (district seconds per second), "
                        f"not {speed:g}")


def hold_demo_folder(data: Path) -> IO[str]:
    """Lock the demo's folder for this process (released when the returned file closes, or
    the process ends); a second demo on it is refused, never emptying it under the first."""
    data = data.resolve()
    data.parent.mkdir(parents=True, exist_ok=True)
    f = open(data.parent / f".{data.name}.demo-lock", "a+", encoding="utf-8")  # noqa: SIM115
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise UserError(f"{data} is in use by a running heatwatch demo (pid {holder}); "
                        "wait for it, or pass another folder with --data-dir") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def demo_scenario(name: str | None, hours: float | None, speed: float | None) -> Scenario:
    """The named scenario (default: demo), cut to `hours` and run at `speed` if given."""
    scenario = load_scenario(name or "demo")
    if hours is not None:
        scenario = dataclasses.replace(scenario, duration_s=min(scenario.duration_s,
                                                                hours * 3600))
    if speed is not None:
        scenario = dataclasses.replace(scenario, speed=speed)
    return scenario
