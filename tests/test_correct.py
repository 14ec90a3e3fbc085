"""The corrector and the `correct` strategy on a tiny trained model and the real encoder: its
training data, that it repairs hypotheses it was trained on, the encoder budget, an encoder
given as a plain function, the streamed rounds, and bad input."""
import json

import numpy as np
import pytest
import torch

from conftest import TINY_MODEL, run_cli, tiny_train_config
from unembed.corrector.config import CorrectionsConfig
from unembed.model.config import ModelConfig
from unembed.errors import UnembedError
from unembed.eval.metrics import token_accuracy
from unembed.text.vocabulary import PAD


@pytest.fixture(scope="module")
def tiny_inverter(tiny_run, encoder):
    import unembed
    inverter = unembed.load(tiny_run / "last" / "model", device="cpu", precision="float32")
    inverter._encoder = encoder
    return inverter


@pytest.fixture(scope="module")
def tiny_corrections(tmp_path_factory, tiny_data, tiny_inverter, encoder):
    from unembed.corrector.data import make_corrections
    out = tmp_path_factory.mktemp("corrections") / "tiny"
    cfg = CorrectionsConfig(texts=0, heldout=4, sampled=1, corrupted=6, shard_size=16, batch_size=64)
    return make_corrections(tiny_data, tiny_inverter, out, cfg, encoder=encoder, show_progress=False)


@pytest.fixture(scope="module")
def tiny_corrector(tmp_path_factory, tiny_corrections, tiny_run):
    from unembed.train import train
    out = tmp_path_factory.mktemp("runs") / "corrector"
    train(tiny_train_config(tiny_corrections, out, steps=300, warm_start=str(tiny_run / "last" / "model")),
          ModelConfig(**TINY_MODEL))
    return out / "last" / "model"


@pytest.fixture(scope="module")
def correcting(tiny_run, tiny_corrector, encoder):
    import unembed
    inverter = unembed.load(tiny_run / "last" / "model", device="cpu", precision="float32",
                            corrector=tiny_corrector)
    inverter._encoder = encoder
    return inverter


def test_corrections_hold_every_kind_of_hypothesis_with_its_embedding(tiny_corrections, tiny_data, encoder):
    from unembed.corrector.data import KINDS, corrupt, load_corrections
    d = load_corrections(tiny_corrections, "train")
    n_texts = len((tiny_data / "train.txt").read_text().splitlines())
    assert len(d["refs"]) == n_texts and len(d["hyps"]) == n_texts * (1 + 1 + 6)
    assert set(d["kinds"].tolist()) == {KINDS.index(k) for k in ("greedy", "sampled", "corrupted")}
    from unembed.text.vocabulary import Vocabulary
    vocab = Vocabulary.load(tiny_corrections)
    some = np.flatnonzero(d["kinds"] == KINDS.index("corrupted"))[:5]
    again = encoder.encode([vocab.decode(h) for h in d["hyps"][some]])
    assert np.allclose(again, d["hyp_vectors"][some], atol=2e-3)   # stored as float16
    assert any(not np.array_equal(d["hyps"][i], d["refs"][d["source"][i]]) for i in some)
    rng = np.random.default_rng(0)
    unigram = np.full(10, 0.1)
    assert corrupt([5, 6, 7], 0.0, unigram, rng, 16) == [5, 6, 7]
    assert len(corrupt(list(range(16)), 1.0, unigram, rng, 16)) <= 16


def test_searched_hypotheses_are_what_the_search_embeds_and_mix_into_a_correctors_data(
        tmp_path, tiny_data, tiny_inverter, tiny_corrections, correcting, encoder):
    from unembed.corrector.data import KINDS, load_corrections, make_corrections
    from unembed.train.examples import Examples
    from unembed.text.vocabulary import Vocabulary
    cfg = CorrectionsConfig(texts=8, heldout=2, sampled=0, corrupted=0, searched=6, shard_size=16, batch_size=64)
    with pytest.raises(UnembedError, match="no corrector"):       # the search needs one: said before any work
        make_corrections(tiny_data, tiny_inverter, tmp_path / "none", cfg, encoder=encoder, show_progress=False)
    assert not (tmp_path / "none").exists()
    folder = make_corrections(tiny_data, correcting, tmp_path / "searched", cfg, encoder=encoder,
                              show_progress=False)
    d = load_corrections(folder, "train")
    searched = d["kinds"] == KINDS.index("searched")
    assert (d["kinds"] == KINDS.index("greedy")).sum() == 8 and searched.sum() > 8
    assert np.bincount(d["source"][searched], minlength=8).max() <= 6           # the budget per text
    pairs = {(s, tuple(h)) for s, h in zip(d["source"], d["hyps"])}
    assert len(pairs) == len(d["hyps"])          # no text twice for one reference, greedy decode included
    vocab = Vocabulary.load(folder)
    some = np.flatnonzero(searched)[:6]
    again = encoder.encode([vocab.decode(h[h != PAD]) for h in d["hyps"][some]])
    again /= np.linalg.norm(again, axis=1, keepdims=True)
    assert np.allclose(again, d["hyp_vectors"][some], atol=2e-3)  # the search's own embeddings, kept
    # --mix joins corrections folders: both folders' hypotheses, each with its reference
    base = Examples.load(tiny_corrections, "train", vocab)
    joined = base.joined(Examples.load(folder, "train", vocab), repeats=2)
    assert len(joined) == len(base) + 2 * len(d["hyps"]) and joined.corrects
    assert torch.equal(joined.hypotheses[-len(d["hyps"]):], torch.from_numpy(d["hyps"]))
    assert torch.equal(joined.codes[-len(d["hyps"]):], torch.from_numpy(d["refs"][d["source"]]))
    with pytest.raises(UnembedError, match="--mix joins"):
        base.joined(Examples.load(tiny_data, "train", vocab))


