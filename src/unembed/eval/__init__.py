from .evaluate import evaluate
from .metrics import NAME, NUMBER, bleu, cosine_rows, exact_match, recovered_share, token_accuracy, token_f1

__all__ = ["evaluate", "NAME", "NUMBER", "recovered_share", "bleu", "cosine_rows", "exact_match", "token_accuracy", "token_f1"]
