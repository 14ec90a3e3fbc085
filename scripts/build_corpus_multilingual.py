"""Build the multilingual corpus (26 languages, 10 scripts) from Debian packages that install offline.

    python scripts/build_corpus_multilingual.py --out data/corpus/multilingual            # the e5 model's 10
    python scripts/build_corpus_multilingual.py --out data/corpus/gemma --languages all --per-language 4000

For each language: LibreOffice help, man pages, fortunes and Bibles where Debian has them; a
language they leave short of --per-language is topped up with its translated user-interface
messages (TOP_UP), for training only. Arabic, Hebrew and Thai have none of those: their text is
the interface messages of LibreOffice, Firefox and Thunderbird, Thunderbird's kept apart.
Sentences are split by the language's punctuation, kept by length (5-40 words; Chinese and
Japanese 8-80 characters, Thai 20-200), and kept only when a language identifier (py3langid) agrees with the
language: translated help carries much untranslated English. Each language is deduplicated,
shuffled, and cut into OUT/LANG.txt (training) and OUT/heldout/LANG.txt (never trained on).
OUT/counts.json records what each source gave. OUT/parallel/LANG.tsv holds English-LANG sentence
pairs: LibreOffice help paragraphs with the same id in both languages (for encoder comparisons).
"""
from __future__ import annotations

import argparse
import gettext
import html
import json
import random
import re
import tempfile
import unicodedata
import zipfile
from pathlib import Path

from build_corpus import BAD, bible_verses, extract, html_paragraphs, roff_paragraphs

# language -> source kind -> Debian packages
SOURCES = {
    "en": {"libreoffice": ["libreoffice-help-en-us"], "manpages": ["manpages"],
           "fortunes": ["fortunes", "fortunes-min"], "bible": ["sword-text-web"]},
    "de": {"libreoffice": ["libreoffice-help-de"], "manpages": ["manpages-de"], "fortunes": ["fortunes-de"]},
    "es": {"libreoffice": ["libreoffice-help-es"], "manpages": ["manpages-es"], "fortunes": ["fortunes-es"],
           "bible": ["sword-text-sparv"]},
    "fr": {"libreoffice": ["libreoffice-help-fr"], "manpages": ["manpages-fr"]},
    "it": {"libreoffice": ["libreoffice-help-it"], "manpages": ["manpages-it"], "fortunes": ["fortunes-it"]},
    "pl": {"libreoffice": ["libreoffice-help-pl"], "manpages": ["manpages-pl"], "fortunes": ["fortunes-pl"]},
    "pt": {"libreoffice": ["libreoffice-help-pt", "libreoffice-help-pt-br"],
           "manpages": ["manpages-pt-br"]},
    "ru": {"libreoffice": ["libreoffice-help-ru"], "manpages": ["manpages-ru"], "fortunes": ["fortunes-ru"]},
    "zh": {"libreoffice": ["libreoffice-help-zh-cn"], "manpages": ["manpages-zh"], "fortunes": ["fortunes-zh"]},
    "ja": {"libreoffice": ["libreoffice-help-ja"], "manpages": ["manpages-ja"]},
    # the Gemma model's further languages: Latin, Greek, Hangul, Devanagari and Cyrillic scripts
    **{lang: {"libreoffice": [f"libreoffice-help-{lang}"], "manpages": [f"manpages-{lang}"]}
       for lang in ("cs", "da", "el", "fi", "hu", "id", "nl", "sv", "tr", "vi")},
    "ko": {"libreoffice": ["libreoffice-help-ko"]},
    "hi": {"libreoffice": ["libreoffice-help-hi"]},
    "uk": {"manpages": ["manpages-uk"]},
    # Scripts Debian has no help, man pages or Bibles in: only translated interface messages, one
    # program's per source, so that the smallest can be kept apart as a held-out source.
    **{lang: {"libreoffice-ui": [f"libreoffice-l10n-{lang}"], "firefox-ui": [f"firefox-esr-l10n-{lang}"],
              "thunderbird-ui": [f"thunderbird-l10n-{lang}"]} for lang in ("ar", "he", "th")},
}
# Training-only sources for a language the sources above leave short of --per-language: the
# translated messages of LibreOffice (gettext catalogs) and Firefox (its language pack). They
# never enter a held-out split, and a message that shares text with a held-out line is dropped,
# so the held-out lines stay those of the sources above.
TOP_UP = {"hi": {"ui": ["libreoffice-l10n-hi", "firefox-esr-l10n-hi-in"]},
          "uk": {"ui": ["libreoffice-l10n-uk", "firefox-esr-l10n-uk"]}}
