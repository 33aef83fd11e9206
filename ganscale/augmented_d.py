"""D as the trainer's losses call it: every image through the augmentation first (aug.*).

The trainer asks for a view of D per kind of input and hands it to the losses and penalties, which stay
unaware of augmentation: `view(D, "real")(x, labels) == D(augment(x), labels)`. Each kind has its own
salt, so the D phase's reals, its fakes, the G phase's fakes and WGAN-GP's mixes get independent
parameters, drawn per update for the global batch (augment.UpdateAugment) and taken per micro-batch.
R1 then differentiates D(augment(real)) with respect to the un-augmented real, as StyleGAN2-ADA does.
With augmentation off (`aug.policy=none`, or p fixed at 0) a view is D itself: no op, no draw, no
collective, and a run trains bit-identically to one without this module.
"""

from __future__ import annotations

from ganscale.ada import AdaptiveP, Reduce
from ganscale.augment import UpdateAugment, apply
from ganscale.config_sections import Config

SALTS = {"real": 0, "fake": 1, "g_fake": 2, "mix": 3, "g_real": 4}  # g_real: rpgan's G-phase reals


class AugmentedD:
    def __init__(self, cfg: Config, rank: int, world: int, device, reduce: Reduce):
        self.active = cfg.aug.active()
        self.ops = cfg.aug.ops()
        t = cfg.train
        self.draws = UpdateAugment(self.ops, cfg.model.image_size, t.seed, t.batch_size, world, rank,
                                   t.grad_accum, device)
        self.ada = AdaptiveP(cfg.aug, device, reduce)
        self.position, self.micro, self._params = 0, 0, {}

    def begin(self, position: int) -> None:
        """A new update (D or G phase) whose first image is at `position`: its draws are made on demand."""
        self.position, self.micro, self._params = position, 0, {}

    def select(self, micro: int) -> None:
        self.micro = micro

    def view(self, discriminator, kind: str):
        """`discriminator` seeing this update's `kind` images augmented; itself when augmentation is off."""
        if not self.active:
            return discriminator
        if kind not in self._params:
            self._params[kind] = self.draws.draw(self.position, SALTS[kind])
        params = self._params[kind][self.micro]
        return lambda images, labels=None: discriminator(apply(images, self.ops, params, self.ada.p), labels)

    def observe(self, real_logits) -> None:
        if self.active:
            self.ada.observe(real_logits)

    def end_step(self, step: int) -> None:
        if self.active:
            self.ada.end_step(step)

    def log_values(self) -> dict[str, float]:
        return self.ada.log_values() if self.active else {}

    def state(self) -> dict:
        return self.ada.state() if self.active else {}

    def load_state(self, aug_p: float | None, aug_sums: list[float]) -> None:
        if self.active:
            self.ada.load_state(aug_p, aug_sums)
