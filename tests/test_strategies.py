"""Every decoding strategy on real (tiny) models: what each one promises about the order in
which it writes, re-masks and finishes, and what `refine` promises about encoder calls."""
import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from unembed.model.config import ModelConfig
from unembed.sampling.config import DecodeConfig
from unembed.model import ConditionalMDLM
from unembed.inverter import Inverter
from unembed.sampling import SAMPLERS
from unembed.text.vocabulary import MASK, PAD


class FakeVocab:
    def decode(self, codes):
        return " ".join(map(str, codes))


@pytest.fixture(scope="module")
def random_inverter():
    torch.manual_seed(0)
    model = ConditionalMDLM(ModelConfig(vocab_size=60, max_len=32, cond_dim=8, hidden=32, layers=1, heads=2))
    for p in model.length.parameters():  # spread the predicted lengths
        torch.nn.init.normal_(p, std=2.0)
    return Inverter(model, FakeVocab())


def decode_with_history(inverter, strategy, steps, **kw):
    vectors = torch.randn(12, 8, generator=torch.Generator().manual_seed(1))
    history = []
    codes = inverter.generate(vectors, DecodeConfig(steps=steps, strategy=strategy, **kw),
                              callback=lambda i, c, conf: history.append(c.clone()))
    return vectors, codes, history


@pytest.mark.parametrize("strategy", sorted(SAMPLERS))
@pytest.mark.parametrize("steps", [1, 3, 8, 32])
def test_every_strategy_decodes_every_position_at_the_predicted_length(random_inverter, strategy, steps):
    vectors, codes, history = decode_with_history(random_inverter, strategy, steps)
    lengths = random_inverter.lengths_for(vectors)
    assert codes.shape == (12, 32) and not (codes == MASK).any()
    assert torch.equal((codes != PAD).sum(dim=1), lengths)
    assert len(history) <= steps


def test_sequential_writes_left_to_right(random_inverter):
    _, _, history = decode_with_history(random_inverter, "sequential", 8)
    for codes in history:
        written = ((codes != MASK) & (codes != PAD)).int()
        assert torch.all(written[:, 1:] <= written[:, :-1])  # no gap before a written token


def test_remask_masks_low_confidence_tokens_again(random_inverter):
    # a random model is unsure of everything: every token is below the threshold
    _, codes, history = decode_with_history(random_inverter, "remask", 8, remask_threshold=0.9)
    again = sum(int(((before != MASK) & (after == MASK)).sum()) for before, after in zip(history, history[1:]))
    assert again > 0 and not (codes == MASK).any()
    _, _, plain = decode_with_history(random_inverter, "remask", 8, remask_threshold=0.0)
    assert all(not ((b != MASK) & (a == MASK)).any() for b, a in zip(plain, plain[1:]))


def test_two_stage_drafts_left_to_right_then_refines(random_inverter):
    _, codes, history = decode_with_history(random_inverter, "two-stage", 8)
    draft = history[3]  # after the 4 draft steps the draft is complete, then part is masked again
    assert (draft == MASK).any() and not (codes == MASK).any()
    first = ((history[0] != MASK) & (history[0] != PAD)).int()
    assert torch.all(first[:, 1:] <= first[:, :-1])


def test_euler_is_reproducible_by_seed_and_greedy_at_temperature_0(random_inverter):
    a = decode_with_history(random_inverter, "euler", 8, seed=3)[1]
    b = decode_with_history(random_inverter, "euler", 8, seed=3)[1]
    c = decode_with_history(random_inverter, "euler", 8, seed=4)[1]
    assert torch.equal(a, b) and not torch.equal(a, c)
    cold = decode_with_history(random_inverter, "euler", 8, temperature=0.0)[1]
    assert torch.equal(cold, decode_with_history(random_inverter, "euler", 8, temperature=0.0, seed=9)[1])


def test_refine_stays_within_its_budget_and_never_loses_cosine(tiny_run, tiny_data, encoder):
    import unembed
    inverter = unembed.load(tiny_run / "last" / "model", device="cpu")
    inverter._encoder = encoder
    texts = (tiny_data / "heldout.txt").read_text().splitlines()[:6]
    vectors = encoder.encode(texts)

    def cosine(reconstructions):
        again = encoder.encode(reconstructions)
        return (again * vectors).sum(1) / np.linalg.norm(again, axis=1) / np.linalg.norm(vectors, axis=1)

    greedy = inverter.invert(vectors, strategy="confidence")
    for budget in (4, 24):
        refined = inverter.invert_detailed(vectors, strategy="refine", encoder_budget=budget, candidates=4)
        calls = [r["encoder_calls"] for r in refined]
        assert all(1 <= c <= budget for c in calls), calls
        assert cosine([r["reconstruction"] for r in refined]).mean() >= cosine(greedy).mean() - 1e-3
    assert max(calls) > 4  # with 24 calls it ran refinement rounds beyond the first proposals


def test_refine_is_a_preset_of_correct_and_given_settings_win(random_inverter):
    from unembed.sampling import GUIDED
    from unembed.search.config import PRESETS
    assert set(GUIDED) == set(PRESETS)          # every search strategy is a preset of the one search
    refine = random_inverter.settings_with(strategy="refine", steer=2.0)
    assert refine.search.proposals == PRESETS["refine"]["proposals"] and refine.search.beam == 1
    assert refine.search.steer == 2.0            # a setting given on top of the preset wins
    assert random_inverter.settings_with(strategy="correct").search == random_inverter.search


@pytest.mark.slow
def test_cli_strategy_flags_and_encoder_calls(tiny_run, tiny_data):
    model = tiny_run / "last" / "model"
    text = (tiny_data / "heldout.txt").read_text().splitlines()[0]
    done = run_cli("invert", text, "--json", "--model", model, "--strategy", "refine", "--encoder-budget", 8)
    assert done.returncode == 0, done.stderr
    assert 1 <= json.loads(done.stdout)[0]["encoder_calls"] <= 8
    done = run_cli("eval", tiny_data / "heldout.txt", "--model", model, "-q", "--strategy", "two-stage")
    result = json.loads(done.stdout)
    assert result["strategy"] == "two-stage" and result["encoder_calls"] == 0
    assert {"name_recovery", "number_recovery"} <= set(result)
    for bad in (["--strategy", "beam"], ["--temperature", "-1"], ["--steps", "0"]):
        done = run_cli("invert", text, "--model", model, *bad)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.startswith("unembed: error:") and len(done.stderr.strip().splitlines()) == 1
