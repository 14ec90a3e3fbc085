"""What the LM corrector is told of a vector in words: the decoder's most likely content words."""
from __future__ import annotations

import re

import torch

# words that say nothing of a text's content: the prompt's words are for content
STOPWORDS = frozenset("""a an and are as at be been but by can could did do does for from had has have he her his
i if in into is it its may me might my no not of on or our shall she should so than that the their them then there
these they this those to too us was we were what when which who will with would you your""".split())
WORD = re.compile(r"^[\w'-]+$")


def content_words(decoder, vectors: torch.Tensor, k: int) -> list[list[str]]:
    """A decoder's (search/decoder.py) `k` most likely content words for each of vectors (B, D),
    most likely first: its token prior's top pieces that begin a word (not the inside of one),
    are not stopwords, once each."""
    prior = decoder.token_prior(vectors)                                          # (B, V)
    top = prior.topk(min(prior.shape[1], 8 * k), dim=-1).indices.cpu().numpy()
    out = []
    for row in top:
        words, seen = [], set()
        for piece in decoder.vocab.pieces(row):
            word = piece.strip()
            key = word.lower()
            starts = piece[:1].isspace() or (word[:1].isupper() and len(word) > 2)  # a word's first piece
            if len(word) < 3 and not word.isdigit() or not starts or not WORD.match(word) \
                    or key in STOPWORDS or key in seen:
                continue
            seen.add(key)
            words.append(word)
            if len(words) == k:
                break
        out.append(words)
    return out


__all__ = ["content_words"]
