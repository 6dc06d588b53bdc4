"""issue 20 item 7: the demo refuses nonsense numbers and a folder a running demo holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from heatwatch.demo_guard import check_demo_args, hold_demo_folder
from heatwatch.errors import UserError


@pytest.mark.parametrize("argv", [["--hours", "-5"], ["--hours", "0"], ["--speed", "0"],
                                  ["--speed", "-1"]])
def test_nonsense_is_refused_in_one_line(tmp_path: Path, argv: list[str]) -> None:
    r = subprocess.run([str(Path(sys.executable).parent / "heatwatch"), "demo", "--data-dir",
                        str(tmp_path / "demo"), *argv], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "must be " in r.stderr
    assert not (tmp_path / "demo").exists()


def test_a_held_folder_is_refused_to_a_second_demo(tmp_path: Path) -> None:
    check_demo_args(1.0, 3600.0)
    first = hold_demo_folder(tmp_path / "demo")
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "workflow.sqlite").write_text("kept", encoding="utf-8")
    code = ("import sys; from heatwatch.demo_guard import hold_demo_folder; "
            f"hold_demo_folder(__import__('pathlib').Path({str(tmp_path / 'demo')!r}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "in use by a running heatwatch demo" in r.stderr
    assert (tmp_path / "demo" / "workflow.sqlite").read_text(encoding="utf-8") == "kept"
    first.close()
    hold_demo_folder(tmp_path / "demo").close()  # free again once the first has ended
    with pytest.raises(UserError):
        check_demo_args(-5, None)
