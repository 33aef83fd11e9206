"""The outer training loop: intervals in kimg, logging, agreed stopping, samples and checkpoints.

Every decision that could differ between ranks (a signal arrived, the time budget ran out, a loss
went non-finite) is taken at log steps from one all-reduce, so all ranks stop at the same step.
"""

from __future__ import annotations

import signal
import time

from tqdm import tqdm

from ganscale.errors import DivergenceError
from ganscale.sampling import generate, grid_noise
from ganscale.stats import all_finite

# Exit statuses the CLI maps outcomes to; 75 (EX_TEMPFAIL) tells a SLURM script to requeue.
DONE, PREEMPTED = "done", "preempted"


class StopSignal:
    """Remembers SIGUSR1/SIGTERM (SLURM's warning before a time limit or preemption)."""

    def __init__(self):
        self.received = False
        for sig in (signal.SIGUSR1, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        self.received = True


def crossed(previous_nimg: int, current_nimg: int, interval_kimg: float) -> bool:
    interval = max(int(interval_kimg * 1000), 1)
    return previous_nimg // interval != current_nimg // interval


def _progress_bar(trainer, max_nimg: int):
    enabled = trainer.accelerator.is_main_process and trainer.cfg.log.progress
    return tqdm(total=max_nimg, initial=min(trainer.cur_nimg, max_nimg), unit="img", unit_scale=True,
                disable=not enabled, dynamic_ncols=True, mininterval=1.0)


def save_samples(trainer, tracker, fixed) -> None:
    if trainer.accelerator.is_main_process:
        images = generate(trainer.ema.model, *fixed)
        tracker.log_grid(images, trainer.cur_nimg, trainer.step)


def _log_step(trainer, tracker, bar, clock, stop: StopSignal, deadline: float | None):
    """Reduce stats and stop flags across ranks; log; return (values, signalled, out_of_time)."""
    flags = [float(stop.received), float(deadline is not None and time.time() >= deadline)]
    values, summed = trainer.stats.reduce(trainer.accelerator, flags)
    now = time.time()
    images = trainer.cur_nimg - clock["nimg"]
    values.update({"img_per_s": images / max(now - clock["time"], 1e-9), "kimg": trainer.cur_nimg / 1000,
                   "lr_G": trainer.opt_G.param_groups[0]["lr"], "lr_D": trainer.opt_D.param_groups[0]["lr"],
                   "skipped_G": float(trainer.scaler_G.skipped),
                   "skipped_D": float(trainer.scaler_D.skipped)})
    values.update(trainer.augment.log_values())  # aug_p, aug_rt when augmenting
    clock.update(time=now, nimg=trainer.cur_nimg)
    postfix = {"loss_D": f"{values['loss_D']:.3f}", "loss_G": f"{values['loss_G']:.3f}",
               "D(x)": f"{values['D_x']:.2f}", "D(G(z))": f"{values['D_G_z']:.2f}",
               "img/s": f"{values['img_per_s']:.0f}"}
    if "aug_p" in values:
        postfix["p"] = f"{values['aug_p']:.3f}"
    bar.set_postfix(postfix, refresh=False)
    if all_finite(values):
        tracker.log(values, trainer.step)
    return values, summed[0] > 0, summed[1] > 0


def _handle_divergence(trainer, checkpointer, values) -> None:
    """on_nan=stop: raise (the last good checkpoint stays). rollback: back to it with half the lr."""
    found = checkpointer.load_latest() if trainer.cfg.train.on_nan == "rollback" else None
    if found is None:
        latest = checkpointer.latest()
        raise DivergenceError(f"non-finite training statistics at step {trainer.step} "
                              f"(kimg {trainer.cur_nimg / 1000:.1f}): {values}; last good checkpoint: "
                              f"{latest or 'none'}; try a lower lr or train.on_nan=rollback")
    path, snapshot = found
    trainer.rollback(snapshot)
    trainer.accelerator.print(f"non-finite losses: rolled back to {path}, learning rates halved")


def _headline(metrics: dict, key: str) -> str:
    """The number the best checkpoint is chosen by, then the others worth a glance."""
    names = {"fid": "FID-MNIST", "fid_inception": "FID", "kid_inception": "KID", "isc_inception": "IS",
             "modes": "Stacked-MNIST modes", "kl": "KL", "real_kl": "real-data KL"}
    shown = dict.fromkeys([key, "fid", "precision", "recall", "fid_inception", "kid_inception", "modes", "kl",
                           "real_kl"])
    return ", ".join(f"{names.get(k, k)} {metrics[k]:.4g}" for k in shown if k in metrics)


def evaluate_and_keep_best(trainer, checkpointer, tracker) -> dict | None:
    """Sharded evaluation of G_ema with eval.metrics; the best by eval.best is kept in best/."""
    from accelerate.utils import broadcast_object_list

    from ganscale.eval import evaluate_generator
    from ganscale.eval.choice import best_key

    cfg = trainer.cfg
    metrics = evaluate_generator(trainer.ema.model, cfg.model, cfg.eval.num, seed=cfg.train.seed,
                                 accelerator=trainer.accelerator, data_root=cfg.data.root, cfg=cfg)
    shared = [metrics]
    if trainer.accelerator.num_processes > 1:
        broadcast_object_list(shared, from_process=0)
    metrics = shared[0]
    # kimg beside the results, so metrics.jsonl reads as a curve against images seen
    results = {f"eval/{name}": value for name, value in metrics.items()}
    tracker.log({**results, "kimg": trainer.cur_nimg / 1000}, trainer.step)
    key, higher_is_better = best_key(cfg)
    trainer.accelerator.print(f"kimg {trainer.cur_nimg / 1000:.1f}: {_headline(metrics, key)}")
    checkpointer.save_best(trainer, metrics, key, higher_is_better)
    return metrics


def train(trainer, checkpointer, tracker) -> str:
    """Run until max_kimg (or a stop request); returns DONE or PREEMPTED."""
    cfg = trainer.cfg
    max_nimg = int(cfg.train.max_kimg * 1000)
    deadline = time.time() + cfg.train.max_minutes * 60 if cfg.train.max_minutes else None
    stop, fixed = StopSignal(), grid_noise(cfg.model, seed=cfg.train.seed + 12345)
    if trainer.batches is None:
        trainer.start_data()
    bar = _progress_bar(trainer, max_nimg)
    clock = {"time": time.time(), "nimg": trainer.cur_nimg}
    outcome, steps_this_run = DONE, 0
    evaluated_nimg = None  # the position G_ema was last evaluated at: the end need not evaluate it again
    if trainer.cur_nimg == 0:
        save_samples(trainer, tracker, fixed)
    while trainer.cur_nimg < max_nimg:
        previous = trainer.cur_nimg
        upcoming = previous + trainer.images_per_step
        will_checkpoint = crossed(previous, upcoming, cfg.train.checkpoint_every) or upcoming >= max_nimg
        # A checkpoint is only written right after a finiteness check, so it is always a good one.
        is_log_step = (trainer.step + 1) % cfg.log.every == 0 or will_checkpoint
        trainer.train_step(measure=is_log_step)
        steps_this_run += 1
        bar.update(min(trainer.cur_nimg, max_nimg) - min(previous, max_nimg))
        signalled = out_of_time = False
        if is_log_step:
            values, signalled, out_of_time = _log_step(trainer, tracker, bar, clock, stop, deadline)
            if not all_finite(values):
                _handle_divergence(trainer, checkpointer, values)
                continue
        if crossed(previous, trainer.cur_nimg, cfg.log.sample_every):
            save_samples(trainer, tracker, fixed)
        if cfg.eval.every and crossed(previous, trainer.cur_nimg, cfg.eval.every):
            evaluate_and_keep_best(trainer, checkpointer, tracker)
            evaluated_nimg = trainer.cur_nimg
        if will_checkpoint:
            checkpointer.save(trainer)
        if signalled or out_of_time or steps_this_run == cfg.train.stop_after_steps:
            outcome = PREEMPTED if signalled else DONE
            break
    bar.close()
    save_samples(trainer, tracker, fixed)
    checkpointer.save(trainer)  # no-op when this position is already saved
    if outcome == DONE and (cfg.eval.at_end or cfg.eval.every) and evaluated_nimg != trainer.cur_nimg:
        evaluate_and_keep_best(trainer, checkpointer, tracker)
    return outcome
