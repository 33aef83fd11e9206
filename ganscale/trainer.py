"""The GAN training step and its state: one Accelerate loop for CPU, one GPU, N GPUs and N nodes.

Two-model DDP policy:
- G and D are each prepared (wrapped) separately, so each has its own gradient all-reduce.
- D phase: G's output is detached, so G gets no gradient. With n_critic == 1 the G phase trains on
  the D phase's fakes. Without accumulation they are kept (with their graph), as the PyTorch DCGAN
  example does: one G forward. With grad_accum > 1 the G phase regenerates them from the same noise
  inside its own accumulate(): a kept fake's graph comes from a forward in the D phase's no_sync /
  sync context, and DDP would all-reduce only the first micro-batch's part of G's gradient.
- G phase: D runs *unwrapped* with requires_grad off. Its parameters then get no gradient, so
  DDP's gradient hooks on D never fire (they would, and corrupt the reducer, if D's parameters
  received gradients through the unwrapped module).
- The WGAN-GP / R1 / R2 penalties are part of D's loss before the single backward, so their gradients
  go through the same DDP all-reduce as the main loss (autograd.grad with create_graph only builds
  the graph; it does not accumulate into parameters).
- `loss.kind=rpgan` pairs real i with fake i in both phases; the G phase scores the D phase's reals
  again (with the updated D, no gradient) rather than drawing new ones, so the data stream and the
  image count are those of every other loss.
- BatchNorm: by default every rank normalises with its own batch statistics; DDP broadcasts rank
  0's running statistics (buffers) at every forward, and the trainer again at the end of each step
  (`buffers.broadcast_buffers`), so the ranks' G, D and G_ema are identical between steps.
  `model.sync_bn=true` converts to SyncBatchNorm (CUDA only) for global batch statistics.
Noise, fake labels and penalty mixes come from `noise.UpdateNoise`: the run does not depend on the world size.
Augmentation (aug.*): D is called through `augmented_d.AugmentedD` views, which augment every image it sees.
"""

from __future__ import annotations

import torch

from ganscale.augmented_d import AugmentedD
from ganscale.buffers import broadcast_buffers
from ganscale.checkpoint import Snapshot
from ganscale.config import Config
from ganscale.data import make_batches
from ganscale.ema import EMA
from ganscale.hooks import RunHooks
from ganscale.hot_path import HotPath, retain_cpu_memory
from ganscale.losses import (
    d_loss,
    g_loss,
    gradient_penalty,
    info_loss,
    logits_for_stats,
    mode_seeking_penalty,
    r1_penalty,
    r2_penalty,
)
from ganscale.models import build_models, latent_code, plain_activations, require_output, split_d_output
from ganscale.noise import UpdateNoise
from ganscale.precision import Scaler, autocast, check_supported, effective_precision
from ganscale.schedules import gamma_factor, set_optimizer_schedule
from ganscale.stats import StepStats
from ganscale.trainer_state import restore_into, snapshot_of


def _optimizer(params, lr: float, cfg: Config, device: torch.device):
    fast = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.Adam(params, lr=lr, betas=(cfg.optim.beta1, cfg.optim.beta2), **fast)


