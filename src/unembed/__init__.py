"""unembed: turn text-embedding vectors back into text."""
import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())

from .version import __version__


def load(name_or_path: str = "en", device: str = "auto", encoder=None, align=None, precision: str = "auto",
         corrector=None, encoder_path: str = "", lm_corrector=None):
    """An Inverter from a checkpoint folder or a shipped model's name ("en"); `align`: an
    alignment map folder (`unembed align`) through which it reads another encoder's vectors;
    `precision`: auto | float32 | bfloat16, of the decoder's matrix products (auto: bfloat16
    on a GPU or a CPU with native bfloat16); `corrector`: a corrector folder for the
    `correct` strategy (default: the model's own, when it ships one); `encoder_path`: a local
    folder of the model's encoder (default: the recorded folder, the cache, then the hub);
    `lm_corrector`: an LM corrector folder for `lm` proposals (default: the model's own)."""
    from .inverter import Inverter  # here: `import unembed` alone stays light (no torch)
    return Inverter.from_pretrained(name_or_path, device=device, encoder=encoder, align=align,
                                    precision=precision, corrector=corrector, encoder_path=encoder_path,
                                    lm_corrector=lm_corrector)


__all__ = ["load", "__version__"]
