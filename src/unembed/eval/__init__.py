"""Measuring an inversion: the metrics, the round trip back through the encoder, and `eval`."""
from .evaluate import evaluate, score
from .metrics import NAME, NUMBER, bleu, cosine_rows, exact_match, recovered_share, token_accuracy, token_f1
from .roundtrip import cosines_back, reference_of, round_trip, score_rows

__all__ = ["evaluate", "reference_of", "round_trip", "cosines_back", "score", "score_rows", "NAME", "NUMBER",
           "recovered_share", "bleu", "cosine_rows", "exact_match", "token_accuracy", "token_f1"]
