"""The model's reserved codes. Every model code below FIRST_TOKEN is special; the tokenizer's
pieces (vocabulary.py) are mapped to the codes from FIRST_TOKEN on. The model, the loss and
the samplers need only these numbers, not the tokenizer."""
PAD, MASK, UNK = 0, 1, 2
SPECIALS = ["[PAD]", "[MASK]", "[UNK]"]   # their names, in code order
FIRST_TOKEN = len(SPECIALS)

__all__ = ["PAD", "MASK", "UNK", "SPECIALS", "FIRST_TOKEN"]
