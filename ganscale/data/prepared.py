"""The prepared-dataset format: what `ganscale prepare` writes once and every training run reads.

    DIR/dataset.json   what the arrays hold and where they came from (PreparedInfo, below)
    DIR/images.u8      raw uint8, C-order [N, C, H, W]
    DIR/labels.i64     raw little-endian int64 [N] (absent for an unlabelled dataset)

NCHW rather than NHWC because training consumes NCHW: one image is one contiguous slab, so a batch is
a gather of whole rows from the memory map, with no transpose on the hot path (the CPU data loader or
the GPU would otherwise pay a layout change on every step). Raw arrays rather than .npy/.zip: a memory
map needs nothing but the offset 0 and the shape in dataset.json, and nothing is ever unpickled.

Opening is cheap (a 15 GB dataset must not cost minutes per start): file sizes against the shape,
plus a hash of a few fixed 1 MiB chunks (`quick_sha256`). `verify` re-hashes every byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganscale.errors import UserError

FORMAT = "ganscale-prepared-v1"
INFO_FILE, IMAGES_FILE, LABELS_FILE = "dataset.json", "images.u8", "labels.i64"
CHUNK = 1 << 20
QUICK_CHUNKS = 16


@dataclass
class PreparedInfo:
    count: int
    channels: int
    resolution: int
    labelled: bool
    sha256: str  # of images.u8 then labels.i64, every byte
    quick_sha256: str  # of QUICK_CHUNKS chunks at fixed offsets of images.u8 (see quick_digest)
    num_classes: int = 0
    label_names: list[str] = field(default_factory=list)
    source: dict = field(default_factory=dict)  # kind, location, options: enough to say where it came from
    transforms: dict = field(default_factory=dict)  # resolution, channels, crop, resample, max_images
    skipped: dict = field(default_factory=dict)  # {"count": k, "files": [first 100 names with reasons]}
    command: str = ""
    version: str = ""
    format: str = FORMAT
    layout: str = "NCHW"

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.count, self.channels, self.resolution, self.resolution)

    @property
    def image_bytes(self) -> int:
        return self.count * self.channels * self.resolution * self.resolution

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, tree: dict) -> PreparedInfo:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in tree.items() if key in known})


def quick_offsets(size: int) -> list[int]:
    """Fixed, evenly spread chunk starts (first and last chunk included) of a file of `size` bytes."""
    if size <= CHUNK * QUICK_CHUNKS:
        return list(range(0, size, CHUNK))
    last = size - CHUNK
    return sorted({round(i * last / (QUICK_CHUNKS - 1)) for i in range(QUICK_CHUNKS)})


def quick_digest(path: Path) -> str:
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        for offset in quick_offsets(size):
            handle.seek(offset)
            digest.update(handle.read(CHUNK))
    return digest.hexdigest()


def full_digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(64 * CHUNK):
                digest.update(block)
    return digest.hexdigest()


def is_prepared(directory: Path) -> bool:
    return (Path(directory) / INFO_FILE).is_file()


def read_info(directory: str | Path) -> PreparedInfo:
    path = Path(directory) / INFO_FILE
    try:
        tree = json.loads(path.read_text())
        if tree.get("format") != FORMAT:
            raise ValueError(f"format {tree.get('format')!r}, expected {FORMAT!r}")
        return PreparedInfo.from_json(tree)
    except FileNotFoundError:
        raise UserError(f"{directory}: not a prepared dataset (no {INFO_FILE}; make one with "
                        f"`ganscale prepare SOURCE --out {directory}`)") from None
    except (OSError, ValueError, TypeError) as err:
        raise UserError(f"{path}: not a readable prepared-dataset description ({err})") from None


class PreparedDataset:
    """A prepared directory, opened and checked cheaply; `images` / `labels` are read-only memory maps.

    `quick_check=False` skips the sampled checksum, for `verify`, which reads every byte anyway and
    then names the failure as a checksum mismatch.
    """

    def __init__(self, directory: str | Path, *, quick_check: bool = True):
        self.directory = Path(directory)
        self.info = info = read_info(self.directory)
        images = self.directory / IMAGES_FILE
        self._check_size(images, info.image_bytes)
        if info.labelled:
            self._check_size(self.directory / LABELS_FILE, info.count * 8)
        if quick_check and quick_digest(images) != info.quick_sha256:
            raise UserError(f"{images}: contents do not match {INFO_FILE} (quick checksum); prepare it "
                            f"again, or check it with `ganscale prepare --verify {self.directory}`")
        self.images = np.memmap(images, dtype=np.uint8, mode="r", shape=info.shape)
        self.labels = (np.memmap(self.directory / LABELS_FILE, dtype="<i8", mode="r", shape=(info.count,))
                       if info.labelled else None)

    def _check_size(self, path: Path, expected: int) -> None:
        size = path.stat().st_size if path.is_file() else None
        if size != expected:
            found = "missing" if size is None else f"{size} bytes"
            raise UserError(f"{path}: {found}, expected {expected} bytes for {self.info.count} images of "
                            f"{self.info.channels}x{self.info.resolution}x{self.info.resolution}; "
                            "the dataset is incomplete or truncated: prepare it again")

    def __len__(self) -> int:
        return self.info.count

    def verify(self) -> None:
        """Every byte against the checksum in dataset.json (slow: reads the whole arrays)."""
        files = [self.directory / IMAGES_FILE]
        if self.info.labelled:
            files.append(self.directory / LABELS_FILE)
        if full_digest(files) != self.info.sha256:
            raise UserError(f"{self.directory}: checksum mismatch: the arrays are not what was prepared "
                            f"(sha256 in {INFO_FILE} differs); prepare it again")


class PreparedWriter:
    """Streams images into `tmp_dir` (the temporary directory of an atomic write, files.atomic_path);
    `finish` writes dataset.json last, so a directory with one is complete.

        with atomic_path(out, directory=True) as tmp:
            writer = PreparedWriter(tmp, channels=3, resolution=32, labelled=True)
            writer.add(images_u8_nchw, labels)
            writer.finish(source=..., transforms=..., command=...)
    """

    def __init__(self, tmp_dir: Path, *, channels: int, resolution: int, labelled: bool):
        self.tmp_dir, self.labelled = Path(tmp_dir), labelled
        self.image_shape = (channels, resolution, resolution)
        (self.tmp_dir / IMAGES_FILE).write_bytes(b"")
        self._labels: list[np.ndarray] = []
        self._digest = hashlib.sha256()
        self.count = 0

    def add(self, images: np.ndarray, labels: np.ndarray | None = None) -> None:
        """uint8 [B, C, R, R] (and int64 [B] when labelled), in dataset order."""
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if images.shape[1:] != self.image_shape:
            raise ValueError(f"images of shape {images.shape[1:]}, expected {self.image_shape}")
        if self.labelled and (labels is None or len(labels) != len(images)):
            raise ValueError("a labelled dataset needs one label per image")
        data = images.tobytes()
        with open(self.tmp_dir / IMAGES_FILE, "ab") as handle:
            handle.write(data)
        self._digest.update(data)
        if self.labelled:
            self._labels.append(np.asarray(labels, dtype="<i8"))
        self.count += len(images)

    def finish(self, **description) -> PreparedInfo:
        """Write the labels and dataset.json; `description` fills PreparedInfo's descriptive fields."""
        if self.labelled:
            data = np.concatenate(self._labels).tobytes() if self._labels else b""
            (self.tmp_dir / LABELS_FILE).write_bytes(data)
            self._digest.update(data)
        channels, resolution, _ = self.image_shape
        info = PreparedInfo(count=self.count, channels=channels, resolution=resolution,
                            labelled=self.labelled, sha256=self._digest.hexdigest(),
                            quick_sha256=quick_digest(self.tmp_dir / IMAGES_FILE), **description)
        (self.tmp_dir / INFO_FILE).write_text(json.dumps(info.to_json(), indent=1) + "\n")
        return info
