"""Speech Commands v0.02 digits from the official layout, and the WAV reader underneath."""

from __future__ import annotations

import shutil
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from sparring.core.errors import ConfigError, DataError
from sparring.data import load_dataset, load_speech_commands, read_wav
from sparring.data.audio import wav_info
from sparring.data.speech_commands import SPEECH_COMMANDS_DIGITS

from data_writers import DIGITS, pcm16, wav_bytes, write_bytes, write_speech_commands_tree


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("speech-root")
    return root, write_speech_commands_tree(root / "speech_commands_v0.02", per_digit=4)


@pytest.fixture
def tree(pristine, tmp_path) -> tuple[Path, Path, dict]:
    root, written = pristine
    shutil.copytree(root, tmp_path / "root")
    return tmp_path / "root", tmp_path / "root" / "speech_commands_v0.02", written


def expected(clips: dict[str, np.ndarray]) -> tuple[np.ndarray, list[int]]:
    order = sorted(clips, key=lambda e: (DIGITS.index(e.split("/")[0]), e))
    x = np.zeros((len(order), 16000), np.float32)
    for i, name in enumerate(order):
        s = clips[name][:16000] / np.float32(32768)
        x[i, : len(s)] = s
    return x, [DIGITS.index(e.split("/")[0]) for e in order]


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_official_splits(pristine, split) -> None:
    root, written = pristine
    ds = load_speech_commands(root=root, split=split)
    x_want, y_want = expected(written[split])
    assert ds.info.name == "speech-commands" and ds.info.classes == SPEECH_COMMANDS_DIGITS
    assert ds.info.input_shape == (16000,) and ds.info.value_range == (-1.0, 1.0)
    x, y = ds[:]
    assert y.tolist() == y_want and len(ds) == {"train": 20, "validation": 10, "test": 10}[split]
    np.testing.assert_array_equal(x, x_want)  # int16 / 32768, zero-padded or cut to one second


def test_value_range_layouts_and_registry(tree) -> None:
    root, folder, written = tree
    x_want, _ = expected(written["test"])
    ds = load_speech_commands(root=folder, split="test", value_range=(0.0, 1.0))  # root = the folder itself
    np.testing.assert_allclose(ds[:][0], (x_want + 1) / 2, atol=1e-7)
    (root / "SpeechCommands").mkdir()
    folder.rename(root / "SpeechCommands" / "speech_commands_v0.02")  # torchaudio's layout
    assert len(load_dataset("speech-commands", root=root, split="validation")) == 10


def test_stereo_clips_are_mixed_down(tree) -> None:
    root, folder, written = tree
    name = min(written["test"], key=lambda e: (DIGITS.index(e.split("/")[0]), e))  # sample 0: a "zero"
    left, right = pcm16(16000, np.random.default_rng(5)), pcm16(16000, np.random.default_rng(6))
    write_bytes(folder / name, wav_bytes(np.stack([left, right], axis=1), 16000))
    x = load_speech_commands(root=root, split="test")[0][0]
    np.testing.assert_allclose(x, (left / 32768 + right / 32768) / 2, atol=1e-7)


def test_missing_dataset_names_the_lists_folders_and_source(tmp_path) -> None:
    with pytest.raises(DataError) as info:
        load_speech_commands(root=tmp_path)
    msg = str(info.value)
    for text in ("dataset 'speech-commands' (split 'train') not found", "\n  validation_list.txt\n",
                 "\n  testing_list.txt\n", "\n  zero/  (a folder)\n", "nine/  (a folder)",
                 "speech_commands_v0.02.tar.gz", str(tmp_path / "speech_commands_v0.02")):
        assert text in msg, text


def test_a_missing_digit_folder_or_listed_clip(tree) -> None:
    root, folder, written = tree
    name = sorted(written["test"])[3]
    (folder / name).unlink()
    with pytest.raises(DataError, match=rf"1 clip\(s\) named in testing_list.txt are missing \(first: {name}\)"):
        load_speech_commands(root=root, split="test")
    assert len(load_speech_commands(root=root, split="train")) == 20  # the train split does not need it
    shutil.rmtree(folder / "seven")
    with pytest.raises(DataError, match=r"missing: seven/\)"):
        load_speech_commands(root=root)


def test_bad_split_list(tree) -> None:
    root, folder, _ = tree
    (folder / "validation_list.txt").write_text("zero/a.wav\nzero\\b.wav\n")
    with pytest.raises(DataError, match=r"validation_list.txt, line 2: 'zero\\\\b.wav' is not <word>/<file>.wav"):
        load_speech_commands(root=root, split="validation")


def test_clip_of_another_sample_rate(tree) -> None:
    root, folder, written = tree
    name = sorted(written["train"])[0]
    write_bytes(folder / name, wav_bytes(pcm16(8000, np.random.default_rng(0)), 8000))
    with pytest.raises(DataError, match=r"sample rate 8000 Hz; Speech Commands clips are 16000 Hz"):
        load_speech_commands(root=root)


