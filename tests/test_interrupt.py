"""Interrupted work loses nothing: kill -9 during prepare and train, then resume; a write that
fails for lack of space keeps the previous checkpoint."""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import SENTENCES, TINY_MODEL

TRAIN_ARGS = ["--steps", "300", "--batch-tokens", "96", "--lr", "3e-3", "--warmup", "5", "--save-every", "25",
              "--eval-every", "1000", "--eval-texts", "4", "--eval-cosine", "false", "--threads", "1",
              "--hidden", str(TINY_MODEL["hidden"]), "--layers", str(TINY_MODEL["layers"]),
              "--heads", str(TINY_MODEL["heads"]), "--prefix-tokens", str(TINY_MODEL["prefix_tokens"])]


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "unembed.cli", *map(str, args)]


def kill_when(process: subprocess.Popen, ready, timeout: float = 240) -> None:
    """SIGKILL the process as soon as ready() holds: no chance to clean up."""
    deadline = time.time() + timeout
    while not ready():
        assert process.poll() is None, "finished before it could be killed"
        assert time.time() < deadline, "never reached the point to kill at"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def training_records(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "loss" in r]
    assert len(steps) == len(set(steps)), "a step is logged twice"
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def checkpoint_step(run: Path) -> int:
    try:
        return json.loads((run / "last" / "train_state" / "state.json").read_text())["step"]
    except (OSError, ValueError):
        return 0


@pytest.mark.slow
def test_kill_9_during_training_then_resume_matches_an_uninterrupted_run(tiny_data, tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = subprocess.run(cli("train", "--data", tiny_data, "--out", straight, *TRAIN_ARGS),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-500:]
    process = subprocess.Popen(cli("train", "--data", tiny_data, "--out", killed, *TRAIN_ARGS),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    point = random.randint(25, 250)  # any point will do: the property holds for each
    kill_when(process, lambda: checkpoint_step(killed) >= point)
    at_kill = checkpoint_step(killed)
    assert point <= at_kill < 300, point
    resumed = subprocess.run(cli("train", "--data", tiny_data, "--out", killed, *TRAIN_ARGS),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-500:]
    assert f"at step {at_kill}" in resumed.stderr
    assert training_records(killed) == training_records(straight)  # the same loss curve, step for step
    a = load_file(str(straight / "last" / "train_state" / "weights.safetensors"))
    b = load_file(str(killed / "last" / "train_state" / "weights.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list(killed.glob(".last.tmp-*"))


@pytest.mark.slow
def test_kill_9_during_prepare_then_rerun_finishes_with_the_same_cache(tmp_path, encoder):
    corpus = tmp_path / "corpus.txt"
    base = SENTENCES.read_text().splitlines()
    corpus.write_text("\n".join(f"{s} (item {i})" for i in range(12) for s in base) + "\n")
    args = ["--tokenizer", "bpe:500", "--heldout", "16", "--shard-size", "32", "--max-len", "16"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert subprocess.run(cli("prepare", corpus, "--out", straight, *args), capture_output=True,
                          timeout=600).returncode == 0
    process = subprocess.Popen(cli("prepare", corpus, "--out", killed, *args),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = random.randint(1, 5)
    kill_when(process, lambda: len(list((killed / "train").glob("*.vectors.npy"))) >= shards)
    assert not (killed / "meta.json").exists()
    rerun = subprocess.run(cli("prepare", corpus, "--out", killed, *args), capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-500:]
    assert "resuming" in rerun.stderr
    for split in ("train", "heldout"):
        names = sorted(p.name for p in (straight / split).iterdir())
        assert names == sorted(p.name for p in (killed / split).iterdir())  # no partial files left
        for name in names:
            a, b = np.load(straight / split / name), np.load(killed / split / name)
            assert a.shape == b.shape and np.allclose(a, b, atol=1e-5), name


RUN_WITH_FILE_LIMIT = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from unembed.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_a_checkpoint_write_that_fails_for_space_keeps_the_previous_one(tiny_data, tmp_path):
    run = tmp_path / "run"
    args = ["--data", tiny_data, "--out", run, *TRAIN_ARGS]
    args[args.index("--steps") + 1] = "50"
    first = subprocess.run(cli("train", *args, "--stop-at", "25"), capture_output=True, timeout=600)
    assert first.returncode == 0 and checkpoint_step(run) == 25
    before = {p.relative_to(run): p.read_bytes() for p in (run / "last").rglob("*") if p.is_file()}
    limit = 64 * 1024  # bytes any one file may grow to: less than the weights need
    full = subprocess.run([sys.executable, "-c", RUN_WITH_FILE_LIMIT, str(limit), "train", *map(str, args)],
                          capture_output=True, text=True, timeout=600)
    assert full.returncode == 2, full.stderr[-2000:]
    last_line = full.stderr.strip().splitlines()[-1]
    # step 50 first evaluates, and writes best/ when it beats step 25, then the checkpoint: either
    # write is the one that fails, and says so in one line
    assert re.search(r"could not write (the checkpoint|best/) at step 50", last_line), last_line
    assert "intact" in last_line or "as they were" in last_line
    after = {p.relative_to(run): p.read_bytes() for p in (run / "last").rglob("*") if p.is_file()}
    assert after == before and not list(run.glob(".last.tmp-*"))
    resumed = subprocess.run(cli("train", *args), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0 and "at step 25" in resumed.stderr and checkpoint_step(run) == 50
    assert os.path.getsize(run / "last" / "model" / "model.safetensors") > limit


@pytest.mark.slow
def test_a_shard_write_that_fails_for_space_stops_cleanly_and_the_rerun_finishes(tmp_path, encoder):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(SENTENCES.read_text())
    args = ["prepare", corpus, "--out", tmp_path / "data", "--tokenizer", "bpe:500", "--heldout", "4",
            "--shard-size", "16", "--max-len", "16"]
    limit = 20 * 1024  # a shard of 16 vectors needs 24 KB
    full = subprocess.run([sys.executable, "-c", RUN_WITH_FILE_LIMIT, str(limit), *map(str, args)],
                          capture_output=True, text=True, timeout=600)
    assert full.returncode == 2, full.stderr[-400:]
    last_line = full.stderr.strip().splitlines()[-1]
    assert "could not write" in last_line and "rerun" in last_line and "Traceback" not in full.stderr
    assert not [p for p in (tmp_path / "data").rglob(".*") if p.is_file()]  # no partial files
    assert subprocess.run(cli(*args), capture_output=True, timeout=600).returncode == 0
    assert (tmp_path / "data" / "meta.json").is_file()
