"""Where data is looked for, the error naming what is missing, and sha256 checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sparring.core.errors import ConfigError, DataError
from sparring.data import data_root, locate_files, locate_folder, verify_sha256
from sparring.data.locate import ENV_VAR

EXPECTED = [("a.bin.gz", "a.bin"), ("b.bin.gz", "b.bin")]


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_root_argument_beats_environment_beats_default(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert data_root() == tmp_path / "home" / ".cache" / "sparring"
    monkeypatch.setenv(ENV_VAR, "")  # empty counts as unset
    assert data_root() == tmp_path / "home" / ".cache" / "sparring"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root("~/x") == tmp_path / "home" / "x"
    with pytest.raises(ConfigError, match="root"):
        data_root("  ")


def test_dataset_folder_first_then_root_and_preferred_names(tmp_path) -> None:
    touch(tmp_path / "a.bin")
    touch(tmp_path / "b.bin.gz")
    found = locate_files("toy", EXPECTED, root=tmp_path, folders=("toy", ""), source="S")
    assert found == [tmp_path / "a.bin", tmp_path / "b.bin.gz"]
    touch(tmp_path / "toy" / "a.bin.gz")
    touch(tmp_path / "toy" / "a.bin")
    touch(tmp_path / "toy" / "b.bin")
    found = locate_files("toy", EXPECTED, root=tmp_path, folders=("toy", ""), source="S")
    assert found == [tmp_path / "toy" / "a.bin.gz", tmp_path / "toy" / "b.bin"]


def test_files_come_from_one_complete_folder(tmp_path) -> None:
    touch(tmp_path / "toy" / "a.bin")  # incomplete dataset folder: the root has both
    touch(tmp_path / "a.bin.gz")
    touch(tmp_path / "b.bin.gz")
    found = locate_files("toy", EXPECTED, root=tmp_path, folders=("toy", ""), source="S")
    assert found == [tmp_path / "a.bin.gz", tmp_path / "b.bin.gz"]


def test_environment_root_is_searched(tmp_path, monkeypatch) -> None:
    touch(tmp_path / "toy" / "a.bin")
    touch(tmp_path / "toy" / "b.bin")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert locate_files("toy", EXPECTED, folders=("toy", ""), source="S")[0] == tmp_path / "toy" / "a.bin"


def test_missing_dataset_error_names_files_folders_and_source(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as info:
        locate_files("'toy'", EXPECTED, folders=("toy", ""), source="https://example.org/toy")
    msg = str(info.value)
    for text in ("a.bin.gz or a.bin", "b.bin.gz or b.bin", str(tmp_path / "nowhere" / "toy"),
                 f"{tmp_path / 'nowhere'}  (no such folder)", "https://example.org/toy", f"${ENV_VAR}",
                 "never downloads", f"put them in {tmp_path / 'nowhere' / 'toy'}"):
        assert text in msg, text


def test_incomplete_dataset_error_says_what_each_folder_lacks(tmp_path) -> None:
    touch(tmp_path / "toy" / "b.bin")
    with pytest.raises(DataError) as info:
        locate_files("'toy'", EXPECTED, root=tmp_path, folders=("toy", ""), source="S")
    msg = str(info.value)
    assert f"{tmp_path / 'toy'}  (missing: a.bin.gz or a.bin)" in msg
    assert f"{tmp_path}  (missing: a.bin.gz or a.bin; b.bin.gz or b.bin)" in msg
    assert "from the root argument" in msg


def test_a_folder_named_like_a_file_does_not_count(tmp_path) -> None:
    (tmp_path / "a.bin").mkdir()
    touch(tmp_path / "b.bin")
    with pytest.raises(DataError, match="missing: a.bin.gz or a.bin"):
        locate_files("'toy'", EXPECTED, root=tmp_path, source="S")


def test_locate_folder_needs_the_files_and_the_subfolders(tmp_path) -> None:
    touch(tmp_path / "toy" / "a.bin")
    touch(tmp_path / "toy" / "sub" / "x" / "file")
    folder, files = locate_folder("'toy'", files=[("a.bin",)], subfolders=("sub/x",), root=tmp_path,
                                  folders=("toy", ""), source="S")
    assert folder == tmp_path / "toy" and files == [tmp_path / "toy" / "a.bin"]
    with pytest.raises(DataError) as info:
        locate_folder("'toy'", files=[("a.bin",)], subfolders=("sub/x", "other"), root=tmp_path,
                      folders=("toy", ""), source="S")
    msg = str(info.value)
    assert "Expected files and folders" in msg and "\n  a.bin\n  sub/x/  (a folder)\n  other/  (a folder)\n" in msg
    assert f"{tmp_path / 'toy'}  (missing: other/)" in msg
    assert f"{tmp_path}  (missing: a.bin; sub/x/; other/)" in msg


def test_sha256_verification(tmp_path) -> None:
    a = touch(tmp_path / "a.bin.gz", b"hello")
    b = touch(tmp_path / "b.bin", b"world")
    good = hashlib.sha256(b"hello").hexdigest()
    verify_sha256([a, b], {"a.bin.gz": good.upper()})  # case does not matter; b is unchecked
    with pytest.raises(DataError, match=f"sha256 is {hashlib.sha256(b'world').hexdigest()}, expected {good}"):
        verify_sha256([a, b], {"b.bin": good})
    with pytest.raises(DataError, match=r"given for 'a.bin'.*a.bin.gz, b.bin"):
        verify_sha256([a, b], {"a.bin": good})
    with pytest.raises(ConfigError, match="64 hex digits"):
        verify_sha256([a, b], {"a.bin.gz": "abc"})
