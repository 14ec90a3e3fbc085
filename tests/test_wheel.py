"""An installed copy carries every shipped part: the wheel is built, installed outside the
source tree, and the correct strategy (its corrector) and gemma (its script gate) run from it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import DATA

pytestmark = pytest.mark.slow  # building and installing a wheel of ~110 MB: ~1 min
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """-> (the wheel, the folder it is installed into)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out / "dist"), str(ROOT)], check=True, capture_output=True)
    wheel = next((out / "dist").glob("unembed-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(out / "site"),
                    str(wheel)], check=True, capture_output=True)
    return wheel, out / "site"


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Python with the installed copy first on its path, away from the source tree."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_the_wheel_holds_every_checkpoint_file(installed):
    wheel, _ = installed
    src = ROOT / "src"
    shipped = [p.relative_to(src).as_posix() for p in (src / "unembed" / "checkpoints").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts]
    assert len(shipped) > 20                      # en, its corrector, multilingual, gemma and its gate
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in shipped if f not in names]
    assert not missing


def test_the_installed_copy_corrects_with_its_corrector_and_loads_gemma_with_its_gate(installed, tmp_path):
    _, site = installed
    where = run_installed(site, tmp_path, "-c", "import unembed; print(unembed.__file__)")
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr   # not the source tree
    done = run_installed(site, tmp_path, "-m", "unembed.cli", "invert", "The cat sat on the warm kitchen floor.",
                         "--strategy", "correct", "--encoder-budget", "4", "--json", "-q")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)[0]
    assert result["reconstruction"].strip() and 1 < result["encoder_calls"] <= 4   # the corrector's rewrites
    script = ("import numpy as np, unembed\n"
              "inverter = unembed.load('gemma', device='cpu')\n"
              "assert inverter.gate is not None and inverter.gate.scripts\n"
              f"texts = inverter.invert(np.load({str(DATA / 'gemma-heldout.npy')!r})[:2])\n"
              "assert all(t.strip() for t in texts), texts\nprint(len(inverter.gate.scripts))\n")
    gemma = run_installed(site, tmp_path, "-c", script)
    assert gemma.returncode == 0 and int(gemma.stdout.strip()) > 1, gemma.stderr[-2000:]
