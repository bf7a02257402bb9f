"""GTSRB, the German Traffic Sign Recognition Benchmark (Stallkamp et al., IJCNN 2011).

Official layout (https://benchmark.ini.rub.de/gtsrb_dataset.html), the zips extracted into
``<root>/gtsrb/``, ``<root>`` or given directly as ``root`` (each zip makes ``GTSRB/``)::

    GTSRB/Final_Training/Images/00000/GT-00000.csv    one folder per class 00000 .. 00042
    GTSRB/Final_Training/Images/00000/00000_00000.ppm  <track>_<image>.ppm, 30 images a track
    GTSRB/Final_Test/Images/00000.ppm ...              12,630 test images
    GTSRB/Final_Test/Images/GT-final_test.csv          test labels (GTSRB_Final_Test_GT.zip;
                                                      also found in GTSRB/ or Final_Test/)

The CSV files are ``;``-separated with the header
``Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId``; the ROI is the sign's box,
read as the half-open pixel ranges ``[Roi.Y1, Roi.Y2) x [Roi.X1, Roi.X2)`` (the images
hold a border of about 10 % around the sign). Images are binary PPM (P6) files of 15x15
to 250x250 pixels. A *track* is the series of ~30 images of one physical sign as the car
approached it, so a random split of images would put near-copies of a sign on both
sides; the ``"validation"`` split here holds out whole tracks instead.

Processing: optional crop to the ROI (``crop``), bilinear resize to ``size x size`` with
antialiasing (:func:`sparring.data.image.resize_bilinear`), rounded to uint8 pixels;
samples ``(size, size, 3)`` or, with ``as_sequence``, ``(size * size, 3)`` (the Kasl
thesis's ``[1024, 3]``: pixels row by row, RGB features).

Splits: ``"train"`` and ``"validation"`` partition the official training set by track:
for each class, ``round(validation * tracks)`` of its tracks (at least one, at most all
but one, when ``validation > 0`` and the class has two tracks or more) are drawn with
``numpy.random.default_rng(seed)`` (classes in order) for ``"validation"``; ``"test"`` is
the official test set. ``validation=0`` makes ``"train"`` the whole training set.
"""

from __future__ import annotations

import csv
import io
import numbers
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparring.core.errors import ConfigError, DataError

from .dataset import ArrayDataset, check_split, check_value_range
from .image import read_ppm, resize_bilinear
from .locate import locate_folder

__all__ = ["GTSRB_CLASSES", "GTSRBRecord", "read_gtsrb_csv", "load_gtsrb"]

GTSRB_CLASSES = (
    "Speed limit (20km/h)",
    "Speed limit (30km/h)",
    "Speed limit (50km/h)",
    "Speed limit (60km/h)",
    "Speed limit (70km/h)",
    "Speed limit (80km/h)",
    "End of speed limit (80km/h)",
    "Speed limit (100km/h)",
    "Speed limit (120km/h)",
    "No passing",
    "No passing for vehicles over 3.5 metric tons",
    "Right-of-way at the next intersection",
    "Priority road",
    "Yield",
    "Stop",
    "No vehicles",
    "Vehicles over 3.5 metric tons prohibited",
    "No entry",
    "General caution",
    "Dangerous curve to the left",
    "Dangerous curve to the right",
    "Double curve",
    "Bumpy road",
    "Slippery road",
    "Road narrows on the right",
    "Road work",
    "Traffic signals",
    "Pedestrians",
    "Children crossing",
    "Bicycles crossing",
    "Beware of ice/snow",
    "Wild animals crossing",
    "End of all speed and passing limits",
    "Turn right ahead",
    "Turn left ahead",
    "Ahead only",
    "Go straight or right",
    "Go straight or left",
    "Keep right",
    "Keep left",
    "Roundabout mandatory",
    "End of no passing",
    "End of no passing by vehicles over 3.5 metric tons",
)
"""The 43 class names in ClassId order (the sign names of the German road code)."""

NUM_CLASSES = len(GTSRB_CLASSES)
_COLUMNS = ("Filename", "Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId")
_FOLDERS = ("gtsrb/GTSRB", "GTSRB", "gtsrb", "")
_TRAIN_IMAGES = "Final_Training/Images"
_TEST_IMAGES = "Final_Test/Images"
_TEST_CSV = ("Final_Test/Images/GT-final_test.csv", "GT-final_test.csv", "Final_Test/GT-final_test.csv")
_TRAIN_NAME = re.compile(r"(\d{5})_(\d{5})\.ppm")
_SOURCE = (
    "https://benchmark.ini.rub.de/gtsrb_dataset.html (files at "
    "https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/published-archive.html): "
    "GTSRB_Final_Training_Images.zip, GTSRB_Final_Test_Images.zip and GTSRB_Final_Test_GT.zip "
    "(the test labels GT-final_test.csv; the GT-final_test.test.csv inside the images zip has no "
    "ClassId); extract them, which makes the folder GTSRB"
)


