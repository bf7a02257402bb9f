"""Unpickling data files without running code from them.

``pickle`` runs whatever callable a file names; a downloaded dataset is not trusted
code. :class:`RestrictedUnpickler` resolves only the globals needed to rebuild plain
containers (dict, list, str, bytes, int: no globals at all) and numpy arrays, and
refuses every other one with :class:`~sparring.core.errors.DataError` before anything
is called. The allowed globals:

- ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct``,
  ``numpy.ndarray``, ``numpy.dtype``: an ndarray pickled by numpy 1.x (the CIFAR
  batches, written by Python 2's cPickle, protocol 2) or numpy 2.x;
- ``_codecs.encode`` with the latin-1 codec only: how Python 3 writes ``bytes`` at
  protocol 2 (arrays' raw data and byte strings in files re-pickled by Python 3).

Python 2 strings are loaded as ``bytes`` (``encoding="bytes"``), as the CIFAR
documentation prescribes.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sparring.core.errors import DataError

__all__ = ["RestrictedUnpickler", "restricted_load"]

_LATIN1 = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"}


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` limited to latin-1, the only codec protocol-2 pickles use for bytes."""
    if not isinstance(text, str) or encoding.lower() not in _LATIN1 or errors != "strict":
        raise DataError(f"refusing to unpickle _codecs.encode with codec {encoding!r} (only latin-1 is used for bytes)")
    return codecs.encode(text, "latin-1")


# numpy's own reconstructor (numpy.core.multiarray in 1.x, numpy._core.multiarray in 2.x)
_reconstruct: Callable[..., Any] = np.array([0]).__reduce__()[0]  # type: ignore[assignment]

ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}
"""``(module, name)`` -> the object a pickle may refer to; nothing else resolves."""


class RestrictedUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` whose ``find_class`` resolves only :data:`ALLOWED` globals.

    Args:
        file: a binary file object.
        source: the file's name, for messages.
    """

    def __init__(self, file: io.BufferedIOBase | io.BytesIO, *, source: str) -> None:
        super().__init__(file, encoding="bytes")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"{self._source}: refusing to unpickle {module}.{name}: this data file names a "
                "global that plain arrays and containers never need, so it may run code; "
                "use files from the official source"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"{self._source}: refusing to unpickle a persistent id ({pid!r:.60})")


def restricted_load(path: str | os.PathLike[str]) -> Any:
    """Unpickle one file with :class:`RestrictedUnpickler`.

    Raises:
        DataError: the file names a global outside :data:`ALLOWED`, is not a pickle, is
            truncated, or cannot be read; the message names the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh, source=str(path)).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
        raise DataError(
            f"{path}: not a readable pickle ({type(err).__name__}: {err}); the file is truncated, "
            "corrupt or of another format: download it again"
        ) from err
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({type(err).__name__}: {err})") from err