def test_the_corrector_repairs_corrupted_hypotheses_it_was_trained_on(tiny_corrections, correcting):
    from unembed.corrector.data import load_corrections
    d = load_corrections(tiny_corrections, "train", kinds=("corrupted",))
    rows = np.arange(min(48, len(d["hyps"])))
    refs = d["refs"][d["source"][rows]]
    corrector = correcting.corrector
    lengths = torch.from_numpy((refs != PAD).sum(axis=1))
    codes = corrector.generate(torch.from_numpy(d["targets"][d["source"][rows]]),
                               corrector.settings_with(strategy="confidence").decoding, lengths=lengths,
                               hypothesis=torch.from_numpy(d["hyps"][rows]),
                               hypothesis_vectors=torch.from_numpy(d["hyp_vectors"][rows])).numpy()
    before = np.mean([token_accuracy(r[r != PAD].tolist(), h[h != PAD].tolist()) for r, h in zip(refs, d["hyps"][rows])])
    after = np.mean([token_accuracy(r[r != PAD].tolist(), c[c != PAD].tolist()) for r, c in zip(refs, codes)])
    assert before < 0.9 and after > 0.95, (before, after)


def test_correct_stays_within_its_budget_and_never_loses_cosine(correcting, tiny_data, encoder):
    texts = (tiny_data / "heldout.txt").read_text().splitlines()[:6]
    vectors = encoder.encode(texts)

    def cosine(reconstructions):
        again = encoder.encode(reconstructions)
        return (again * vectors).sum(1) / np.linalg.norm(again, axis=1) / np.linalg.norm(vectors, axis=1)

    greedy = cosine(correcting.invert(vectors, strategy="confidence"))
    most = 0
    for budget in (1, 3, 12):
        rounds = []
        done = correcting.invert_detailed(vectors, strategy="correct", encoder_budget=budget, candidates=3,
                                          round_callback=lambda *a: rounds.append(a))
        calls = [r["encoder_calls"] for r in done]
        assert all(1 <= c <= budget for c in calls), calls
        assert np.all(cosine([r["reconstruction"] for r in done]) >= greedy - 1e-4)
        assert rounds[0][0] == 0 and rounds[-1][3] == calls   # every round reported, calls included
        assert all(np.all(np.diff([r[2][b] for r in rounds]) >= 0) for b in range(len(texts)))
        most = max(most, max(calls))
    assert most > 3  # a larger budget ran correction rounds


def test_an_edit_masks_the_least_confident_tokens_and_a_rewrite_can_change_the_length(correcting):
    from unembed.text.codes import MASK
    from unembed.search.correct import Correction
    from unembed.search.population import Candidate
    from unembed.search.proposals import ProposalSpec, propose
    settings = correcting.settings_with(strategy="correct")
    correction = Correction(correcting, settings.decoding, settings.search, None, corrector=correcting.corrector)
    tokens = [10, 11, 12, 13, 14, 15]
    member = Candidate("x", tokens, 0.5, np.zeros(4), [0.99, 1e-4, 0.99, 0.99, 1e-4, 0.99])
    edit = propose(correction, 0, member, ProposalSpec("edit", 0.3), greedy=True)
    assert edit.canvas == [10, MASK, 12, 13, MASK, 15]       # the two unsure tokens, the rest kept
    assert edit.confidence == [0.99, 0.0, 0.99, 0.99, 0.0, 0.99] and edit.hypothesis is member
    for shift in (1, -1):
        rewrite = propose(correction, 0, member, ProposalSpec("rewrite", shift), greedy=False)
        assert rewrite.canvas == [MASK] * (len(tokens) + shift) and not rewrite.greedy


