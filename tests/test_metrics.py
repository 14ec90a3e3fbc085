import numpy as np
import pytest

from unembed.eval import NAME, NUMBER, bleu, cosine_rows, exact_match, recovered_share, token_accuracy, token_f1


def test_token_accuracy_is_positional_over_the_reference():
    assert token_accuracy([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert token_accuracy([1, 2, 3, 4], [2, 3, 4, 1]) == 0.0        # same bag, shifted
    assert token_accuracy([1, 2, 3, 4], [1, 2]) == 0.5              # too short
    assert token_accuracy([1, 2], [1, 2, 9, 9]) == 1.0              # extra tokens not counted


def test_token_f1_ignores_order_and_counts_repeats():
    assert token_f1([1, 2, 3, 4], [4, 3, 2, 1]) == 1.0
    assert token_f1([1, 2], [1, 1, 1, 1]) == pytest.approx(2 * 0.25 * 0.5 / 0.75)
    assert token_f1([1, 2], [3]) == 0.0


def test_exact_match_bleu_cosine():
    assert exact_match("A cat.", " A cat. ") == 1.0 and exact_match("A cat.", "a cat.") == 0.0
    refs = ["the cat sat on the mat today", "a dog ran in the park at noon"]
    assert bleu(refs, refs) == pytest.approx(100.0)
    assert bleu(refs, ["completely different words here", "nothing alike at all"]) < 5
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert np.allclose(cosine_rows(a, np.array([[2.0, 0.0], [1.0, 0.0]])), [1.0, 0.0])


def test_names_and_numbers_recovered_share_of_the_reference():
    ref = "The Queen met Ada Lovelace in London. Then they left on 12 May 1843, at 10:30."
    assert NAME.findall(ref) == ["Queen", "Ada", "Lovelace", "London", "May"]  # not The, Then
    assert NUMBER.findall(ref) == ["12", "1843", "10:30"]
    hyp = "Ada went to London in 1843 with the queen."
    assert recovered_share(ref, hyp, NAME) == pytest.approx(2 / 5)   # a name may open the hypothesis
    assert recovered_share(ref, hyp, NUMBER) == pytest.approx(1 / 3)
    assert recovered_share(ref, ref, NAME) == recovered_share(ref, ref, NUMBER) == 1.0
    assert recovered_share("no names or numbers here", hyp, NAME) is None
    assert recovered_share("We saw Paris and Paris", "Paris", NAME) == 0.5  # counted with multiplicity


def test_cosine_floor_is_the_mean_cosine_of_different_rows():
    from unembed.eval.metrics import cosine_floor
    assert cosine_floor(np.eye(4)) == 0.0                      # orthogonal: unrelated pairs at 0
    assert abs(cosine_floor(np.ones((3, 5)) * [[1], [2], [3]]) - 1.0) < 1e-9  # one direction: 1
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(1, 64)) * 3                      # an anisotropic cloud
    cloud = shared + rng.normal(size=(600, 64))
    exact, sampled = cosine_floor(cloud, pairs=10 ** 6), cosine_floor(cloud, pairs=20_000)
    assert 0.5 < exact < 0.99 and abs(exact - sampled) < 0.01   # many rows: drawn pairs, same mean
    assert cosine_floor(cloud[:1]) is None
