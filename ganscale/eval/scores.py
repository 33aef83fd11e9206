"""Sample-quality maths in the pinned MNIST classifier's feature space, and its reference statistics.

The metric functions are pure and work on feature / probability tensors so they can be tested against
closed forms; `evaluate_images` glues them to the evaluator, and `reference_stats` computes the MNIST
test-set reference once per evaluator and caches it (memory + safetensors on disk, never pickle).
Everything that accumulates (means, covariances, kernels, matrix roots) runs in float64: in float32 the
FID of a set with itself is already ~1e-3 instead of 0.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ganscale import files
from ganscale.errors import UserError
from ganscale.eval.mnist_classifier import (
    IMAGE_SIZE,
    MnistEvaluator,
    evaluator_fingerprint,
    extract,
    resize_for_evaluator,
)

CONFIDENT_THRESHOLD = 0.9


def feature_stats(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, unbiased covariance) in float64, the Gaussian that FID compares."""
    if feats.dim() != 2 or feats.shape[0] < 2:
        raise UserError(f"need at least 2 feature vectors [N, D], got shape {tuple(feats.shape)}")
    x = feats.double()
    mu = x.mean(dim=0)
    centred = x - mu
    return mu, centred.T @ centred / (x.shape[0] - 1)


def _sqrt_psd(m: torch.Tensor) -> torch.Tensor:
    """Symmetric square root; tiny negative eigenvalues from round-off are clipped to 0."""
    vals, vecs = torch.linalg.eigh((m + m.T) / 2)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor,
                     mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """||mu1-mu2||^2 + tr(S1 + S2 - 2 sqrtm(S1 S2)).

    sqrtm(S1 S2) is not symmetric, but its trace equals that of sqrtm(sqrt(S1) S2 sqrt(S1)), which is:
    two symmetric eigendecompositions replace scipy's general sqrtm and its complex round-off.
    """
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise UserError(f"frechet_distance: mismatched shapes {tuple(mu1.shape)}, {tuple(sigma1.shape)}, "
                        f"{tuple(mu2.shape)}, {tuple(sigma2.shape)}")
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    tr_covmean = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    diff = mu1 - mu2
    value = diff @ diff + sigma1.trace() + sigma2.trace() - 2 * tr_covmean
    return max(float(value), 0.0)


def _poly_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b/d + 1)^3: the diagonal k(a, a) terms are left out."""
    x, y = x.double(), y.double()
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise UserError("mmd2_unbiased needs at least 2 samples per set")
    kxx, kyy = _poly_kernel(x, x), _poly_kernel(y, y)
    term_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    term_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(term_x + term_y - 2 * _poly_kernel(x, y).mean())


def kid(feats_a: torch.Tensor, feats_b: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): mean and std of MMD^2 over random subsets.

    Unlike FID it is unbiased, so small sample counts do not inflate it; the subsets bound the
    O(n^2) kernel cost. Seeded so that the same features always give the same number.
    """
    size = min(subset_size, len(feats_a), len(feats_b))
    if size < 2 or subsets < 1:
        raise UserError(f"kid needs subsets >= 1 and at least 2 samples per set (got {size})")
    gen = torch.Generator().manual_seed(seed)
    values = torch.tensor([
        mmd2_unbiased(feats_a[torch.randperm(len(feats_a), generator=gen)[:size]],
                      feats_b[torch.randperm(len(feats_b), generator=gen)[:size]])
        for _ in range(subsets)], dtype=torch.float64)
    return float(values.mean()), float(values.std(unbiased=False))