@dataclass(frozen=True)
class GTSRBRecord:
    """One row of a GTSRB annotation file."""

    filename: str
    width: int
    height: int
    roi: tuple[int, int, int, int]  # x1, y1, x2, y2
    class_id: int


def read_gtsrb_csv(path: str | os.PathLike[str]) -> list[GTSRBRecord]:
    """The rows of a GTSRB annotation CSV (``;``-separated, header naming the columns).

    Raises:
        DataError: an unreadable file, a missing column (naming it), a row with another
            number of fields or a non-integer value (naming the line), a class id outside
            0..42, or no rows at all.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read it as text ({type(err).__name__}: {err})") from err
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    header = [h.strip() for h in rows[0]] if rows else []
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        hint = ""
        if missing == ["ClassId"]:
            hint = " (test labels are in GT-final_test.csv from GTSRB_Final_Test_GT.zip)"
        elif len(header) == 1 and "," in header[0]:
            hint = " (the fields must be separated by ';')"
        raise DataError(
            f"{path}: not a GTSRB annotation file: the header {';'.join(header) or '(empty file)'!r} lacks "
            f"the column(s) {', '.join(missing)}{hint}; expected {';'.join(_COLUMNS)}"
        )
    col = {name: header.index(name) for name in _COLUMNS}
    records: list[GTSRBRecord] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not f.strip() for f in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}, line {line}: {len(row)} fields, the header has {len(header)}: {';'.join(row)!r}")
        try:
            nums = [int(row[col[c]]) for c in _COLUMNS[1:]]
        except ValueError as err:
            raise DataError(
                f"{path}, line {line}: a size, ROI or ClassId is not an integer: {';'.join(row)!r}"
            ) from err
        width, height, x1, y1, x2, y2, class_id = nums
        name = row[col["Filename"]].strip()
        if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
            raise DataError(f"{path}, line {line}: Filename {name!r} is not the name of a file in the same folder")
        if not 0 <= class_id < NUM_CLASSES:
            raise DataError(f"{path}, line {line}: ClassId {class_id} is not a GTSRB class (0..{NUM_CLASSES - 1})")
        records.append(GTSRBRecord(name, width, height, (x1, y1, x2, y2), class_id))
    if not records:
        raise DataError(f"{path}: holds a header but no images; the file is truncated: extract it again")
    return records


def _load_image(path: Path, record: GTSRBRecord, *, crop: bool, size: int) -> np.ndarray:
    if not path.is_file():
        raise DataError(
            f"{path}: listed in the annotation file but missing; the dataset is incomplete: extract it again"
        )
    image = read_ppm(path)
    if image.shape[:2] != (record.height, record.width):
        raise DataError(
            f"{path}: the image is {image.shape[1]}x{image.shape[0]} pixels but its annotation says "
            f"{record.width}x{record.height} (Width x Height); the image or the CSV is damaged"
        )
    if crop:
        x1, y1, x2, y2 = record.roi
        if not (0 <= x1 < x2 <= record.width and 0 <= y1 < y2 <= record.height):
            raise DataError(
                f"{path}: ROI ({x1}, {y1}, {x2}, {y2}) is not a box inside the {record.width}x{record.height} image; "
                "the annotation is damaged (or load with crop=False)"
            )
        image = image[y1:y2, x1:x2]
    resized = resize_bilinear(image, (size, size), antialias=True)
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def _class_folders(images: Path) -> list[Path]:
    found: dict[int, Path] = {}
    for entry in sorted(images.iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):  # files, hidden folders (.DS_Store, ...)
            continue
        if not re.fullmatch(r"\d{5}", entry.name) or int(entry.name) >= NUM_CLASSES:
            raise DataError(
                f"{entry}: unknown class folder {entry.name!r} in {images}; GTSRB's training classes are the "
                f"folders 00000 .. {NUM_CLASSES - 1:05d}: remove or rename it"
            )
        found[int(entry.name)] = entry
    missing = [f"{c:05d}" for c in range(NUM_CLASSES) if c not in found]
    if missing:
        raise DataError(
            f"{images}: class folder(s) {', '.join(missing)} missing ({len(found)} of {NUM_CLASSES} present); "
            f"the training set is incomplete. Get it from {_SOURCE}"
        )
    return [found[c] for c in range(NUM_CLASSES)]


def _track(record: GTSRBRecord, csv_path: Path) -> int:
    match = _TRAIN_NAME.fullmatch(record.filename)
    if match is None:
        raise DataError(
            f"{csv_path}: image name {record.filename!r} is not <track>_<image>.ppm (5 digits each); "
            "is this a GTSRB training folder?"
        )
    return int(match.group(1))


def _validation_tracks(tracks_by_class: list[list[int]], validation: float, seed: int) -> list[set[int]]:
    rng = np.random.default_rng(seed)
    held: list[set[int]] = []
    for tracks in tracks_by_class:
        n = len(tracks)
        count = 0
        if validation > 0 and n >= 2:
            count = min(max(int(round(validation * n)), 1), n - 1)
        held.append({int(t) for t in rng.permutation(np.asarray(tracks))[:count]})
    return held


def _check_args(split: Any, size: Any, validation: Any, seed: Any) -> tuple[int, float, int]:
    check_split("gtsrb", split, ("train", "validation", "test"))
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ConfigError(f"gtsrb: size must be a positive int (pixels per side), got {size!r}")
    if isinstance(validation, bool) or not isinstance(validation, numbers.Real) or not 0 <= float(validation) < 1:
        raise ConfigError(f"gtsrb: validation must be a fraction of the tracks in [0, 1), got {validation!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"gtsrb: seed must be a non-negative int, got {seed!r}")
    if split == "validation" and validation == 0:
        raise ConfigError("gtsrb: split 'validation' needs validation > 0 (the fraction of tracks held out), got 0")
    return int(size), float(validation), int(seed)


def load_gtsrb(
    *,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    value_range: tuple[float, float] = (0.0, 1.0),
    size: int = 32,
    crop: bool = False,
    as_sequence: bool = False,
    validation: float = 0.1,
    seed: int = 0,
) -> ArrayDataset:
    """GTSRB traffic signs, 43 classes, resized to ``size x size`` RGB.

    Args:
        root: data root or the folder holding ``Final_Training`` / ``Final_Test`` (see
            :mod:`sparring.data.locate`).
        split: ``"train"``, ``"validation"`` (tracks held out of the official training
            set, see the module docstring) or ``"test"`` (the official test set).
        value_range: ``(lo, hi)`` the pixels are mapped to; ``(0, 1)`` or ``(-1, 1)``.
        size: side of the resized images.
        crop: crop each image to its annotated ROI before resizing.
        as_sequence: samples ``(size * size, 3)`` instead of ``(size, size, 3)``.
        validation: fraction of each class's tracks held out as ``"validation"``.
        seed: the seed of the track draw.
    """
    size, validation, seed = _check_args(split, size, validation, seed)
    value_range = check_value_range(value_range)
    what = f"'gtsrb' (split {split!r})"
    paths: list[Path] = []
    records: list[GTSRBRecord] = []
    if split == "test":
        folder, (csv_path,) = locate_folder(
            what, files=[_TEST_CSV], subfolders=(_TEST_IMAGES,), root=root, folders=_FOLDERS, source=_SOURCE
        )
        records = read_gtsrb_csv(csv_path)
        paths = [folder / _TEST_IMAGES / r.filename for r in records]
    else:
        folder, _ = locate_folder(what, subfolders=(_TRAIN_IMAGES,), root=root, folders=_FOLDERS, source=_SOURCE)
        per_class: list[tuple[Path, Path, list[GTSRBRecord], list[int]]] = []
        for class_id, class_dir in enumerate(_class_folders(folder / _TRAIN_IMAGES)):
            csv_path = class_dir / f"GT-{class_id:05d}.csv"
            if not csv_path.is_file():
                raise DataError(
                    f"{csv_path}: missing; each class folder holds its annotation file GT-<class>.csv. "
                    f"Get the training set from {_SOURCE}"
                )
            rows = read_gtsrb_csv(csv_path)
            for r in rows:
                if r.class_id != class_id:
                    raise DataError(
                        f"{csv_path}: {r.filename} is annotated ClassId {r.class_id} in the folder of class "
                        f"{class_id}; the annotation file is damaged or misplaced"
                    )
            per_class.append((class_dir, csv_path, rows, [_track(r, csv_path) for r in rows]))
        held = _validation_tracks([sorted(set(t)) for *_, t in per_class], validation, seed)
        want_validation = split == "validation"
        for (class_dir, _, rows, tracks), held_c in zip(per_class, held):
            for r, t in zip(rows, tracks):
                if (t in held_c) == want_validation:
                    records.append(r)
                    paths.append(class_dir / r.filename)
    if not records:
        raise DataError(f"gtsrb split {split!r}: no images selected under {folder}")
    images = np.empty((len(records), size, size, 3), dtype=np.uint8)
    for i, (path, record) in enumerate(zip(paths, records)):
        images[i] = _load_image(path, record, crop=bool(crop), size=size)
    labels = np.fromiter((r.class_id for r in records), dtype=np.int64, count=len(records))
    x = images.reshape(len(records), size * size, 3) if as_sequence else images
    return ArrayDataset(x, labels, name="gtsrb", classes=GTSRB_CLASSES, value_range=value_range)
