"""Draw metric-against-kimg curves from runs' metrics.jsonl as one SVG (docs/results.md's curves).

Plain SVG text: no plotting library to install for a picture in the docs. Each run is a line; the
key is any number a run logs (`eval/kl`, `eval/fid`, `aug_p`, `aug_rt`, ...), read against
the `kimg` logged beside it.

    python tools/curve.py --key eval/modes --out docs/images/stacked-modes.svg \\
        runs/stacked/metrics.jsonl
    python tools/curve.py --key aug_rt --key aug_p --out docs/images/ada.svg runs/ada/metrics.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

WIDTH, HEIGHT, MARGIN = 640, 360, 56
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")


def _kimg_of(records: list[dict]):
    """step -> kimg, from the records that log both: exact where logged, linear between (a constant
    batch), for records that carry only the step (evaluations of runs before kimg was logged there)."""
    known = sorted({(r["step"], float(r["kimg"])) for r in records if "step" in r and "kimg" in r})

    def kimg(record: dict) -> float | None:
        if "kimg" in record:
            return float(record["kimg"])
        step = record.get("step")
        for (s0, k0), (s1, k1) in zip(known, known[1:], strict=False):
            if step is not None and s0 <= step <= s1:
                return k0 + (k1 - k0) * (step - s0) / (s1 - s0 or 1)
        return None
    return kimg


def read_points(path: Path, key: str) -> list[tuple[float, float]]:
    """(kimg, value) of every record of `path` that has `key`, in file order."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    kimg = _kimg_of(records)
    points = []
    for record in records:
        if key in record and (at := kimg(record)) is not None and math.isfinite(float(record[key])):
            points.append((at, float(record[key])))
    return points


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def svg(series: list[tuple[str, list[tuple[float, float]]]], title: str, log_y: bool = False) -> str:
    """One chart: x is kimg, y the values (log scale with `log_y`), a legend line per series."""
    ys = [y for _, pts in series for _, y in pts]
    xs = [x for _, pts in series for x, _ in pts]
    fy = (lambda v: math.log10(max(v, 1e-12))) if log_y else (lambda v: v)
    x0, x1 = 0.0, max(xs)
    y0, y1 = min(map(fy, ys)), max(map(fy, ys))
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    sx = lambda x: MARGIN + (x - x0) / (x1 - x0 or 1) * (WIDTH - 2 * MARGIN)  # noqa: E731
    sy = lambda y: HEIGHT - MARGIN - (fy(y) - y0) / (y1 - y0) * (HEIGHT - 2 * MARGIN)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>',
           f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>']
    for tx in _ticks(x0, x1):
        out.append(f'<line x1="{sx(tx):.1f}" y1="{HEIGHT - MARGIN}" x2="{sx(tx):.1f}" y2="{MARGIN}" '
                   f'stroke="#eee"/><text x="{sx(tx):.1f}" y="{HEIGHT - MARGIN + 16}" '
                   f'text-anchor="middle">{tx:g}</text>')
    for ty in _ticks(y0, y1):
        value = 10 ** ty if log_y else ty
        out.append(f'<line x1="{MARGIN}" y1="{sy(value):.1f}" x2="{WIDTH - MARGIN}" y2="{sy(value):.1f}" '
                   f'stroke="#eee"/><text x="{MARGIN - 6}" y="{sy(value) + 4:.1f}" text-anchor="end">'
                   f'{value:.3g}</text>')
    out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" text-anchor="middle">kimg</text>')
    for i, (label, pts) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{colour}"/>' for x, y in pts]
        out.append(f'<text x="{MARGIN + 8}" y="{MARGIN + 4 + 16 * i}" fill="{colour}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="metrics.jsonl files (or LABEL=FILE)")
    parser.add_argument("--key", action="append", required=True, help="the logged value(s) to draw")
    parser.add_argument("--out", required=True, help="the SVG file to write")
    parser.add_argument("--title", default="", help="the chart's title (default: the keys)")
    parser.add_argument("--log-y", action="store_true", help="logarithmic y axis")
    args = parser.parse_args(argv)
    series = []
    for run in args.runs:
        label, _, file = run.rpartition("=")
        path = Path(file)
        if not path.is_file():
            print(f"curve: {path}: no such metrics file", file=sys.stderr)
            return 2
        for key in args.key:
            points = read_points(path, key)
            if points:
                series.append((f"{label or path.parent.name} {key}", points))
    if not series:
        print(f"curve: no record in {', '.join(args.runs)} has {', '.join(args.key)}", file=sys.stderr)
        return 2
    Path(args.out).write_text(svg(series, args.title or ", ".join(args.key), args.log_y))
    print(f"wrote {args.out} ({sum(len(p) for _, p in series)} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
