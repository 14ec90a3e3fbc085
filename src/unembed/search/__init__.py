"""Encoder-guided search over decoders: propose texts, embed them, keep the best by cosine."""
