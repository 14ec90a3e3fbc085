"""bfloat16 matrix products (decoding and training) and warm starts from a trained inverter."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import unembed
from unembed.model.config import ModelConfig
from unembed.data import load_split
from unembed.errors import UnembedError
from unembed.runtime.precision import cpu_has_bfloat16, resolve_precision
from unembed.train import train
from conftest import TINY_MODEL, run_cli, tiny_train_config


def test_auto_precision_follows_the_hardware_and_bad_names_are_refused():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bfloat16" if cpu_has_bfloat16() else "float32")
    assert resolve_precision("float32", cpu) == "float32"
    assert resolve_precision("bfloat16", cpu) == "bfloat16"
    with pytest.raises(UnembedError, match="precision must be one of"):
        resolve_precision("fp8", cpu)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_decoding_runs_its_products_in_the_asked_precision_and_still_inverts(tiny_run, tiny_data, precision):
    inverter = unembed.load(tiny_run / "last" / "model", device="cpu", precision=precision)
    seen = set()
    hook = inverter.model.blocks[0].mlp.fc.register_forward_hook(lambda m, i, o: seen.add(o.dtype))
    texts = (tiny_data / "train.txt").read_text().splitlines()
    _, vectors = load_split(tiny_data, "train")
    recovered = inverter.invert(vectors, steps=8)
    hook.remove()
    assert seen == {getattr(torch, precision)}
    assert np.mean([r == t for r, t in zip(recovered, texts)]) > 0.5


def test_bfloat16_and_float32_decoding_mostly_agree(tiny_run, tiny_data):
    _, vectors = load_split(tiny_data, "train")
    out = {p: unembed.load(tiny_run / "last" / "model", device="cpu", precision=p).invert(vectors, steps=8)
           for p in ("float32", "bfloat16")}
    assert np.mean([a == b for a, b in zip(out["float32"], out["bfloat16"])]) > 0.8


def test_training_in_bfloat16_learns(tmp_path, tiny_data):
    run = train(tiny_train_config(tiny_data, tmp_path / "bf16", steps=150, precision="bfloat16"),
                ModelConfig(**TINY_MODEL))
    losses = [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert np.isfinite(losses).all() and losses[-1] < 0.6 * losses[0]


def test_a_warm_start_continues_from_the_given_model(tmp_path, tiny_run, tiny_data):
    """A near-zero learning rate keeps the given weights, whatever model shape is asked for:
    the architecture is the warm start's, and the run evaluates as the given model did."""
    start = tiny_run / "last" / "model"
    run = train(tiny_train_config(tiny_data, tmp_path / "warm", steps=4, lr=1e-9, warmup=1, eval_every=4,
                                  eval_texts=8, warm_start=str(start)),
                ModelConfig(hidden=32, layers=1, heads=2))
    given = load_file(str(start / "model.safetensors"))
    now = load_file(str(run / "last" / "train_state" / "weights.safetensors"))
    assert now.keys() == given.keys()
    assert all(torch.allclose(now[k], given[k].float(), atol=1e-5) for k in given)
    before = [r for r in map(json.loads, (tiny_run / "log.jsonl").read_text().splitlines())
              if "eval_token_accuracy" in r][-1]["eval_token_accuracy"]
    after = [r for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())
             if "eval_token_accuracy" in r][-1]["eval_token_accuracy"]
    assert abs(after - before) < 0.05


def test_a_deepened_warm_start_begins_as_the_model_it_continues_and_then_uses_its_new_blocks(tmp_path, tiny_run,
                                                                                            tiny_data):
    """--deepen repeats each block with its copy's gates at zero: the deeper model decodes as the
    given one did, and training moves the copies' gates off zero."""
    start = tiny_run / "last" / "model"
    given = unembed.load(start, device="cpu")
    layers = given.model.config.layers
    run = train(tiny_train_config(tiny_data, tmp_path / "deep", steps=1, lr=1e-9, warmup=1, save_every=1,
                                  warm_start=str(start), deepen=2 * layers))
    deep = unembed.load(run / "last" / "model", device="cpu")
    assert deep.model.config.layers == 2 * layers
    _, vectors = load_split(tiny_data, "train")
    assert deep.invert(vectors, steps=8) == given.invert(vectors, steps=8)

    trained = train(tiny_train_config(tiny_data, tmp_path / "deep-trained", steps=30, warm_start=str(start),
                                      deepen=2 * layers))
    state = load_file(str(trained / "last" / "train_state" / "weights.safetensors"))
    C = given.model.config.hidden
    gates = state["blocks.1.ada.1.weight"][2 * C:3 * C]           # the first copy's attention gate
    assert gates.abs().max() > 0


@pytest.mark.parametrize("flags, message", [(["--deepen", "4"], "give --warm-start"),
                                            (["--deepen", "3", "--warm-start", "MODEL"], "multiple of")])
def test_a_deepening_that_cannot_be_done_is_one_line_and_writes_nothing(tmp_path, tiny_run, tiny_data,
                                                                        flags, message):
    out = tmp_path / "run"
    flags = [str(tiny_run / "last" / "model") if f == "MODEL" else f for f in flags]
    result = run_cli("train", "--data", tiny_data, "--out", out, "--steps", "2", *flags)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_a_warm_start_with_another_vocabulary_is_one_line_and_writes_nothing(tmp_path, tiny_data):
    out = tmp_path / "run"
    result = run_cli("train", "--data", tiny_data, "--out", out, "--warm-start", "en", "--steps", "2")
    assert result.returncode == 2
    assert "vocabulary differs" in result.stderr and result.stderr.count("unembed: error") == 1
    assert not out.exists()


def test_training_with_an_unknown_precision_is_one_line_and_writes_nothing(tmp_path, tiny_data):
    out = tmp_path / "run"
    result = run_cli("train", "--data", tiny_data, "--out", out, "--precision", "fp8", "--steps", "2")
    assert result.returncode == 2 and "precision must be one of" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
