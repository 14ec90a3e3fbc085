"""Build the English corpus from Debian packages that install offline.

    python scripts/build_corpus.py --out data/corpus/en

Downloads the packages with `apt-get download` (no system install), extracts them,
pulls natural sentences of 6-40 words from each source, keeps those a language
identifier (py3langid) calls English, drops sentences an earlier source already gave,
and writes one text file per source. `manpages` is kept apart as the out-of-domain
source: never train on it.
"""
from __future__ import annotations

import argparse
import ast
import gzip
import html.parser
import re
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

PACKAGES = {
    "fortunes": ["fortunes", "fortunes-min", "fortune-anarchism"],
    "wordnet": ["wordnet-base"],
    "bible": ["sword-text-web"],
    "libreoffice": ["libreoffice-help-en-us"],
    "pydoc": ["python3.11-doc"],
    "docstrings": ["libpython3.11-stdlib"],
    "gcide": ["dict-gcide"],
    "sysdocs": ["debian-handbook", "debian-reference-en", "gnome-user-docs"],
    "manpages": ["manpages"],  # out-of-domain held-out source
}
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
WORD = re.compile(r"\S+")
BAD = re.compile(r"https?://|www\.|@\w+\.|[{}<>|\\_=#~^*]|\.\.\.\.|--|\t")


def keep(sentence: str) -> bool:
    n_words = len(WORD.findall(sentence))
    if not 6 <= n_words <= 40 or BAD.search(sentence):
        return False
    ascii_letters = sum(c.isascii() and c.isalpha() for c in sentence)
    return ascii_letters >= 0.6 * len(sentence) and sentence[0].isupper()


def split_sentences(paragraph: str) -> list[str]:
    paragraph = re.sub(r"\s+", " ", paragraph).strip()
    return [s.strip() for s in SENTENCE_END.split(paragraph) if keep(s.strip())]


def fortunes(root: Path):
    for f in sorted(root.glob("*/usr/share/games/fortunes/*")):
        if f.suffix or f.is_symlink() or "off" in f.parts:
            continue
        for quote in f.read_text("utf-8", errors="replace").split("\n%\n"):
            # Quotes end with an attribution line ("-- Author"); drop it.
            body = re.split(r"\n\s*--", quote)[0]
            yield from split_sentences(body)


def wordnet(root: Path):
    for f in sorted(root.glob("*/usr/share/wordnet/data.*")):
        for line in f.read_text("utf-8", errors="replace").splitlines():
            if "|" not in line or line.startswith("  "):
                continue
            gloss = line.split("|", 1)[1]
            for example in re.findall(r'"([^"]+)"', gloss):
                example = example.strip()
                if example and example[0].islower():
                    example = example[0].upper() + example[1:]
                if keep(example):
                    yield example
            definition = re.split(r';\s*"', gloss)[0].strip()
            definition = definition[0].upper() + definition[1:] if definition else ""
            if keep(definition):
                yield definition


def bible_verses(root: Path):
    """Read a SWORD zText module: .bzs block index, .bzz zlib blocks, .bzv verse index."""
    for mod in sorted(root.glob("*/usr/share/sword/modules/texts/ztext/*")):
        for testament in ("ot", "nt"):
            bzs = (mod / f"{testament}.bzs").read_bytes()
            bzz = (mod / f"{testament}.bzz").read_bytes()
            blocks = []
            for i in range(0, len(bzs), 12):
                offset, size, _ = struct.unpack("<III", bzs[i:i + 12])
                blocks.append(zlib.decompress(bzz[offset:offset + size]))
            bzv = (mod / f"{testament}.bzv").read_bytes()
            for i in range(0, len(bzv) - 9, 10):
                block, start, length = struct.unpack("<IIH", bzv[i:i + 10])
                if length == 0 or block >= len(blocks):
                    continue
                verse = blocks[block][start:start + length].decode("utf-8", errors="replace")
                verse = re.sub(r"<note.*?</note>", " ", verse, flags=re.S)
                yield re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"<[^>]+>", " ", verse))


def bible(root: Path):
    for verse in bible_verses(root):
        yield from split_sentences(verse)


class _Paragraphs(html.parser.HTMLParser):
    """Collect the text of <p>, <li>, <dd> and <td> elements; skip code and scripts."""

    BLOCKS = {"p", "li", "dd", "td"}
    SKIP = {"pre", "code", "script", "style", "tt", "kbd", "samp"}

    def __init__(self):
        super().__init__()
        self.paragraphs, self.buffer, self.depth_skip = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth_skip += 1
            self.buffer.append(" \x00 ")  # a code span makes the sentence unusable
        elif tag in self.BLOCKS:
            self.flush()

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.depth_skip = max(0, self.depth_skip - 1)
        elif tag in self.BLOCKS:
            self.flush()

    def handle_data(self, data):
        if not self.depth_skip:
            self.buffer.append(data)

    def flush(self):
        text = "".join(self.buffer)
        if text.strip():
            self.paragraphs.append(text)
        self.buffer = []


