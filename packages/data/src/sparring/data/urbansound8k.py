"""UrbanSound8K (Salamon, Jacoby, Bello, ACM MM 2014): 8,732 urban sound clips, 10 folds.

Official layout of ``UrbanSound8K.tar.gz`` (https://urbansounddataset.weebly.com/urbansound8k.html),
extracted into ``<root>/urbansound8k/``, ``<root>`` or given directly as ``root`` (the
archive makes the folder ``UrbanSound8K``)::

    UrbanSound8K/metadata/UrbanSound8K.csv     slice_file_name,fsID,start,end,salience,fold,classID,class
    UrbanSound8K/audio/fold1/*.wav ... fold10  clips of at most 4 s, in the recordings' own
                                               rates (8 - 192 kHz), bit depths and channels

Labels: with ``binary`` (default) the Kasl thesis's relabelling, "dangerous" (label 1:
dog_bark, gun_shot, siren) vs "benign" (label 0: the other seven classes); otherwise the
ten classes by ``classID``. Splits follow the official folds (the authors ask that results
be reported by fold, never on a random split): ``"test"`` is the folds ``test_folds``
(default fold 10), ``"train"`` every other fold.

Processing of each clip: read (16/24/32-bit PCM or float WAV), mono mixdown (the mean of
the channels), polyphase resampling to ``sample_rate`` (:func:`sparring.data.audio.resample`,
the filter of ``scipy.signal.resample_poly``), zero-padded at the end or cut to
``round(duration * sample_rate)`` samples, clipped to ``[-1, 1]``. Samples have shape
``(round(duration * sample_rate),)``: 64,000 values (256 kB) a clip at the defaults.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparring.core.errors import ConfigError, DataError

from .audio import fix_length, read_wav, resample, to_mono, to_value_range
from .dataset import ArrayDataset, check_split, check_value_range
from .locate import locate_folder

__all__ = [
    "URBANSOUND8K_CLASSES",
    "DANGEROUS",
    "BINARY_CLASSES",
    "UrbanSoundClip",
    "read_urbansound8k_csv",
    "load_urbansound8k",
]

URBANSOUND8K_CLASSES = (
    "air_conditioner",
    "car_horn",
    "children_playing",
    "dog_bark",
    "drilling",
    "engine_idling",
    "gun_shot",
    "jackhammer",
    "siren",
    "street_music",
)
"""The ten classes in ``classID`` order, as named in the ``class`` column."""

DANGEROUS = ("dog_bark", "gun_shot", "siren")
"""The classes relabelled "dangerous" (the Kasl thesis, section 5.4)."""

BINARY_CLASSES = ("benign", "dangerous")
"""The classes of the binary relabelling, in label order."""

FOLDS = tuple(range(1, 11))
_CSV = "metadata/UrbanSound8K.csv"
_COLUMNS = ("slice_file_name", "fold", "classID", "class")
_FOLDERS = ("urbansound8k/UrbanSound8K", "UrbanSound8K", "urbansound8k", "")
_SOURCE = (
    "https://urbansounddataset.weebly.com/urbansound8k.html (UrbanSound8K.tar.gz, also at "
    "https://zenodo.org/record/1203745); extract it, which makes the folder UrbanSound8K"
)


@dataclass(frozen=True)
class UrbanSoundClip:
    """One row of ``UrbanSound8K.csv``: the clip's file, fold and class."""

    filename: str
    fold: int
    class_id: int

    @property
    def relative_path(self) -> str:
        return f"audio/fold{self.fold}/{self.filename}"


