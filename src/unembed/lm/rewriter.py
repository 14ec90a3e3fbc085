"""The LM corrector: a pretrained causal LM that writes the original text given what the search
knows about it, bound to the vector two ways (either can be switched off, for ablations):

  prefix   vec2text's design: the target e, the hypothesis's embedding ê and their gap e - ê,
           mapped by a small trained MLP to `prefix_tokens` soft tokens before the prompt;
  words    the inverter's most likely content words for e (its bag-of-tokens prior), written
           into the prompt: the LM's native input, nothing to learn about the vector space;
  draft    the hypothesis text itself.

  sequence  [prefix (P soft tokens)] "Words: w1, w2, ...\\nDraft: <hypothesis>\\nText:" " <text>" EOS
            the loss is on " <text>" EOS only.

What is trained is LoRA on the base's linear layers and the prefix map; a checkpoint is a folder
of those alone (`delta.safetensors`) beside `config.json`, which names the base (lm/base.py):

    folder/config.json          {"type": "unembed/lm-corrector", "format": 1, ...LMCorrectorConfig}
    folder/delta.safetensors    LoRA and prefix-map weights (bfloat16)
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..files import atomic
from ..errors import UnembedError
from .base import add_lora, load_base, merge_lora
from .config import LMCorrectorConfig
from .words import content_words

CHECKPOINT_TYPE = "unembed/lm-corrector"
FORMAT = 1
CONFIG_FILE = "config.json"
DELTA_FILE = "delta.safetensors"
IGNORE = -100  # positions the loss skips
NO_REPEAT = 3  # no 3-gram twice in a rewrite: a small greedy LM otherwise loops ("... and the report was ...")


def prompt_text(hypothesis: str, words: list[str], config: LMCorrectorConfig) -> str:
    """The prompt after the prefix, as the LM reads it (its tokens are what the model sees)."""
    parts = []
    if config.words and words:
        parts.append("Words: " + ", ".join(words[:config.words]) + "\n")
    if config.draft:
        parts.append(f"Draft: {hypothesis}\n")
    return "".join(parts) + "Text:"


class PrefixMap(nn.Module):
    """(e, ê, e - ê), each unit-normalised -> (B, P, H) soft tokens at the scale of the LM's
    token embeddings."""

    def __init__(self, cond_dim: int, tokens: int, hidden: int, embed_scale: float):
        super().__init__()
        self.tokens, self.hidden = tokens, hidden
        self.net = nn.Sequential(nn.Linear(3 * cond_dim, 1024), nn.GELU(), nn.Linear(1024, tokens * hidden))
        nn.init.normal_(self.net[2].weight, std=0.02)
        nn.init.zeros_(self.net[2].bias)
        self.scale = nn.Parameter(torch.tensor(float(embed_scale)))

    def forward(self, target: torch.Tensor, landed: torch.Tensor) -> torch.Tensor:
        e, h = F.normalize(target.float(), dim=-1), F.normalize(landed.float(), dim=-1)
        out = self.net(torch.cat([e, h, e - h], dim=-1)).view(-1, self.tokens, self.hidden)
        return self.scale * F.normalize(out, dim=-1)


class LMCorrector(nn.Module):
    """Rewrites hypotheses into texts nearer their target vectors; see the module docstring."""

    def __init__(self, config: LMCorrectorConfig, lm, tokenizer):
        super().__init__()
        self.config = config.validate()
        self.lm, self.tokenizer = lm, tokenizer
        add_lora(lm, config.lora_rank, config.lora_alpha, config.targets(), config.lora_layers)
        embedding = lm.get_input_embeddings().weight
        scale = embedding.float().norm(dim=-1).mean().item()
        self.prefix = (PrefixMap(config.cond_dim, config.prefix_tokens, embedding.shape[1], scale)
                       if config.prefix_tokens else None)
        self.eos = tokenizer.eos_token_id
        newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
        # a text is one line: generation also stops at a line break (as the base model would go on)
        self.stops = [self.eos] + (newline if len(newline) == 1 else [])
        self.merged = False  # LoRA folded into the base weights (for_writing)

    # --- building the inputs --------------------------------------------------------------
    def _ids(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def _rows(self, prompts: list[list[int]], answers: list[list[int]] | None,
              vectors: torch.Tensor | None, landed: torch.Tensor | None, left_pad: bool):
        """-> inputs_embeds (B, T, H), attention_mask (B, T), labels (B, T) or None. Training pads
        on the right; generation on the left, so every row's next token comes last."""
        embed = self.lm.get_input_embeddings()
        dtype = embed.weight.dtype
        prefix = self.prefix(vectors, landed).to(dtype) if self.prefix is not None else None
        P = 0 if prefix is None else prefix.shape[1]
        answers = answers or [[] for _ in prompts]
        T = max(P + len(p) + len(a) for p, a in zip(prompts, answers))
        B, H = len(prompts), embed.weight.shape[1]
        inputs = torch.zeros(B, T, H, dtype=dtype, device=embed.weight.device)
        mask = torch.zeros(B, T, dtype=torch.long, device=inputs.device)
        labels = torch.full((B, T), IGNORE, dtype=torch.long, device=inputs.device)
        for b, (p, a) in enumerate(zip(prompts, answers)):
            tokens = torch.tensor(p + a, dtype=torch.long, device=inputs.device)
            n = P + len(tokens)
            start = T - n if left_pad else 0
            if P:
                inputs[b, start:start + P] = prefix[b]
            inputs[b, start + P:start + n] = embed(tokens)
            mask[b, start:start + n] = 1
            if a:
                labels[b, start + P + len(p):start + n] = tokens[len(p):]
        return inputs, mask, (labels if any(answers) else None)

    def _prompts(self, hypotheses: list[str], words: list[list[str]]) -> list[list[int]]:
        return self._ids([prompt_text(h, w, self.config) for h, w in zip(hypotheses, words)])

    # --- training ----------------------------------------------------------------------------
    def loss(self, texts: list[str], hypotheses: list[str], words: list[list[str]],
             vectors: torch.Tensor, landed: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of each text's tokens and EOS, given its prompt and vectors."""
        answers = [ids + [self.eos] for ids in self._ids([" " + t for t in texts])]
        inputs, mask, labels = self._rows(self._prompts(hypotheses, words), answers, vectors, landed, False)
        hidden = self.lm.model(inputs_embeds=inputs, attention_mask=mask).last_hidden_state   # (B, T, H)
        scored = labels[:, 1:] != IGNORE                       # position t predicts token t + 1
        logits = self.lm.lm_head(hidden[:, :-1][scored])       # (n, V): scored positions only
        return F.cross_entropy(logits.float(), labels[:, 1:][scored])

    def for_writing(self) -> "LMCorrector":
        """Merge the LoRA deltas into the base weights (in place; about a tenth of the
        writing time): the model then writes, and can no longer be trained or saved."""
        if not self.merged:
            merge_lora(self.lm)
            self.merged = True
        return self.eval()

    def trainable(self) -> dict[str, nn.Parameter]:
        return {name: p for name, p in self.named_parameters() if "lora_" in name or name.startswith("prefix.")}

    # --- writing ---------------------------------------------------------------------------
    @torch.no_grad()
    def content_words(self, decoder, vectors: torch.Tensor) -> list[list[str]]:
        """The words this corrector's prompt gives for each of vectors (B, D): the decoder's most likely."""
        return content_words(decoder, vectors, self.config.words) if self.config.words else [[] for _ in vectors]

    def rewrite(self, hypotheses: list[str], words: list[list[str]], vectors: torch.Tensor,
                landed: torch.Tensor, samples: int = 1, temperature: float = 0.0,
                seed: int = 0) -> list[list[str]]:
        """`samples` rewrites of each hypothesis (greedy when temperature is 0, then one);
        batched across rows, with a KV cache. -> texts, one list per row."""
        inputs, mask, _ = self._rows(self._prompts(hypotheses, words), None, vectors, landed, True)
        greedy = temperature <= 0
        n = 1 if greedy else samples
        if not greedy:
            torch.manual_seed(seed)
        with warnings.catch_warnings():  # it notes that n-grams of the prompt may repeat: as intended
            warnings.filterwarnings("ignore", message=".*no_repeat_ngram_size.*")
            out = self.lm.generate(inputs_embeds=inputs, attention_mask=mask, max_new_tokens=self.config.max_new_tokens,
                                   do_sample=not greedy, temperature=temperature if not greedy else None,
                                   top_p=None, top_k=None, num_return_sequences=n,
                                   pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.stops,
                                   no_repeat_ngram_size=NO_REPEAT)
        # a text is one line (as it was trained): whatever follows a line break is not part of it
        texts = [t.strip().split("\n")[0].strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]
        return [texts[i * n:(i + 1) * n] for i in range(len(hypotheses))]

    # --- folder ------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> None:
        from safetensors.torch import save_file
        if self.merged:
            raise UnembedError("this LM corrector's deltas were merged for writing; save it before for_writing()")
        state = {name: p.detach().to(torch.bfloat16).contiguous() for name, p in self.trainable().items()}
        with atomic.folder(folder) as tmp:
            save_file(state, str(tmp / DELTA_FILE))
            (tmp / CONFIG_FILE).write_text(json.dumps(
                {"type": CHECKPOINT_TYPE, "format": FORMAT, **asdict(self.config)}, indent=1) + "\n")

    @classmethod
    def from_pretrained(cls, folder: str | Path, dtype: torch.dtype = torch.float32, base=None) -> "LMCorrector":
        """The base (from its package, or `base`: (model, tokenizer) already loaded) with the
        folder's delta on top."""
        from safetensors.torch import load_file
        folder = Path(folder)
        config = read_config(folder)
        lm, tokenizer = base if base is not None else load_base(config.base, dtype)
        model = cls(config, lm, tokenizer)
        state = load_file(str(folder / DELTA_FILE))
        expected = model.trainable()
        if set(state) != set(expected):
            raise UnembedError(f"{folder / DELTA_FILE}: its weights do not fit {config.base} with this config "
                               f"({len(set(state) ^ set(expected))} names differ)")
        with torch.no_grad():
            for name, p in expected.items():
                if p.shape != state[name].shape:
                    raise UnembedError(f"{folder / DELTA_FILE}: {name} is {tuple(state[name].shape)}, "
                                       f"the model's is {tuple(p.shape)}")
                p.copy_(state[name].to(p.dtype))
        return model.eval()


def read_config(folder: Path) -> LMCorrectorConfig:
    path = Path(folder) / CONFIG_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise UnembedError(f"{folder} is not an LM corrector (no {CONFIG_FILE})") from None
    if meta.pop("type", None) != CHECKPOINT_TYPE or meta.pop("format", None) != FORMAT:
        raise UnembedError(f"{path}: not an {CHECKPOINT_TYPE} folder of format {FORMAT}")
    return LMCorrectorConfig(**meta).validate()
