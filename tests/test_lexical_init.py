import numpy as np
import torch

from unembed.model.config import ModelConfig
from unembed.model import ConditionalMDLM
from unembed.model.lexical_init import init_lexical_prior, ridge_bag_of_tokens


def synthetic(n, d=16, vocab=40, length=6, seed=0):
    """Texts whose tokens are decided by their vector: token j appears where v . u_j is large."""
    directions = np.random.default_rng(1234).normal(size=(vocab, d))  # the same "language" always
    vectors = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    scores = vectors @ directions.T
    scores[:, :3] = -np.inf                              # special codes never appear
    codes = np.argsort(-scores, axis=1)[:, :length]
    return codes, vectors


def test_ridge_prior_ranks_the_tokens_of_unseen_vectors():
    codes, vectors = synthetic(3000)
    W = ridge_bag_of_tokens(codes, vectors, 40)
    test_codes, test_vectors = synthetic(200, seed=1)
    top = np.argsort(-(test_vectors @ W), axis=1)[:, :6]
    recall = np.mean([len(set(a) & set(b)) / 6 for a, b in zip(test_codes, top)])
    assert recall > 0.6                                  # chance is 6 / 37


def test_model_prior_equals_scaled_ridge_prediction():
    codes, vectors = synthetic(500)
    model = ConditionalMDLM(ModelConfig(vocab_size=40, max_len=6, cond_dim=16, hidden=16, layers=1, heads=2))
    init_lexical_prior(model, codes, vectors, logit_scale=10.0, max_row_norm=float("inf"))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = 10.0 * unit[:8] @ ridge_bag_of_tokens(codes, unit, 40)
    with torch.no_grad():
        lexical = model(torch.from_numpy(codes[:8]), torch.from_numpy(vectors[:8]), torch.ones(8)).lexical
        bag = model.bag_of_tokens(torch.from_numpy(vectors[:8])).numpy()
    assert np.allclose(lexical.numpy(), expected, atol=1e-3)
    # the same prior as log-probabilities over the vocabulary, read from the vector alone
    assert np.allclose(np.exp(bag).sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(bag, expected - np.log(np.exp(expected).sum(axis=1, keepdims=True)), atol=1e-3)


def test_outsized_rows_are_capped_so_the_first_logits_stay_small():
    codes, vectors = synthetic(500)
    rows = []
    for cap in (float("inf"), 1.1):
        model = ConditionalMDLM(ModelConfig(vocab_size=40, max_len=6, cond_dim=16, hidden=16, layers=1, heads=2))
        init_lexical_prior(model, codes, vectors, max_row_norm=cap)
        norms = model.tok_emb.weight.norm(dim=1)
        rows.append((norms.max() / norms.median()).item())
    assert rows[0] > 1.2 and rows[1] <= 1.1 * 1.001        # uncapped rows spread; capped ones do not


def test_a_vector_wider_than_the_model_gets_the_maps_best_low_rank_copy():
    codes, vectors = synthetic(500, d=32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    W = ridge_bag_of_tokens(codes, unit, 40)                             # (32, 40)
    u, s, vt = np.linalg.svd(W.T.astype(np.float64), full_matrices=False)
    expected = 10.0 * unit[:8] @ ((u[:, :16] * s[:16]) @ vt[:16]).T     # rank 16, as wide as the model
    model = ConditionalMDLM(ModelConfig(vocab_size=40, max_len=6, cond_dim=32, hidden=16, layers=1, heads=2))
    init_lexical_prior(model, codes, vectors, logit_scale=10.0, max_row_norm=float("inf"))
    with torch.no_grad():
        lexical = model(torch.from_numpy(codes[:8]), torch.from_numpy(vectors[:8]), torch.ones(8)).lexical
    assert np.allclose(lexical.numpy(), expected, atol=1e-3)
    assert not np.allclose(expected, 10.0 * unit[:8] @ W, atol=1e-2)    # the cut is real, not the full map
