"""Two CPU processes with the gloo backend, started by torchrun, as on a multi-GPU node."""
import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from unembed.data import load_split, read_meta
from conftest import SENTENCES


def torchrun(*args, timeout=600):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
           "-m", "unembed.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_two_process_prepare_and_train(tmp_path, encoder):
    prepared = tmp_path / "prepared"
    done = torchrun("prepare", SENTENCES, "--out", prepared, "--tokenizer", "bpe:600",
                    "--heldout", 8, "--shard-size", 8, "--max-len", 16)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[rank 1]" in done.stderr                # the second process embedded shards too
    texts = (prepared / "train.txt").read_text().splitlines()
    _, vectors = load_split(prepared, "train")
    assert read_meta(prepared)["shards"]["train"] == 7
    assert abs(vectors - encoder.encode(texts)).max() < 1e-5

    run = tmp_path / "run"
    done = torchrun("train", "--data", prepared, "--out", run, "--steps", 12, "--batch-tokens", 48,
                    "--hidden", 32, "--layers", 1, "--heads", 2, "--eval-every", 6, "--save-every", 6,
                    "--eval-texts", 4, "--eval-cosine", "false", "--warmup", 2)
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["world"] == 2
    state = json.loads((run / "last" / "train_state" / "state.json").read_text())
    assert state["step"] == 12 and state["world"] == 2
    weights = load_file(str(run / "last" / "train_state" / "weights.safetensors"))
    assert all(torch.isfinite(w).all() for w in weights.values())
