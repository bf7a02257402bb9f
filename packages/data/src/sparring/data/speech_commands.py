"""Google Speech Commands v0.02 (Warden, 2018, arXiv:1804.03209): the ten spoken digits.

Official layout of ``speech_commands_v0.02.tar.gz``
(http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz; it has no top folder,
so extract it into ``<root>/speech-commands/`` or ``<root>/speech_commands_v0.02/``, or
give that folder as ``root``; torchaudio's ``SpeechCommands/speech_commands_v0.02/`` is
found too)::

    zero/<speaker>_nohash_<n>.wav ... nine/...   one folder per word (35 words; the
                                                 ten digits are read), 16 kHz mono
                                                 16-bit PCM, at most one second
    validation_list.txt                          "word/file.wav" per line: split "validation"
    testing_list.txt                             "word/file.wav" per line: split "test"

Split ``"train"`` is every digit clip named in neither list (the official partition, by
speaker hash). The classes are "zero" .. "nine", label ``d`` for the digit ``d`` (the
Kasl thesis's subset). Clips are read as float32 in ``[-1, 1]`` (int16 / 32768), mixed
to mono, and zero-padded at the end or cut to 16,000 samples (one second at 16 kHz):
samples of shape ``(16000,)``. Memory: about 64 kB a clip (the train split of the
digits, ~31,000 clips, takes ~2 GB).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sparring.core.errors import DataError

from .audio import fix_length, read_wav, to_mono, to_value_range
from .dataset import ArrayDataset, check_split, check_value_range
from .locate import locate_folder

__all__ = ["SPEECH_COMMANDS_DIGITS", "SAMPLE_RATE", "NUM_SAMPLES", "read_split_list", "load_speech_commands"]

SPEECH_COMMANDS_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""The ten classes, in label order."""

SAMPLE_RATE = 16000
"""Every clip of the dataset is recorded (or converted) at 16 kHz."""

NUM_SAMPLES = 16000
"""Clips are padded or cut to one second."""

_LISTS = {"validation": "validation_list.txt", "test": "testing_list.txt"}
_FOLDERS = ("speech-commands", "speech_commands_v0.02", "SpeechCommands/speech_commands_v0.02", "")
_SOURCE = (
    "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz (Speech Commands v0.02, "
    "https://arxiv.org/abs/1804.03209); the archive has no top folder: extract it into a folder "
    "of its own"
)


def read_split_list(path: str | os.PathLike[str]) -> list[str]:
    """The ``word/file.wav`` entries of ``validation_list.txt`` or ``testing_list.txt``.

    Raises:
        DataError: an unreadable file or a line that is not ``<word>/<file>.wav``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read it as text ({type(err).__name__}: {err})") from err
    entries: list[str] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        entry = raw.strip()
        if not entry:
            continue
        parts = entry.split("/")
        if len(parts) != 2 or not all(parts) or ".." in parts or not entry.endswith(".wav"):
            raise DataError(
                f"{path}, line {line}: {entry!r} is not <word>/<file>.wav; is this a Speech Commands split list?"
            )
        entries.append(entry)
    return entries


def _read_clip(path: Path) -> np.ndarray:
    samples, rate = read_wav(path)
    if rate != SAMPLE_RATE:
        raise DataError(
            f"{path}: sample rate {rate} Hz; Speech Commands clips are {SAMPLE_RATE} Hz. Is the file from "
            "another dataset? Replace it with the original, or resample it to 16 kHz"
        )
    return fix_length(to_mono(samples), NUM_SAMPLES)


def load_speech_commands(
    *,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> ArrayDataset:
    """Speech Commands v0.02, the digits "zero" .. "nine": one-second 16 kHz clips ``(16000,)``.

    Args:
        root: data root or the folder holding the word folders and the split lists (see
            :mod:`sparring.data.locate`).
        split: ``"train"``, ``"validation"`` or ``"test"`` (the official lists).
        value_range: ``(lo, hi)`` the waveform ``[-1, 1]`` is mapped to.
    """
    check_split("speech-commands", split, ("train", "validation", "test"))
    value_range = check_value_range(value_range)
    folder, list_paths = locate_folder(
        f"'speech-commands' (split {split!r})",
        files=[(_LISTS["validation"],), (_LISTS["test"],)],
        subfolders=SPEECH_COMMANDS_DIGITS,
        root=root,
        folders=_FOLDERS,
        source=_SOURCE,
    )
    listed = {name: read_split_list(p) for name, p in zip(_LISTS, list_paths)}
    digits = set(SPEECH_COMMANDS_DIGITS)
    entries: list[str]
    if split == "train":
        held = {e for lst in listed.values() for e in lst}
        entries = [
            f"{word}/{p.name}"
            for word in SPEECH_COMMANDS_DIGITS
            for p in sorted((folder / word).glob("*.wav"))
            if f"{word}/{p.name}" not in held and p.is_file()
        ]
    else:
        entries = sorted(e for e in listed[split] if e.split("/")[0] in digits)
        missing = [e for e in entries if not (folder / e).is_file()]
        if missing:
            raise DataError(
                f"{folder}: {len(missing)} clip(s) named in {_LISTS[split]} are missing (first: "
                f"{', '.join(missing[:3])}); the dataset is incomplete: extract {_SOURCE.split(' ')[0]} again"
            )
    if not entries:
        raise DataError(
            f"'speech-commands' split {split!r}: no clips of the digits found in {folder} "
            f"(folders {', '.join(SPEECH_COMMANDS_DIGITS)}); the dataset is incomplete: get it from {_SOURCE}"
        )
    label_of = {word: k for k, word in enumerate(SPEECH_COMMANDS_DIGITS)}
    entries.sort(key=lambda e: (label_of[e.split("/")[0]], e))
    x = np.empty((len(entries), NUM_SAMPLES), dtype=np.float32)
    for i, entry in enumerate(entries):
        x[i] = _read_clip(folder / entry)
    y = np.fromiter((label_of[e.split("/")[0]] for e in entries), dtype=np.int64, count=len(entries))
    to_value_range(x, value_range)
    return ArrayDataset(x, y, name="speech-commands", classes=SPEECH_COMMANDS_DIGITS, value_range=value_range)
