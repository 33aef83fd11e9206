"""Inception FID, KID, Inception Score and precision/recall, computed by torch-fidelity.

torch-fidelity (pinned) does the work: its InceptionV3 (the TensorFlow graph's weights, its resize
to 299 with TF1's bilinear rule, from uint8), its feature extraction loop and its metric functions,
the same ones `torch_fidelity.calculate_metrics` calls. ganscale adds two things around them:

- `SafeInceptionV3`: torch-fidelity's extractor, with the same layers and forward, whose weights
  come from inception_weights.py (no unpickling) instead of its own `torch.load(weights_only=False)`;
- feature dicts of the reference set cached on disk (reference.py), which calculate_metrics can only
  cache as pickles.
"""

from __future__ import annotations

import functools

import torch
import torch_fidelity
from torch import nn
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_inceptionv3 import (
    BasicConv2d,
    FeatureExtractorInceptionV3,
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE_1,
    InceptionE_2,
)
from torch_fidelity.helpers import text_to_dtype
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_featuresdict_to_metric
from torch_fidelity.metric_kid import kid_featuresdict_to_metric
from torch_fidelity.metric_prc import prc_featuresdict_to_metric
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import get_featuresdict_from_dataset

from ganscale.errors import UserError
from ganscale.eval.inception_weights import check_layout, complete, load_weights

EXTRACTOR = "ganscale-inception-v3"
BATCH_SIZE = 64  # torch-fidelity's default: the same batches give the same float round-off
# torch-fidelity's result keys -> the names ganscale logs (eval/<name>); FID-MNIST keeps eval/fid.
RESULT_NAMES = {
    "frechet_inception_distance": "fid_inception",
    "kernel_inception_distance_mean": "kid_inception", "kernel_inception_distance_std": "kid_inception_std",
    "inception_score_mean": "isc_inception", "inception_score_std": "isc_inception_std",
    "f_score": "f_score_inception", "precision": "precision_inception", "recall": "recall_inception",
}
METRICS = ("fid", "kid", "isc", "prc")
LAYERS = ("2048", "logits_unbiased")  # fid, kid, prc read the 2048-d pool; isc the logits


def _build_layers(m: nn.Module) -> None:
    """FeatureExtractorInceptionV3.__init__'s layers (0.4.0), without its loading. Same names, so its
    forward runs unchanged; check_layout compares every key and shape with the file's."""
    m.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
    m.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
    m.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
    m.MaxPool_1 = nn.MaxPool2d(kernel_size=3, stride=2)
    m.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
    m.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
    m.MaxPool_2 = nn.MaxPool2d(kernel_size=3, stride=2)
    m.Mixed_5b = InceptionA(192, pool_features=32)
    m.Mixed_5c = InceptionA(256, pool_features=64)
    m.Mixed_5d = InceptionA(288, pool_features=64)
    m.Mixed_6a = InceptionB(288)
    m.Mixed_6b = InceptionC(768, channels_7x7=128)
    m.Mixed_6c = InceptionC(768, channels_7x7=160)
    m.Mixed_6d = InceptionC(768, channels_7x7=160)
    m.Mixed_6e = InceptionC(768, channels_7x7=192)
    m.Mixed_7a = InceptionD(768)
    m.Mixed_7b = InceptionE_1(1280)
    m.Mixed_7c = InceptionE_2(2048)
    m.AvgPool = nn.AdaptiveAvgPool2d(output_size=(1, 1))
    m.fc = nn.Linear(2048, 1008)


class SafeInceptionV3(FeatureExtractorInceptionV3):
    """torch-fidelity's InceptionV3 whose weights are read with weights_only=True (or safetensors).

    Registered with torch-fidelity as EXTRACTOR, so `calculate_metrics(feature_extractor=EXTRACTOR,
    feature_extractor_weights_path=...)` uses it too. Without a path the weights stay at their
    random initialisation: only the layout (tests write weights files from it).
    """

    def __init__(self, name, features_list, feature_extractor_weights_path=None,
                 feature_extractor_internal_dtype=None, **kwargs):
        FeatureExtractorBase.__init__(self, name, features_list)  # not the parent's: it loads a pickle
        self.feature_extractor_internal_dtype = text_to_dtype(feature_extractor_internal_dtype, "float32")
        _build_layers(self)
        if feature_extractor_weights_path is not None:
            state, self.weights_sha256 = load_weights(feature_extractor_weights_path)
            check_layout(state, expected_layout(), feature_extractor_weights_path)
            self.load_state_dict(complete(state, expected_layout()))
        self.to(self.feature_extractor_internal_dtype)
        self.requires_grad_(False)
        self.eval()


if EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(EXTRACTOR, SafeInceptionV3)


@functools.lru_cache(maxsize=1)
def expected_layout() -> dict[str, tuple[int, ...]]:
    """Every state-dict key and shape of the extractor, from a weightless copy on the meta device."""
    with torch.device("meta"):
        model = SafeInceptionV3(EXTRACTOR, ["2048"])
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


@functools.lru_cache(maxsize=1)
def _cached_extractor(path: str, device: str) -> SafeInceptionV3:
    return SafeInceptionV3(EXTRACTOR, list(LAYERS), feature_extractor_weights_path=path).to(device)


def extractor(weights_path, device: torch.device) -> SafeInceptionV3:
    """Both layers from one pass; kept between the evaluations of a run (building it takes a second)."""
    return _cached_extractor(str(weights_path), str(device))


class RgbImages(Dataset):
    """uint8 [N, C, H, W] images as torch-fidelity takes them: 3 channels, uint8, one per item.

    Grey images are repeated to RGB, as torch-fidelity's own image-file loader does (PIL's convert
    to RGB); its extractor refuses anything but Bx3xHxW.
    """

    def __init__(self, images):
        if images.dim() != 4 or images.shape[1] not in (1, 3) or images.dtype != torch.uint8:
            raise UserError(f"Inception metrics take uint8 images [N, 1 or 3, H, W], got "
                            f"{images.dtype} {tuple(images.shape)}")
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.images[index]
        return image.expand(3, -1, -1).contiguous() if image.shape[0] == 1 else image


def features(dataset: Dataset, model: SafeInceptionV3, batch_size: int = BATCH_SIZE) -> dict:
    """torch-fidelity's extraction loop (no worker processes: the images are already in memory)."""
    cuda = next(model.parameters()).device.type == "cuda"
    return get_featuresdict_from_dataset(dataset, model, batch_size, cuda, save_cpu_ram=True, verbose=False)


def fidelity_options(num_generated: int, num_reference: int) -> dict:
    """calculate_metrics' keyword arguments ganscale fixes: KID subsets no larger than either set
    (torch-fidelity refuses them otherwise); no pickle cache; no worker processes; quiet."""
    return {"kid_subset_size": min(1000, num_generated, num_reference), "save_cpu_ram": True,
            "verbose": False, "cache": False}


def score_features(generated: dict, reference: dict, reference_fid_stats: dict | None,
                   metrics, **options) -> dict[str, float]:
    """torch-fidelity's metric functions on two feature dicts: generated is input1, the reference
    input2 (precision: generated samples inside the real manifold), as in calculate_metrics."""
    options = {**fidelity_options(len(next(iter(generated.values()))),
                                  len(next(iter(reference.values())))), **options}
    layer = SafeInceptionV3.get_default_feature_layer_for_metric
    out: dict[str, float] = {}
    if "isc" in metrics:
        out.update(isc_featuresdict_to_metric(generated, layer("isc"), **options))
    if "fid" in metrics:
        stats = reference_fid_stats or fid_features_to_statistics(reference[layer("fid")])
        mine = fid_features_to_statistics(generated[layer("fid")])
        out.update(fid_statistics_to_metric(mine, stats, False))
    if "kid" in metrics:
        out.update(kid_featuresdict_to_metric(generated, reference, layer("kid"), **options))
    if "prc" in metrics:
        out.update(prc_featuresdict_to_metric(generated, reference, layer("prc"), **options))
    return {RESULT_NAMES[key]: float(value) for key, value in out.items()}
