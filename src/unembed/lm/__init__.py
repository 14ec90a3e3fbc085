"""The LM corrector: a pretrained causal language model bound to the vector, which rewrites
the search's hypotheses into fluent text (rewriter.py), with its data (pairs.py), the
inverter's content words it reads (words.py), training (training.py) and the base model it
is a delta on (base.py)."""
from .pairs import make_pairs, read_pairs
from .rewriter import LMCorrector, prompt_text
from .words import content_words

__all__ = ["LMCorrector", "content_words", "make_pairs", "prompt_text", "read_pairs"]
