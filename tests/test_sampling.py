import pytest
import torch

from unembed.model.config import ModelConfig
from unembed.sampling.config import DecodeConfig
from unembed.model import ConditionalMDLM
from unembed.inverter import Inverter
from unembed.sampling import ConfidenceSampler
from unembed.text.vocabulary import MASK, PAD, UNK


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
@pytest.mark.parametrize("steps", [1, 2, 3, 5, 7, 8, 13, 31, 32])
def test_plan_reveals_every_position_by_the_last_step(steps, schedule):
    s = ConfidenceSampler(reveal_schedule=schedule)
    s.set_timesteps(steps, 32)
    plan = [32] + s.masked_after.tolist()
    assert len(s.masked_after) == steps and plan[-1] == 0
    assert all(a > b for a, b in zip(plan, plan[1:])), plan  # at least one reveal per step


@pytest.mark.parametrize("steps", [0, 33])
def test_steps_outside_1_to_length_are_refused(steps):
    with pytest.raises(ValueError):
        ConfidenceSampler().set_timesteps(steps, 32)


class FakeVocab:
    def decode(self, codes):
        return " ".join(map(str, codes))


@pytest.mark.parametrize("steps", [1, 3, 7, 32])
def test_decoding_leaves_no_position_masked(steps):
    torch.manual_seed(0)
    model = ConditionalMDLM(ModelConfig(vocab_size=40, max_len=32, cond_dim=8, hidden=32, layers=1, heads=2,
                                        length_head=False))
    seen = []
    codes = Inverter(model, FakeVocab()).generate(torch.randn(5, 8), DecodeConfig(steps=steps),
                                                  callback=lambda i, c, _: seen.append((c == MASK).sum().item()))
    assert (codes != MASK).all()
    assert len(seen) == steps and seen[-1] == 0 and all(a > b for a, b in zip(seen, seen[1:]))


@pytest.mark.parametrize("sampling", [DecodeConfig(steps=4), DecodeConfig(steps=4, strategy="euler", temperature=1.0)])
def test_decoding_never_writes_unk_even_where_the_model_prefers_it(sampling):
    torch.manual_seed(0)
    model = ConditionalMDLM(ModelConfig(vocab_size=40, max_len=16, cond_dim=8, hidden=32, layers=1, heads=2,
                                        length_head=False))
    with torch.no_grad():
        model.out_bias[UNK] = 50.0                 # [UNK] would win every position
        assert (model.out_bias.argmax() == UNK).item()
    codes = Inverter(model, FakeVocab()).generate(torch.randn(6, 8), sampling)
    assert (codes != MASK).all() and not (codes == UNK).any()
    assert (codes >= 3).sum() > 0                  # real pieces were written instead


@pytest.mark.parametrize("steps", [1, 4, 8, 32])
def test_a_length_head_decodes_exactly_the_predicted_number_of_tokens(steps):
    torch.manual_seed(0)
    model = ConditionalMDLM(ModelConfig(vocab_size=40, max_len=32, cond_dim=8, hidden=32, layers=1, heads=2))
    for p in model.length.parameters():  # spread the predicted lengths
        torch.nn.init.normal_(p, std=2.0)
    vectors = torch.randn(16, 8)
    lengths = model.predict_length(vectors).argmax(-1) + 1
    assert len(set(lengths.tolist())) > 2
    calls = []
    codes = Inverter(model, FakeVocab()).generate(vectors, DecodeConfig(steps=steps),
                                                  callback=lambda i, c, _: calls.append(i))
    assert codes.shape == (16, 32) and (codes != MASK).all()
    assert torch.equal((codes != PAD).sum(dim=1), lengths)            # text first, then padding
    assert torch.equal(codes[:, 0] != PAD, torch.ones(16, dtype=torch.bool))
    assert len(calls) == min(steps, int(lengths.max()))


def test_repetition_penalty_lowers_only_tokens_already_written():
    s = ConfidenceSampler(repetition_penalty=2.0)
    codes = torch.tensor([[5, 5, MASK, 0], [MASK, 6, 7, MASK]])
    out = s.penalise_repeats(torch.zeros(3, 10), codes)   # logits at the 3 masked positions
    assert out[0, 5] == -4.0 and out[0, 0] == 0.0 and out[0, 6] == 0.0
    assert out[1, 6] == out[2, 6] == -2.0 and out[1, 5] == 0.0


def test_one_step_does_not_commit_the_same_word_twice_while_others_wait():
    s = ConfidenceSampler(repetition_penalty=1.0, reveal_schedule="linear")
    s.set_timesteps(2, 4)                                      # reveal 2 of 4 positions now
    logits = torch.full((4, 10), -10.0)                        # every position masked
    logits[0, 7] = logits[1, 7] = 9.0                          # two positions want token 7
    logits[2, 5] = 5.0
    logits[3, 0] = 4.0
    codes = s.step(0, logits.clone(), torch.full((1, 4), MASK))      # a step uses its logits up
    assert codes[0].tolist().count(7) == 1 and 5 in codes[0].tolist()
    plain = ConfidenceSampler(reveal_schedule="linear")
    plain.set_timesteps(2, 4)
    assert plain.step(0, logits, torch.full((1, 4), MASK))[0].tolist().count(7) == 2


def test_confidence_is_the_softmax_probability_of_the_chosen_token():
    s = ConfidenceSampler(repetition_penalty=1.5)
    codes = torch.tensor([[4, MASK, MASK], [MASK, 9, PAD]])
    logits = torch.randn(3, 12, generator=torch.Generator().manual_seed(0)) * 3
    logits[:, MASK] = float("-inf")
    expected = s.penalise_repeats(logits.clone(), codes).softmax(dim=-1)   # (3, V)
    best, confidence = s.best_tokens(logits.clone(), codes)
    masked = codes == MASK
    assert torch.equal(best[masked], expected.argmax(dim=-1))
    assert torch.allclose(confidence[masked], expected.max(dim=-1).values, atol=1e-6)
    assert (confidence[~masked] == 0).all()
