from .evaluate import evaluate
from .metrics import bleu, cosine_rows, exact_match, token_accuracy, token_f1

__all__ = ["evaluate", "bleu", "cosine_rows", "exact_match", "token_accuracy", "token_f1"]