E5_LANGUAGES = ["en", "de", "es", "fr", "it", "pl", "pt", "ru", "zh", "ja"]
# A whole source per language is kept apart (OUT/heldout-source/LANG.txt) with --heldout-sources:
# the smaller of two, so the model is measured on a kind of text it never read in that language.
HELDOUT_SOURCE = {"en": "fortunes", "de": "fortunes", "es": "fortunes", "it": "fortunes", "pl": "fortunes",
                  "ru": "fortunes", "zh": "fortunes", "fr": "manpages", "pt": "manpages", "ja": "manpages",
                  **{lang: "manpages" for lang in ("cs", "da", "el", "fi", "hu", "id", "nl", "sv", "tr", "vi")},
                  **{lang: "thunderbird-ui" for lang in ("ar", "he", "th")}}
CJK = {"zh", "ja"}
# Thai writes no spaces between words: its sentences are kept by their length in characters, as
# Chinese and Japanese are.
BY_CHARACTER = CJK | {"th"}
# Languages first built after the marks rule: every source of theirs counts combining marks as
# letters (Arabic's vowel signs, Hebrew's points, Thai's vowels).
MARKS = {"ar", "he", "th"}
SENTENCE_END = re.compile(r"(?<=[.!?।؟])[\"')\]»]?\s+(?=[\"'(\[«¿¡]?\w)")
CJK_SENTENCE_END = re.compile(r"(?<=[。！？])\s*|(?<=[.!?])\s+")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def keep(sentence: str, language: str, marks: bool = False) -> bool:
    """marks: count combining marks (Devanagari's vowel signs) as letters. The main sources
    keep the older count without them, so that their held-out lines stay those every report
    used; TOP_UP sources count them."""
    if not sentence or BAD.search(sentence) or "\x00" in sentence or "\ufffd" in sentence:
        return False
    letters = sum(c.isalpha() or (marks and unicodedata.category(c).startswith("M")) for c in sentence)
    if language in BY_CHARACTER:
        n = len(sentence.replace(" ", ""))
        low, high = (8, 80) if language in CJK else (20, 200)  # a Thai word is ~4-5 characters
        return low <= n <= high and letters >= 0.6 * n
    n_words = len(sentence.split())
    first = sentence[0]
    caseless = first.isalpha() and first.lower() == first.upper()  # Hangul, Devanagari, Arabic: no capitals
    starts_well = first.isupper() or caseless or first in "¿¡«\"("
    return 5 <= n_words <= 40 and starts_well and letters >= 0.6 * len(sentence)


def split_sentences(paragraph: str, language: str, marks: bool = False) -> list[str]:
    paragraph = re.sub(r"\s+", " ", ANSI.sub("", paragraph)).strip()
    splitter = CJK_SENTENCE_END if language in CJK else SENTENCE_END
    return [s.strip() for s in splitter.split(paragraph) if keep(s.strip(), language, marks)]


def fortune_quotes(root: Path):
    for f in sorted(root.glob("*/usr/share/games/fortunes/**/*")):
        if f.suffix in (".dat", ".u8") or f.is_symlink() or not f.is_file() or "off" in f.parts:
            continue
        for quote in f.read_text("utf-8", errors="replace").split("\n%\n"):
            yield re.split(r"\n\s*--", quote)[0]  # drop the attribution line


