import json

import pytest
import torch

from unembed.model.config import ModelConfig
from unembed.errors import UnembedError
from unembed.model import ConditionalMDLM
from unembed.text.vocabulary import MASK, PAD


def small(**kw):
    cfg = dict(vocab_size=50, max_len=10, cond_dim=16, hidden=32, layers=2, heads=2, prefix_tokens=0,
               lexical_prior=False, time_conditioning=False, length_head=False)
    cfg.update(kw)
    return ConditionalMDLM(ModelConfig(**cfg))


def test_adaln_zero_blocks_start_as_identity_then_learn_to_use_the_condition():
    torch.manual_seed(0)
    model = small()
    codes = torch.randint(3, 50, (2, 10))
    a, b = torch.randn(1, 16), torch.randn(1, 16)
    logits_a = model(codes[:1], a, torch.ones(1)).logits
    logits_b = model(codes[:1], b, torch.ones(1)).logits
    assert torch.allclose(logits_a, logits_b), "at init the condition must not reach the output"
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = torch.nn.functional.cross_entropy(model(codes, torch.cat([a, b]), torch.ones(2))[0].reshape(-1, 50),
                                             codes.reshape(-1))
    loss.backward()
    opt.step()
    logits_a = model(codes[:1], a, torch.ones(1)).logits
    logits_b = model(codes[:1], b, torch.ones(1)).logits
    assert not torch.allclose(logits_a, logits_b)


def test_selected_logits_match_full_logits_and_mask_is_never_predicted():
    torch.manual_seed(0)
    model = small(prefix_tokens=3, lexical_prior=True, time_conditioning=True)
    for p in model.parameters():  # leave the zero init so every path is exercised
        torch.nn.init.normal_(p, std=0.1)
    codes = torch.randint(3, 50, (3, 10))
    select = torch.rand(3, 10) < 0.5
    vec, t = torch.randn(3, 16), torch.rand(3)
    full, lex, _ = model(codes, vec, t)
    part = model(codes, vec, t, select=select).logits
    assert full.shape == (3, 10, 50) and lex.shape == (3, 50)
    assert torch.allclose(full[select], part, atol=1e-5)
    assert torch.isinf(full[..., MASK]).all()


def test_padding_beyond_a_rows_length_changes_nothing_and_is_never_predicted():
    torch.manual_seed(0)
    model = small(prefix_tokens=2, lexical_prior=True, time_conditioning=True, length_head=True)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    vec, t = torch.randn(2, 16), torch.rand(2)
    codes = torch.randint(3, 50, (2, 10))
    alone = model(codes[:1, :6], vec[:1], t[:1]).logits                  # row 0 is 6 tokens long
    out = model(codes, vec, t, lengths=torch.tensor([6, 10]))
    assert torch.allclose(out.logits[0, :6], alone[0], atol=1e-5)
    assert not torch.allclose(model(codes, vec, t).logits[0, :6], alone[0], atol=1e-5)
    assert torch.isinf(out.logits[..., PAD]).all() and out.length.shape == (2, 10)
    assert torch.equal(model.predict_length(vec), out.length)



def test_packed_rows_of_three_lengths_match_each_row_alone_in_logits_and_gradients():
    torch.manual_seed(0)
    model = small(prefix_tokens=2, lexical_prior=True, time_conditioning=True, length_head=True)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    vec, t, lengths = torch.randn(3, 16), torch.rand(3), torch.tensor([3, 10, 7])
    codes = torch.randint(3, 50, (3, 10))
    select = (torch.arange(10) < lengths[:, None]) & (torch.rand(3, 10) < 0.6)
    select[:, 0] = True
    packed = model(codes, vec, t, select=select, lengths=lengths).logits      # (n, V)
    packed[torch.isfinite(packed)].sum().backward()
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    alone = torch.cat([model(codes[i:i + 1, :n], vec[i:i + 1], t[i:i + 1], select=select[i:i + 1, :n]).logits
                       for i, n in enumerate(lengths.tolist())])
    assert torch.allclose(packed, alone, atol=1e-5)
    alone[torch.isfinite(alone)].sum().backward()
    again = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(again) and all(torch.allclose(a, b, atol=1e-4) for a, b in zip(grads, again))


