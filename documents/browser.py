"""HTML to PDF and PNG with headless Chromium (Debian's `chromium`): the page's own A4 CSS
decides the layout, so what is printed is what a person sees in the browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# a print must not hang a command; a cold start on a busy machine takes a few seconds
TIMEOUT_S = 120.0
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# headless, no network beyond the file, no profile left behind
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio")


class BrowserError(Exception):
    """No browser, or it could not print; one line."""


def find_browser() -> str | None:
    """The Chromium binary: $HEATWATCH_CHROMIUM, else the first one on PATH."""
    env = os.environ.get("HEATWATCH_CHROMIUM", "").strip()
    if env:
        return env if shutil.which(env) else None
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(html: str, out: Path, action: list[str]) -> None:
    browser = find_browser()
    if browser is None:
        raise BrowserError("no Chromium found (install Debian's chromium, or set "
                           "HEATWATCH_CHROMIUM)")
    out = out.resolve()
    with tempfile.TemporaryDirectory(prefix="heatwatch-print-") as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html, encoding="utf-8")
        target = Path(tmp) / ("out" + out.suffix)
        cmd = [browser, *_FLAGS, f"--user-data-dir={tmp}/profile",
               *[a.replace("{out}", str(target)) for a in action], page.as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S, check=False,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"{browser} did not finish within {TIMEOUT_S:g} s") from None
        except OSError as e:
            raise BrowserError(f"cannot run {browser}: {e.strerror or e}") from None
        if not target.exists() or target.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise BrowserError(f"{browser} wrote no {out.suffix[1:]} (exit {done.returncode}): "
                               f"{tail[0][:200]}")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(target), out)
        except OSError as e:
            raise BrowserError(f"cannot write {out}: {e.strerror or e}") from None


def print_pdf(html: str, out: Path) -> None:
    """The page as PDF (paper size and margins from its @page CSS, no browser header)."""
    _run(html, out, ["--no-pdf-header-footer", "--print-to-pdf={out}"])


def screenshot(html: str, out: Path, width_px: int = 1240, height_px: int = 1754) -> None:
    """The page as a PNG screenshot of the given viewport (default: A4 at 150 dpi)."""
    _run(html, out, [f"--window-size={width_px},{height_px}", "--screenshot={out}"])
