import json
import os

import numpy as np
import pytest
import torch

from unembed.text.codes import UNK
from unembed.data.config import DataConfig
from unembed.data import load_split, read_meta
from unembed.data import prepare
from unembed.data.cache import PAD_ID, shard_paths
from unembed.errors import UnembedError
from unembed.text.vocabulary import Vocabulary
from conftest import SENTENCES


def test_vectors_are_of_exactly_the_truncated_texts(tiny_data, encoder):
    meta = read_meta(tiny_data)
    assert meta["counts"] == {"train": 52, "heldout": 8} and meta["dim"] == 384
    texts = (tiny_data / "train.txt").read_text().splitlines()
    ids, vectors = load_split(tiny_data, "train")
    assert ids.shape == (52, 16) and vectors.shape == (52, 384)
    assert np.allclose(vectors, encoder.encode(texts), atol=1e-5)
    vocab = Vocabulary.load(tiny_data)
    for text, row in zip(texts, ids):
        assert vocab.tokenize([text])[0] == [int(i) for i in row if i != PAD_ID]
    originals = SENTENCES.read_text().splitlines()
    assert any(t not in originals for t in texts), "nothing was long enough to be truncated"
    heldout = set((tiny_data / "heldout.txt").read_text().splitlines())
    assert len(heldout) == 8 and not heldout & set(texts)


def test_interrupted_preparation_resumes_without_redoing_whole_shards(tmp_path, encoder):
    cfg = DataConfig(tokenizer="bpe:600", heldout=8, shard_size=16, max_len=16)
    out = tmp_path / "p"
    prepare(cfg, out, [str(SENTENCES)], encoder=encoder)
    ids_before, vec_before = load_split(out, "train")
    # Simulate a crash: the last shard and the completion marker are gone, a temp file lingers.
    os.remove(out / "meta.json")
    os.remove(shard_paths(out, "train", 3)[1])
    (out / "train" / ".00003.vectors.npy.123.tmp.npy").write_bytes(b"partial")
    first = shard_paths(out, "train", 0)[1].stat().st_mtime_ns
    calls = []

    class Counting:
        name, dim = encoder.name, encoder.dim

        def encode(self, texts, **kw):
            calls.append(len(texts))
            return encoder.encode(texts)

    prepare(cfg, out, [str(SENTENCES)], encoder=Counting())
    assert calls == [52 - 48]                 # only the missing shard was embedded again
    assert shard_paths(out, "train", 0)[1].stat().st_mtime_ns == first
    ids_after, vec_after = load_split(out, "train")
    assert np.array_equal(ids_before, ids_after) and np.allclose(vec_before, vec_after)
    with pytest.raises(UnembedError, match="other settings"):
        prepare(DataConfig(tokenizer="bpe:500", heldout=8, shard_size=16, max_len=16), out, [str(SENTENCES)])


def test_black_box_pairs_train_without_an_encoder(tmp_path):
    texts = SENTENCES.read_text().splitlines()[:20]
    vectors = np.random.default_rng(0).normal(size=(20, 24)).astype(np.float32)
    with open(tmp_path / "pairs.jsonl", "w") as f:
        for t, v in zip(texts, vectors):
            f.write(json.dumps({"text": t, "vector": v.tolist()}) + "\n")
    out = prepare(DataConfig(tokenizer="bpe:400", heldout=4, shard_size=8), tmp_path / "p",
                  pairs=str(tmp_path / "pairs.jsonl"))
    meta = read_meta(out)
    assert meta["dim"] == 24 and meta["encoder"].startswith("black-box:")
    train_texts = (out / "train.txt").read_text().splitlines()
    _, got = load_split(out, "train")
    for text, vector in zip(train_texts, got):
        assert np.allclose(vector, vectors[texts.index(text)])


def test_prune_vocab_keeps_the_corpus_pieces_of_a_unigram_tokenizer(tmp_path, encoder):
    cfg = DataConfig(tokenizer="xlm-r", prune_vocab=100, heldout=8, shard_size=32, max_len=16)
    out = prepare(cfg, tmp_path / "p", [str(SENTENCES)], encoder=encoder)
    vocab = Vocabulary.load(out)
    assert vocab.tokenizer.get_vocab_size() < 1000 < 250002   # 100 pieces + the characters used
    texts = (out / "train.txt").read_text().splitlines()
    ids, _ = load_split(out, "train")
    unk = vocab.tokenizer.token_to_id("<unk>")
    for text, row in zip(texts, ids):
        kept = [int(i) for i in row if i != PAD_ID]
        assert unk not in kept and vocab.tokenizer.decode(kept) == text