def test_a_steer_is_the_base_models_fill_of_the_hypothesis_pushed_from_where_it_landed(correcting, tiny_data,
                                                                                      encoder):
    from dataclasses import replace
    from unembed.text.codes import MASK
    from unembed.sampling import make_sampler
    from unembed.search.correct import Correction
    from unembed.search.population import Candidate, pad_rows
    from unembed.search.proposals import ProposalSpec, fill_by_base, propose
    texts = (tiny_data / "heldout.txt").read_text().splitlines()[:2]
    vectors = torch.from_numpy(encoder.encode(texts))
    settings = correcting.settings_with(strategy="correct")
    correction = Correction(correcting, settings.decoding, settings.search, encoder, corrector=correcting.corrector)
    _, codes, confidence = correction.first_guesses(vectors[:1])
    tokens = codes[0][codes[0] != PAD].tolist()
    target = torch.nn.functional.normalize(vectors[0], dim=0).numpy()
    elsewhere = torch.nn.functional.normalize(vectors[1], dim=0).numpy()
    steers = [propose(correction, 0, Candidate("x", tokens, 0.5, landed, confidence[0, :len(tokens)].tolist()),
                      ProposalSpec("steer", 0.5), greedy=True) for landed in (target, elsewhere)]
    assert all(s.writer == "base" for s in steers) and steers[0].canvas.count(MASK) == round(len(tokens) * 0.5)
    filled, _ = fill_by_base(correction, vectors, steers, greedy=True, seed=3)
    for row, steer in zip(filled.tolist(), steers):          # kept tokens stay, every mask is written
        assert all(r == c if c != MASK else r != MASK for r, c in zip(row, steer.canvas))
    # landed on the target, nothing pushes: the base model's plain fill at the target
    plain = correcting.denoise(vectors[:1], pad_rows([steers[0].canvas]),
                               make_sampler(replace(settings.decoding, strategy="confidence", seed=3)), settings.decoding.steps)
    assert torch.equal(filled[:1, :plain.shape[1]], plain)


def test_greedy_proposals_are_made_once_per_beam_then_sampled(correcting, tiny_data, encoder):
    from unembed.search.correct import Correction
    from unembed.search.population import Population
    texts = (tiny_data / "heldout.txt").read_text().splitlines()[:2]
    vectors = torch.from_numpy(encoder.encode(texts))
    settings = correcting.settings_with(strategy="correct", encoder_budget=20, candidates=4)
    correction = Correction(correcting, settings.decoding, settings.search, encoder, corrector=correcting.corrector)
    correction.rewritten = [None, None]
    population = Population(encoder, vectors.numpy(), 20, correcting.vocab, vectors.shape[1])
    population.add(*correction.first_guesses(vectors))
    first = correction.plan(population, [0, 1], [0, 0])
    assert len(first) == 8 and all(p.greedy for p in first)
    again = correction.plan(population, [0, 1], [0, 0])       # the same beams: greedy would repeat
    assert len(again) == 8 and not any(p.greedy for p in again)
    assert [p.vector for p in correction.plan(population, [1], [0, 0])] == [1] * 4   # only active vectors


def test_the_proposals_setting_decides_what_each_round_proposes(correcting, tiny_inverter, tiny_data, encoder):
    from unembed.text.codes import MASK
    from unembed.search.correct import Correction
    from unembed.search.population import Population
    texts = (tiny_data / "heldout.txt").read_text().splitlines()[:2]
    vectors = torch.from_numpy(encoder.encode(texts))
    plans = {}
    for spec in ("steer:0.5", "rewrite:1,edit:0.3"):
        settings = correcting.settings_with(strategy="correct", encoder_budget=20, candidates=4, proposals=spec)
        correction = Correction(correcting, settings.decoding, settings.search, encoder, corrector=correcting.corrector)
        correction.rewritten = [None, None]
        population = Population(encoder, vectors.numpy(), 20, correcting.vocab, vectors.shape[1])
        population.add(*correction.first_guesses(vectors))
        plans[spec] = correction.plan(population, [0], [0, 0])

    def masked(p, share):
        return p.canvas.count(MASK) == max(1, round(len(p.hypothesis.codes) * share))
    assert len(plans["steer:0.5"]) == 4 and all(p.writer == "base" and masked(p, 0.5) for p in plans["steer:0.5"])
    rewrites, edits = plans["rewrite:1,edit:0.3"][:2], plans["rewrite:1,edit:0.3"][2:]   # beam of 2, in turn
    longer = min(correcting.model.config.max_len, len(rewrites[0].hypothesis.codes) + 1)
    assert rewrites[0].writer == "corrector" and rewrites[0].canvas == [MASK] * longer
    assert all(p.writer == "corrector" and masked(p, 0.3) and len(p.canvas) == len(p.hypothesis.codes) for p in edits)
    with pytest.raises(UnembedError, match="no corrector"):
        tiny_inverter.invert(vectors.numpy(), strategy="correct", encoder_budget=6)
    steered = tiny_inverter.invert_detailed(vectors.numpy(), strategy="correct", encoder_budget=6,
                                            proposals="steer:0.3,steer:0.5")   # the base model alone
    assert all(0 < r["encoder_calls"] <= 6 for r in steered)
    for bad in ("edit:1.5", "shuffle:0.3", "rewrite:0.5"):
        with pytest.raises(UnembedError, match="proposals"):
            correcting.invert(vectors.numpy(), strategy="correct", encoder_budget=6, proposals=bad)