def test_packing_keeps_each_rows_real_tokens_in_order():
    from unembed.model.packing import Packing
    packing = Packing(torch.tensor([2, 0, 3]), 4)
    x = torch.arange(12.0).view(3, 4, 1)
    assert packing.pack(x).flatten().tolist() == [0, 1, 8, 9, 10]
    assert packing.rows.tolist() == [0, 0, 2, 2, 2]
    back = packing.unpack(packing.pack(x))
    assert torch.equal(back[packing.keep], x[packing.keep]) and (back[~packing.keep] == 0).all()
    assert packing.per_token(torch.tensor([[5.0], [6.0], [7.0]])).flatten().tolist() == [5, 5, 7, 7, 7]

def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = small(prefix_tokens=2, lexical_prior=True)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    loaded = ConditionalMDLM.from_pretrained(tmp_path / "m")
    codes, vec, t = torch.randint(3, 50, (2, 10)), torch.randn(2, 16), torch.rand(2)
    assert torch.allclose(model.eval()(codes, vec, t)[0], loaded(codes, vec, t)[0])
    model.save_pretrained(tmp_path / "half", "float16")
    assert (tmp_path / "half" / "model.safetensors").stat().st_size < \
        0.6 * (tmp_path / "m" / "model.safetensors").stat().st_size
    half = ConditionalMDLM.from_pretrained(tmp_path / "half")
    assert torch.allclose(loaded(codes, vec, t)[0], half(codes, vec, t)[0], atol=0.05, rtol=0.05)


def test_missing_or_broken_folder_is_a_readable_error(tmp_path):
    with pytest.raises(UnembedError, match="not a model folder"):
        ConditionalMDLM.from_pretrained(tmp_path / "nowhere")
    small().save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text('{"vocab_size": 60, "max_len": 10, "cond_dim": 16, '
                                                 '"hidden": 32, "layers": 2, "heads": 2}')
    with pytest.raises(UnembedError, match="does not match"):
        ConditionalMDLM.from_pretrained(tmp_path / "m")


def test_every_saved_folder_says_what_it_is_and_another_kind_is_refused_in_one_line(tmp_path):
    """Model and alignment-map folders begin with their type and format version; one given where
    the other is expected, or one of a newer format, is one line. A folder from before the
    header (no type) still loads."""
    import json
    import numpy as np
    from unembed.model.align import AlignMap
    small().save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert list(config)[:2] == ["type", "format"] and config["type"] == "unembed/model"
    x = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    AlignMap.fit(x, x).save_pretrained(tmp_path / "map")
    assert json.loads((tmp_path / "map" / "config.json").read_text())["type"] == "unembed/align-map"
    (tmp_path / "map" / "model.safetensors").write_bytes((tmp_path / "m" / "model.safetensors").read_bytes())
    with pytest.raises(UnembedError, match="is an align-map folder, not a model folder"):
        ConditionalMDLM.from_pretrained(tmp_path / "map")
    (tmp_path / "m" / "map.safetensors").write_bytes((tmp_path / "map" / "map.safetensors").read_bytes())
    with pytest.raises(UnembedError, match="is a model folder, not an align-map folder"):
        AlignMap.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({**config, "format": 99}))
    with pytest.raises(UnembedError, match="upgrade unembed"):
        ConditionalMDLM.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k not in ("type", "format")}))
    ConditionalMDLM.from_pretrained(tmp_path / "m")


