import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import unembed
from unembed.model.config import ModelConfig
from unembed.data import load_split
from unembed.train import train
from unembed.train.batches import Batches, LengthBuckets
from conftest import TINY_MODEL, tiny_train_config


def test_a_tiny_model_learns_to_invert_what_it_was_trained_on(tiny_run, tiny_data):
    inverter = unembed.load(tiny_run / "last" / "model", device="cpu")
    texts = (tiny_data / "train.txt").read_text().splitlines()
    _, vectors = load_split(tiny_data, "train")
    recovered = inverter.invert(vectors, steps=8)
    exact = np.mean([r == t for r, t in zip(recovered, texts)])
    assert exact > 0.5, list(zip(recovered, texts))[:5]
    log = [json.loads(line) for line in (tiny_run / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < 0.5 * losses[0]
    assert all(r["rss_mb"] > 10 for r in log if "loss" in r)  # the process's memory, to see it grow
    evals = [r for r in log if "eval_token_accuracy" in r]
    assert evals and "eval_masked_acc" in evals[-1]
    assert (tiny_run / "best" / "model.safetensors").is_file()


def test_resume_is_exact(tmp_path, tiny_data):
    """20 steps straight == 10 steps, stop, resume to 20: same weights, bit for bit."""
    model_cfg = ModelConfig(**TINY_MODEL)
    straight = train(tiny_train_config(tiny_data, tmp_path / "a", steps=20), model_cfg)
    train(tiny_train_config(tiny_data, tmp_path / "b", steps=20, stop_at=10), model_cfg)
    state = json.loads((tmp_path / "b" / "last" / "train_state" / "state.json").read_text())
    assert state["step"] == 10
    resumed = train(tiny_train_config(tiny_data, tmp_path / "b", steps=20), model_cfg)
    a = load_file(str(straight / "last" / "train_state" / "weights.safetensors"))
    b = load_file(str(resumed / "last" / "train_state" / "weights.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ema_a = load_file(str(straight / "last" / "model" / "model.safetensors"))
    ema_b = load_file(str(resumed / "last" / "model" / "model.safetensors"))
    assert all(torch.allclose(ema_a[k], ema_b[k]) for k in ema_a)


def test_ranks_see_disjoint_data_and_epochs_cover_everything():
    seen = [[], []]
    for rank in (0, 1):
        b = Batches(100, 10, seed=0, rank=rank, world=2)
        for _ in range(5):
            seen[rank].extend(b.next().tolist())
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(100))


def test_length_buckets_hold_one_length_each_and_ranks_split_an_epoch():
    lengths = np.random.default_rng(0).integers(1, 33, size=500)
    seen = [[], []]
    for rank in (0, 1):
        b = LengthBuckets(lengths, batch_tokens=64, seed=0, rank=rank, world=2)
        for batch in b.epoch_batches(0)[rank::2]:
            assert len(set(lengths[batch])) == 1                       # no padding inside a batch
            assert len(batch) * lengths[batch][0] <= max(64, lengths[batch][0])
            seen[rank].extend(batch.tolist())
    assert not set(seen[0]) & set(seen[1])
    assert len(set(seen[0]) | set(seen[1])) > 0.9 * len(lengths)       # an epoch covers the data
    b = LengthBuckets(lengths, batch_tokens=64, seed=0)
    first = [b.next().tolist() for _ in range(3)]
    b2 = LengthBuckets(lengths, batch_tokens=64, seed=0)
    b2.epoch, b2.position = 0, 1                                       # a cursor resumes exactly
    assert [b2.next().tolist() for _ in range(2)] == first[1:]


def test_finetune_keeps_the_weights_that_do_best_on_held_out_pairs(tiny_run, tiny_data):
    from unembed.diffusion import get_schedule
    from unembed.train.finetune import finetune, held_out_loss
    inverter = unembed.load(tiny_run / "last" / "model", device="cpu")
    texts = (tiny_data / "train.txt").read_text().splitlines()[:40]
    _, vectors = load_split(tiny_data, "train")
    codes = torch.from_numpy(inverter.vocab.encode(texts, inverter.model.config.max_len))
    vectors = torch.from_numpy(np.asarray(vectors[:40]))
    schedule = get_schedule("linear")
    before = held_out_loss(inverter.model, codes, vectors, schedule)
    # a learning rate this large wrecks the model: the held-out check must reject every step
    wrecked = finetune(inverter, texts, vectors.numpy(), steps=10, lr=0.5, check_every=5,
                       validation=0.5, show_progress=False)
    assert held_out_loss(wrecked.model, codes, vectors, schedule) == pytest.approx(before, rel=1e-5)
    unchecked = finetune(inverter, texts, vectors.numpy(), steps=10, lr=0.5, validation=0.0,
                         show_progress=False)
    wrecked_loss = held_out_loss(unchecked.model, codes, vectors, schedule)
    assert not np.isfinite(wrecked_loss) or wrecked_loss > 2 * before  # NaN: wrecked beyond a number
    assert held_out_loss(inverter.model, codes, vectors, schedule) == before  # the original is untouched
