"""`prepare`: a source, through the transforms, into a prepared dataset (prepared.py), once.

The output is written inside `files.atomic_path(out, directory=True)`: until dataset.json lands and
the temporary folder is renamed, nothing named `out` looks complete, and any error (a user mistake,
Ctrl-C) removes the temporary. Unreadable images are skipped and listed in dataset.json (`skipped`),
or stop the run with `strict`. An `out` already holding a complete dataset made from the same source
with the same transforms is returned as it is, without opening the source.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from ganscale import __version__
from ganscale.data import transforms
from ganscale.data.prepared import PreparedDataset, PreparedInfo, PreparedWriter, is_prepared, read_info
from ganscale.data.sources import Item, Skipped, Source, Spec, open_source, resolve
from ganscale.data.sources.labelling import LABEL_MODES
from ganscale.errors import UserError
from ganscale.files import atomic_path

FLUSH = 256  # images per write: big enough to amortise the write, small enough to bound memory
LISTED_SKIPS = 100


def request_for(spec: Spec, resolution: int | None, channels: int | None, crop: str,
                max_images: int | None) -> dict:
    """What decides the output's bytes: compared with dataset.json for the no-op check."""
    return {"source": spec.to_json(), "transforms": {
        "resolution": resolution, "channels": channels, "crop": crop, "max_images": max_images,
        "resample": transforms.RESAMPLE}}


def request_of(info: PreparedInfo) -> dict:
    source = {key: info.source.get(key) for key in ("kind", "location", "options")}
    return {"source": source, "transforms": info.transforms}


def up_to_date(out: Path, request: dict) -> PreparedInfo | None:
    """The dataset in `out` if it is complete and made by `request`; None if `out` is free to write."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise UserError(f"--out {out}: a file, not a folder; choose another --out")
    if not is_prepared(out):
        if any(out.iterdir()):
            raise UserError(f"--out {out}: a folder that is not a prepared dataset (no dataset.json) and "
                            "not empty; choose another --out, or empty it")
        return None
    info = read_info(out)
    if request_of(info) != request:
        raise UserError(f"--out {out}: holds a dataset prepared {_difference(request_of(info), request)}; "
                        "remove it, or choose another --out")
    try:
        PreparedDataset(out)
    except UserError:  # incomplete or damaged: made again (and replaced whole) below
        return None
    return info


def _difference(old: dict, new: dict) -> str:
    for part in ("source", "transforms"):
        for key in sorted(set(old[part]) | set(new[part])):
            if old[part].get(key) != new[part].get(key):
                return f"with {part} {key}={old[part].get(key)!r} (asked: {new[part].get(key)!r})"
    return "differently"


class Filler:
    """Feeds one source's images, transformed, into a PreparedWriter made once the first image shows
    the source's own size and channels (used where the caller gave none)."""

    def __init__(self, tmp: Path, source: Source, *, resolution: int | None, channels: int | None,
                 crop: str, strict: bool, limit: int | None, bar):
        self.tmp, self.source, self.crop, self.strict, self.bar = tmp, source, crop, strict, bar
        self.asked = (resolution, channels)
        self.limit = limit
        self.writer: PreparedWriter | None = None
        self.first = ""
        self.pending: list[np.ndarray] = []
        self.labels: list[int] = []
        self.skipped: list[str] = []
        self.skip_count = self.max_label = 0

    @property
    def written(self) -> int:
        return (self.writer.count if self.writer else 0) + len(self.pending)

    def full(self) -> bool:
        return self.limit is not None and self.written >= self.limit

    def _target(self, pixels, name: str) -> tuple[int, int]:
        if self.writer is None:
            resolution = self.asked[0] or transforms.square_side(pixels, self.crop, name)
            channels = self.asked[1] or transforms.channels_of(pixels)
            self.writer = PreparedWriter(self.tmp, channels=channels, resolution=resolution,
                                         labelled=self.source.labelled)
            self.first = name
        _, resolution, _ = self.writer.image_shape
        return resolution, self.writer.image_shape[0]

    def _check_like_first(self, pixels, name: str, resolution: int, channels: int) -> None:
        side = transforms.square_side(pixels, self.crop, name)
        if self.asked[0] is None and side != resolution:
            raise UserError(f"{name}: {side} pixels square after the crop, but {self.first} gives "
                            f"{resolution}; the source mixes sizes: pass --resolution R")
        if self.asked[1] is None and channels == 1 and transforms.channels_of(pixels) == 3:
            raise UserError(f"{name} is in colour, but {self.first} is grey; pass --channels 1 or 3")

    def _label(self, label: int | None, name: str) -> None:
        if not self.source.labelled:
            return
        if label is None or label < 0:
            raise UserError(f"{name}: label {label}; every image of a labelled source needs a class id >= 0 "
                            "(or pass --labels none)")
        self.labels.append(label)
        self.max_label = max(self.max_label, label)

    def add_item(self, item: Item | Skipped) -> None:
        self.bar.update(1)
        if isinstance(item, Skipped):
            if self.strict:
                raise UserError(f"{item.name}: unreadable image ({item.reason}); --strict stops at the first")
            self.skip_count += 1
            if len(self.skipped) < LISTED_SKIPS:
                self.skipped.append(f"{item.name}: {item.reason}")
            return
        resolution, channels = self._target(item.pixels, item.name)
        self._check_like_first(item.pixels, item.name, resolution, channels)
        self._label(item.label, item.name)
        self.pending.append(transforms.to_chw(item.pixels, resolution, channels, self.crop))
        if len(self.pending) >= FLUSH:
            self.flush()

    def add_chunk(self, images: np.ndarray, labels: np.ndarray | None, start: int) -> None:
        if self.limit is not None:
            images = images[:self.limit - self.written]
        if not len(images):
            return
        resolution, channels = self._target(images[0], f"image {start}")
        fast = transforms.chunk_to_nchw(images, resolution, channels)
        if fast is None:
            for i, pixels in enumerate(images):
                self.add_item(Item(pixels, None if labels is None else int(labels[i]), f"image {start + i}"))
            return
        self.flush()
        chosen = None if labels is None else np.asarray(labels[:len(fast)], dtype=np.int64)
        if chosen is not None and len(chosen) and chosen.min() < 0:
            raise UserError(f"{self.source.location}: negative class ids in the labels")
        self.writer.add(fast, chosen)
        self.max_label = max(self.max_label, int(chosen.max())) if chosen is not None else 0
        self.bar.update(len(fast))

    def flush(self) -> None:
        if self.pending:
            self.writer.add(np.stack(self.pending), np.asarray(self.labels) if self.source.labelled else None)
            self.pending, self.labels = [], []

    def finish(self, request: dict, command: str) -> PreparedInfo:
        self.flush()
        if self.writer is None or self.writer.count == 0:
            first = f"; first: {self.skipped[0]}" if self.skipped else ""
            raise UserError(f"{self.source.location}: no readable images ({self.skip_count} skipped{first})")
        classes = self.source.num_classes or (self.max_label + 1 if self.source.labelled else 0)
        source = {**request["source"], "details": self.source.notes}
        return self.writer.finish(num_classes=classes, label_names=self.source.label_names, source=source,
                                  transforms=request["transforms"], command=command, version=__version__,
                                  skipped={"count": self.skip_count, "files": self.skipped})


