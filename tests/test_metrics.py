"""Metric functions against closed forms and brute-force definitions (no data or weights needed)."""

from __future__ import annotations

import math

import pytest
import torch

from ganscale.errors import UserError
from ganscale.eval.scores import (
    class_histogram,
    classifier_score,
    feature_stats,
    frechet_distance,
    kid,
    mmd2_unbiased,
    precision_recall,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_fid_of_a_set_with_itself_is_zero():
    feats = torch.randn(500, 32, generator=_gen(), dtype=torch.float64) * 3 + 1
    mu, sigma = feature_stats(feats)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)


def test_fid_of_diagonal_gaussians_matches_closed_form():
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.5])
    s1, s2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * (s1 * s2).sqrt()).sum()
    got = frechet_distance(mu1, torch.diag(s1), mu2, torch.diag(s2))
    assert got == pytest.approx(float(expected), abs=1e-9)


def test_fid_with_non_commuting_covariances_matches_explicit_sqrtm():
    a = torch.randn(6, 6, generator=_gen(1), dtype=torch.float64)
    b = torch.randn(6, 6, generator=_gen(2), dtype=torch.float64)
    s1, s2 = a @ a.T + 0.1 * torch.eye(6), b @ b.T + 0.1 * torch.eye(6)
    # S1 S2 has real positive eigenvalues; tr sqrtm(S1 S2) = sum of their square roots
    tr_sqrt = torch.linalg.eigvals(s1 @ s2).real.clamp(min=0).sqrt().sum()
    mu = torch.zeros(6, dtype=torch.float64)
    expected = s1.trace() + s2.trace() - 2 * tr_sqrt
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(float(expected), rel=1e-8)


def test_feature_stats_matches_unbiased_covariance():
    feats = torch.randn(50, 4, generator=_gen(), dtype=torch.float64)
    mu, sigma = feature_stats(feats)
    assert torch.allclose(mu, feats.mean(0))
    assert torch.allclose(sigma, torch.cov(feats.T))


def _mmd2_double_loop(x: torch.Tensor, y: torch.Tensor) -> float:
    d = x.shape[1]

    def k(a, b):
        return (float(a @ b) / d + 1) ** 3

    n, m = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return kxx + kyy - 2 * kxy


def test_mmd2_unbiased_matches_double_loop():
    x = torch.tensor([[0.0, 1.0], [1.0, 2.0], [-1.0, 0.5]], dtype=torch.float64)
    y = torch.tensor([[2.0, 0.0], [0.5, -1.0], [1.5, 1.5], [0.0, 0.0]], dtype=torch.float64)
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd2_double_loop(x, y), rel=1e-12)


def test_kid_on_whole_tiny_sets_equals_mmd_with_zero_std():
    x = torch.tensor([[0.0, 1.0], [1.0, 2.0], [-1.0, 0.5], [0.3, 0.3]], dtype=torch.float64)
    y = torch.tensor([[2.0, 0.0], [0.5, -1.0], [1.5, 1.5], [0.0, 0.0]], dtype=torch.float64)
    mean, std = kid(x, y, subsets=5, subset_size=4)  # each subset is a permutation of the whole set
    assert mean == pytest.approx(_mmd2_double_loop(x, y), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_is_near_zero_for_the_same_distribution_and_positive_otherwise():
    a = torch.randn(2000, 16, generator=_gen(1), dtype=torch.float64)
    b = torch.randn(2000, 16, generator=_gen(2), dtype=torch.float64)
    same, same_std = kid(a, b, subsets=50, subset_size=500)
    assert abs(same) < 3 * same_std / math.sqrt(50) + 1e-3
    shifted, _ = kid(a, b + 1.0, subsets=50, subset_size=500)
    assert shifted > 0.1 and shifted > 100 * abs(same)


def test_kid_is_seeded():
    a = torch.randn(300, 8, generator=_gen(1))
    b = torch.randn(300, 8, generator=_gen(2))
    assert kid(a, b, subsets=10, subset_size=100) == kid(a, b, subsets=10, subset_size=100)


def test_classifier_score_extremes():
    confident_uniform = torch.eye(10).repeat(7, 1)  # every class equally often, each sample one-hot
    assert classifier_score(confident_uniform) == pytest.approx(10.0, rel=1e-12)
    identical = torch.softmax(torch.randn(10, generator=_gen()), 0).repeat(50, 1)
    assert classifier_score(identical) == pytest.approx(1.0, abs=1e-12)
    single_class = torch.zeros(20, 10)
    single_class[:, 3] = 1
    assert classifier_score(single_class) == pytest.approx(1.0, abs=1e-12)


def test_precision_recall_identical_sets_is_one():
    feats = torch.randn(1500, 8, generator=_gen())
    assert precision_recall(feats, feats.clone(), k=3, batch_size=256) == (1.0, 1.0)


def test_precision_recall_far_apart_sets_is_zero():
    real = torch.randn(500, 8, generator=_gen(1))
    fake = torch.randn(500, 8, generator=_gen(2)) + 100
    assert precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_precision_recall_collapsed_generator_keeps_precision_loses_recall():
    real = torch.randn(2000, 4, generator=_gen(1))
    fake = real[:200].repeat(10, 1) + 1e-3 * torch.randn(2000, 4, generator=_gen(2))
    precision, recall = precision_recall(real, fake, k=3, batch_size=300)
    assert precision > 0.95 and recall < 0.5


def test_precision_recall_batching_does_not_change_result():
    real = torch.randn(700, 6, generator=_gen(1))
    fake = torch.randn(600, 6, generator=_gen(2)) * 1.3
    assert precision_recall(real, fake, batch_size=64) == precision_recall(real, fake, batch_size=5000)


def test_class_histogram_counts():
    hist = class_histogram(torch.tensor([1, 1, 1, 7, 0, 1]), num_classes=10)
    assert hist["counts"] == [1, 4, 0, 0, 0, 0, 0, 1, 0, 0]
    assert hist["top_class_share"] == pytest.approx(4 / 6)
    assert hist["classes_present"] == 3


BAD_PREDICTIONS = [torch.tensor([0, 10]), torch.tensor([-1]), torch.tensor([], dtype=torch.long)]


@pytest.mark.parametrize("preds", BAD_PREDICTIONS, ids=["too-large", "negative", "empty"])
def test_class_histogram_rejects_bad_predictions(preds):
    with pytest.raises(UserError):
        class_histogram(preds, num_classes=10)


def test_shape_mistakes_are_user_errors():
    with pytest.raises(UserError):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(4))
    with pytest.raises(UserError):
        feature_stats(torch.zeros(1, 3))
    with pytest.raises(UserError):
        precision_recall(torch.zeros(3, 2), torch.zeros(10, 2), k=3)