BAD_WAVS = [
    (lambda good: good[:-7], r"truncated: its 'data' chunk declares 32000 bytes but only 31993 follow"),
    (lambda good: good[:30], r"truncated: its 'fmt' chunk declares 16 bytes"),
    (lambda good: b"", r"not a RIFF/WAVE file \(an empty file"),
    (lambda good: b"ID3\x04" + good[4:], r"not a RIFF/WAVE file \(a file starting with b'ID3"),
    (lambda good: good[:8] + b"AVI " + good[12:], "not a RIFF/WAVE file"),
    (lambda good: good[:36], r"no 'data' chunk \(chunks found: 'fmt '\)"),
    (lambda good: good[:12] + good[36:], r"no 'fmt' chunk"),
    (lambda good: good[:20] + struct.pack("<H", 0x11) + good[22:], r"format tag 0x0011 \(IMA ADPCM\) is not supported"),
    (lambda good: good[:34] + struct.pack("<H", 12) + good[36:], r"12 bits per sample \(supported: 8, 16, 24, 32\)"),
    (lambda good: good[:32] + struct.pack("<H", 3) + good[34:],
     r"3 bytes per frame \(expected channels \* bits / 8 = 2\)"),
    (lambda good: good[:40] + struct.pack("<I", 31999) + good[44:], "not a whole number of 2-byte frames"),
    (lambda good: good[:16] + struct.pack("<I", 12) + good[20:32] + good[36:], r"'fmt ' chunk holds 12 bytes"),
]


@pytest.mark.parametrize(("damage", "match"), BAD_WAVS)
def test_damaged_wav_files(tree, damage, match) -> None:
    root, folder, written = tree
    name = sorted(written["train"])[0]
    good = wav_bytes(pcm16(16000, np.random.default_rng(0)), 16000)
    write_bytes(folder / name, damage(good))
    with pytest.raises(DataError, match=match):
        load_speech_commands(root=root)


@pytest.mark.parametrize(("bad", "kind"), [(np.nan, "NaN"), (np.inf, "infinite values")])
def test_float_wav_with_nan_or_inf(tree, bad, kind) -> None:
    root, folder, written = tree
    name = sorted(written["train"])[0]
    samples = np.zeros((16000, 2), np.float32)
    samples[100, 1] = bad
    samples[200, 0] = bad
    write_bytes(folder / name, wav_bytes(samples, 16000))
    with pytest.raises(DataError, match=rf"holds {kind} \(first at frame 100, channel 1; 2 non-finite samples\)"):
        load_speech_commands(root=root)


def test_bad_arguments(tmp_path) -> None:
    with pytest.raises(ConfigError, match="splits 'train', 'validation', 'test'"):
        load_speech_commands(root=tmp_path, split="valid")
    with pytest.raises(ConfigError, match="value_range"):
        load_speech_commands(root=tmp_path, value_range=(0.0, 0.0))


# -- the WAV reader --------------------------------------------------------------------
def test_wav_encodings(tmp_path) -> None:
    rng = np.random.default_rng(0)
    cases = {
        "u8": (rng.integers(0, 256, size=(50, 1)).astype(np.uint8), None, lambda d: (d.astype(np.float64) - 128) / 128),
        "i16": (rng.integers(-32768, 32768, size=(50, 2)).astype(np.int16), None, lambda d: d / 32768),
        "i24": (rng.integers(-(2**23), 2**23, size=(50, 3)).astype(np.int32), 24, lambda d: d / 2**23),
        "i32": (rng.integers(-(2**31), 2**31, size=(50, 1)).astype(np.int32), None, lambda d: d / 2**31),
        "f32": (rng.uniform(-1.5, 1.5, size=(50, 2)).astype(np.float32), None, lambda d: d),
        "f64": (rng.uniform(-1, 1, size=(50, 1)), None, lambda d: d),
    }
    for name, (data, bits, scale) in cases.items():
        for extensible in (False, True):
            path = write_bytes(tmp_path / f"{name}-{extensible}.wav",
                               wav_bytes(data, 22050, bits=bits, extensible=extensible, extra_chunks=extensible))
            samples, rate = read_wav(path)
            assert rate == 22050 and samples.dtype == np.float32 and samples.shape == data.shape, name
            np.testing.assert_allclose(samples, scale(data), rtol=1e-6, atol=1e-7, err_msg=name)
            info = wav_info(path)
            assert (info.channels, info.frames, info.sample_rate) == (data.shape[1], 50, 22050)
    sf = pytest.importorskip("soundfile")  # libsndfile (a librosa dependency) as the independent reference
    for path in sorted(tmp_path.glob("*.wav")):
        want, rate = sf.read(path, dtype="float64", always_2d=True)
        np.testing.assert_allclose(read_wav(path)[0], want, rtol=1e-6, atol=1e-7, err_msg=path.name)
    with wave.open(str(tmp_path / "i16-False.wav")) as fh:  # and the stdlib for 16-bit PCM
        ints = np.frombuffer(fh.readframes(fh.getnframes()), "<i2").reshape(-1, fh.getnchannels())
    np.testing.assert_array_equal(read_wav(tmp_path / "i16-False.wav")[0], ints / np.float32(32768))
    odd = write_bytes(tmp_path / "odd.wav", wav_bytes(np.arange(3, dtype=np.uint8), 8000, extra_chunks=True))
    np.testing.assert_allclose(read_wav(odd)[0][:, 0], (np.arange(3) - 128) / 128)  # padded odd-sized chunks