def classifier_score(probs: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))), the Inception Score with the MNIST classifier: 1 (all alike) .. 10."""
    p = probs.double()
    if p.dim() != 2 or len(p) == 0:
        raise UserError(f"classifier_score expects probabilities [N, C], got shape {tuple(p.shape)}")
    marginal = p.mean(dim=0, keepdim=True)
    kl = (torch.special.xlogy(p, p) - torch.special.xlogy(p, marginal)).sum(dim=1)
    return float(kl.mean().exp())


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2 * a @ b.T).clamp_(min=0)


def _knn_radii_sq(feats: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """Squared distance of each point to its k-th nearest other point (itself is the 0-th)."""
    return torch.cat([_sq_dists(feats[i:i + batch_size], feats).kthvalue(k + 1, dim=1).values
                      for i in range(0, len(feats), batch_size)])


def precision_recall(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = 3,
                     batch_size: int = 1000) -> tuple[float, float]:
    """Improved precision/recall (Kynkaanniemi et al. 2019) with k-NN balls as manifold estimates.

    Precision: share of fakes inside some real point's ball (fidelity); recall: share of reals inside
    some fake point's ball (coverage, drops with mode collapse). Distances are computed batch_size rows
    at a time so 10k x 10k needs ~80 MB instead of the full matrix.
    """
    real, fake = real_feats.double(), fake_feats.double()
    if min(len(real), len(fake)) <= k:
        raise UserError(f"precision_recall needs more than k={k} samples per set")
    real_r2, fake_r2 = _knn_radii_sq(real, k, batch_size), _knn_radii_sq(fake, k, batch_size)
    fake_in_real = torch.zeros(len(fake), dtype=torch.bool)
    real_in_fake = torch.zeros(len(real), dtype=torch.bool)
    for i in range(0, len(fake), batch_size):
        d2 = _sq_dists(fake[i:i + batch_size], real)
        fake_in_real[i:i + batch_size] = (d2 <= real_r2).any(dim=1)
        real_in_fake |= (d2 <= fake_r2[i:i + batch_size, None]).any(dim=0)
    return float(fake_in_real.double().mean()), float(real_in_fake.double().mean())


def class_histogram(preds: torch.Tensor, num_classes: int = 10) -> dict:
    """Predicted-class counts: the cheapest mode-collapse signal (one dominant or missing digits)."""
    preds = preds.long().flatten().cpu()
    if len(preds) == 0 or preds.min() < 0 or preds.max() >= num_classes:
        raise UserError(f"class_histogram: predictions must be non-empty and in [0, {num_classes})")
    counts = torch.bincount(preds, minlength=num_classes)
    return {"counts": counts.tolist(), "top_class_share": float(counts.max()) / len(preds),
            "classes_present": int((counts > 0).sum())}


@dataclass(frozen=True)
class ReferenceStats:
    """Evaluator features of the MNIST test set (float64, CPU) and their Gaussian."""

    features: torch.Tensor
    mu: torch.Tensor
    sigma: torch.Tensor
    evaluator_sha256: str
    image_size: int = IMAGE_SIZE


_MEMORY_CACHE: dict[tuple[str, int], ReferenceStats] = {}


def cache_dir() -> Path:
    return Path(os.environ.get("GANSCALE_CACHE") or Path.home() / ".cache" / "ganscale")


def _cache_file(key: str, image_size: int) -> Path:
    return cache_dir() / f"mnist-test-reference-{image_size}px-{key[:16]}.safetensors"


def _load_cached(path: Path, key: str, image_size: int = IMAGE_SIZE) -> ReferenceStats | None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("evaluator_sha256") != key or meta.get("image_size") != str(image_size):
                return None
            t = {name: f.get_tensor(name) for name in ("features", "mu", "sigma")}
    except (OSError, SafetensorError, KeyError):  # unreadable/truncated cache: recompute, don't fail
        return None
    return ReferenceStats(t["features"], t["mu"], t["sigma"], key, image_size)


def _save_cached(path: Path, stats: ReferenceStats) -> None:
    """Written atomically, so concurrent evaluations never read a half-written cache file."""
    from safetensors.torch import save

    data = save({"features": stats.features, "mu": stats.mu, "sigma": stats.sigma},
                metadata={"evaluator_sha256": stats.evaluator_sha256, "dataset": "MNIST test",
                          "image_size": str(stats.image_size)})
    # A read-only home must not break evaluation: the in-memory cache still applies.
    with contextlib.suppress(UserError):
        files.write_bytes(path, data)


def _reference_pixels(root: str | Path, image_size: int) -> torch.Tensor:
    """Test images through the same resize path a model of `image_size` sees (data in, samples out)."""
    from ganscale.data import load_mnist, to_model_pixels

    images_u8, _ = load_mnist(root, train=False, download=False)
    pixels = to_model_pixels(images_u8, image_size)
    return pixels if image_size == IMAGE_SIZE else resize_for_evaluator(pixels)


def reference_stats(evaluator: MnistEvaluator, root: str | Path = "",
                    device: str | torch.device | None = None, *, image_size: int = IMAGE_SIZE,
                    batch_size: int = 1000) -> ReferenceStats:
    """MNIST test-set reference, computed once per evaluator (keyed by its weights' hash).

    The test split is the reference because the train split is what the GANs saw: a generator that
    memorised training digits should not get a perfect score for it. `image_size=64` builds the
    reference from test digits upscaled to 64 (as the 64px models are trained) and resized back with
    resize_for_evaluator; that round trip alone costs ~58 FID, so 64px models should be scored
    against it (see docs/evaluation.md). `device` must be the evaluator's (default).
    """
    evaluator_device = next(evaluator.parameters()).device
    if device is not None and torch.device(device) != evaluator_device:
        raise UserError(f"reference_stats(device={device}) but the evaluator is on {evaluator_device}; "
                        "load it there with load_evaluator(device)")
    key = evaluator_fingerprint(evaluator)
    if (key, image_size) in _MEMORY_CACHE:
        return _MEMORY_CACHE[key, image_size]
    path = _cache_file(key, image_size)
    stats = _load_cached(path, key, image_size) if path.is_file() else None
    if stats is None:
        feats, _ = extract(evaluator, _reference_pixels(root, image_size), batch_size)
        mu, sigma = feature_stats(feats)
        stats = ReferenceStats(feats.contiguous(), mu, sigma.contiguous(), key, image_size)
        _save_cached(path, stats)
    _MEMORY_CACHE[key, image_size] = stats
    return stats


def _check_images(images: torch.Tensor) -> None:
    if not torch.is_tensor(images) or images.dim() != 4 or images.shape[1:] != (1, IMAGE_SIZE, IMAGE_SIZE):
        shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise UserError(f"evaluate_images expects [N, 1, 28, 28] images in [-1, 1], got {shape}; "
                        "resize other sizes with ganscale.eval.mnist_classifier.resize_for_evaluator")
    if not images.is_floating_point() or not torch.isfinite(images).all():
        raise UserError("evaluate_images expects finite float images in [-1, 1]")
    low, high = float(images.min()), float(images.max())
    if low < -1.01 or high > 1.01:
        raise UserError(f"images range over [{low:.3g}, {high:.3g}], expected [-1, 1] (generator output "
                        "without tanh, or pixels in [0, 255]?)")


def evaluate_images(images: torch.Tensor, evaluator: MnistEvaluator, reference: ReferenceStats,
                    labels: torch.Tensor | None = None, *, batch_size: int = 1000, kid_subsets: int = 100,
                    kid_subset_size: int = 1000, k: int = 3) -> dict[str, float]:
    """All sample-quality numbers for one set of generated images against the test-set reference.

    `labels` are the digits a conditional generator was asked for; cond_accuracy is the share the
    evaluator reads as that digit.
    """
    _check_images(images)
    feats, probs = extract(evaluator, images, batch_size)
    mu, sigma = feature_stats(feats)
    kid_mean, kid_std = kid(feats, reference.features, kid_subsets, kid_subset_size)
    precision, recall = precision_recall(reference.features, feats, k=k, batch_size=batch_size)
    confidence, preds = probs.max(dim=1)
    hist = class_histogram(preds, probs.shape[1])
    result = {
        "fid": frechet_distance(mu, sigma, reference.mu, reference.sigma),
        "kid": kid_mean, "kid_std": kid_std,
        "classifier_score": classifier_score(probs),
        "precision": precision, "recall": recall,
        "top_class_share": hist["top_class_share"], "classes_present": float(hist["classes_present"]),
        "confident_share": float((confidence >= CONFIDENT_THRESHOLD).double().mean()),
    }
    if labels is not None:
        labels = labels.flatten().long().cpu()
        if len(labels) != len(images):
            raise UserError(f"got {len(labels)} labels for {len(images)} images")
        result["cond_accuracy"] = float((preds == labels).double().mean())
    return result
