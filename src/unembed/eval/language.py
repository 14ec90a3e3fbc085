"""Which language a text is in (py3langid, offline), to check that an inverter answers in
the language it was given."""
from __future__ import annotations

from ..errors import UnembedError

# sacreBLEU tokenisation per language: its default (13a) splits on spaces, which Chinese and
# Japanese (and Thai) do not write, so their BLEU would count whole clauses as single words.
BLEU_TOKENIZE = {"zh": "zh", "ja": "char", "th": "char"}


def identify(texts: list[str]) -> list[str]:
    """A language code per text: ISO 639-1 where there is one ('de'), else 639-3 ('wuu');
    '' for a text with no letters."""
    try:
        import py3langid
    except ImportError:
        raise UnembedError("language identification needs py3langid: "
                           "pip install 'unembed[multilingual]'") from None
    return [py3langid.classify(t)[0] if any(c.isalpha() for c in t) else "" for t in texts]


def language_share(texts: list[str], language: str) -> float:
    """Share of texts identified as `language`."""
    if not texts:
        return 0.0
    return sum(code == language for code in identify(texts)) / len(texts)


__all__ = ["BLEU_TOKENIZE", "identify", "language_share"]
