"""The printed measurement record (测温记录单, issue 22): `heatwatch measurements show ID --format
pdf` through the real CLI, a workflow file and Debian's Chromium; the PDF's text read back with
pdftotext and its first page rendered with pdftoppm (saved to $HEATWATCH_SHOTS to be looked
at). Signatures through the pluggable source: a drawing, a refusal with the note, a blank."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

from documents.measurement import Signature, render_html, render_pdf
from heatwatch.config import load_config
from heatwatch.measurement_sheet import sheet
from tests.test_dossier import need
from tests.test_measurements_cli import Cli
from workflow.unit import WorkflowDb

pytestmark = pytest.mark.services  # under CI=true a missing browser fails, never skips


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path, capsys)


def _shots() -> Path:
    out = Path(os.environ.get("HEATWATCH_SHOTS") or Path(tempfile.gettempdir()) / "hw-shots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _text(pdf: Path) -> str:
    need("pdftotext")
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          check=True, text=True).stdout


def _page1_png(pdf: Path, name: str) -> Path:
    stem = _shots() / name
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(stem)], check=True)
    return stem.with_suffix(".png")


def _png_size(png: Path) -> tuple[int, int]:
    w, h = struct.unpack(">II", png.read_bytes()[16:24])
    return w, h


def _stroke_png() -> bytes:
    """A small real PNG: a dark diagonal stroke on white (a finger's signature, roughly)."""
    w, h = 120, 40
    rows = b"".join(b"\x00" + b"".join(
        (b"\x10\x10\x10" if abs(y - x // 3) <= 1 else b"\xff\xff\xff") for x in range(w))
        for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_the_record_pdf_holds_readings_certificate_and_hash(cli: Cli, tmp_path: Path) -> None:
    need("chromium")
    rec = cli.measure("H40", "bedroom=15.5", "living=15.6")
    out = tmp_path / "record.pdf"
    code, said, err = cli("measurements", "show", rec["record_id"], "--format", "pdf",
                          "--out", str(out))
    assert code == 0, err
    assert str(out) in said
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True,
                          check=True).stdout
    assert "(A4)" in info and re.search(r"^Pages:\s+1$", info, re.M)  # one sheet
    text = _text(out)
    for want in ("测温记录单", rec["record_id"], "H40", "15.5", "15.6", "JD-2026-117",
                 "2027-06-30", "T-01", "不达标", "在规定测温时段内", "-4.0", "1.2 m"):
        assert want in text, want
    # the hash is printed whole; it may wrap, so compare without whitespace
    assert rec["hash"] in "".join(text.split())
    png = _page1_png(out, "measurement-record-M000001")
    w, h = _png_size(png)
    assert abs(w - 661) <= 1 and abs(h - 935) <= 1  # A4 at 80 dpi, portrait


def test_signatures_drawn_refused_and_blank(cli: Cli, tmp_path: Path) -> None:
    need("chromium")
    rec = cli.measure("H40", "bedroom=19.0", "living=19.2")
    db = WorkflowDb(load_config(str(cli.cfg)).workflow_path())
    try:
        def signed(record_id: str) -> list[Signature]:
            assert record_id == rec["record_id"]
            return [Signature("measurer", "wang", _stroke_png(), signed_at="2026-12-03 08:41"),
                    Signature("resident", refused=True, note="用户称室温已恢复，不愿签字",
                              signed_at="2026-12-03 08:42")]

        drawn = sheet(load_config(str(cli.cfg)), db, rec["record_id"], signed)
        blank = sheet(load_config(str(cli.cfg)), db, rec["record_id"])
    finally:
        db.close()
    html = render_html(drawn)
    assert 'src="data:image/png;base64,' in html and "用户拒绝签字" in html
    assert "用户称室温已恢复" in html and "签字时间：2026-12-03 08:41" in html
    assert "data:image" not in render_html(blank)
    assert render_html(blank).count('class="line"') == 4  # both parties sign on paper
    out = tmp_path / "signed.pdf"
    out.write_bytes(render_pdf(drawn))
    text = _text(out)
    assert "用户拒绝签字" in text and "达标" in text and "不达标" not in text
    _page1_png(out, "measurement-record-signed")


def test_a_correction_names_the_old_record_its_reason_and_approver(cli: Cli,
                                                                    tmp_path: Path) -> None:
    need("chromium")
    old = cli.measure("H40", "bedroom=15.5", "living=15.6")
    (new,) = cli.json("measurements", "correct", old["record_id"], "--reason", "读数抄错",
                      "--approved-by", "zhao", "--reading", "bedroom=16.5",
                      "--reading", "living=16.6")
    out = tmp_path / "new.pdf"
    assert cli("measurements", "show", new["record_id"], "--format", "pdf", "--out",
               str(out))[0] == 0
    text = _text(out)
    assert "\f" not in text.rstrip("\f")  # a correction still fits one sheet
    for want in ("更正", old["record_id"], "读数抄错", "zhao", "16.5", "原记录保留"):
        assert want in text, want
    superseded = tmp_path / "old.pdf"
    assert cli("measurements", "show", old["record_id"], "--format", "pdf", "--out",
               str(superseded))[0] == 0
    assert f"本记录已被 {new['record_id']} 更正" in _text(superseded)


def test_a_bad_id_or_path_is_one_line(cli: Cli, tmp_path: Path) -> None:
    rec = cli.measure("H40", "bedroom=15.5")
    code, _, err = cli("measurements", "show", "M999999", "--format", "pdf", "--out",
                       str(tmp_path / "x.pdf"))
    assert code == 2 and err.count("\n") == 1 and "M999999 not found" in err
    code, _, err = cli("measurements", "show", rec["record_id"], "--format", "pdf", "--out",
                       str(tmp_path / "no-such-folder" / "x.pdf"))
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err
    assert not (tmp_path / "x.pdf").exists()


def test_a_time_outside_the_window_and_a_late_report_are_marked(cli: Cli) -> None:
    at = "2026-12-03T12:00:00+08:00"
    args = cli.add_args("H40", "bedroom=18.2", at=at)
    args[args.index("--reported-at") + 1] = "2026-12-05T12:00:00+08:00"
    (rec,) = cli.json(*args)
    assert rec["outside_window"] and rec["late"]
    db = WorkflowDb(load_config(str(cli.cfg)).workflow_path())
    try:
        html = render_html(sheet(load_config(str(cli.cfg)), db, rec["record_id"]))
    finally:
        db.close()
    assert "不在规定测温时段内" in html and "超过规定上报时限" in html
    assert "07:00-10:00、15:00-20:00" in html  # the city's windows, from config
