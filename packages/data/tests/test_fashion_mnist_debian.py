"""Debian's real Fashion-MNIST files (`apt install dataset-fashion-mnist`), read end to end.

Skipped when the files are absent, except under CI (env CI set), where their absence
fails: .ci/run installs the package, so CI cannot skip this test silently.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from sparring.data import load_dataset, read_idx

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
# sha256 of the decoded uint8 arrays' bytes (array.tobytes()), computed once from the
# package dataset-fashion-mnist 0.0~git20200523.55506a9-1; independent of gzip settings
ARRAY_SHA256 = {
    "train-images-idx3-ubyte.gz": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    "train-labels-idx1-ubyte.gz": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    "t10k-images-idx3-ubyte.gz": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
    "t10k-labels-idx1-ubyte.gz": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def debian_root() -> Path:
    missing = [f for f in FILES if not (DEBIAN / f).is_file()]
    if missing:
        message = (f"Debian's Fashion-MNIST files are absent from {DEBIAN} ({', '.join(missing)}); "
                   "install them with `apt-get install dataset-fashion-mnist`")
        if _in_ci():
            pytest.fail(f"CI must run this test: {message} (.ci/run does)")
        pytest.skip(message)
    return DEBIAN


@pytest.mark.parametrize(("split", "n"), [("train", 60000), ("test", 10000)])
def test_real_fashion_mnist(debian_root, split, n) -> None:
    ds = load_dataset("fashion-mnist", root=debian_root, split=split)
    assert len(ds) == n and ds.info.input_shape == (28, 28) and ds.info.num_classes == 10
    assert ds.class_counts().tolist() == [n // 10] * 10
    x, y = next(ds.batches(512, seed=0))
    assert x.shape == (512, 28, 28) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    prefix = "train" if split == "train" else "t10k"
    for kind in ("images-idx3", "labels-idx1"):
        name = f"{prefix}-{kind}-ubyte.gz"
        assert hashlib.sha256(read_idx(debian_root / name).tobytes()).hexdigest() == ARRAY_SHA256[name], name
