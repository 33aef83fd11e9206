"""A Trainer's state as a checkpoint Snapshot and back: the one place that maps the trainer's
attributes to the schema's fields (checkpoint/schema.py)."""

from __future__ import annotations

from ganscale.checkpoint import Snapshot, TrainState, copied_to_cpu
from ganscale.errors import UserError
from ganscale.state import restore_rng, rng_state


def snapshot_of(trainer) -> Snapshot:
    """By value (CPU copies), so training on does not change it. Collective: gathers every rank's RNG."""
    from accelerate.utils import gather_object

    state = TrainState(step=trainer.step, cur_nimg=trainer.cur_nimg, lr_scale=trainer.lr_scale,
                       world_size=trainer.world, config=trainer.cfg.to_dict(),
                       fingerprint=trainer.cfg.fingerprint(),
                       rng=gather_object([rng_state(trainer.device)]),
                       scaler_g=trainer.scaler_G.state_dict(), scaler_d=trainer.scaler_D.state_dict(),
                       **trainer.augment.state())
    return Snapshot(**copied_to_cpu({
        "generator": trainer.G_plain.state_dict(), "discriminator": trainer.D_plain.state_dict(),
        "generator_ema": trainer.ema.state_dict(), "optimizer_g": trainer.opt_G.state_dict(),
        "optimizer_d": trainer.opt_D.state_dict()}), state=state)


def restore_into(trainer, snapshot: Snapshot) -> None:
    """Weights, optimizers, scalers, counters, augmentation and (same world size) each rank's RNG."""
    state = snapshot.state
    if state.fingerprint != trainer.cfg.fingerprint():
        saved = state.config.get("model", {})
        raise UserError(f"checkpoint model {saved.get('arch')!r} ({saved}) does not match this run's "
                        f"model.* settings; resume with the same model config")
    trainer.G_plain.load_state_dict(snapshot.generator)
    trainer.D_plain.load_state_dict(snapshot.discriminator)
    trainer.ema.load_state_dict(snapshot.generator_ema)
    trainer.opt_G.load_state_dict(snapshot.optimizer_g)
    trainer.opt_D.load_state_dict(snapshot.optimizer_d)
    trainer.scaler_G.load_state_dict(state.scaler_g)
    trainer.scaler_D.load_state_dict(state.scaler_d)
    trainer.step, trainer.cur_nimg, trainer.lr_scale = state.step, state.cur_nimg, float(state.lr_scale)
    trainer.augment.load_state(state.aug_p, state.aug_sums)
    if len(state.rng) == trainer.world:
        restore_rng(state.rng[trainer.rank], trainer.device)