def test_int8_weights_load_close_to_the_float_model_at_a_quarter_of_the_size(tmp_path):
    storage = "int8"
    torch.manual_seed(0)
    model = small(prefix_tokens=2, lexical_prior=True, time_conditioning=True, length_head=True)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    model.save_pretrained(tmp_path / "f32")
    model.save_pretrained(tmp_path / storage, storage)
    loaded = ConditionalMDLM.from_pretrained(tmp_path / storage)
    for name, value in model.state_dict().items():
        error = (loaded.state_dict()[name] - value).abs().max() / value.abs().max()
        assert error < 1 / 127, name   # at most half a step of the row's scale
    codes, vectors = torch.randint(3, 50, (4, 10)), torch.randn(4, 16)
    a = model(codes, vectors, torch.full((4,), 0.5)).logits[..., 3:]
    b = loaded(codes, vectors, torch.full((4,), 0.5)).logits[..., 3:]
    assert torch.allclose(a, b, atol=0.05)
    size = lambda s: (tmp_path / s / "model.safetensors").stat().st_size  # noqa: E731
    assert size(storage) < 0.3 * size("f32")


def test_a_damaged_or_mismatched_int8_file_is_refused_in_one_line(tmp_path):
    from safetensors.torch import load_file, save_file
    model = small()
    model.save_pretrained(tmp_path / "m", "int8")
    weights = tmp_path / "m" / "model.safetensors"
    tensors = load_file(str(weights))
    scale = next(k for k in tensors if k.endswith(":scale"))
    save_file({k: v for k, v in tensors.items() if k != scale}, str(weights))   # a scale lost
    with pytest.raises(UnembedError, match="does not match|without"):
        ConditionalMDLM.from_pretrained(tmp_path / "m")
    weights.write_bytes(weights.read_bytes()[:200])                              # truncated
    with pytest.raises(UnembedError, match="not a readable safetensors"):
        ConditionalMDLM.from_pretrained(tmp_path / "m")
    other = small(hidden=64)
    other.save_pretrained(tmp_path / "other", "int8")
    (tmp_path / "other" / "config.json").write_text((tmp_path / "m" / "config.json").read_text())
    with pytest.raises(UnembedError, match="does not match its config.json"):
        ConditionalMDLM.from_pretrained(tmp_path / "other")


def test_weights_past_the_file_limit_are_split_into_shards_that_load_as_one(tmp_path):
    """A model whose packed tensors pass the limit is written as numbered shards and an index
    (no file over the limit, even where one tensor is larger: it is cut by rows); it loads to
    the same weights, saving again leaves one layout, and a shard lost is one line."""
    from unembed.model import weights
    torch.manual_seed(0)
    model = small(prefix_tokens=2, lexical_prior=True)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    tensors, metadata = weights.pack(model.state_dict(), "int8")
    limit = max(t.numel() * t.element_size() for t in tensors.values()) * 2 // 3  # under the largest
    model.save_pretrained(tmp_path / "m", "int8")
    (tmp_path / "m" / "model.safetensors").unlink()
    weights.write(tmp_path / "m", tensors, metadata, max_bytes=limit)
    shards = sorted(p.name for p in (tmp_path / "m").glob("model-*.safetensors"))
    assert len(shards) >= 3 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    assert not (tmp_path / "m" / "model.safetensors").exists()
    assert any(weights.ROWS in n for n in json.loads((tmp_path / "m" / weights.INDEX_FILE).read_text())["weight_map"])
    assert max((tmp_path / "m" / s).stat().st_size for s in shards) < limit + 4096   # + each file's header
    loaded = ConditionalMDLM.from_pretrained(tmp_path / "m")
    single = tmp_path / "single"
    model.save_pretrained(single, "int8")
    for name, value in ConditionalMDLM.from_pretrained(single).state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    loaded.save_pretrained(tmp_path / "m", "int8")        # under the default limit: one file again
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    weights.write(tmp_path / "m", tensors, metadata, max_bytes=limit)
    (tmp_path / "m" / "model.safetensors").unlink()
    (tmp_path / "m" / shards[1]).unlink()
    with pytest.raises(UnembedError, match="not a readable safetensors"):
        ConditionalMDLM.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / weights.INDEX_FILE).write_text('{"weight_map": {"out_bias": "../elsewhere.safetensors"}}')
    with pytest.raises(UnembedError, match="outside its folder"):
        ConditionalMDLM.from_pretrained(tmp_path / "m")
