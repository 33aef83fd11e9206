"""The frozen MNIST classifier whose features every sample-quality metric in ganscale is measured with.

FID, KID and precision/recall are only comparable between runs if they are computed in the same feature
space, so the weights ship inside the package and are pinned by SHA-256: a retrained or corrupted file
would silently move every number, hence loading refuses anything but the pinned bytes.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganscale.errors import UserError

WEIGHTS_PACKAGE = "ganscale.weights"
WEIGHTS_FILE = "mnist_evaluator.safetensors"
EVALUATOR_SHA256 = "ebd39e81c59a73485b6c25324fd08b3e4107c51bd09e06ae8644800870b26721"
IMAGE_SIZE = 28
FEATURE_DIM = 128
NUM_CLASSES = 10


class EvaluatorIntegrityError(UserError):
    """The weights file is not the pinned one; metrics computed with it would not be comparable."""


def _conv_block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class MnistEvaluator(nn.Module):
    """conv32-pool-conv64-pool-conv128-avgpool(3x3) -> fc128 (features) -> fc10 (logits).

    Pooling early keeps a forward pass of 10k images to a few seconds on two CPU cores; the 3x3
    average pool keeps the feature layer small (1152 -> 128) so the shipped file stays under 1 MB.
    """

    def __init__(self, feature_dim: int = FEATURE_DIM, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_block(1, 32), nn.MaxPool2d(2),
            *_conv_block(32, 64), nn.MaxPool2d(2),
            *_conv_block(64, 128), nn.AdaptiveAvgPool2d(3), nn.Flatten(),
            nn.Linear(128 * 9, feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations [B, feature_dim]: the space FID/KID/precision-recall live in."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both outputs from one pass, since every evaluation needs both."""
        feats = self.body(x)
        return feats, self.head(feats)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_weights(weights_path: str | Path | None) -> bytes:
    if weights_path is not None:
        try:
            return Path(weights_path).read_bytes()
        except OSError as err:
            raise UserError(f"cannot read evaluator weights {weights_path}: {err}") from None
    try:
        return resources.files(WEIGHTS_PACKAGE).joinpath(WEIGHTS_FILE).read_bytes()
    except (OSError, ModuleNotFoundError) as err:
        raise EvaluatorIntegrityError(
            f"the evaluator weights {WEIGHTS_PACKAGE}/{WEIGHTS_FILE} are missing from the installed "
            f"package ({err}); reinstall ganscale") from None


def load_evaluator(device: str | torch.device = "cpu", weights_path: str | Path | None = None,
                   expected_sha256: str = EVALUATOR_SHA256) -> MnistEvaluator:
    """The pinned evaluator, frozen and in eval mode (BatchNorm must use its running statistics).

    `weights_path` exists for tests and for tools/train_evaluator.py; the hash check still applies,
    so only the pinned weights (or an explicitly given `expected_sha256`) are ever accepted.
    """
    from safetensors.torch import load as load_safetensors

    data = _read_weights(weights_path)
    digest = sha256_bytes(data)
    if digest != expected_sha256:
        where = weights_path or f"{WEIGHTS_PACKAGE}/{WEIGHTS_FILE}"
        raise EvaluatorIntegrityError(
            f"evaluator weights {where} have SHA-256 {digest}, expected {expected_sha256}; the file is "
            "corrupted or was retrained - metrics from it would not be comparable with published ones")
    model = MnistEvaluator()
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_safetensors(data).items()}
    model.load_state_dict(state, strict=True)
    model.sha256 = digest
    model.requires_grad_(False)
    return model.eval().to(device)


def evaluator_fingerprint(evaluator: nn.Module) -> str:
    """The key that reference statistics are cached under: the file hash if known, else the weights'."""
    known = getattr(evaluator, "sha256", None)
    if known:
        return known
    digest = hashlib.sha256()
    for name, tensor in sorted(evaluator.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def resize_for_evaluator(images: torch.Tensor) -> torch.Tensor:
    """Bring generator output of any square size to the evaluator's 28x28, range kept in [-1, 1].

    Antialiasing matters when downscaling (64 -> 28): plain bilinear aliases thin strokes, which the
    classifier reads as artefacts and which would inflate FID for the 64x64 models only.
    """
    if images.dim() != 4 or images.shape[1] != 1:
        raise UserError(f"expected grayscale images [N, 1, H, W], got shape {tuple(images.shape)}")
    if images.shape[-2:] == (IMAGE_SIZE, IMAGE_SIZE):
        return images
    out = F.interpolate(images.float(), size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear",
                        align_corners=False, antialias=True)
    return out.clamp_(-1.0, 1.0)


@torch.no_grad()
def extract(evaluator: MnistEvaluator, images: torch.Tensor,
            batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features [N, D] float64, softmax probabilities [N, 10] float64) on the CPU, in batches.

    Batching bounds peak memory for 50k-sample evaluations; float64 outputs because the covariance
    and matrix square root downstream lose precision in float32.
    """
    device = next(evaluator.parameters()).device
    feats, probs = [], []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device, torch.float32)
        f, logits = evaluator.features_and_logits(x)
        feats.append(f.double().cpu())
        probs.append(logits.double().softmax(dim=1).cpu())
    return torch.cat(feats), torch.cat(probs)