class Trainer:
    def __init__(self, cfg: Config, accelerator, hot_path: HotPath | None = None,
                 hooks: RunHooks | None = None):
        self.cfg, self.accelerator = cfg, accelerator
        self.hot_path = hot_path = hot_path or HotPath()
        self.hooks = hooks or RunHooks()
        self.device = accelerator.device
        self.precision = effective_precision(cfg.train.mixed_precision)
        check_supported(self.precision, self.device)
        self.world, self.rank = accelerator.num_processes, accelerator.process_index
        self.global_batch = cfg.train.batch_size * self.world
        self.images_per_step = self.global_batch * cfg.train.grad_accum * cfg.optim.n_critic
        torch.manual_seed(cfg.train.seed)  # identical initial weights on every rank
        generator, discriminator = build_models(cfg.model)
        if self.device.type == "cpu":  # see docs/benchmarks.md for what these earn
            if hot_path.retain_cpu_memory:
                retain_cpu_memory()
            if hot_path.channels_last:  # oneDNN convs run faster with NHWC weights
                generator = generator.to(memory_format=torch.channels_last)
                discriminator = discriminator.to(memory_format=torch.channels_last)
        if not hot_path.grad_layout:
            plain_activations(generator)
            plain_activations(discriminator)
        self.ema = EMA(generator, cfg.train.ema_halflife_kimg, cfg.train.ema_rampup)
        self.ema.model.to(self.device)
        if cfg.model.sync_bn:
            if self.world > 1 and self.device.type != "cuda":
                from ganscale.errors import UserError

                raise UserError("model.sync_bn=true needs CUDA GPUs (SyncBatchNorm is GPU-only); "
                                "on CPU use model.sync_bn=false (per-rank statistics)")
            generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(generator)
            discriminator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(discriminator)
        opt_g = _optimizer(generator.parameters(), cfg.optim.lr_g, cfg, self.device)
        opt_d = _optimizer(discriminator.parameters(), cfg.optim.lr_d, cfg, self.device)
        self.G, self.D, self.opt_G, self.opt_D = accelerator.prepare(generator, discriminator, opt_g, opt_d)
        self.G_plain = accelerator.unwrap_model(self.G)
        self.D_plain = accelerator.unwrap_model(self.D)
        if cfg.train.compile:
            self.G, self.D = torch.compile(self.G), torch.compile(self.D)
        self.scaler_G = Scaler(self.precision, self.device)
        self.scaler_D = Scaler(self.precision, self.device)
        self.noise = UpdateNoise(cfg, self.rank, self.world, self.device)
        self.augment = AugmentedD(cfg, self.rank, self.world, self.device,
                                  reduce=lambda t: accelerator.reduce(t, reduction="sum"))
        self.stats = StepStats(self.device)
        self.cur_nimg = 0
        self.step = 0
        self.lr_scale = 1.0  # halved by each divergence rollback, on top of the schedule
        self.gamma_scale = 1.0  # of loss.r1_gamma / r2_gamma at this step (schedules.gamma_factor)
        self.g_reals: list[tuple] = []  # rpgan: the D phase's (reals, labels) per micro-batch, for G
        self.batches = None

    # ----------------------------------------------------------------- randomness
    def draw(self, position: int, salt: int) -> list[tuple]:
        """This rank's (z, fake labels, alpha) per micro-batch of the update at `position` (noise.py)."""
        return self.noise.draw(position, salt)

    # ----------------------------------------------------------------- phases
    def _info_loss(self, aux: dict, z):
        """InfoGAN's term on the code logits D returned for the fakes of z, or 0 without latent codes."""
        codes = self.cfg.model.latent_codes
        if not codes:
            return 0.0
        code_logits = require_output(aux, "codes", f"model.latent_codes={codes}")
        return self.cfg.loss.info_weight * info_loss(code_logits, latent_code(z, codes))

    def _d_loss(self, real, labels, fake, fake_labels, alpha, z):
        loss_cfg = self.cfg.loss
        lazy_step = self.step % loss_cfg.r1_every == 0
        use_r1, use_r2 = loss_cfg.r1_gamma > 0 and lazy_step, loss_cfg.r2_gamma > 0 and lazy_step
        if use_r1:
            real = real.detach().requires_grad_(True)
        if use_r2:
            fake = fake.detach().requires_grad_(True)
        with autocast(self.precision, self.device):
            real_logits, _ = split_d_output(self.augment.view(self.D, "real")(real, labels))
            fake_logits, fake_aux = split_d_output(self.augment.view(self.D, "fake")(fake, fake_labels))
            self.augment.observe(real_logits)
            loss = d_loss(loss_cfg.kind, real_logits, fake_logits) + self._info_loss(fake_aux, z)
            if loss_cfg.kind == "wgan-gp":
                gp = gradient_penalty(self.augment.view(self.D, "mix"), real, fake, alpha, labels,
                                      self._grad_scale(self.scaler_D))
                loss = loss + loss_cfg.gp_weight * gp
            if use_r1:
                r1 = r1_penalty(real_logits, real, self._grad_scale(self.scaler_D))
                loss = loss + 0.5 * loss_cfg.r1_gamma * self.gamma_scale * loss_cfg.r1_every * r1
            if use_r2:
                r2 = r2_penalty(fake_logits, fake, self._grad_scale(self.scaler_D))
                loss = loss + 0.5 * loss_cfg.r2_gamma * self.gamma_scale * loss_cfg.r1_every * r2
        self.stats.add_d(loss, *logits_for_stats(loss_cfg.kind, real_logits, fake_logits))
        if self.hooks.d_loss is not None:
            loss = self.hooks.d_loss(self, loss)
        return loss

    def _grad_scale(self, scaler: Scaler) -> float:
        return scaler.scale_value if self.precision == "fp16" else 1.0

    def d_phase(self, keep_fakes: bool, measure: bool):
        """One D update over `grad_accum` micro-batches; returns the fakes if the G phase reuses them."""
        accum, kept = self.cfg.train.grad_accum, []
        draws = self.draw(self.cur_nimg, salt=0)
        self.augment.begin(self.cur_nimg)
        self.g_reals = []
        for micro in range(accum):
            real, labels = next(self.batches)
            self.augment.select(micro)
            if self.cfg.loss.kind == "rpgan":
                self.g_reals.append((real, labels))
            z, fake_labels, alpha = draws[micro]
            with self.accelerator.accumulate(self.G, self.D):
                with torch.set_grad_enabled(keep_fakes), autocast(self.precision, self.device):
                    fake = self.G(z, fake_labels)
                loss = self._d_loss(real, labels, fake.detach(), fake_labels, alpha, z)
                self.scaler_D.backward(loss / accum)
            if keep_fakes:
                kept.append((fake, fake_labels, z))
            self.cur_nimg += self.global_batch
        self._optimizer_step(self.opt_D, self.scaler_D, self.D_plain, "D", measure)
        return kept

    def g_phase(self, kept_fakes, measure: bool, draws=None):
        accum = self.cfg.train.grad_accum
        if not kept_fakes and draws is None:
            draws = self.draw(self.cur_nimg, salt=1)
        self.augment.begin(self.cur_nimg)
        if self.hot_path.freeze_d_in_g_phase:
            self.D_plain.requires_grad_(False)
        try:
            for micro in range(accum):
                self.augment.select(micro)
                with self.accelerator.accumulate(self.G, self.D):
                    if kept_fakes:
                        fake, fake_labels, z = kept_fakes[micro]
                    else:
                        z, fake_labels, _ = draws[micro]
                        with autocast(self.precision, self.device):
                            fake = self.G(z, fake_labels)
                    with autocast(self.precision, self.device):
                        d_view = self.augment.view(self.D_plain, "g_fake")
                        logits, aux = split_d_output(d_view(fake, fake_labels))
                        loss = g_loss(self.cfg.loss.kind, logits, self._paired_real_logits(micro))
                        loss = loss + self._info_loss(aux, z)
                    if self.cfg.loss.mode_seeking:
                        loss = loss + self.cfg.loss.mode_seeking * mode_seeking_penalty(fake, z)
                    self.stats.add_g(loss)
                    self.scaler_G.backward(loss / accum)
        finally:
            self.D_plain.requires_grad_(True)
        self._optimizer_step(self.opt_G, self.scaler_G, self.G_plain, "G", measure)

    @torch.no_grad()
    def _paired_real_logits(self, micro: int):
        """rpgan: D's logits for the reals paired with this micro-batch's fakes; None for other losses."""
        if not self.g_reals:
            return None
        return split_d_output(self.augment.view(self.D_plain, "g_real")(*self.g_reals[micro]))[0]

    def _optimizer_step(self, optimizer, scaler: Scaler, model, name: str, measure: bool):
        if measure:  # gradient norms only at log steps: they cost a pass over all gradients
            scaler.unscale(optimizer)
            params = [p for p in model.parameters() if p.grad is not None]
            self.stats.add_grad_norm(name, torch.nn.utils.get_total_norm([p.grad for p in params]))
        scaler.step(optimizer)
        optimizer.zero_grad(set_to_none=True)

    def set_learning_rates(self) -> None:
        """The configured lrs x the schedule at this position x the rollback scale; Adam's beta2 and the
        penalty weights too, where they are scheduled (schedules.py)."""
        set_optimizer_schedule(self.cfg, self.cur_nimg, self.lr_scale, (self.opt_G, self.opt_D))
        self.gamma_scale = gamma_factor(self.cfg, self.cur_nimg)

    def train_step(self, measure: bool = False) -> None:
        """n_critic D updates, one G update, one EMA update."""
        start_nimg = self.cur_nimg
        self.set_learning_rates()
        n_critic, accum = self.cfg.optim.n_critic, self.cfg.train.grad_accum
        kept = []
        for critic in range(n_critic):
            kept = self.d_phase(keep_fakes=(n_critic == 1 and accum == 1 and self.hot_path.reuse_fakes),
                                measure=measure and critic == n_critic - 1)
        reuse = n_critic == 1 and self.hot_path.reuse_fakes
        same_fakes = self.draw(start_nimg, salt=0) if reuse and accum > 1 else None
        self.g_phase(kept, measure, same_fakes)
        self._sync_buffers()
        self.augment.end_step(self.step + 1)
        self.ema.update(self.G_plain, self.cur_nimg, self.cur_nimg - start_nimg)
        self.step += 1

    def _sync_buffers(self) -> None:
        if self.world > 1:
            broadcast_buffers([self.G_plain, self.D_plain])

    def start_data(self) -> None:
        """(Re)build the batch stream at the current image position (after init, resume or rollback)."""
        t = self.cfg.train
        agree = self._rank0_labels if self.world > 1 else None
        self.batches = make_batches(self.cfg.data, self.cfg.model, batch_size=t.batch_size, rank=self.rank,
                                    world=self.world, seed=t.seed, device=self.device,
                                    position=self.cur_nimg, agree=agree)

    def _rank0_labels(self, labels: torch.Tensor) -> torch.Tensor:
        from accelerate.utils import broadcast

        return broadcast(labels.to(self.device), from_process=0).cpu()

    # ----------------------------------------------------------------- state
    def gather_snapshot(self) -> Snapshot:
        """Everything a bit-exact resume needs (trainer_state.py). Collective: gathers every rank's RNG."""
        return snapshot_of(self)

    def restore(self, snapshot: Snapshot) -> None:
        """Continue from `snapshot` (any world size; the same one also continues each rank's RNG)."""
        restore_into(self, snapshot)
        self.start_data()

    def rollback(self, snapshot: Snapshot) -> None:
        """After a divergence: back to `snapshot` with half the learning-rate scale in use.

        Half of the scale in use, not of the snapshot's: restoring resets it to the saved value, and a
        second divergence before the next checkpoint must not retry the same lr (an endless loop).
        """
        scale = self.lr_scale
        self.restore(snapshot)
        self.lr_scale = scale * 0.5
        self.set_learning_rates()
