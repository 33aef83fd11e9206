"""The run's config as types: one dataclass per section, every field carrying its allowed values, and
`Config`, which holds them (config.py loads one, validation.py checks it)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from ganscale.lr_schedule import KINDS as LR_DECAY_KINDS


def _opt(default, *, choices=None, min=None, max=None, above=None, doc=""):
    """A dataclass field whose allowed values travel with it (used by `validate`)."""
    meta = {"choices": choices, "min": min, "max": max, "above": above, "doc": doc}
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    name: str = _opt("mnist", choices=("mnist", "prepared"),
                     doc="mnist: prepared on first use; prepared: data.path (setting data.path implies it)")
    root: str = _opt("", doc="MNIST root; empty means $GANSCALE_DATA, else ./data")
    path: str = _opt("", doc="a prepared dataset directory (`ganscale prepare SOURCE --out DIR`)")
    download: bool = _opt(True)
    loader: str = _opt("auto", choices=("auto", "tensor", "mmap", "dataloader"),
                       doc="auto: tensor when the images fit device_budget_mb, else mmap; dataloader: MNIST "
                           "through torchvision's PIL transforms (the textbook path)")
    device_budget_mb: float = _opt(4096.0, min=0.0, doc="largest dataset kept whole on the training device")
    num_workers: int = _opt(2, min=0, doc="processes that prefetch batches for loader=mmap/dataloader")
    cache: str = _opt("", doc="where MNIST is prepared on first use; empty: $GANSCALE_CACHE, else "
                              "~/.cache/ganscale")
    xflip: bool = _opt(False, doc="also train on every image mirrored left-right (StyleGAN's --mirror): "
                                  "the dataset counts twice")


@dataclass
class ModelConfig:
    arch: str = _opt("dcgan", doc="a built-in arch (see ganscale.models.ARCHS) or package.module:factory")
    z_dim: int = _opt(100, min=1)
    image_size: int = _opt(28, min=1, doc="the arch declares which it supports")
    channels: int = _opt(1, min=1)
    num_classes: int = _opt(0, min=0, doc="0 = unconditional")
    g_width: int = _opt(64, min=1)
    d_width: int = _opt(64, min=1)
    g_norm: str = _opt("batch", choices=("batch", "none", "instance", "layer"))
    d_norm: str = _opt("none", choices=("none", "batch", "instance", "layer", "spectral"))
    sync_bn: bool = _opt(False)
    d_mbstd: int = _opt(0, min=0, doc="minibatch-stddev group size in D (0 = off); archs that declare it")
    latent_codes: int = _opt(0, min=0, doc="K-way categorical code in G's noise + Q head in D; archs "
                             "that declare it")
    conditioning: str = _opt("labels", choices=("labels", "clusters"),
                             doc="cgan: the dataset's labels, or k-means clusters of the images (no labels)")
    r3gan_widths: str = _opt("256", doc="r3gan: channels per stage, lowest resolution (4 or 7) first, "
                             "comma-separated, or one value for every stage; D mirrors G")
    r3gan_blocks: str = _opt("2", doc="r3gan: residual blocks per stage (comma-separated, or one value)")
    r3gan_cardinality: str = _opt("32", doc="r3gan: groups of each block's 3x3 conv, per stage (comma-"
                                  "separated, or one value); must divide width x expansion")
    r3gan_expansion: int = _opt(2, min=1, doc="r3gan: inverted-bottleneck expansion of each block")


@dataclass
class LossConfig:
    kind: str = _opt("nonsaturating",
                     choices=("nonsaturating", "minimax", "lsgan", "hinge", "wgan-gp", "rpgan"),
                     doc="rpgan: R3GAN's relativistic pairing loss (use with r1_gamma and r2_gamma)")
    gp_weight: float = _opt(10.0, min=0.0)
    r1_gamma: float = _opt(0.0, min=0.0)
    r1_every: int = _opt(16, min=1, doc="steps between R1 and R2 penalties (lazy); 1 = every step")
    r2_gamma: float = _opt(0.0, min=0.0, doc="zero-centred gradient penalty on fakes (R3GAN's R2)")
    gamma_decay: str = _opt("none", choices=LR_DECAY_KINDS, doc="anneal both gammas over optim.schedule_kimg")
    gamma_final: float = _opt(0.1, min=0.0, doc="the gammas at the schedule's end, as a fraction")
    info_weight: float = _opt(1.0, min=0.0, doc="weight of the latent-code (InfoGAN) loss in D and G")
    mode_seeking: float = _opt(0.0, min=0.0, doc="weight of the MSGAN mode-seeking term in G's loss")


@dataclass
class OptimConfig:
    lr_g: float = _opt(2e-4, above=0.0)
    lr_d: float = _opt(2e-4, above=0.0)
    beta1: float = _opt(0.5, min=0.0, max=0.999999)
    beta2: float = _opt(0.999, min=0.0, max=0.999999)
    n_critic: int = _opt(1, min=1)
    lr_decay: str = _opt("none", choices=LR_DECAY_KINDS, doc="decay lrs over schedule_kimg")
    lr_final: float = _opt(0.0, min=0.0, max=1.0, doc="lr at the schedule's end, a fraction of lr_g / lr_d")
    lr_warmup_kimg: float = _opt(0.0, min=0.0, doc="linear lr warm-up from 0 over this many kimg")
    beta2_schedule: str = _opt("none", choices=LR_DECAY_KINDS, doc="beta2 to beta2_final over schedule_kimg")
    beta2_final: float = _opt(0.99, min=0.0, max=0.999999)
    schedule_kimg: float = _opt(0.0, min=0.0, doc="kimg over which lr_decay, beta2_schedule and "
                                "loss.gamma_decay run; 0 = train.max_kimg")


@dataclass
class TrainConfig:
    batch_size: int = _opt(64, min=1, doc="per process")
    max_kimg: float = _opt(60.0, above=0.0)
    max_minutes: float = _opt(0.0, min=0.0, doc="0 = no time limit")
    seed: int = _opt(0, min=0)
    resume: str = _opt("none", doc="none | auto | path to a checkpoint directory")
    keep: int = _opt(3, min=1)
    checkpoint_every: float = _opt(10.0, above=0.0, doc="kimg")
    mixed_precision: str = _opt("no", choices=("no", "bf16", "fp16"))
    ema_halflife_kimg: float = _opt(10.0, min=0.0, doc="0 disables EMA (G_ema = G)")
    ema_rampup: float = _opt(0.05, min=0.0, doc="0 disables ramp-up")
    grad_accum: int = _opt(1, min=1)
    compile: bool = _opt(False)
    on_nan: str = _opt("stop", choices=("stop", "rollback"))
    stop_after_steps: int = _opt(0, min=0, doc="testing aid: stop (with checkpoint) after N steps")


@dataclass
class LogConfig:
    every: int = _opt(50, min=1, doc="steps between scalar logs (the only host syncs)")
    sample_every: float = _opt(5.0, above=0.0, doc="kimg between sample grids")
    tracker: str = _opt("none", choices=("wandb", "tensorboard", "none"))
    wandb_mode: str = _opt("auto", choices=("auto", "online", "offline", "disabled"))
    project: str = _opt("ganscale")
    progress: bool = _opt(True)


@dataclass
class EvalConfig:
    every: float = _opt(0.0, min=0.0, doc="kimg between evaluations; 0 = only at the end if enabled")
    num: int = _opt(10000, min=1)
    at_end: bool = _opt(False)
    metrics: str = _opt("auto", doc="auto (MNIST: mnist; other data: fid,kid) or a comma-separated list "
                                    "of mnist (the MNIST evaluator), fid, kid, isc, prc (Inception)")
    best: str = _opt("auto", doc="result key the best checkpoint is chosen by (fid, kid, fid_inception, "
                                 "kid_inception, isc_inception, f_score_inception, ...); auto: the first")
    inception_weights: str = _opt("", doc="torch-fidelity's Inception weights; empty: "
                                          "$GANSCALE_INCEPTION_WEIGHTS, else torch hub's cache (downloaded)")
    reference: str = _opt("", doc="prepared dataset the Inception metrics compare with; empty: training data")
    reference_num: int = _opt(50000, min=10, doc="reference images for the Inception metrics (a seeded "
                                                 "subset of larger datasets)")


AUG_OPS = ("color", "translation", "cutout")  # DiffAugment's policies (augment.py)


@dataclass
class AugConfig:
    policy: str = _opt("none", doc="comma list of DiffAugment ops applied to every image D sees, in this "
                                   f"order ({', '.join(AUG_OPS)}), or none")
    p: float = _opt(0.0, min=0.0, max=1.0, doc="probability of each op per image; with aug.target its "
                                                "start value")
    target: float = _opt(0.6, doc="ADA's r_t target in (0, 1): p adapts to keep E[sign D(real)] near it; "
                                  "0 = a fixed aug.p")
    speed: float = _opt(500.0, above=0.0, doc="kimg for p to move by 1 (ADA's ada_kimg)")
    every: int = _opt(4, min=1, doc="steps between adjustments of p (ADA's ada_interval)")

    def ops(self) -> tuple[str, ...]:
        """The policy as op names; () for none (validation checks the names)."""
        text = self.policy.strip()
        return () if text in ("", "none") else tuple(op.strip() for op in text.split(","))

    def active(self) -> bool:
        """Whether D's inputs are augmented at all: with no op, or p fixed at 0, nothing is drawn or run."""
        return bool(self.ops()) and (self.target > 0 or self.p > 0)


@dataclass
class Config:
    preset: str = "mnist-dcgan"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    aug: AugConfig = field(default_factory=AugConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def fingerprint(self) -> str:
        """Hash of what determines the trained weights' shapes (checked when resuming).

        Model fields added after checkpoints were first written count only when set, so checkpoints of
        earlier versions (which never had them) stay resumable.
        """
        model = dataclasses.asdict(self.model)
        for name, default in MODEL_FIELDS_ADDED_LATER.items():
            if model[name] == default:
                del model[name]
        text = json.dumps(model, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


MODEL_FIELDS_ADDED_LATER = {"d_mbstd": 0, "latent_codes": 0, "conditioning": "labels", "r3gan_widths": "256",
                            "r3gan_blocks": "2", "r3gan_cardinality": "32", "r3gan_expansion": 2}
SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "preset"}
