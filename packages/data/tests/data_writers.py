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


# -- PPM images and GTSRB --------------------------------------------------------------
def ppm_bytes(image: np.ndarray, *, maxval: int = 255, comment: bytes | None = None) -> bytes:
    """A binary PPM (P6) file: header (optionally with a comment line), then RGB bytes
    (2 bytes big-endian per value when maxval >= 256)."""
    image = np.asarray(image)
    height, width, _ = image.shape
    header = b"P6\n" + (b"# " + comment + b"\n" if comment else b"") + f"{width} {height}\n{maxval}\n".encode()
    dtype = np.dtype("u1") if maxval < 256 else np.dtype(">u2")
    return header + image.astype(dtype).tobytes()


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


GTSRB_HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"


def gtsrb_image(height: int, width: int, roi: tuple[int, int, int, int], inner: np.ndarray,
                border: np.ndarray) -> np.ndarray:
    """An image of colour ``border`` with the half-open ROI box filled with colour ``inner``."""
    x1, y1, x2, y2 = roi
    image = np.empty((height, width, 3), np.uint8)
    image[:] = border
    image[y1:y2, x1:x2] = inner
    return image


def gtsrb_csv(rows: list[tuple[str, int, int, tuple[int, int, int, int], int]]) -> str:
    lines = [GTSRB_HEADER] + [f"{n};{w};{h};{r[0]};{r[1]};{r[2]};{r[3]};{c}" for n, w, h, r, c in rows]
    return "\r\n".join(lines) + "\r\n"  # the official files use CRLF


