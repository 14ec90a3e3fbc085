"""Text as the models see it: the reserved codes, the vocabulary over a tokenizer, and where
offline tokenizers come from."""