def _fill(filler: Filler, source: Source) -> None:
    if source.chunks is not None:
        start = 0
        for images, labels in source.chunks():
            filler.add_chunk(images, labels, start)
            start += len(images)
            if filler.full():
                return
        return
    for item in source.items():
        filler.add_item(item)
        if filler.full():
            return


def check_arguments(crop: str, labels: str, max_images: int | None, resolution: int | None,
                    channels: int | None) -> None:
    transforms.check_options(resolution, channels, crop)
    if labels not in LABEL_MODES:
        raise UserError(f"--labels {labels}: allowed are {', '.join(LABEL_MODES)}")
    if max_images is not None and max_images < 1:
        raise UserError(f"--max-images {max_images}: must be at least 1")


def prepare_or_reuse(source: str, out: str | Path, *, resolution: int | None = None,
                     channels: int | None = None, crop: str = "center", labels: str = "auto",
                     max_images: int | None = None, root: str | None = None, image_column: str = "image",
                     label_column: str | None = None, strict: bool = False, seed: int = 0,
                     count: int | None = None, progress: bool = True,
                     command: str = "") -> tuple[PreparedInfo, bool]:
    """`prepare`, also saying whether `out` was already up to date (True: nothing was done)."""
    check_arguments(crop, labels, max_images, resolution, channels)
    spec = resolve(source, labels=labels, root=root, image_column=image_column, label_column=label_column,
                   seed=seed, count=count, resolution=resolution)
    request = request_for(spec, resolution, channels, crop, max_images)
    out = Path(out)
    found = up_to_date(out, request)
    if found is not None:
        return found, True
    opened = open_source(spec)
    total = min(opened.size, max_images or opened.size) if opened.size is not None else max_images
    with tqdm(total=total, unit="img", disable=not progress, desc="prepare") as bar, \
            atomic_path(out, directory=True) as tmp:
        filler = Filler(tmp, opened, resolution=resolution, channels=channels, crop=crop, strict=strict,
                        limit=max_images, bar=bar)
        _fill(filler, opened)
        info = filler.finish(request, command)
    return info, False


def prepare(source: str, out: str | Path, *, resolution: int | None = None, channels: int | None = None,
            crop: str = "center", labels: str = "auto", max_images: int | None = None,
            root: str | None = None, image_column: str = "image", label_column: str | None = None,
            strict: bool = False, seed: int = 0, count: int | None = None, progress: bool = True,
            command: str = "") -> PreparedInfo:
    """Make `out` from `source` once (or return it as it is when it is up to date).

    `resolution` / `channels` None keep the source's own (an error if a folder mixes them);
    `label_column` None takes a column named "label" when there is one; `count` and `seed` are
    stacked-mnist's; `root` is where a named dataset's files are (None: download them).
    """
    return prepare_or_reuse(source, out, resolution=resolution, channels=channels, crop=crop, labels=labels,
                            max_images=max_images, root=root, image_column=image_column,
                            label_column=label_column, strict=strict, seed=seed, count=count,
                            progress=progress, command=command)[0]
