"""The production image prints: deploy/Dockerfile installs deploy/apt-packages.txt (Chromium,
Noto CJK), and with no container engine here the same list is checked installed on this Debian
machine (scripts/test installs it from the same file), then a dispute dossier is printed by
`heatwatch dispute --format pdf` as a clerk runs it in a container, and its fonts are read."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import have
from tests.test_dispute import build

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PACKAGES = ROOT / "deploy" / "apt-packages.txt"


def image_packages() -> list[str]:
    """The list as the Dockerfile's RUN reads it: text after # dropped, one package a line."""
    lines = (re.sub(r"#.*", "", ln).strip() for ln in PACKAGES.read_text().splitlines())
    return [ln for ln in lines if ln]


def test_the_dockerfile_and_scripts_test_install_the_same_list() -> None:
    docker = DOCKERFILE.read_text(encoding="utf-8")
    assert "COPY deploy/apt-packages.txt /tmp/apt-packages.txt" in docker
    assert re.search(r"sed -e 's/#\.\*//' /tmp/apt-packages\.txt \| xargs \\\s*\n\s*env "
                     r"DEBIAN_FRONTEND=noninteractive apt-get install -y", docker), docker
    # installed before pip, as root: the USER line comes after
    assert docker.index("apt-packages.txt") < docker.index("USER heatwatch")
    assert "deploy/apt-packages.txt" in (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    assert {"chromium", "fonts-noto-cjk"} <= set(image_packages())


@pytest.mark.parametrize("package", image_packages())
def test_the_image_packages_are_installed_here(package: str) -> None:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True,
                          text=True, check=False)
    assert done.stdout == "install ok installed", f"{package}: {done.stdout}{done.stderr}"


def font_names(pdf: Path) -> list[str]:
    """The embedded fonts' names. Chromium (Skia) embeds Noto CJK's CFF outlines as Type 3
    fonts, which pdffonts lists as [none]: their names are in their font descriptors."""
    return [m.decode() for m in re.findall(rb"/FontName\s*/([^\s/<>\[\]()]+)",
                                           pdf.read_bytes())]


def test_a_dossier_printed_as_in_the_container_embeds_noto_cjk(tmp_path: Path) -> None:
    if not have("chromium"):
        pytest.skip("chromium is not installed")
    built = build("sensor_open_185c_meter_fault_non_human", tmp_path / "data")
    toml = tmp_path / "heatwatch.toml"
    toml.write_text(f'[site]\ndata_dir = "{built.data_dir}"\n', encoding="utf-8")
    out = tmp_path / "dossier.pdf"
    # the container's PATH: Chromium found where Debian installs it, no HEATWATCH_CHROMIUM
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "heatwatch.cli", "dispute", "B02-0103",
                           "--season", "2024", "--format", "pdf", "--out", str(out),
                           "--config", str(toml)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    listing = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[2:]
    assert listing, "no fonts in the PDF"
    # columns: name type [type] encoding emb sub uni object ID; every font is embedded
    assert all(re.search(r"\s(yes)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+$", ln) for ln in listing)
    names = font_names(out)
    assert any(re.fullmatch(r"[A-Z]{6}\+NotoSansCJK[a-z]*-\w+", n) for n in names), names
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "东湖路2号楼" in text  # the CJK glyphs map back to the address
