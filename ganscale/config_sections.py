"""The sections of a run's config, one dataclass each; every field carries its allowed values."""

from __future__ import annotations

from dataclasses import dataclass, field

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


