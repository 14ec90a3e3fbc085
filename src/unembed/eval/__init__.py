from .evaluate import evaluate, score
from .metrics import NAME, NUMBER, bleu, cosine_rows, exact_match, recovered_share, token_accuracy, token_f1

__all__ = ["evaluate", "score", "NAME", "NUMBER", "recovered_share", "bleu", "cosine_rows", "exact_match", "token_accuracy", "token_f1"]
