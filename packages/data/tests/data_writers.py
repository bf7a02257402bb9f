"""Writers of small fixture trees in the official layouts (IDX, CIFAR-10 python batches).

Every fixture is made here, from seeded random numbers; no test reads the network.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

IDX_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B, np.dtype("i4"): 0x0C,
             np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E}
SPLIT_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray, *, magic: int | None = None) -> bytes:
    """An IDX file's bytes: magic (type code, ndim), big-endian sizes, big-endian data."""
    array = np.asarray(array)
    code = IDX_CODES[array.dtype.newbyteorder("=")]
    if magic is None:
        magic = (code << 8) | array.ndim
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_file(path: Path, data: bytes, *, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def mnist_arrays(n: int, *, seed: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = 0
    images[:, -1, -1] = 255  # every image spans the full pixel range
    labels = (np.arange(n) % classes).astype(np.uint8)
    rng.shuffle(labels)
    return images, labels


def write_mnist_tree(folder: Path, *, gz: bool, n_train: int = 30, n_test: int = 12, seed: int = 0
                     ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The four official IDX files in ``folder``; returns ``{split: (images, labels)}``."""
    out = {}
    for k, (split, n) in enumerate((("train", n_train), ("test", n_test))):
        images, labels = mnist_arrays(n, seed=seed + k)
        images_name, labels_name = SPLIT_NAMES[split]
        write_file(folder / images_name, idx_bytes(images), gz=gz)
        write_file(folder / labels_name, idx_bytes(labels), gz=gz)
        out[split] = (images, labels)
    return out


# -- CIFAR-10 --------------------------------------------------------------------------
CIFAR_CLASSES = [b"airplane", b"automobile", b"bird", b"cat", b"deer",
                 b"dog", b"frog", b"horse", b"ship", b"truck"]


def cifar_batch(n: int, *, seed: int, label: bytes = b"training batch 1 of 5") -> dict[bytes, Any]:
    """A batch dict as in the official files: b"data" uint8 (n, 3072) rows R|G|B planes."""
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": label,
        b"labels": [int(v) for v in rng.integers(0, 10, size=n)],
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }


def cifar_meta() -> dict[bytes, Any]:
    return {b"num_cases_per_batch": 10000, b"label_names": list(CIFAR_CLASSES), b"num_vis": 3072}


def write_cifar_tree(folder: Path, *, n: int = 4, py2: bool = False, seed: int = 0) -> dict[str, list[dict]]:
    """``folder`` holding data_batch_1..5, test_batch and batches.meta (protocol 2 pickles).

    ``py2`` writes them as Python 2's cPickle did (byte strings as BINSTRING, no
    ``_codecs``); otherwise Python 3's ``pickle.dumps(protocol=2)``.
    """
    dump = py2_pickle if py2 else (lambda obj: pickle.dumps(obj, protocol=2))
    folder.mkdir(parents=True, exist_ok=True)
    batches = {"train": [cifar_batch(n, seed=seed + k) for k in range(5)], "test": [cifar_batch(n, seed=seed + 9)]}
    for k, batch in enumerate(batches["train"], start=1):
        (folder / f"data_batch_{k}").write_bytes(dump(batch))
    (folder / "test_batch").write_bytes(dump(batches["test"][0]))
    (folder / "batches.meta").write_bytes(dump(cifar_meta()))
    return batches


def py2_pickle(obj: Any) -> bytes:
    """Protocol-2 pickle of dicts, lists, ints, byte strings and uint8 2-D arrays, opcode
    for opcode as Python 2's cPickle writes them (without memo entries), the way the
    official CIFAR-10 batches were written."""

    def string(b: bytes) -> bytes:
        if len(b) < 256:
            return b"U" + bytes([len(b)]) + b
        return b"T" + struct.pack("<i", len(b)) + b

    def integer(v: int) -> bytes:
        if 0 <= v < 256:
            return b"K" + bytes([v])
        if 0 <= v < 65536:
            return b"M" + struct.pack("<H", v)
        return b"J" + struct.pack("<i", v)

    def item(v: Any) -> bytes:
        if isinstance(v, bool):
            return b"\x88" if v else b"\x89"
        if isinstance(v, int):
            return integer(v)
        if isinstance(v, bytes):
            return string(v)
        if isinstance(v, list):
            return b"](" + b"".join(item(e) for e in v) + b"e"
        if isinstance(v, dict):
            return b"}(" + b"".join(item(k) + item(e) for k, e in v.items()) + b"u"
        if isinstance(v, np.ndarray) and v.dtype == np.uint8:
            dims = b"(" + b"".join(integer(d) for d in v.shape) + b"t"
            dtype = (b"cnumpy\ndtype\n" + string(b"u1") + b"K\x00K\x01\x87R"
                     + b"(K\x03" + string(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
            return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + b"K\x00\x85" + string(b"b")
                    + b"\x87R" + b"(K\x01" + dims + dtype + b"\x89" + string(v.tobytes()) + b"tb")
        raise TypeError(f"py2_pickle cannot write {type(v).__name__}")

    return b"\x80\x02" + item(obj) + b"."