def write_gtsrb_tree(folder: Path, *, tracks: int = 2, per_track: int = 2, n_test: int = 10, seed: int = 0,
                     test_csv: str = "Final_Test/Images/GT-final_test.csv") -> dict[str, list[dict]]:
    """``folder`` laid out like the extracted GTSRB zips: 43 class folders of ``tracks``
    tracks x ``per_track`` images, and ``n_test`` test images with GT-final_test.csv.

    Each image has a 1-pixel border of one colour around its ROI filled with another
    (``inner``), so a ROI crop is exactly ``inner``. Returns ``{"train": [...], "test":
    [...]}`` of dicts with class, track, filename, inner colour, border colour and size.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, list[dict]] = {"train": [], "test": []}

    def make(name: str, class_id: int, track: int | None) -> tuple[dict, np.ndarray]:
        height, width = (int(v) for v in rng.integers(6, 12, size=2))
        roi = (1, 1, width - 1, height - 1)
        inner = rng.integers(0, 256, size=3).astype(np.uint8)
        border = rng.integers(0, 256, size=3).astype(np.uint8)
        info = {"class": class_id, "track": track, "filename": name, "inner": inner, "border": border,
                "size": (height, width), "roi": roi}
        return info, gtsrb_image(height, width, roi, inner, border)

    for c in range(43):
        images_dir = folder / "Final_Training" / "Images" / f"{c:05d}"
        rows = []
        for t in range(tracks):
            for i in range(per_track):
                info, image = make(f"{t:05d}_{i:05d}.ppm", c, t)
                write_bytes(images_dir / info["filename"], ppm_bytes(image))
                rows.append((info["filename"], info["size"][1], info["size"][0], info["roi"], c))
                out["train"].append(info)
        write_bytes(images_dir / f"GT-{c:05d}.csv", gtsrb_csv(rows).encode())
    rows = []
    for k in range(n_test):
        info, image = make(f"{k:05d}.ppm", int(rng.integers(0, 43)), None)
        write_bytes(folder / "Final_Test" / "Images" / info["filename"], ppm_bytes(image))
        rows.append((info["filename"], info["size"][1], info["size"][0], info["roi"], info["class"]))
        out["test"].append(info)
    write_bytes(folder / test_csv, gtsrb_csv(rows).encode())
    return out


# -- WAV audio, Speech Commands and UrbanSound8K ----------------------------------------
def wav_bytes(data: np.ndarray, sample_rate: int, *, bits: int | None = None, extensible: bool = False,
              extra_chunks: bool = False) -> bytes:
    """A RIFF/WAVE file of ``data`` ``(frames,)`` or ``(frames, channels)``.

    The dtype picks the encoding: uint8 8-bit PCM, int16 16-bit, int32 32-bit (or 24-bit
    with ``bits=24``: values in -2**23 .. 2**23 - 1), float32 / float64 IEEE float.
    ``extensible`` writes WAVE_FORMAT_EXTENSIBLE; ``extra_chunks`` puts a LIST chunk of odd
    size (with its pad byte) before ``fmt `` and another chunk between ``fmt `` and ``data``.
    """
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    frames, channels = data.shape
    if data.dtype.kind == "f":
        tag, bits = 3, data.dtype.itemsize * 8
        payload = data.astype(data.dtype.newbyteorder("<")).tobytes()
    elif bits == 24:
        tag = 1
        v = data.astype("<i4").reshape(-1)
        b = v.view(np.uint8).reshape(-1, 4)[:, :3]
        payload = b.tobytes()
    else:
        tag, bits = 1, data.dtype.itemsize * 8
        payload = data.astype(data.dtype.newbyteorder("<")).tobytes()
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, sample_rate, sample_rate * block, block,
                      bits)
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + guid_tail
    body = b"WAVE"
    if extra_chunks:
        body += b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\x00"
    body += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if extra_chunks:
        body += b"fact" + struct.pack("<I", 4) + struct.pack("<I", frames)
    body += b"data" + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def pcm16(n: int, rng: np.random.Generator, *, peak: int = 20000) -> np.ndarray:
    return rng.integers(-peak, peak + 1, size=n).astype(np.int16)


DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def write_speech_commands_tree(folder: Path, *, per_digit: int = 4, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """``folder`` laid out like speech_commands_v0.02: a folder of 16 kHz int16 clips per
    digit (``per_digit`` each, lengths 16000, shorter and longer), a non-digit word
    ``yes`` and ``_background_noise_``, and the two split lists (one digit clip each in
    validation and test per digit, plus a ``yes`` entry). Returns ``{"word/file.wav":
    int16 samples}`` per split."""
    rng = np.random.default_rng(seed)
    lengths = (16000, 12000, 16100, 15999)
    splits: dict[str, dict[str, np.ndarray]] = {"train": {}, "validation": {}, "test": {}}
    for word in (*DIGITS, "yes"):
        for k in range(per_digit):
            name = f"{word}/{rng.integers(0, 16**8):08x}_nohash_{k}.wav"
            samples = pcm16(lengths[k % len(lengths)], rng)
            write_bytes(folder / name, wav_bytes(samples, 16000))
            split = "validation" if k == 1 else "test" if k == 2 else "train"
            splits[split][name] = samples
    write_bytes(folder / "_background_noise_" / "white_noise.wav", wav_bytes(pcm16(32000, rng), 16000))
    for split, list_name in (("validation", "validation_list.txt"), ("test", "testing_list.txt")):
        (folder / list_name).write_text("\n".join(sorted(splits[split])) + "\n")
    for split in splits:
        splits[split] = {k: v for k, v in splits[split].items() if not k.startswith("yes/")}
    return splits


US8K_CLASSES = ("air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling", "engine_idling",
                "gun_shot", "jackhammer", "siren", "street_music")
US8K_HEADER = "slice_file_name,fsID,start,end,salience,fold,classID,class"


def write_urbansound8k_tree(folder: Path, *, per_fold: int = 2, seed: int = 0,
                            formats: tuple[tuple[int, str, int], ...] = (
                                (44100, "int16", 1), (48000, "int24", 2), (22050, "float32", 1),
                                (8000, "int16", 2), (16000, "int32", 1), (96000, "float64", 1))
                            ) -> list[dict]:
    """``folder`` laid out like the extracted UrbanSound8K.tar.gz: metadata/UrbanSound8K.csv
    and audio/fold1..fold10 with ``per_fold`` short clips each, cycling through the classes
    and through ``formats`` (rate, encoding, channels). Returns one dict per CSV row with
    the file, fold, class id, rate and the samples as float in [-1, 1] ``(frames, channels)``."""
    rng = np.random.default_rng(seed)
    rows, lines = [], [US8K_HEADER]
    k = 0
    for fold in range(1, 11):
        for _ in range(per_fold):
            class_id = k % 10
            rate, encoding, channels = formats[k % len(formats)]
            frames = int(rate * rng.uniform(0.05, 0.15))
            wave = 0.8 * np.sin(2 * np.pi * 440 * np.arange(frames) / rate)[:, None] * np.linspace(1, 0.5, channels)
            wave = wave + 0.01 * rng.standard_normal((frames, channels))
            if encoding == "int16":
                data = np.round(wave * 32767).astype(np.int16)
                floats, bits = data / 32768.0, None
            elif encoding == "int24":
                data = np.round(wave * (2**23 - 1)).astype(np.int32)
                floats, bits = data / float(2**23), 24
            elif encoding == "int32":
                data = np.round(wave * (2**31 - 1)).astype(np.int32)
                floats, bits = data / float(2**31), None
            else:
                data = wave.astype(encoding)
                floats, bits = data.astype(np.float64), None
            name = f"{100 + k}-{class_id}-0-{k}.wav"
            write_bytes(folder / "audio" / f"fold{fold}" / name,
                        wav_bytes(data, rate, bits=bits, extensible=encoding == "float64"))
            lines.append(f"{name},{100 + k},0.0,0.1,1,{fold},{class_id},{US8K_CLASSES[class_id]}")
            rows.append({"filename": name, "fold": fold, "class_id": class_id, "rate": rate,
                         "samples": floats.astype(np.float32)})
            k += 1
    write_bytes(folder / "metadata" / "UrbanSound8K.csv", ("\n".join(lines) + "\n").encode())
    return rows