def read_urbansound8k_csv(path: str | os.PathLike[str]) -> list[UrbanSoundClip]:
    """The rows of ``metadata/UrbanSound8K.csv``.

    Raises:
        DataError: an unreadable file, a missing column, a fold outside 1..10, a classID
            outside 0..9, a class name that is not UrbanSound8K's or does not match its
            classID (naming the line), or no rows.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read it as text ({type(err).__name__}: {err})") from err
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"{path}: not the UrbanSound8K metadata: the header {','.join(header) or '(empty file)'!r} lacks "
            f"the column(s) {', '.join(missing)}"
        )
    clips: list[UrbanSoundClip] = []
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        name, cls = row["slice_file_name"], row["class"]
        try:
            fold, class_id = int(row["fold"]), int(row["classID"])
        except ValueError as err:
            raise DataError(
                f"{path}, line {line}: fold {row['fold']!r} or classID {row['classID']!r} is not an integer"
            ) from err
        if fold not in FOLDS:
            raise DataError(f"{path}, line {line}: fold {fold} is not one of UrbanSound8K's folds 1..10")
        if cls not in URBANSOUND8K_CLASSES:
            raise DataError(
                f"{path}, line {line}: unknown class {cls!r}; UrbanSound8K's classes are "
                f"{', '.join(URBANSOUND8K_CLASSES)}"
            )
        if not 0 <= class_id < len(URBANSOUND8K_CLASSES) or URBANSOUND8K_CLASSES[class_id] != cls:
            raise DataError(
                f"{path}, line {line}: classID {class_id} does not match class {cls!r} "
                f"(classID {URBANSOUND8K_CLASSES.index(cls)}); the metadata file is damaged"
            )
        if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
            raise DataError(f"{path}, line {line}: slice_file_name {name!r} is not a file name")
        clips.append(UrbanSoundClip(name, fold, class_id))
    if not clips:
        raise DataError(f"{path}: holds a header but no clips; the file is truncated: extract it again")
    return clips


def _folds(test_folds: Any) -> tuple[int, ...]:
    if isinstance(test_folds, numbers.Integral) and not isinstance(test_folds, bool):
        test_folds = (test_folds,)
    ok = isinstance(test_folds, Sequence) and not isinstance(test_folds, str) and len(test_folds) > 0
    if not ok or not all(
        isinstance(f, numbers.Integral) and not isinstance(f, bool) and int(f) in FOLDS for f in test_folds
    ):
        raise ConfigError(f"urbansound8k: test_folds must be one or more folds among 1..10, got {test_folds!r}")
    folds = tuple(sorted({int(f) for f in test_folds}))
    if len(folds) == len(FOLDS):
        raise ConfigError("urbansound8k: test_folds names all ten folds, which leaves no training fold")
    return folds


def _read_clip(path: Path, sample_rate: int, num_samples: int) -> np.ndarray:
    samples, rate = read_wav(path)
    mono = to_mono(samples)
    if rate != sample_rate:
        # resample only the inputs the first num_samples outputs reach (audio.resample's
        # y[n] uses x[j] for j <= (n * down + 10 * max(up, down)) / up): same values, less work
        g = math.gcd(rate, sample_rate)
        up, down = sample_rate // g, rate // g
        keep = ((num_samples - 1) * down + 10 * max(up, down)) // up + 1
        mono = resample(mono[:keep], rate, sample_rate)
    return fix_length(mono, num_samples)


def load_urbansound8k(
    *,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    value_range: tuple[float, float] = (-1.0, 1.0),
    test_folds: Sequence[int] = (10,),
    sample_rate: int = 16000,
    duration: float = 4.0,
    binary: bool = True,
) -> ArrayDataset:
    """UrbanSound8K as fixed-length mono waveforms, relabelled dangerous vs benign.

    Args:
        root: data root or the ``UrbanSound8K`` folder (see :mod:`sparring.data.locate`).
        split: ``"train"`` (the folds not in ``test_folds``) or ``"test"``.
        value_range: ``(lo, hi)`` the waveform ``[-1, 1]`` is mapped to.
        test_folds: the fold(s) of the test split (1..10); one fold per run gives the
            official 10-fold cross-validation.
        sample_rate: the rate (Hz) every clip is resampled to.
        duration: seconds per sample; clips are padded with zeros or cut.
        binary: labels "benign" (0) / "dangerous" (1) instead of the ten classes.
    """
    check_split("urbansound8k", split, ("train", "test"))
    value_range = check_value_range(value_range)
    held = _folds(test_folds)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral) or sample_rate < 1:
        raise ConfigError(f"urbansound8k: sample_rate must be a positive int (Hz), got {sample_rate!r}")
    if isinstance(duration, bool) or not isinstance(duration, numbers.Real) or not 0 < duration < math.inf:
        raise ConfigError(f"urbansound8k: duration must be a positive number of seconds, got {duration!r}")
    num_samples = max(1, int(round(float(duration) * int(sample_rate))))
    folds = held if split == "test" else tuple(f for f in FOLDS if f not in held)
    folder, (csv_path,) = locate_folder(
        f"'urbansound8k' (split {split!r}, folds {', '.join(map(str, folds))})",
        files=[(_CSV,)],
        subfolders=[f"audio/fold{f}" for f in folds],
        root=root,
        folders=_FOLDERS,
        source=_SOURCE,
    )
    clips = [c for c in read_urbansound8k_csv(csv_path) if c.fold in folds]
    if not clips:
        raise DataError(f"{csv_path}: lists no clip of fold(s) {', '.join(map(str, folds))}")
    missing = [c.relative_path for c in clips if not (folder / c.relative_path).is_file()]
    if missing:
        raise DataError(
            f"{folder}: {len(missing)} of the {len(clips)} clips listed in {_CSV} for fold(s) "
            f"{', '.join(map(str, folds))} are missing (first: {', '.join(missing[:3])}); the dataset is "
            f"incomplete: get it from {_SOURCE}"
        )
    x = np.empty((len(clips), num_samples), dtype=np.float32)
    for i, clip in enumerate(clips):
        x[i] = _read_clip(folder / clip.relative_path, int(sample_rate), num_samples)
    to_value_range(x, value_range)
    if binary:
        dangerous = {URBANSOUND8K_CLASSES.index(c) for c in DANGEROUS}
        y = np.fromiter((int(c.class_id in dangerous) for c in clips), dtype=np.int64, count=len(clips))
        classes: tuple[str, ...] = BINARY_CLASSES
    else:
        y = np.fromiter((c.class_id for c in clips), dtype=np.int64, count=len(clips))
        classes = URBANSOUND8K_CLASSES
    return ArrayDataset(x, y, name="urbansound8k", classes=classes, value_range=value_range)
