import json

import numpy as np
import pytest

from mmstudio.data.text import (
    PAD_ID,
    UNK_ID,
    BpeTokenizer,
    WordTokenizer,
    build_tokenizer,
    tokenizer_from_dict,
    tokenizer_hash,
)

CORPUS = [
    "Red badge for sale near the market.",
    "Lost: blue badge near the station!",
    "I can't find my red sticker, last seen at the park.",
    "Selling a green sticker; collect from the bakery.",
    "Café crème for sale, naïve price: 3 €.",
]


def test_special_tokens_come_first():
    tok = WordTokenizer.fit(CORPUS)
    assert tok.tokens[:2] == ["<pad>", "<unk>"]
    assert (PAD_ID, UNK_ID) == (0, 1)
    assert 0 not in tok.encode("red badge")  # real tokens never get the padding id


def test_words_punctuation_and_apostrophes():
    tok = WordTokenizer.fit(CORPUS)
    assert tok.tokenize("Lost: BLUE badge!") == ["lost", ":", "blue", "badge", "!"]
    assert tok.tokenize("I can't find it") == ["i", "can't", "find", "it"]
    assert tok.tokenize("  \t\n ") == []


def test_unknown_words_map_to_unk():
    tok = WordTokenizer.fit(CORPUS)
    ids = tok.encode("red zeppelin")
    assert ids[0] not in (PAD_ID, UNK_ID)
    assert ids[1] == UNK_ID


def test_lowercase_can_be_turned_off():
    tok = WordTokenizer.fit(["Red red RED"], lowercase=False)
    assert set(tok.tokens[2:]) == {"Red", "red", "RED"}
    assert tok.encode("RED") != tok.encode("red")


def test_unicode_is_normalized_and_kept():
    tok = WordTokenizer.fit(CORPUS)
    decomposed = "cafe\u0301"  # e + combining acute accent, NFKC composes it to "café"
    assert tok.encode(decomposed) == tok.encode("Café")
    assert UNK_ID not in tok.encode("naïve crème €")
    assert WordTokenizer.fit(["Москва Ünïcödé 東京"]).tokenize("москва ÜNÏCÖDÉ") == ["москва", "ünïcödé"]


def test_min_freq_drops_rare_words():
    tok = WordTokenizer.fit(["a a a b b c"], min_freq=2)
    assert tok.tokens == ["<pad>", "<unk>", "a", "b"]


def test_max_size_bounds_the_whole_vocabulary_with_deterministic_ties():
    # "a" x3; then "b", "c", "d" tied at x2, broken by code point; "e" once.
    texts = ["d c b a", "a b c d", "a e"]
    tok = WordTokenizer.fit(texts, max_size=4)
    assert tok.vocab_size == 4
    assert tok.tokens == ["<pad>", "<unk>", "a", "b"]
    assert WordTokenizer.fit(list(reversed(texts)), max_size=4).tokens == tok.tokens
    assert WordTokenizer.fit(texts).tokens == ["<pad>", "<unk>", "a", "b", "c", "d", "e"]


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="min_freq"):
        WordTokenizer.fit(CORPUS, min_freq=0)
    with pytest.raises(ValueError, match="max_size"):
        WordTokenizer.fit(CORPUS, max_size=1)
    with pytest.raises(ValueError, match="max_len"):
        WordTokenizer.fit(CORPUS).encode("red", 0)


def test_empty_corpus_gives_only_special_tokens():
    tok = WordTokenizer.fit([])
    assert tok.vocab_size == 2
    assert tok.encode("anything at all") == [UNK_ID] * 3


def test_encode_truncates_without_padding():
    tok = WordTokenizer.fit(CORPUS)
    full = tok.encode("red badge for sale near the market")
    assert len(full) == 7
    assert tok.encode("red badge for sale near the market", 3) == full[:3]


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_encode_batch_pads_and_truncates(kind):
    tok = build_tokenizer(kind, CORPUS * 5)
    texts = ["red badge", "", "red badge for sale near the market station park"]
    ids, lengths = tok.encode_batch(texts, 4)
    assert ids.dtype == np.int32 and lengths.dtype == np.int32
    assert ids.shape == (3, 4) and lengths.shape == (3,)
    assert lengths[1] == 0 and not ids[1].any()
    assert lengths[2] == 4
    first = tok.encode("red badge")
    assert lengths[0] == len(first)
    assert ids[0, : len(first)].tolist() == first
    assert not ids[0, len(first) :].any()
    assert ids[2].tolist() == tok.encode(texts[2], 4)


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_round_trip_through_json(kind):
    tok = build_tokenizer(kind, CORPUS * 5)
    data = json.loads(json.dumps(tok.to_dict()))
    again = tokenizer_from_dict(data)
    assert type(again) is type(tok)
    assert again.vocab_size == tok.vocab_size
    for text in [*CORPUS, "unseen words here: zebra 🦓"]:
        assert again.encode(text) == tok.encode(text)
    assert tokenizer_hash(again) == tokenizer_hash(tok)


def test_from_dict_refuses_another_kind_or_version():
    data = WordTokenizer.fit(CORPUS).to_dict()
    with pytest.raises(ValueError, match="not a bpe tokenizer"):
        BpeTokenizer.from_dict(data)
    with pytest.raises(ValueError, match="format version 99"):
        WordTokenizer.from_dict({**data, "format_version": 99})
    with pytest.raises(ValueError, match="unknown tokenizer"):
        tokenizer_from_dict({"kind": "sentencepiece"})


def test_hash_changes_with_the_vocabulary():
    a = WordTokenizer.fit(CORPUS)
    b = WordTokenizer.fit(CORPUS[:-1])
    assert tokenizer_hash(a) == tokenizer_hash(WordTokenizer.fit(CORPUS))
    assert tokenizer_hash(a) != tokenizer_hash(b)


def test_bpe_trains_subwords_and_is_deterministic():
    texts = ["selling stickers", "sold sticker", "seller sells stickers", "lost sticker"] * 10
    tok = BpeTokenizer.fit(texts, vocab_size=60, min_freq=2)
    assert tok.vocab_size <= 60
    assert tok.to_dict() == BpeTokenizer.fit(texts, vocab_size=60, min_freq=2).to_dict()
    assert tok.encode("stickers")  # a frequent word: few pieces, no unknowns
    assert UNK_ID not in tok.encode("stickers sell")
    # An unseen word is built from known pieces; an unseen character becomes <unk>.
    assert UNK_ID not in tok.encode("tickles")
    assert tok.encode("Ω") == [UNK_ID]
    assert tok.encode("STICKERS") == tok.encode("stickers")  # lower-cased like the word tokenizer


def test_bpe_special_ids_and_unicode():
    tok = BpeTokenizer.fit(["東京 café naïve"] * 3 + CORPUS, vocab_size=200, min_freq=1)
    assert tok.decode([PAD_ID, UNK_ID]) == "<unk>"
    assert UNK_ID not in tok.encode("東京 café")
    assert tok.encode("cafe\u0301") == tok.encode("café")


def test_build_tokenizer_passes_parameters_and_rejects_unknown_kinds():
    assert build_tokenizer("word", ["a a b"], min_freq=2).tokens == ["<pad>", "<unk>", "a"]
    assert isinstance(build_tokenizer("bpe", CORPUS, vocab_size=50), BpeTokenizer)
    with pytest.raises(ValueError, match="choose one of word, bpe"):
        build_tokenizer("chars", CORPUS)
