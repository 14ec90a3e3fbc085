import numpy as np

from unembed.text.vocabulary import MASK, PAD, SPECIALS, UNK, Vocabulary, train_bpe
from conftest import SENTENCES


def make_vocab():
    texts = SENTENCES.read_text().splitlines()
    tokenizer = train_bpe(texts, 400)
    ids = [e.ids for e in tokenizer.encode_batch(texts[:30])]
    flat = np.array([i for row in ids for i in row])
    return Vocabulary.from_corpus_ids(tokenizer, flat), texts


def test_compact_vocabulary_covers_only_seen_tokens_and_round_trips():
    vocab, texts = make_vocab()
    assert len(vocab) < vocab.tokenizer.get_vocab_size() + len(SPECIALS)
    codes = vocab.encode(texts[:5], max_len=32)
    assert codes.shape == (5, 32) and (codes[:, -1] == PAD).all()
    assert not (codes == UNK).any()
    assert [vocab.decode(row) for row in codes] == texts[:5]  # cased, lossless


def test_unseen_tokens_become_unk_and_specials_decode_to_nothing():
    vocab, _ = make_vocab()
    codes = vocab.encode(["Zebras quizzically juxtapose xylophones"], max_len=16)[0]
    assert (codes == UNK).any()
    assert vocab.decode(np.array([PAD, MASK, UNK])) == ""


def test_truncation_re_decodes_to_a_text_with_exactly_those_tokens():
    vocab, texts = make_vocab()
    long_text = " ".join(texts[:4])
    text, ids = vocab.truncate(long_text, 12)
    assert len(ids) == 12 and vocab.tokenize([text])[0] == ids
    assert long_text.startswith(text)


def test_save_and_load(tmp_path):
    vocab, texts = make_vocab()
    vocab.save(tmp_path)
    again = Vocabulary.load(tmp_path)
    assert np.array_equal(again.encode(texts, 32), vocab.encode(texts, 32))


def test_a_large_tokenizer_is_saved_gzipped_and_reads_back(tmp_path, monkeypatch):
    import unembed.text.vocabulary as vocabulary
    from unembed.text.vocabulary import load_tokenizer
    vocab, texts = make_vocab()
    monkeypatch.setattr(vocabulary, "GZIP_OVER", 1000)  # as Gemma's 33 MB tokenizer.json is
    vocab.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer.json.gz", "vocab.json"]
    assert (tmp_path / "tokenizer.json.gz").stat().st_size < len(vocab.tokenizer.to_str(pretty=True))
    again = Vocabulary.load(tmp_path)
    assert np.array_equal(again.encode(texts, 32), vocab.encode(texts, 32))
    assert load_tokenizer(str(tmp_path)).to_str() == vocab.tokenizer.to_str()


def test_cut_keeps_the_texts_own_characters_up_to_the_last_kept_token():
    vocab, texts = make_vocab()
    long_text = " ".join(texts[:4])
    cut = vocab.cut(long_text, 12)
    assert long_text.startswith(cut) and len(vocab.tokenize([cut])[0]) == 12
    arabic = "مرحبا بكم في المكتبة"
    assert vocab.cut(arabic, 64) == arabic  # kept as written, never replaced by <unk>


def test_characters_outside_the_vocabulary_are_found_with_their_script():
    vocab, texts = make_vocab()
    assert vocab.unsupported(texts[0]) is None and vocab.warning(texts[0]) is None
    found = vocab.unsupported("The cat sat 오래된 도서관")
    assert found == {"characters": 6, "of": 15, "scripts": ["Hangul"]}
    assert "6 of its 15 characters (Hangul) are outside" in vocab.warning("The cat sat 오래된 도서관")
    assert vocab.unsupported("مرحبا")["scripts"] == ["Arabic"]
    rare = "Zebras quizzically juxtapose xylophones"  # letters it lacks, of a script it writes: a miss,
    assert vocab.unknown(rare) and vocab.unsupported(rare) is None  # not an unsupported text
