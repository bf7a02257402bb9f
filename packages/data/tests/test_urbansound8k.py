"""UrbanSound8K from its official layout: folds, the dangerous relabelling, resampling."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from sparring.core.errors import ConfigError, DataError
from sparring.data import load_dataset, load_urbansound8k, resample
from sparring.data.audio import fix_length
from sparring.data.urbansound8k import BINARY_CLASSES, URBANSOUND8K_CLASSES

from data_writers import US8K_HEADER, wav_bytes, write_bytes, write_urbansound8k_tree

RATE, DURATION = 8000, 0.2  # small samples: 1,600 values


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("us8k-root")
    return root, write_urbansound8k_tree(root / "urbansound8k" / "UrbanSound8K", per_fold=2)


@pytest.fixture
def tree(pristine, tmp_path) -> tuple[Path, Path, list[dict]]:
    root, rows = pristine
    shutil.copytree(root, tmp_path / "root")
    return tmp_path / "root", tmp_path / "root" / "urbansound8k" / "UrbanSound8K", rows


@pytest.fixture(scope="module")
def scipy_signal():
    return pytest.importorskip("scipy.signal")


def reference(row: dict, scipy_signal, rate: int = RATE, duration: float = DURATION) -> np.ndarray:
    """Mean of the channels, scipy's resample_poly, padded or cut, clipped."""
    mono = row["samples"].astype(np.float64).mean(axis=1)
    g = math.gcd(row["rate"], rate)
    if row["rate"] != rate:
        mono = scipy_signal.resample_poly(mono, rate // g, row["rate"] // g)
    n = round(duration * rate)
    return np.clip(fix_length(mono, n), -1, 1)


def load(root: Path, **kwargs):
    return load_urbansound8k(root=root, sample_rate=RATE, duration=DURATION, **kwargs)


def test_train_and_test_folds_with_the_dangerous_relabelling(pristine, scipy_signal) -> None:
    root, rows = pristine
    train, test = load(root), load(root, split="test")
    assert len(train) == 18 and len(test) == 2 and train.info.input_shape == (1600,)
    assert train.info.classes == BINARY_CLASSES and train.info.value_range == (-1.0, 1.0)
    for ds, selected in ((train, [r for r in rows if r["fold"] != 10]), (test, [r for r in rows if r["fold"] == 10])):
        x, y = ds[:]
        dangerous = [URBANSOUND8K_CLASSES[r["class_id"]] in ("dog_bark", "gun_shot", "siren") for r in selected]
        assert y.tolist() == [int(d) for d in dangerous]
        for k, row in enumerate(selected):
            np.testing.assert_allclose(x[k], reference(row, scipy_signal), atol=2e-6, err_msg=row["filename"])


def test_ten_classes_other_folds_and_options(pristine, scipy_signal) -> None:
    root, rows = pristine
    ds = load(root, split="test", test_folds=(2, 1), binary=False, value_range=(0.0, 1.0))
    selected = [r for r in rows if r["fold"] in (1, 2)]
    assert ds.info.classes == URBANSOUND8K_CLASSES and ds.labels.tolist() == [r["class_id"] for r in selected]
    np.testing.assert_allclose(ds[:][0], (np.stack([reference(r, scipy_signal) for r in selected]) + 1) / 2, atol=2e-6)
    assert len(load(root, test_folds=3)) == 18
    full = load_dataset("urbansound8k", root=root, split="test", sample_rate=16000, duration=0.1)
    assert full.info.input_shape == (1600,)
    np.testing.assert_allclose(full[0][0], reference(rows[-2], scipy_signal, 16000, 0.1), atol=2e-6)


def test_long_clips_are_resampled_as_a_whole_would_be(tree, scipy_signal) -> None:
    root, folder, rows = tree
    row = rows[-1]  # fold 10
    t = np.arange(44100 * 2) / 44100
    wave = (0.7 * np.sin(2 * np.pi * 1234 * t)).astype(np.float32)
    write_bytes(folder / "audio" / "fold10" / row["filename"], wav_bytes(wave, 44100))
    got = load(root, split="test")[1][0]
    want = scipy_signal.resample_poly(wave.astype(np.float64), 80, 441)[:1600]  # 44.1 kHz -> 8 kHz, whole clip
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_missing_metadata_names_the_file_and_source(tmp_path) -> None:
    with pytest.raises(DataError) as info:
        load(tmp_path)
    msg = str(info.value)
    for text in ("dataset 'urbansound8k' (split 'train', folds 1, 2, 3, 4, 5, 6, 7, 8, 9) not found",
                 "\n  metadata/UrbanSound8K.csv\n", "audio/fold1/  (a folder)", "urbansounddataset.weebly.com",
                 "UrbanSound8K.tar.gz"):
        assert text in msg, text
    assert "audio/fold10/" not in msg  # the test fold is not needed for the train split


def test_missing_fold_or_clip(tree) -> None:
    root, folder, rows = tree
    (folder / "metadata" / "UrbanSound8K.csv").rename(folder / "UrbanSound8K.csv")
    with pytest.raises(DataError, match=r"missing: metadata/UrbanSound8K.csv\)"):
        load(root)
    (folder / "UrbanSound8K.csv").rename(folder / "metadata" / "UrbanSound8K.csv")
    (folder / "audio" / "fold1" / rows[0]["filename"]).unlink()
    with pytest.raises(DataError, match=rf"1 of the 18 clips .* missing \(first: audio/fold1/{rows[0]['filename']}\)"):
        load(root)
    shutil.rmtree(folder / "audio" / "fold3")
    with pytest.raises(DataError, match=r"missing: audio/fold3/\)"):
        load(root)
    assert len(load(root, split="test")) == 2  # fold 10 alone is still there


@pytest.mark.parametrize(("line", "match"), [
    ("x.wav,1,0,1,1,1,3,dog_barking", r"line 2: unknown class 'dog_barking'; UrbanSound8K's classes are"),
    ("x.wav,1,0,1,1,1,4,dog_bark", r"line 2: classID 4 does not match class 'dog_bark' \(classID 3\)"),
    ("x.wav,1,0,1,1,11,3,dog_bark", r"line 2: fold 11 is not one of UrbanSound8K's folds 1..10"),
    ("x.wav,1,0,1,1,one,3,dog_bark", r"line 2: fold 'one' or classID '3' is not an integer"),
    ("../x.wav,1,0,1,1,1,3,dog_bark", r"line 2: slice_file_name '../x.wav' is not a file name"),
])
def test_damaged_metadata_rows(tree, line, match) -> None:
    root, folder, _ = tree
    (folder / "metadata" / "UrbanSound8K.csv").write_text(f"{US8K_HEADER}\n{line}\n")
    with pytest.raises(DataError, match=match):
        load(root)


@pytest.mark.parametrize(("text", "match"), [
    ("slice_file_name,fsID,start,end,salience,fold,class\n", r"lacks the column\(s\) classID"),
    ("", r"the header '\(empty file\)' lacks"),
    (US8K_HEADER + "\n", "holds a header but no clips"),
])
def test_damaged_metadata_files(tree, text, match) -> None:
    root, folder, _ = tree
    (folder / "metadata" / "UrbanSound8K.csv").write_text(text)
    with pytest.raises(DataError, match=match):
        load(root)


@pytest.mark.parametrize(("damage", "match"), [
    (lambda b: b[: len(b) // 2], "truncated: its 'data' chunk declares"),
    (lambda b: b"RIFX" + b[4:], "not a RIFF/WAVE file"),
    (lambda b: wav_bytes(np.array([[0.1, np.nan]] * 50, np.float32), 44100),
     r"holds NaN \(first at frame 0, channel 1"),
])
def test_damaged_clips(tree, damage, match) -> None:
    root, folder, rows = tree
    path = folder / "audio" / "fold4" / rows[7]["filename"]
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=rf"{rows[7]['filename']}: {match}"):
        load(root)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"test_folds": (0,)}, "test_folds must be one or more folds among 1..10"),
    ({"test_folds": ()}, "test_folds must be one or more folds"),
    ({"test_folds": "10"}, "test_folds must be one or more folds"),
    ({"test_folds": tuple(range(1, 11))}, "leaves no training fold"),
    ({"split": "validation"}, "splits 'train', 'test'"),
    ({"sample_rate": 0}, "sample_rate must be a positive int"),
    ({"duration": -1.0}, "duration must be a positive number of seconds"),
])
def test_bad_arguments(tmp_path, kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_urbansound8k(root=tmp_path, **kwargs)


# -- resampling ------------------------------------------------------------------------
@pytest.mark.parametrize(("orig", "target", "n"), [
    (44100, 16000, 4410), (48000, 16000, 999), (8000, 16000, 1001), (11025, 16000, 3000), (22050, 8000, 7),
    (192000, 16000, 4000), (3, 2, 10), (16000, 16000, 100),
])
def test_resample_is_scipys_resample_poly(scipy_signal, orig, target, n) -> None:
    x = np.random.default_rng(n).standard_normal((2, 3, n))
    g = math.gcd(orig, target)
    want = scipy_signal.resample_poly(x, target // g, orig // g, axis=-1)
    got = resample(x, orig, target)
    assert got.dtype == np.float32 and got.shape == want.shape == (2, 3, math.ceil(n * target / orig))
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(resample(np.moveaxis(x, -1, 0), orig, target, axis=0), np.moveaxis(want, -1, 0),
                               atol=1e-6)


def test_resample_arguments() -> None:
    with pytest.raises(ConfigError, match="orig_sr must be a positive int"):
        resample(np.zeros(10), 0, 16000)
    with pytest.raises(ConfigError, match="target_sr must be a positive int"):
        resample(np.zeros(10), 16000, 16000.5)
