"""Embedding-vector geometry shared by every layer: unit rows, cosine, Matryoshka cuts."""
