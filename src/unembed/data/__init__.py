from .cache import load_split, read_meta
from .corpus import clean, read_texts, split_heldout
from .prepare import grow_vocabulary, prepare

__all__ = ["prepare", "grow_vocabulary", "load_split", "read_meta", "read_texts", "clean", "split_heldout"]
