"""Read the records the real wandb client wrote to an offline run's .wandb file.

The file is a LevelDB-style log (a 7-byte ':W&B' header, then 32 KiB blocks of records with
7-byte headers: crc32, length, type) holding wandb's own protobuf Records. Newer wandb releases no
longer ship a reader, so the tests carry this small one.
"""

from __future__ import annotations

import struct
from pathlib import Path

BLOCK, HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _payloads(data: bytes):
    assert data[:4] == b":W&B", "not a wandb run file"
    offset, pending = HEADER, b""
    while offset + HEADER <= len(data):
        room = BLOCK - offset % BLOCK
        if room < HEADER:
            offset += room
            continue
        _, length, kind = struct.unpack("<IHB", data[offset:offset + HEADER])
        chunk = data[offset + HEADER:offset + HEADER + length]
        offset += HEADER + length
        if kind == 0 and length == 0:
            offset += BLOCK - offset % BLOCK if offset % BLOCK else 0
            continue
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk


def read_records(run_file: Path) -> list:
    from wandb.proto import wandb_internal_pb2

    records = []
    for payload in _payloads(Path(run_file).read_bytes()):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        records.append(record)
    return records


def history_rows(records) -> list[dict[str, str]]:
    rows = []
    for record in records:
        if record.WhichOneof("record_type") == "history":
            items = record.history.item
            rows.append({item.key or "/".join(item.nested_key): item.value_json for item in items})
    return rows


def run_ids(records) -> set[str]:
    return {r.run.run_id for r in records if r.WhichOneof("record_type") == "run"}


def config_keys(records) -> set[str]:
    keys = set()
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "run":
            keys |= {item.key for item in record.run.config.update}
        elif kind == "config":
            keys |= {item.key for item in record.config.update}
    return keys