def test_vocab_keeps_a_models_codes_so_training_can_continue_it_on_new_text(tmp_path, encoder, tiny_run, tiny_data):
    """New text prepared with --vocab MODEL keeps MODEL's tokenizer and codes (tokens it lacks
    become [UNK]), so a warm start from MODEL accepts the data, and --mix can join MODEL's own
    data to it; data in another vocabulary is refused."""
    from unembed.train import train
    from conftest import tiny_train_config
    model = tiny_run / "last" / "model"
    new_text = tmp_path / "new.txt"
    new_text.write_text("\n".join(f"Invoice {n} for the zebra quartet was paid on Friday, {n} days late."
                                  for n in range(40, 90)) + "\n")
    out = prepare(DataConfig(vocab=str(model), heldout=4, shard_size=16, max_len=16), tmp_path / "p",
                  [str(new_text)], encoder=encoder)
    assert Vocabulary.load(out).same_as(Vocabulary.load(model))
    assert not Vocabulary.from_corpus_ids(Vocabulary.load(out).tokenizer, load_split(out, "train")[0],
                                          PAD_ID).same_as(Vocabulary.load(model))  # its own would differ
    run = train(tiny_train_config(out, tmp_path / "run", steps=2, warm_start=str(model)))
    assert (run / "last" / "model" / "model.safetensors").is_file()

    mixed = train(tiny_train_config(out, tmp_path / "mixed", steps=2, warm_start=str(model), mix=f"{tiny_data}:3"))
    rows = json.loads((mixed / "config.json").read_text())["train_rows"]
    assert rows == len(load_split(out, "train")[0]) + 3 * len(load_split(tiny_data, "train")[0])
    own = prepare(DataConfig(heldout=4, shard_size=16, max_len=16), tmp_path / "own", [str(new_text)], encoder=encoder)
    with pytest.raises(UnembedError, match="vocabulary differs"):
        train(tiny_train_config(out, tmp_path / "refused", steps=2, mix=str(own)))
    with pytest.raises(UnembedError, match="DIR:N"):
        train(tiny_train_config(out, tmp_path / "refused", steps=2, mix=f"{tiny_data}:0"))
    assert not (tmp_path / "refused").exists()


def test_a_grown_vocabulary_cuts_unk_targets_and_a_warm_start_keeps_every_trained_row(tmp_path, encoder, tiny_run):
    """`unembed vocabulary` grows a model's vocabulary to the pieces new data uses: the data's
    [UNK] targets go, nothing is embedded again, and a warm start from the model continues on
    it with the old pieces' rows as trained and each new piece starting from the pieces that
    spell it. Bad input is one line, exit 2, and leaves the folder as it was."""
    from unembed.model import ConditionalMDLM
    from unembed.train import train
    from unembed.train.loop import warm_start_weights
    from conftest import run_cli, tiny_train_config
    model = tiny_run / "last" / "model"
    own = Vocabulary.load(model)
    # words of pieces the tokenizer has and the model never kept: the model spells them with several
    unkept = [i for i in range(own.tokenizer.get_vocab_size()) if own.ids_to_codes(np.array([i]))[0] == UNK]
    words = [w for w in (own.tokenizer.decode([i]).strip() for i in unkept) if len(w) > 3 and w.isalpha()][:12]
    new_text = tmp_path / "new.txt"
    new_text.write_text("\n".join(f"Invoice {n} says {words[n % len(words)]} and {words[(n + 5) % len(words)]}."
                                  for n in range(40, 90)) + "\n")
    out = prepare(DataConfig(vocab=str(model), heldout=4, shard_size=16, max_len=16), tmp_path / "p",
                  [str(new_text)], encoder=encoder)
    vectors_before = load_split(out, "train")[1].copy()
    for bad, says in ((["--min-count", "0"], "at least 1"), (["--keep", str(tmp_path / "nowhere")], "nowhere")):
        args = ["vocabulary", str(out), "--keep", str(model), *bad]
        done = run_cli(*args)
        assert done.returncode == 2 and says in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert Vocabulary.load(out).same_as(Vocabulary.load(model))

    done = run_cli("vocabulary", str(out), "--keep", str(model), "--min-count", "1")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["unknown_train_tokens"]["before"] > 0.05 and report["unknown_train_tokens"]["after"] == 0
    assert report["unknown_heldout_tokens"]["after"] < report["unknown_heldout_tokens"]["before"]
    grown = Vocabulary.load(out)
    assert np.isin(own.kept_ids, grown.kept_ids).all() and len(grown) == report["vocab_size"]["after"] > len(own)
    assert read_meta(out)["vocab_size"] == len(grown)
    assert np.array_equal(load_split(out, "train")[1], vectors_before)        # nothing embedded again

    run = train(tiny_train_config(out, tmp_path / "run", steps=2, warm_start=str(model)))
    assert json.loads((run / "last" / "model" / "config.json").read_text())["vocab_size"] == len(grown)
    fresh = ConditionalMDLM.from_pretrained(run / "last" / "model")   # the right shape, then the warm start
    warm_start_weights(fresh, str(model), grown)
    source = ConditionalMDLM.from_pretrained(model).state_dict()
    table, old_table = fresh.state_dict()["tok_emb.weight"], source["tok_emb.weight"]
    spellings = grown.spellings(own)
    new = [code for code, spelled in enumerate(spellings) if len(spelled) > 1]
    assert new, "the new text should hold pieces the tiny vocabulary spells with several"
    for code, spelled in enumerate(spellings):
        if len(spelled) == 1:     # a piece the model had: its trained row, under its new code
            assert torch.equal(table[code], old_table[spelled[0]])
    code = new[0]
    assert grown.tokenizer.decode([int(grown.kept_ids[code - 3])]) == own.decode(spellings[code])
    assert torch.allclose(table[code], old_table[spellings[code]].mean(dim=0))