MESSAGE_LINE = re.compile(r"^\s*[\w.-]+\s*=\s*(.+)$|<!ENTITY\s+\S+\s+\"([^\"]+)\"")
PLACEHOLDER = re.compile(r"%|\$|\{|&\w+;")


def ui_messages(root: Path):
    """Translated interface messages: every string of the gettext catalogs (.mo), and the values
    of a Firefox language pack's .ftl, .properties and .dtd files, placeholders left out."""
    for mo in sorted(root.glob("*/**/*.mo")):
        with open(mo, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog
        for key in sorted(catalog, key=str):
            if key and isinstance(catalog[key], str) and not PLACEHOLDER.search(catalog[key]):   # "": the header
                yield catalog[key].replace("~", "")   # LibreOffice marks access keys with ~
    for pack in sorted(root.glob("*/**/*.xpi")):
        with zipfile.ZipFile(pack) as z:
            for name in sorted(n for n in z.namelist() if n.endswith((".ftl", ".properties", ".dtd"))):
                for line in z.read(name).decode("utf-8", errors="replace").splitlines():
                    m = MESSAGE_LINE.search(line)
                    value = m and (m.group(1) or m.group(2))
                    if value and not PLACEHOLDER.search(value):
                        yield value


def paragraphs(kind: str, root: Path):
    if kind == "ui" or kind.endswith("-ui"):
        return ui_messages(root)
    if kind == "libreoffice":
        return html_paragraphs(sorted(root.glob("*/usr/share/libreoffice/help/*/**/*.html")))
    if kind == "manpages":
        return roff_paragraphs(sorted(root.glob("*/usr/share/man/**/*.gz")))
    if kind == "fortunes":
        return fortune_quotes(root)
    return bible_verses(root)


PARAGRAPH_WITH_ID = re.compile(r'<p id="([^"]+)"[^>]*>(.*?)</p>', re.S)


def id_paragraphs(html_file: Path) -> dict[str, str]:
    found = {}
    for pid, inner in PARAGRAPH_WITH_ID.findall(html_file.read_text("utf-8", errors="replace")):
        if "<code" in inner or "<pre" in inner:
            continue
        found[pid] = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", inner))).strip()
    return found


def parallel_pairs(work: Path, language: str, identify, n: int, seed: int) -> list[tuple[str, str]]:
    """English and LANG paragraphs with the same id in the same help page, both one kept sentence."""
    english = extract(work, "en-libreoffice", SOURCES["en"]["libreoffice"])
    other = extract(work, f"{language}-libreoffice", SOURCES[language]["libreoffice"])
    pairs = {}
    for page in sorted(other.glob("*/usr/share/libreoffice/help/*/**/*.html")):
        parts = page.parts[page.parts.index("help") + 2:]
        twins = list(english.glob("*/usr/share/libreoffice/help/en-US/" + "/".join(parts)))
        if not twins:
            continue
        source = id_paragraphs(twins[0])
        for pid, text in id_paragraphs(page).items():
            en = source.get(pid, "")
            if (split_sentences(en, "en") == [en] and split_sentences(text, language) == [text]
                    and en != text and identify(text) == language):
                pairs.setdefault(en, text)
    chosen = sorted(pairs.items())
    random.Random(seed).shuffle(chosen)
    return chosen[:n]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/corpus/multilingual"))
    parser.add_argument("--debs", type=Path, default=None, help="reuse a folder of extracted packages")
    parser.add_argument("--languages", nargs="+", default=E5_LANGUAGES, choices=list(SOURCES) + ["all"])
    parser.add_argument("--per-language", type=int, default=24000, help="training texts per language (at most)")
    parser.add_argument("--heldout", type=int, default=300, help="held-out texts per language")
    parser.add_argument("--heldout-sources", action="store_true",
                        help="also keep one whole source per language apart (HELDOUT_SOURCE): OUT/heldout-source/")
    parser.add_argument("--parallel", type=int, default=1000, help="English-LANG pairs per language (0 = none)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if "all" in args.languages:
        args.languages = list(SOURCES)
    import py3langid  # pip install py3langid
    work = args.debs or Path(tempfile.mkdtemp(prefix="unembed-debs-"))
    for sub in ("heldout", "heldout-source"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    counts = {}
    identify = lambda text: py3langid.classify(text)[0]  # noqa: E731
    for language in args.languages:
        seen, counts[language] = {}, {}
        for kind, packages in SOURCES[language].items():
            counts[language][kind] = gather(work, language, kind, packages, seen, identify,
                                            marks=language in MARKS)
        apart = HELDOUT_SOURCE.get(language) if args.heldout_sources else None
        # a sentence that also occurs in a trained source is trained text, never held-out-source text
        source_texts = sorted(t for t, kinds in seen.items() if kinds == {apart})
        texts = sorted(t for t, kinds in seen.items() if kinds != {apart})
        random.Random(args.seed).shuffle(texts)
        random.Random(args.seed).shuffle(source_texts)
        heldout, train = texts[:args.heldout], texts[args.heldout:args.heldout + args.per_language]
        if len(train) < args.per_language and language in TOP_UP:
            train += top_up(work, language, heldout + source_texts, seen, identify, counts[language],
                            args.per_language - len(train), args.seed)
        outputs = [(args.out / "heldout" / f"{language}.txt", heldout), (args.out / f"{language}.txt", train)]
        if apart:
            outputs.append((args.out / "heldout-source" / f"{language}.txt", source_texts[:args.heldout]))
            counts[language]["heldout_source"] = {"kind": apart, "texts": len(source_texts[:args.heldout])}
        for path, lines in outputs:
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            tmp.replace(path)
        counts[language]["train"], counts[language]["heldout"] = len(train), len(heldout)
        print(f"{language}: {len(texts):6d} sentences -> {len(train)} train, {len(heldout)} held out"
              + (f", {len(source_texts[:args.heldout])} from held-out source {apart}" if apart else "") + "; "
              + ", ".join(f"{k} {v['kept']}" for k, v in counts[language].items() if isinstance(v, dict) and "kept" in v))
    (args.out / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    if args.parallel:
        write_parallel(args, work, identify)


def gather(work: Path, language: str, kind: str, packages: list[str], seen: dict, identify,
           marks: bool = False) -> dict:
    """Add a source's kept sentences to `seen` (sentence -> the kinds that have it); its counts."""
    root = extract(work, f"{language}-{kind}", packages)
    kept = foreign = 0
    for paragraph in paragraphs(kind, root):
        for sentence in split_sentences(paragraph, language, marks):
            if sentence in seen:
                seen[sentence].add(kind)
            elif identify(sentence) == language:
                seen[sentence] = {kind}
                kept += 1
            else:
                foreign += 1
    return {"kept": kept, "other_language": foreign}


def top_up(work: Path, language: str, apart: list[str], seen: dict, identify, counts: dict, n: int,
           seed: int) -> list[str]:
    """Up to n training sentences from the language's TOP_UP sources, none already kept, and none
    equal to, inside or around a held-out text (`apart`)."""
    before = set(seen)
    for kind, packages in TOP_UP[language].items():
        counts[kind] = gather(work, language, kind, packages, seen, identify, marks=True)
    new = sorted(t for t in seen if t not in before)
    clean = [t for t in new if not any(t in h or h in t for h in apart)]
    counts["top_up_near_heldout"] = len(new) - len(clean)
    random.Random(seed).shuffle(clean)
    return clean[:n]


def write_parallel(args, work: Path, identify) -> None:
    (args.out / "parallel").mkdir(parents=True, exist_ok=True)
    for language in args.languages:
        if language == "en" or "libreoffice" not in SOURCES[language]:
            continue
        pairs = parallel_pairs(work, language, identify, args.parallel, args.seed)
        path = args.out / "parallel" / f"{language}.tsv"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(f"{en}\t{other}\n" for en, other in pairs), encoding="utf-8")
        tmp.replace(path)
        print(f"{language}: {len(pairs)} English-{language} pairs")


if __name__ == "__main__":
    main()
