"""Where dataset files live, checking them, and the error that says how to get them.

The data root is, in order of precedence:

1. the ``root`` argument of a loader,
2. the environment variable ``SPARRING_DATA``,
3. ``~/.cache/sparring``.

Inside the root a dataset's files are looked for in its own folder first (for example
``<root>/mnist/``, ``<root>/cifar10/cifar-10-batches-py/``) and then in the root itself,
so ``root`` may also point straight at a folder holding the files (such as Debian's
``/usr/share/datasets/fashion-mnist``). The first folder holding every expected file is
used. sparring never downloads anything: a missing or incomplete dataset raises
:class:`~sparring.core.errors.DataError` naming every expected file, every folder
searched (and what each one lacks) and where to get the files.

Checksums are optional: :func:`verify_sha256` compares the sha256 of files, as they are
on disk (the compressed bytes of a ``.gz``), with the hex digests given.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from sparring.core.errors import ConfigError, DataError

__all__ = [
    "ENV_VAR",
    "DEFAULT_ROOT",
    "data_root",
    "locate_files",
    "locate_folder",
    "verify_sha256",
    "sha256_file",
]

ENV_VAR = "SPARRING_DATA"
"""Environment variable naming the data root when no ``root`` argument is given."""

DEFAULT_ROOT = "~/.cache/sparring"
"""The data root when neither ``root`` nor ``SPARRING_DATA`` is given."""

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _root_and_origin(root: str | os.PathLike[str] | None) -> tuple[Path, str]:
    if root is not None:
        if isinstance(root, str) and not root.strip():
            raise ConfigError("root must name a folder, got an empty string; pass None to use the default")
        return Path(root).expanduser(), "the root argument"
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser(), f"${ENV_VAR}"
    return Path(DEFAULT_ROOT).expanduser(), f"the default {DEFAULT_ROOT} (neither root nor ${ENV_VAR} given)"


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$SPARRING_DATA``, else ``~/.cache/sparring``."""
    return _root_and_origin(root)[0]


def locate_files(
    dataset: str,
    expected: Sequence[Sequence[str]],
    *,
    root: str | os.PathLike[str] | None = None,
    folders: Sequence[str] = ("",),
    source: str,
) -> list[Path]:
    """Find a dataset's files; return their paths, in the order of ``expected``.

    Args:
        dataset: the dataset's name, for messages (``"mnist"``, ``"cifar10 (split 'test')"``).
        expected: one entry per file: the names it may have, in order of preference
            (``("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")``); names may hold
            ``/`` for files in sub-folders.
        root: the data root (see the module docstring); ``None``: ``$SPARRING_DATA`` or
            ``~/.cache/sparring``.
        folders: folders relative to the root to search, in order (``""``: the root).
        source: where to get the files (official addresses), quoted in the error.

    Raises:
        DataError: no searched folder holds every file; the message lists each expected
            file, each folder searched with what it lacks, and ``source``.
    """
    return _search(dataset, expected, (), root=root, folders=folders, source=source)[1]


def locate_folder(
    dataset: str,
    *,
    files: Sequence[Sequence[str]] = (),
    subfolders: Sequence[str] = (),
    root: str | os.PathLike[str] | None = None,
    folders: Sequence[str] = ("",),
    source: str,
) -> tuple[Path, list[Path]]:
    """Find the folder of a dataset laid out as a tree: ``(folder, paths of files)``.

    Like :func:`locate_files`, and the folder must also hold every one of ``subfolders``
    (relative paths such as ``"Final_Training/Images"`` or ``"zero"``). The error lists
    the expected files and folders the same way.
    """
    return _search(dataset, files, subfolders, root=root, folders=folders, source=source)


def _search(
    dataset: str,
    expected: Sequence[Sequence[str]],
    subfolders: Sequence[str],
    *,
    root: str | os.PathLike[str] | None,
    folders: Sequence[str],
    source: str,
) -> tuple[Path, list[Path]]:
    base, origin = _root_and_origin(root)
    candidates: list[Path] = []
    for name in folders:
        path = base / name if name else base
        if path not in candidates:
            candidates.append(path)
    reports: list[str] = []
    for folder in candidates:
        if not folder.is_dir():
            reports.append(f"  {folder}  (no such folder)")
            continue
        found: list[Path] = []
        missing: list[str] = []
        for names in expected:
            hit = next((folder / n for n in names if (folder / n).is_file()), None)
            if hit is None:
                missing.append(_either(names))
            else:
                found.append(hit)
        missing += [f"{sub}/" for sub in subfolders if not (folder / sub).is_dir()]
        if not missing:
            return folder, found
        reports.append(f"  {folder}  (missing: {'; '.join(missing)})")
    listing = "\n".join(f"  {_either(names)}" for names in expected)
    if subfolders:
        listing += "\n" if listing else ""
        listing += "\n".join(f"  {sub}/  (a folder)" for sub in subfolders)
    raise DataError(
        f"dataset {dataset} not found under data root {base} (from {origin}).\n"
        f"Expected {'files and folders' if subfolders else 'files'} (any one of the names on a line):\n"
        f"{listing}\n"
        f"Folders searched:\n" + "\n".join(reports) + "\n"
        f"Get the files from {source}\n"
        f"and put them in {candidates[0]}, or pass root=<folder holding them>, or set ${ENV_VAR}. "
        "sparring never downloads data."
    )


def _either(names: Sequence[str]) -> str:
    return " or ".join(names)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes as stored on disk."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(paths: Sequence[Path], sha256: Mapping[str, str]) -> None:
    """Check files against expected sha256 hex digests, keyed by file name.

    Keys are the names of files in ``paths`` (``"train-images-idx3-ubyte.gz"``, or the
    relative name given to :func:`locate_files`' ``expected``); files without a key are not
    checked. A malformed digest raises ConfigError; a key naming no file in ``paths`` or
    a digest that does not match raises DataError.
    """
    by_name = {p.name: p for p in paths}
    for name, want in sha256.items():
        if not isinstance(want, str) or not _HEX64.fullmatch(want):
            raise ConfigError(f"sha256 for {name!r} must be 64 hex digits, got {want!r}")
        key = Path(name).name
        if key not in by_name:
            raise DataError(
                f"a sha256 was given for {name!r}, but the files read are "
                f"{', '.join(sorted(by_name))}; give the checksums of the files that are there"
            )
        got = sha256_file(by_name[key])
        if got != want.lower():
            raise DataError(
                f"{by_name[key]}: sha256 is {got}, expected {want.lower()}; the file is corrupt, "
                "truncated or another version: download it again"
            )
