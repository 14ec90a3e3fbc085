from .denoiser import ConditionalMDLM
from .layers import AdaLNZeroBlock, modulate

__all__ = ["ConditionalMDLM", "AdaLNZeroBlock", "modulate"]
