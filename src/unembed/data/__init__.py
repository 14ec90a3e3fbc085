from .cache import load_split, read_meta
from .corpus import clean, read_texts, split_heldout
from .prepare import prepare

__all__ = ["prepare", "load_split", "read_meta", "read_texts", "clean", "split_heldout"]
