"""Start the denoiser from a BERT-style encoder's weights (for example the target encoder
itself, all-MiniLM-L6-v2), instead of from random weights.

The blocks here are pre-LN with AdaLN modulation; BERT is post-LN. Each BERT LayerNorm's
affine (gamma, beta) becomes the *bias* of the AdaLN modulation that follows it (scale =
gamma - 1, shift = beta), gates start at 1, and all modulation weights stay zero, so the
condition still enters from zero. Token embeddings come from re-tokenising each decoder
token with the encoder's tokenizer and averaging its pieces' embeddings."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

from ..errors import UnembedError
from ..encoders.sentence_transformers import resolve_model_path

logger = logging.getLogger(__name__)


def _bert_folder(name_or_path: str) -> Path:
    folder = Path(resolve_model_path(name_or_path))
    if not (folder / "model.safetensors").is_file() or not (folder / "config.json").is_file():
        raise UnembedError(f"{name_or_path}: no local BERT-style folder with config.json and "
                           "model.safetensors to initialise from")
    return folder


@torch.no_grad()
def init_from_bert(model, name_or_path: str, vocab) -> None:
    folder = _bert_folder(name_or_path)
    bert_cfg = json.loads((folder / "config.json").read_text())
    cfg = model.config
    if (bert_cfg["hidden_size"], bert_cfg["num_attention_heads"]) != (cfg.hidden, cfg.heads) \
            or bert_cfg["num_hidden_layers"] < cfg.layers \
            or bert_cfg["intermediate_size"] != int(cfg.hidden * cfg.mlp_ratio):
        raise UnembedError(f"{name_or_path} has hidden {bert_cfg['hidden_size']}, heads "
                           f"{bert_cfg['num_attention_heads']}, layers {bert_cfg['num_hidden_layers']}, "
                           f"MLP {bert_cfg['intermediate_size']}: set the model to match")
    w = {k.removeprefix("bert."): v for k, v in load_file(str(folder / "model.safetensors")).items()}

    def set_affine(layer, ln: str, suffix: str = "") -> None:
        """LayerNorm ln's affine as the layer's shift and scale (modulate multiplies by 1 + scale)."""
        bias = layer.ada[-1].bias
        bias[layer.rows("shift" + suffix, cfg.hidden)] = w[f"{ln}.bias"]
        bias[layer.rows("scale" + suffix, cfg.hidden)] = w[f"{ln}.weight"] - 1

    previous_ln = "embeddings.LayerNorm"
    for i, block in enumerate(model.blocks):
        p = f"encoder.layer.{i}"
        block.attn.qkv.weight.copy_(torch.cat([w[f"{p}.attention.self.{n}.weight"] for n in ("query", "key", "value")]))
        block.attn.qkv.bias.copy_(torch.cat([w[f"{p}.attention.self.{n}.bias"] for n in ("query", "key", "value")]))
        block.attn.proj.weight.copy_(w[f"{p}.attention.output.dense.weight"])
        block.attn.proj.bias.copy_(w[f"{p}.attention.output.dense.bias"])
        block.mlp.fc.weight.copy_(w[f"{p}.intermediate.dense.weight"])
        block.mlp.fc.bias.copy_(w[f"{p}.intermediate.dense.bias"])
        block.mlp.proj.weight.copy_(w[f"{p}.output.dense.weight"])
        block.mlp.proj.bias.copy_(w[f"{p}.output.dense.bias"])
        set_affine(block, previous_ln, "1")                          # before attention
        set_affine(block, f"{p}.attention.output.LayerNorm", "2")    # before the MLP
        for gate in ("gate1", "gate2"):                              # attention and MLP gates
            block.ada[-1].bias[block.rows(gate, cfg.hidden)] = 1.0
        previous_ln = f"{p}.output.LayerNorm"
    set_affine(model.final, previous_ln)

    n_pos = model.pos_emb.shape[0]
    model.pos_emb.copy_(w["embeddings.position_embeddings.weight"][:n_pos]
                        + w["embeddings.token_type_embeddings.weight"][0])

    # Decoder tokens -> mean of the encoder's word-piece embeddings of the same text.
    table = w["embeddings.word_embeddings.weight"]
    bert_tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    strings = [""] * 3 + [vocab.tokenizer.decode([int(i)]) for i in vocab.kept_ids]
    mapped = 0
    for code, text in enumerate(strings):
        if not text.strip():
            continue
        pieces = bert_tok.encode(text.strip(), add_special_tokens=False).ids
        if pieces:
            model.tok_emb.weight[code] = table[pieces].mean(0)
            mapped += 1
    logger.info("initialised from %s: %d blocks, %d of %d token embeddings mapped",
                name_or_path, len(model.blocks), mapped, len(strings))
