"""Inverter: a model + its vocabulary + its decoding settings, running the one decoding loop;
the decoder every search reads through (search/decoder.py).

    inverter = Inverter.from_pretrained("en")
    inverter.invert(vectors, steps=8)          # -> list of texts
    inverter.invert_texts(["some sentence"])   # embed, invert, score
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from .model.align import AlignMap
from .text.codes import MASK, PAD, UNK
from .config import from_dict, to_dict
from .runtime.devices import resolve_device
from .encoders import ENCODER_FIELDS, check_vectors, load_encoder_from
from .vectors.matryoshka import pad_prefixes, parse_widths
from .errors import UnembedError
from .files import atomic
from .files.checkpoints import CORRECTOR_DIR, LM_CORRECTOR_DIR, SAMPLING_FILE, resolve_checkpoint
from .eval.roundtrip import reference_of, round_trip
from .model import ConditionalMDLM
from .runtime.precision import autocast, resolve_precision
from .sampling import GUIDED, Sampler, make_sampler
from .sampling.config import DecodeConfig
from .search.config import PRESETS, SearchConfig
from .search.correct import Correction
from .search.population import CallableEncoder, RoundCallback, as_encoder
from .search.proposals import needs
from .model.script_gate import GATE_DIR, ScriptGate
from .text.vocabulary import Vocabulary

logger = logging.getLogger(__name__)
# A step callback sees (step index, codes (B, L), confidence (B, L)) after each step: the
# probability each written token had when the sampler chose it.
StepCallback = Callable[[int, torch.Tensor, torch.Tensor], None]


class Settings(NamedTuple):
    """What one inversion is asked: how each decode runs, and how a search spends its calls."""
    decoding: DecodeConfig
    search: SearchConfig


def read_settings(values: dict) -> Settings:
    """Both settings from one flat dict (a model folder's sampling.json holds both)."""
    return Settings(from_dict(DecodeConfig, values), from_dict(SearchConfig, values))


def settings_dict(settings: Settings) -> dict:
    return {**to_dict(settings.decoding), **to_dict(settings.search)}


class Inverter:
    def __init__(self, model: ConditionalMDLM, vocab: Vocabulary, settings: Settings | None = None,
                 encoder=None, device: str | torch.device = "cpu", align=None, precision: str = "auto",
                 corrector: "Inverter | None" = None, folder: str | Path | None = None,
                 gate: ScriptGate | None = None):
        self.model = model.eval()
        self.vocab = vocab
        settings = settings or Settings(DecodeConfig(), SearchConfig())
        self.decoding, self.search = settings.decoding, settings.search   # the model's defaults
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)  # of the decoder's matrix products
        self._encoder = encoder
        self.align = align          # an AlignMap: this inverter then reads another encoder's vectors
        self._source_encoder = None
        self.folder = Path(folder) if folder is not None else None   # where it was loaded from
        self.gate = gate            # a ScriptGate: pieces of scripts it rules out are not written
        self._corrector = None
        self._lm = None             # an LMCorrector, set or loaded from the folder on first use
        if corrector is not None:
            self.corrector = corrector
        self.encoder_path = ""      # a local folder of the model's encoder, over what the checkpoint records

    @classmethod
    def from_pretrained(cls, name_or_path: str = "en", device: str = "auto", encoder=None,
                        align: str | None = None, precision: str = "auto",
                        corrector: str | None = None, encoder_path: str = "",
                        lm_corrector: str | None = None) -> "Inverter":
        """A model folder or shipped name. `corrector`: a corrector folder for `correct`
        (default: the folder's own `corrector/`, loaded on first use). `encoder_path`: where the
        model's encoder is on this machine (default: the recorded folder, the cache, the hub)."""
        folder = resolve_checkpoint(name_or_path)
        device = resolve_device(device)
        model = ConditionalMDLM.from_pretrained(folder, device)
        vocab = Vocabulary.load(folder)
        settings = None
        if (folder / SAMPLING_FILE).is_file():
            try:
                settings = read_settings(json.loads((folder / SAMPLING_FILE).read_text()))
            except (ValueError, TypeError) as exc:
                raise UnembedError(f"{folder / SAMPLING_FILE} is not valid: {exc}") from None
        gate = ScriptGate.from_pretrained(folder / GATE_DIR) if (folder / GATE_DIR).is_dir() else None
        inverter = cls(model, vocab, settings, encoder, device, precision=precision, folder=folder, gate=gate)
        inverter.encoder_path = encoder_path
        if align:
            inverter.set_align(align)
        if corrector:
            inverter.corrector = cls.from_pretrained(corrector, device=str(device), precision=precision)
        if lm_corrector:
            inverter.lm_corrector = lm_corrector
        return inverter

    @property
    def lm_corrector(self):
        """The LM corrector `lm` proposals write with: set, or the folder's `lm_corrector/`."""
        if self._lm is None:
            folder = self.folder / LM_CORRECTOR_DIR if self.folder is not None else None
            if folder is None or not folder.is_dir():
                raise UnembedError("this model has no LM corrector: train one (`unembed lm-pairs`, then "
                                   "`unembed train-lm`) and pass --lm-corrector FOLDER")
            self.lm_corrector = folder
        return self._lm

    @lm_corrector.setter
    def lm_corrector(self, folder_or_model) -> None:
        from .lm import LMCorrector
        lm = folder_or_model
        if not isinstance(lm, LMCorrector):
            dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float32
            lm = LMCorrector.from_pretrained(folder_or_model, dtype=dtype).for_writing()
        if lm.config.cond_dim != self.input_dim:
            raise UnembedError(f"the LM corrector reads {lm.config.cond_dim}-d vectors, this inverter "
                               f"{self.input_dim}-d: it was trained for another encoder")
        self._lm = lm

    @property
    def has_lm_corrector(self) -> bool:
        return self._lm is not None or (self.folder is not None and (self.folder / LM_CORRECTOR_DIR).is_dir())

    @property
    def corrector(self) -> "Inverter":
        """The model `correct` rewrites hypotheses with: set, or the folder's `corrector/`."""
        if self._corrector is None:
            folder = self.folder / CORRECTOR_DIR if self.folder is not None else None
            if folder is None or not folder.is_dir():
                raise UnembedError("this model has no corrector: train one (`unembed corrections`, then "
                                   "`unembed train` on its folder) and pass --corrector FOLDER")
            self.corrector = Inverter.from_pretrained(str(folder), device=str(self.device),
                                                      precision=self.precision)
        return self._corrector

    @corrector.setter
    def corrector(self, corrector: "Inverter") -> None:
        cfg, own = corrector.model.config, self.model.config
        if not cfg.hypothesis:
            raise UnembedError("the corrector given is an inverter, not a corrector (it reads no hypothesis)")
        if cfg.cond_dim != own.cond_dim or cfg.max_len != own.max_len or not corrector.vocab.same_as(self.vocab):
            raise UnembedError("the corrector was trained for another inverter (its vocabulary, length or "
                               "vector size differ)")
        corrector.gate = self.gate  # the same vectors and pieces: a corrector uses its inverter's gate
        self._corrector = corrector

    @property
    def has_corrector(self) -> bool:
        return self._corrector is not None or (self.folder is not None and (self.folder / CORRECTOR_DIR).is_dir())

    def guide_encoder(self, encoder=None):
        """What encoder-guided strategies embed their texts with, into the space the model reads:
        the checkpoint's own encoder, or `encoder` (an object with `.encode(texts)` or a
        function texts -> vectors), whose vectors are those the caller inverts (read through
        the alignment map, if any)."""
        if encoder is None:
            return self.own_encoder
        encoder = as_encoder(encoder)
        if self.align is None:
            return encoder
        return CallableEncoder(lambda texts: self.to_model_space(encoder.encode(texts)), "aligned")

    def set_align(self, folder) -> None:
        """Read another encoder's vectors through the alignment map in `folder` (`unembed align`)."""
        amap = AlignMap.from_pretrained(folder)
        if amap.target_dim != self.model.config.cond_dim:
            raise UnembedError(f"the alignment map gives {amap.target_dim}-d vectors but this model "
                               f"reads {self.model.config.cond_dim}-d ones; fit the map for this model")
        self.align, self._source_encoder = amap, None

    def _shares_vocabulary(self, folder: Path) -> bool:
        """A corrector saved inside its inverter's folder, with the same vocabulary, keeps none of
        its own (Vocabulary.load finds the inverter's)."""
        if folder.name != CORRECTOR_DIR or not self.model.config.hypothesis:
            return False
        try:
            return Vocabulary.load(folder.parent).same_as(self.vocab)
        except UnembedError:
            return False

    def save_pretrained(self, folder: str | Path, storage: str | None = None) -> None:
        """The model (weights in `storage`: see model/weights.py), vocabulary, decoding defaults
        and script gate."""
        self.model.save_pretrained(folder, storage)
        if not self._shares_vocabulary(Path(folder)):
            self.vocab.save(Path(folder))
        atomic.write_bytes(Path(folder) / SAMPLING_FILE,
                           (json.dumps(settings_dict(self.settings), indent=2) + "\n").encode())
        if self.gate is not None and not self.model.config.hypothesis:  # a corrector's is its inverter's
            self.gate.save_pretrained(Path(folder) / GATE_DIR)

    @property
    def gate(self) -> ScriptGate | None:
        return self._gate

    @gate.setter
    def gate(self, gate: ScriptGate | None) -> None:
        if gate is not None and gate.dim != self.model.config.cond_dim:
            raise UnembedError(f"the script gate reads {gate.dim}-d vectors but this model reads "
                               f"{self.model.config.cond_dim}-d ones; fit it for this model")
        self._gate, self._gate_pieces = gate, None

    def blocked_pieces(self, vectors: torch.Tensor, threshold: float) -> torch.Tensor | None:
        """(B, V) bool: the pieces the script gate rules out for each of `vectors` (model
        space) at `threshold`; None without a gate or when it rules out none."""
        if self._gate is None or threshold <= 0:
            return None
        if self._gate_pieces is None:  # once per inverter: which scripts each piece writes
            self._gate_pieces = self._gate.piece_scripts(self.vocab).to(self.device)
        return self._gate.blocked(vectors, self._gate_pieces, threshold)

    @property
    def input_dim(self) -> int:
        """The dimension of the vectors this inverter takes (the source encoder's, when aligned)."""
        return self.align.source_dim if self.align is not None else self.model.config.cond_dim

    @property
    def input_dims(self) -> tuple[int, ...]:
        """Every width it takes: input_dim, and the Matryoshka prefixes it was trained on."""
        if self.align is not None:
            return (self.input_dim,)
        return parse_widths(self.model.config.matryoshka) + (self.input_dim,)

    def to_model_space(self, vectors) -> np.ndarray:
        """Checked (N, d) vectors, d one of input_dims -> (N, cond_dim) vectors the model reads."""
        if self.align is not None:
            return self.align(check_vectors(vectors, self.input_dim))
        if len(self.input_dims) == 1:
            return check_vectors(vectors, self.input_dim)
        return pad_prefixes(check_vectors(vectors), self.input_dim, self.input_dims[:-1])

    @property
    def encoder(self):
        """The encoder whose vectors this inverter reads: the model's own, or through an
        alignment map, the map's source encoder. Loaded on first use."""
        if self.align is None:
            return self.own_encoder
        if self._source_encoder is None:
            settings = self.align.info.get("source")
            if not isinstance(settings, dict) or not settings.get("encoder"):
                raise UnembedError("the alignment map was fitted on black-box vectors: give vectors, "
                                   "not texts")
            self._source_encoder = load_encoder_from(settings, device=str(self.device))
        return self._source_encoder

    @property
    def own_encoder(self):
        """The encoder named in the checkpoint, loaded on first use."""
        if self._encoder is None:
            cfg = self.model.config
            if not cfg.encoder or cfg.encoder.startswith("black-box:"):
                raise UnembedError("this inverter was trained on black-box vectors: give vectors, "
                                   "not texts, or pass an encoder")
            settings = {k: getattr(cfg, k) for k in ENCODER_FIELDS}
            if settings["encoder_path"] and not Path(settings["encoder_path"]).is_dir():
                settings["encoder_path"] = ""  # the stand-in stayed on another machine: cache or hub
            if self.encoder_path:
                settings["encoder_path"] = self.encoder_path
            self._encoder = load_encoder_from(settings, device=str(self.device))
        return self._encoder

    @property
    def settings(self) -> Settings:
        return Settings(self.decoding, self.search)

    @property
    def max_len(self) -> int:
        return self.model.config.max_len

    def lengths_for(self, vectors: torch.Tensor) -> torch.Tensor:
        """Each text's length as the length head reads it from the vector, else max_len. (B,)"""
        return self.length_guesses(vectors, 1)[:, 0]

    def length_guesses(self, vectors: torch.Tensor, k: int) -> torch.Tensor:
        """(B, k) the most likely lengths, best first; (B, 1) of max_len without a length head."""
        if self.model.config.length_head:
            return self.model.predict_length(vectors).topk(min(k, self.max_len), dim=-1).indices + 1
        return torch.full((vectors.shape[0], 1), self.max_len, device=vectors.device)

    @torch.no_grad()
    def token_prior(self, vectors: torch.Tensor) -> torch.Tensor:
        """(B, V) the bag-of-tokens prior's logits for each vector (model space)."""
        return self.model.bag_of_tokens(vectors.to(self.device).float())

    @torch.no_grad()
    def denoise(self, vectors: torch.Tensor, codes: torch.Tensor, sampler: Sampler, steps: int,
                callback: StepCallback | None = None, hypothesis: torch.Tensor | None = None,
                hypothesis_vectors: torch.Tensor | None = None) -> torch.Tensor:
        """The one decoding loop: fill the MASK positions of `codes` (B, L) (PAD after each
        text) in `steps` model calls. Rows may hold a different number of text positions;
        padding takes no part in attention. Returns codes (B, L); `sampler.confidence` then
        holds the probability each written token had. A corrector also reads each row's
        `hypothesis` (B, H) codes and their embeddings `hypothesis_vectors` (B, D)."""
        lengths = (codes != PAD).sum(dim=1)
        sampler.set_timesteps(steps, lengths, masked=(codes == MASK).sum(dim=1))
        blocked = self.blocked_pieces(vectors, sampler.script_gate)   # (B, V) or None
        ragged = lengths if bool((lengths < codes.shape[1]).any()) else None
        # one autocast context for all steps: it casts each weight once, not once per step
        with autocast(self.device, self.precision):
            conditioning = self.model.conditioning(vectors, hypothesis_vectors)   # the same at every step
            for i in range(steps):
                if not (codes == MASK).any():
                    break  # every row has fewer masked positions than the number of steps
                masked = codes == MASK
                logits = self.model(codes, vectors, sampler.mask_ratio(codes), select=masked, lengths=ragged,
                                    conditioning=conditioning, hypothesis=hypothesis).logits
                logits = logits.float()                                     # (n, V): masked only
                # [UNK] (a piece outside the vocabulary) has no text: written, it would decode to
                # nothing, so the next-best piece is always the better guess
                logits[:, UNK] = float("-inf")
                if blocked is not None:  # pieces of a script the vector's text is not in
                    logits.masked_fill_(blocked[masked.nonzero(as_tuple=True)[0]], float("-inf"))
                codes = sampler.step(i, logits, codes)
                if callback is not None:
                    callback(i, codes, sampler.confidence)
        return codes

    @torch.no_grad()
    def generate(self, vectors: torch.Tensor, decoding: DecodeConfig,
                 callback: StepCallback | None = None, lengths: torch.Tensor | None = None,
                 **hypothesis) -> torch.Tensor:
        """Decode one batch from all-[MASK]. vectors (B, D) -> codes (B, max_len), PAD after
        each text. A model with a length head first reads each text's length from its vector
        (unless `lengths` (B,) are given) and decodes exactly that many positions. A corrector
        takes `hypothesis` and `hypothesis_vectors` (see `denoise`)."""
        codes = self.blank(vectors, lengths)
        codes = self.denoise(vectors, codes, make_sampler(decoding), decoding.steps, callback, **hypothesis)
        return torch.nn.functional.pad(codes, (0, self.max_len - codes.shape[1]), value=PAD)

    def blank(self, vectors: torch.Tensor, lengths: torch.Tensor | None = None):
        """All-[MASK] codes of each row's length, PAD after. (B, longest)"""
        lengths = self.lengths_for(vectors) if lengths is None else lengths
        position = torch.arange(int(lengths.max()), device=vectors.device)
        return torch.where(position < lengths[:, None], MASK, PAD)

    def invert(self, vectors, steps: int | None = None, strategy: str | None = None,
               batch_size: int = 64, callback: StepCallback | None = None,
               show_progress: bool = False, **overrides) -> list[str]:
        """Texts whose embeddings should be `vectors` (N, D) (or one (D,) vector). `overrides`:
        any decoding or search setting (DecodeConfig, SearchConfig fields)."""
        return [r["reconstruction"] for r in self.invert_detailed(
            vectors, steps=steps, strategy=strategy, batch_size=batch_size, callback=callback,
            show_progress=show_progress, **overrides)]

    def invert_detailed(self, vectors, batch_size: int = 64, callback: StepCallback | None = None,
                        show_progress: bool = False, encoder=None, round_callback: RoundCallback | None = None,
                        **overrides) -> list[dict]:
        """Like `invert`, one dict per vector: the reconstruction, and the encoder calls it
        cost (0 unless the strategy is a search: `correct`, `refine`). A search embeds with
        `encoder` (default: the checkpoint's; see `guide_encoder`) and reports each round to
        `round_callback` (see search/population.py); `callback` sees the plain decodes' steps."""
        if self.model.config.hypothesis:
            raise UnembedError("this model is a corrector: load the inverter it corrects and give it "
                               "as --corrector")
        vectors = self.to_model_space(vectors)
        settings = self.settings_with(**overrides)
        decode = self.searcher(settings, encoder, round_callback)
        if decode is not None and callback is not None:
            raise UnembedError(f"{settings.decoding.strategy} runs many decodes per text: follow it with "
                               "round_callback, not a step callback")
        results = []
        for start in tqdm(range(0, len(vectors), batch_size), desc="invert", unit="batch",
                          disable=not show_progress):
            batch = torch.from_numpy(vectors[start:start + batch_size]).to(self.device)
            if decode is not None:
                codes, calls = decode(batch)
            else:
                codes, calls = self.generate(batch, settings.decoding, callback), [0] * len(batch)
            results.extend({"reconstruction": self.vocab.decode(row), "encoder_calls": int(n)}
                           for row, n in zip(codes.cpu().numpy(), calls))
        return results

    def searcher(self, settings: Settings, encoder=None, round_callback: RoundCallback | None = None):
        """The search a strategy names (vectors (B, D) -> codes, calls), or None for the plain
        decoding loop. Each model is loaded only where a proposal needs it."""
        if settings.decoding.strategy not in GUIDED:
            return None
        writers = needs(settings.search.proposal_list())
        return Correction(self, settings.decoding, settings.search, self.guide_encoder(encoder),
                          corrector=self.corrector if "corrector" in writers else None,
                          lm=self.lm_corrector if "lm" in writers else None, round_callback=round_callback)

    def settings_with(self, **overrides) -> Settings:
        """The model's settings with `overrides` (None values ignored; each to the settings that
        has it; old names accepted), a search's preset applied under those given, checked."""
        given = {k: v for k, v in overrides.items() if v is not None}
        decoding_fields = {f for f in DecodeConfig.__dataclass_fields__} | set(DecodeConfig.RENAMED)
        decoding = from_dict(DecodeConfig, {**to_dict(self.decoding),
                                            **{k: v for k, v in given.items() if k in decoding_fields}})
        search_given = {k: v for k, v in given.items() if k in SearchConfig.__dataclass_fields__}
        unknown = set(given) - decoding_fields - set(search_given)
        if unknown:
            raise UnembedError(f"unknown setting {', '.join(sorted(unknown))}: see DecodeConfig and SearchConfig")
        search = self.search
        if decoding.strategy in PRESETS:
            search = search.preset(decoding.strategy, search_given)
        else:
            search = replace(search, **search_given)
        return Settings(decoding.validate(self.max_len), search.validate())

    def invert_texts(self, texts: list[str], steps: int | None = None, batch_size: int = 64,
                     show_progress: bool = False, **kwargs) -> list[dict]:
        """Embed texts with the checkpoint's encoder, invert, and score each round trip against
        the text cut to the model's length (eval's rule)."""
        for i, text in enumerate(texts):
            if not text or not text.strip():
                raise UnembedError(f"text {i + 1} is empty; give non-empty text to invert")
        targets = self.encoder.encode(texts, batch_size=batch_size)
        details = self.invert_detailed(targets, steps=steps, batch_size=batch_size,
                                       show_progress=show_progress, **kwargs)
        reconstructions = [d["reconstruction"] for d in details]
        checks = round_trip(self.vocab, self.max_len, reconstructions,
                            [reference_of(self.vocab, t, self.max_len) for t in texts], self.encoder, targets,
                            batch_size)
        return [{"text": t, "reconstruction": d["reconstruction"], "cosine": c["cosine"],
                 "token_accuracy": c["token_accuracy"], "encoder_calls": d["encoder_calls"],
                 "warning": self.vocab.warning(t)}  # None, or what of the text cannot be written
                for t, d, c in zip(texts, details, checks)]