def test_an_encoder_given_as_a_function_is_called_within_the_budget(correcting, tiny_data, encoder):
    texts = (tiny_data / "heldout.txt").read_text().splitlines()[:3]
    vectors = encoder.encode(texts)
    seen = []

    def embed(batch):
        seen.extend(batch)
        return encoder.encode(batch)

    given = correcting.invert_detailed(vectors, strategy="correct", encoder_budget=5, encoder=embed)
    default = correcting.invert_detailed(vectors, strategy="correct", encoder_budget=5)
    assert [g["reconstruction"] for g in given] == [d["reconstruction"] for d in default]
    assert len(seen) == sum(g["encoder_calls"] for g in given) <= 15
    with pytest.raises(UnembedError, match="384-d"):
        correcting.invert(vectors, strategy="correct", encoder_budget=5, encoder=lambda b: encoder.encode(b)[:, :10])
    for budget in (0, -3):
        with pytest.raises(UnembedError, match="budget"):
            correcting.invert(vectors, strategy="correct", encoder_budget=budget)
    with pytest.raises(UnembedError, match="round_callback"):  # not dropped silently
        correcting.invert(vectors, strategy="refine", encoder_budget=5, callback=lambda *a: None)


def test_the_stream_shows_each_round_with_its_cosine(correcting, tiny_data, encoder):
    from unembed.server.stream import start_decoding
    text = (tiny_data / "heldout.txt").read_text().splitlines()[0]
    vector = encoder.encode([text])
    settings = correcting.settings_with(strategy="correct", encoder_budget=7, candidates=3)
    events = list(start_decoding(correcting, vector, settings, reference=text))
    kinds = [e for e, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "step" not in kinds
    rounds = [d for e, d in events if e == "round"]
    assert [r["round"] for r in rounds] == list(range(len(rounds))) and len(rounds) >= 2
    assert rounds[-1]["encoder_calls"] == events[-1][1]["encoder_calls"] <= 7
    assert abs(events[-1][1]["cosine"] - rounds[-1]["cosine"]) < 1e-3


@pytest.mark.slow
def test_cli_correct_and_its_bad_input(tiny_run, tiny_corrector, tiny_data):
    model = tiny_run / "last" / "model"
    text = (tiny_data / "heldout.txt").read_text().splitlines()[0]
    done = run_cli("eval", tiny_data / "heldout.txt", "--model", model, "--corrector", tiny_corrector, "-q",
                   "--strategy", "correct", "--encoder-budget", 4)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["strategy"] == "correct" and 0 < result["encoder_calls"] <= 4 * result["n"]
    for bad, says in ((["--corrector", tiny_corrector, "--encoder-budget", "0"], "budget"), ([], "no corrector"),
                      (["--corrector", tiny_corrector, "--proposals", "edit:2"], "proposals")):
        done = run_cli("invert", text, "--model", model, "--strategy", "correct", *bad)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1
    import unembed
    with pytest.raises(UnembedError, match="not a corrector"):   # an inverter given as the corrector
        unembed.load(model, device="cpu", corrector=model)


def test_audit_attacks_with_correct_within_its_budget(correcting, tiny_data):
    from unembed.audit import audit
    from unembed.audit.config import AuditConfig
    texts = (tiny_data / "train.txt").read_text().splitlines()[:20]
    cfg = AuditConfig(defenses="none,noise:0.01", strategy="correct", encoder_budget=3, k=5)
    report = audit(correcting, texts, cfg, show_progress=False)
    assert report["settings"]["strategy"] == "correct" and len(report["defenses"]) == 2
    plain = audit(correcting, texts, AuditConfig(defenses="none", k=5), show_progress=False)
    assert report["defenses"][0]["attack"]["cosine"] >= plain["defenses"][0]["attack"]["cosine"] - 1e-3
