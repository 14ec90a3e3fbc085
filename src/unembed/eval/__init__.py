from .evaluate import evaluate, reference_of, score, score_rows
from .metrics import NAME, NUMBER, bleu, cosine_rows, exact_match, recovered_share, token_accuracy, token_f1

__all__ = ["evaluate", "reference_of", "score", "score_rows", "NAME", "NUMBER", "recovered_share", "bleu", "cosine_rows", "exact_match", "token_accuracy", "token_f1"]
