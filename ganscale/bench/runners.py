"""The two ways of training that `ganscale bench` times: ganscale's Trainer and the textbook loop.

- ganscale: the real Trainer (`build_accelerator` + `Trainer` + `start_data`), without run dir,
  checkpoints or tracker. A log step (gradient norms + one statistics read-back) happens every
  `log.every` steps, as in `ganscale train`.
- textbook: the loop of pytorch/examples dcgan/main.py. torchvision MNIST with PIL transforms in a
  DataLoader (2 workers, shuffle), `.to(device)` per step, BCEWithLogitsLoss, D on real, D on
  fake.detach(), G step on the same fake, `.item()` each step.

Both train the same G and D (`build_models`), the same non-saturating loss and Adam settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ganscale.hot_path import HotPath

TEXTBOOK_WORKERS = 2
MIN_STEPS = 2  # timed steps per window at least, with steps=None (auto)


@dataclass(frozen=True)
class Case:
    preset: str
    batch_size: int
    precision: str = "no"
    data: str = "tensor"
    compile: str = "off"
    overrides: tuple[str, ...] = ()  # the user's `section.key=value`s (e.g. data.path), before the grid's

    @property
    def key(self) -> str:
        return f"{self.preset}/b{self.batch_size}/{self.precision}/{self.data}/compile-{self.compile}"


class Runner:
    """One way of training; `window` times a run of steps. Subclasses define step/finish/close."""

    images_per_step = 0
    device = torch.device("cpu")

    def step(self) -> int:  # one training step; returns the real images it consumed
        raise NotImplementedError

    def finish(self) -> None:  # wait for queued device work
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        pass

    def info(self) -> dict:
        return {"device": str(self.device), "torch_threads": torch.get_num_threads(),
                "images_per_step": self.images_per_step}

    def warmup(self, steps: int) -> None:
        for _ in range(steps):
            self.step()
        self.finish()

    def window(self, steps: int | None, target_s: float = 0.0) -> tuple[int, int, float, float]:
        """(steps, images, seconds, CPU seconds) of one timed window, ending with a device sync.

        `steps` steps, or with steps=None as many as fit in `target_s` seconds (at least MIN_STEPS).
        CPU seconds: this process, all threads, user + system (not DataLoader worker processes).
        """
        images = done = 0
        start, cpu = time.perf_counter(), time.process_time()
        while (done < steps) if steps else (done < MIN_STEPS or time.perf_counter() - start < target_s):
            images += self.step()
            done += 1
        self.finish()
        return done, images, time.perf_counter() - start, time.process_time() - cpu


class GanscaleRunner(Runner):
    """The real Trainer; `step()` is one `train_step` with a log step every `log.every` steps.

    `hot_path` is handed to the Trainer as is (default: every speed choice on), so a tool can time
    the same Trainer with one choice undone (tools/ablate.py).
    """

    def __init__(self, case: Case, hot_path: HotPath | None = None):
        from ganscale.config import load_config
        from ganscale.run import build_accelerator
        from ganscale.trainer import Trainer

        overrides = [*case.overrides, f"train.batch_size={case.batch_size}",
                     f"train.mixed_precision='{case.precision}'", f"data.loader={case.data}",
                     f"train.compile={str(case.compile == 'on').lower()}",
                     "log.tracker=none", "log.progress=false"]
        self.cfg = load_config(case.preset, overrides=overrides)
        self.accelerator = build_accelerator(self.cfg)
        self.trainer = t = Trainer(self.cfg, self.accelerator, hot_path=hot_path)
        t.start_data()
        self.device, self.images_per_step = t.device, t.images_per_step

    def step(self) -> int:
        trainer = self.trainer
        is_log_step = (trainer.step + 1) % self.cfg.log.every == 0
        trainer.train_step(measure=is_log_step)
        if is_log_step:
            trainer.stats.reduce(self.accelerator, [0.0, 0.0])
        return self.images_per_step

    def close(self) -> None:
        self.trainer.batches = None


class TextbookRunner(Runner):
    """pytorch/examples dcgan/main.py's loop on ganscale's G and D (see the module docstring)."""

    def __init__(self, case: Case):
        """The preset, its overrides and batch size count: the textbook is always fp32, DataLoader, eager."""
        from torch import nn

        from ganscale.config import load_config
        from ganscale.data import torchvision_mnist
        from ganscale.models import build_models, split_d_output

        batch_size = case.batch_size
        cfg = load_config(case.preset, overrides=[*case.overrides, f"train.batch_size={batch_size}"])
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.device, self.cfg = device, cfg
        torch.manual_seed(cfg.train.seed)
        generator, discriminator = build_models(cfg.model)
        self.G, self.D = generator.to(device), discriminator.to(device)
        self.criterion = nn.BCEWithLogitsLoss()
        # any D of the model contract (a logits tensor, or logits and auxiliary outputs)
        self.logits = lambda images, labels: split_d_output(self.D(images, labels))[0]
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.optim.lr_d, betas=betas)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.optim.lr_g, betas=betas)
        # torchvision MNIST + [Resize(64)] + ToTensor + Normalize((0.5,), (0.5,)), as the example.
        dataset = torchvision_mnist(cfg.data, cfg.model)
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                                  num_workers=TEXTBOOK_WORKERS)
        self.images_per_step = batch_size
        self._iter = None
        self.last: tuple[float, ...] = ()

    def _next_batch(self):
        while True:  # epoch after epoch, a fresh iterator (and fresh workers) each time, as the example
            if self._iter is None:
                self._iter = iter(self.loader)
            try:
                return next(self._iter)
            except StopIteration:
                self._iter = None

    def step(self) -> int:
        device, num_classes = self.device, self.cfg.model.num_classes
        real_cpu, labels = self._next_batch()
        real = real_cpu.to(device)
        b = real.size(0)
        labels = labels.to(device) if num_classes else None
        fake_labels = torch.randint(0, num_classes, (b,), device=device) if num_classes else None
        # (1) D: maximise log D(x) + log(1 - D(G(z)))
        self.D.zero_grad()
        label = torch.full((b,), 1.0, dtype=real.dtype, device=device)
        output = self.logits(real, labels)
        err_d_real = self.criterion(output, label)
        err_d_real.backward()
        d_x = output.sigmoid().mean().item()
        noise = torch.randn(b, self.cfg.model.z_dim, device=device)
        fake = self.G(noise, fake_labels)
        label.fill_(0.0)
        output = self.logits(fake.detach(), fake_labels)
        err_d_fake = self.criterion(output, label)
        err_d_fake.backward()
        d_g_z1 = output.sigmoid().mean().item()
        err_d = err_d_real + err_d_fake
        self.opt_D.step()
        # (2) G: maximise log D(G(z)), on the same fake
        self.G.zero_grad()
        label.fill_(1.0)
        output = self.logits(fake, fake_labels)
        err_g = self.criterion(output, label)
        err_g.backward()
        d_g_z2 = output.sigmoid().mean().item()
        self.opt_G.step()
        self.last = (err_d.item(), err_g.item(), d_x, d_g_z1, d_g_z2)
        return b

    def close(self) -> None:
        self._iter = None  # shuts the worker processes down