def html_paragraphs(files):
    for f in files:
        parser = _Paragraphs()
        parser.feed(f.read_text("utf-8", errors="replace"))
        parser.flush()
        yield from parser.paragraphs


def html_sentences(files):
    for paragraph in html_paragraphs(files):
        yield from (s for s in split_sentences(paragraph) if "\x00" not in s)


def libreoffice(root: Path):
    yield from html_sentences(sorted(root.glob("*/usr/share/libreoffice/help/en-US/**/*.html")))


def pydoc(root: Path):
    yield from html_sentences(sorted(root.glob("*/usr/share/doc/python3.11/html/**/*.html")))


def docstrings(root: Path):
    """Paragraphs of the docstrings in the Python standard library's own sources."""
    for f in sorted(root.glob("*/usr/lib/python3.11/**/*.py")):
        if "test" in f.parts or "idlelib" in f.parts or not f.is_file():
            continue
        try:
            tree = ast.parse(f.read_text("utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node) or ""
                for paragraph in doc.split("\n\n"):
                    if not re.search(r"^\s*(>>>|[-\w]+\s*:$)", paragraph, flags=re.M):
                        yield from split_sentences(paragraph)


def gcide(root: Path):
    """Definitions, usage notes and dated quotations of the 1913 Webster (GCIDE)."""
    for f in sorted(root.glob("*/usr/share/dictd/gcide.dict.dz")):
        text = gzip.decompress(f.read_bytes()).decode("utf-8", errors="replace")
        for paragraph in re.split(r"\n\s*\n", text):
            if "\\" in paragraph.split("\n", 1)[0]:  # the headword line with its pronunciation
                continue
            paragraph = re.sub(r"\[[^\]]*\]|\{|\}|^\s*\d+\.\s*|^\s*\([^)]*\)\s*|^\s*(Syn|Usage):",
                               "", paragraph.strip(), flags=re.M)
            paragraph = re.split(r"\s--\s?[A-Z]", paragraph)[0]  # drop the quotation's author
            yield from split_sentences(paragraph)


def sysdocs(root: Path):
    yield from html_sentences(sorted(root.glob("*/usr/share/doc/debian-handbook/html/en-US/*.html")))
    yield from html_sentences(sorted(root.glob("*/usr/share/debian-reference/*.en.html")))
    yield from html_sentences(sorted(root.glob("*/usr/share/help/C/**/*.page")))


def roff_paragraphs(files):
    """Running text of roff man pages: requests end a paragraph, font escapes are dropped."""
    for f in files:
        text = gzip.decompress(f.read_bytes()).decode("utf-8", errors="replace")
        paragraph = []
        for line in text.splitlines():
            if line.startswith((".", "'")):  # a roff request ends the running paragraph
                if line[:3] in (".B ", ".I ", ".BR", ".IR", ".RB", ".RI"):
                    paragraph.append(re.sub(r'^\.\w+\s*|"', "", line))
                    continue
                yield " ".join(paragraph)
                paragraph = []
            else:
                paragraph.append(re.sub(r"\\f[BIRP]|\\\(..|\\[-&e]|\\", "", line))
        yield " ".join(paragraph)


def manpages(root: Path):
    for paragraph in roff_paragraphs(sorted(root.glob("*/usr/share/man/man*/*.gz"))):
        yield from split_sentences(paragraph)


def extract(work: Path, name: str, packages: list[str]) -> Path:
    """`apt-get download` the packages and unpack each under work/name/PACKAGE (no install)."""
    root = work / name
    if not root.exists():
        debs = work / f"{name}.debs"
        debs.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", *packages], cwd=debs, check=True,
                       stdout=subprocess.DEVNULL)
        for deb in debs.glob("*.deb"):
            target = root / deb.name.split("_")[0]
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    return root


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/corpus/en"))
    parser.add_argument("--debs", type=Path, default=None, help="reuse a folder of extracted packages")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.debs or Path(tempfile.mkdtemp(prefix="unembed-debs-"))
    import py3langid  # pip install py3langid
    seen = set()  # across sources: a sentence belongs to the first source that gives it
    for source, packages in PACKAGES.items():
        lines, foreign = [], 0
        for sentence in globals()[source](extract(work, source, packages)):
            if sentence in seen:
                continue
            if py3langid.classify(sentence)[0] != "en":
                foreign += 1
            else:
                seen.add(sentence)
                lines.append(sentence)
        tmp = args.out / f".{source}.txt.tmp"
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(args.out / f"{source}.txt")
        print(f"{source:12s} {len(lines):7d} sentences ({foreign} not English, dropped)")


if __name__ == "__main__":
    main()
