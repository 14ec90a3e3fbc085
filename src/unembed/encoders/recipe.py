"""A preset's recipe made real: the sentence-transformers pipeline built module by module from
the model folder, checked against the folder's own configuration, with the prompt and the
Matryoshka width checked as the model card says (the cut itself: matryoshka.py)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import UnembedError
from .presets import EncoderPreset

logger = logging.getLogger(__name__)
STAND_IN_FILE = "unembed_stand_in.json"  # marks a small random-weight copy of an architecture
LEGACY_POOLING_KEYS = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
                       "pooling_mode_max_tokens": "max", "pooling_mode_lasttoken": "lasttoken",
                       "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                       "pooling_mode_weightedmean_tokens": "weightedmean"}


def _dense_folders(folder: Path) -> list[Path]:
    """The Dense module folders in pipeline order, from modules.json or by their N_Dense names."""
    modules = folder / "modules.json"
    if modules.is_file():
        entries = json.loads(modules.read_text())
        found = [folder / e["path"] for e in entries if e.get("type", "").endswith(".Dense")]
        for path in found:
            if not path.resolve().is_relative_to(folder.resolve()):
                raise UnembedError(f"{modules} points outside its folder ({path}); refusing to load it")
        return found
    return sorted((p for p in folder.glob("*_Dense") if p.is_dir()), key=lambda p: int(p.name.split("_")[0]))


def check_folder(preset: EncoderPreset, folder: Path) -> None:
    """One-line error if the folder's own sentence-transformers config contradicts the recipe
    (it is then not the model the preset names)."""
    pooling_file = folder / "1_Pooling" / "config.json"
    if pooling_file.is_file():
        config = json.loads(pooling_file.read_text())
        mode = config.get("pooling_mode") or next(
            (m for k, m in LEGACY_POOLING_KEYS.items() if config.get(k)), "mean")
        if mode != preset.pooling:
            raise UnembedError(f"{folder} pools by {mode!r} but the {preset.name} recipe pools by "
                               f"{preset.pooling!r}: is this folder really {preset.model_id}?")
    if preset.dense and not preset.name.endswith("-vec2text"):
        found = _dense_folders(folder)
        if len(found) != len(preset.dense):
            raise UnembedError(f"{folder} has {len(found)} Dense layer folders, the {preset.name} recipe "
                               f"needs {len(preset.dense)} (a model saved without them gives other "
                               "vectors); use the full sentence-transformers folder")


def build_pipeline(preset: EncoderPreset, folder: Path, device: str):
    """Transformer -> Pooling -> Dense... -> Normalize, exactly as the recipe lists them."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer

    check_folder(preset, folder)
    transformer = Transformer(str(folder), max_seq_length=preset.max_seq_length,
                              processor_kwargs={"padding_side": preset.padding_side})
    modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode=preset.pooling)]
    if not preset.name.endswith("-vec2text"):  # vec2text's GTR stops at the pooled encoder output
        modules += [Dense.load(str(p)) for p in _dense_folders(folder)]
    if preset.normalize:
        modules.append(Normalize())
    model = SentenceTransformer(modules=modules, device=device)
    model.prompts = dict(preset.prompts)
    return model


def check_pipeline(preset: EncoderPreset, model, folder: Path | None) -> None:
    """The loaded pipeline against the recipe; what only a stand-in may differ in is logged."""
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling
    modules = list(model)
    pooling = next((m for m in modules if isinstance(m, Pooling)), None)
    if pooling is not None and pooling.pooling_mode != preset.pooling:
        raise UnembedError(f"{preset.name}: the pipeline pools by {pooling.pooling_mode!r}, "
                           f"the recipe by {preset.pooling!r}")
    if any(isinstance(m, Normalize) for m in modules) != preset.normalize:
        raise UnembedError(f"{preset.name}: the pipeline {'lacks' if preset.normalize else 'has'} "
                           "the Normalize module of the recipe")
    n_dense = sum(isinstance(m, Dense) for m in modules)
    expected = 0 if preset.name.endswith("-vec2text") else len(preset.dense)
    if n_dense != expected:
        raise UnembedError(f"{preset.name}: the pipeline has {n_dense} Dense layers, the recipe {expected}")
    if preset.appends_eos:
        ids = model.tokenizer("a")["input_ids"]
        eos = model.tokenizer.convert_tokens_to_ids(preset.appends_eos)
        if not ids or ids[-1] != eos:
            raise UnembedError(f"{preset.name}: the tokenizer does not append {preset.appends_eos}, "
                               "which last-token pooling reads; update the model folder from the hub")
    stand_in = folder is not None and (folder / STAND_IN_FILE).is_file()
    dim = _output_dim(model)
    if dim != preset.dim and not stand_in:
        logger.warning("%s gives %d-dimensional vectors; the real %s gives %d", folder, dim,
                       preset.model_id, preset.dim)


def _output_dim(model) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


def prompt_text(prompt: str, prompts: dict[str, str], source: str) -> str:
    """The text put before each input for a prompt name: document and query follow the model's
    conventions (document, passage or corpus), none puts nothing."""
    if prompt in ("", "none"):
        return ""
    if prompt == "document":
        return next((prompts[k] for k in ("document", "passage", "corpus") if k in prompts), "")
    if prompt == "query":
        return prompts.get("query", "")
    if prompt not in prompts:
        raise UnembedError(f"{source} has no prompt {prompt!r}; choose document, query, none"
                           + (f" or one of: {', '.join(prompts)}" if prompts else ""))
    return prompts[prompt]


def check_dim(dim: int, full: int, trained: tuple, source: str) -> None:
    if dim == 0:
        return
    if not 0 < dim <= full:
        raise UnembedError(f"{source}: --encoder-dim {dim} must lie between 1 and {full}")
    if trained and dim not in trained:
        logger.warning("%s was trained to be cut to %s dimensions, not %d; expect weaker vectors",
                       source, ", ".join(map(str, trained)), dim)
