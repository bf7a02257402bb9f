"""GTSRB from its official layout: PPM images, ';' CSV annotations, track-wise validation."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sparring.core.errors import ConfigError, DataError
from sparring.data import load_dataset, load_gtsrb, read_ppm
from sparring.data.gtsrb import GTSRB_CLASSES, read_gtsrb_csv
from sparring.data.image import resize_bilinear

from data_writers import GTSRB_HEADER, gtsrb_csv, ppm_bytes, write_bytes, write_gtsrb_tree

TRAIN = Path("Final_Training") / "Images"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("gtsrb-root")
    written = write_gtsrb_tree(root / "gtsrb" / "GTSRB", tracks=2, per_track=2, n_test=10)
    return root, written


@pytest.fixture
def tree(pristine, tmp_path) -> tuple[Path, Path, dict]:
    """A private copy: ``(root, GTSRB folder, what was written)``."""
    root, written = pristine
    shutil.copytree(root, tmp_path / "root")
    return tmp_path / "root", tmp_path / "root" / "gtsrb" / "GTSRB", written


def colour_of(x: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in np.rint(x.reshape(-1, 3).mean(axis=0) * 255))


def test_training_set_cropped_to_the_roi(pristine) -> None:
    root, written = pristine
    ds = load_gtsrb(root=root, validation=0.0, crop=True)
    assert len(ds) == 43 * 4 and ds.info.input_shape == (32, 32, 3) and ds.info.classes == GTSRB_CLASSES
    assert ds.storage_dtype == np.uint8 and ds.info.num_classes == 43
    x, y = ds[:]
    assert y.tolist() == [info["class"] for info in written["train"]]  # class, then file order
    for k, info in enumerate(written["train"]):
        np.testing.assert_array_equal(x[k], np.broadcast_to(info["inner"] / np.float32(255), (32, 32, 3)))


def test_uncropped_images_keep_the_border_and_other_options(pristine) -> None:
    root, written = pristine
    x = load_gtsrb(root=root, validation=0.0)[:][0]
    info = written["train"][0]
    assert not np.allclose(x[0], info["inner"] / 255)  # the border colour is in there
    corner = x[0, 0, 0] * 255
    assert np.all(np.minimum(info["inner"], info["border"]) - 1 <= corner)
    assert np.all(corner <= np.maximum(info["inner"], info["border"]) + 1)
    seq = load_gtsrb(root=root, validation=0.0, as_sequence=True, size=8, value_range=(-1.0, 1.0))
    assert seq.info.input_shape == (64, 3) and seq.info.value_range == (-1.0, 1.0)
    small = load_gtsrb(root=root, validation=0.0, size=8, value_range=(-1.0, 1.0))[:][0]
    np.testing.assert_array_equal(seq[:][0], small.reshape(len(small), 64, 3))
    assert len(load_dataset("gtsrb", root=root, split="test")) == 10


def test_validation_holds_out_whole_tracks(pristine) -> None:
    root, written = pristine
    by_colour = {tuple(int(v) for v in info["inner"]): info for info in written["train"]}
    assert len(by_colour) == len(written["train"])  # every image identifiable by its colour

    def tracks(split: str, seed: int) -> set[tuple[int, int]]:
        ds = load_gtsrb(root=root, split=split, crop=True, validation=0.5, seed=seed)
        found = {(by_colour[colour_of(x)]["class"], by_colour[colour_of(x)]["track"]) for x, _ in ds}
        assert len(ds) == 43 * 2 and np.array_equal(ds.class_counts(), np.full(43, 2))
        return found

    train, val = tracks("train", 0), tracks("validation", 0)
    assert not train & val and len(train | val) == 43 * 2  # each sign on one side only
    assert {c for c, _ in val} == set(range(43))  # one of the two tracks of every class
    assert tracks("validation", 0) == val and tracks("validation", 1) != val
    assert len(load_gtsrb(root=root, split="train", validation=0.1)) == 43 * 4 - 43 * 2  # at least one track


def test_test_split_and_label_file_places(tree) -> None:
    root, folder, written = tree
    ds = load_gtsrb(root=root, split="test", crop=True)
    assert ds.labels.tolist() == [info["class"] for info in written["test"]]
    assert [colour_of(x) for x, _ in ds] == [tuple(int(v) for v in info["inner"]) for info in written["test"]]
    (folder / "Final_Test" / "Images" / "GT-final_test.csv").rename(folder / "GT-final_test.csv")
    assert len(load_gtsrb(root=folder, split="test")) == 10  # root = the GTSRB folder itself


def test_missing_dataset_names_what_to_get(tmp_path) -> None:
    with pytest.raises(DataError) as info:
        load_gtsrb(root=tmp_path)
    msg = str(info.value)
    assert "dataset 'gtsrb' (split 'train') not found" in msg and "Final_Training/Images/  (a folder)" in msg
    assert "GTSRB_Final_Training_Images.zip" in msg and "benchmark.ini.rub.de" in msg
    with pytest.raises(DataError) as info:
        load_gtsrb(root=tmp_path, split="test")
    msg = str(info.value)
    assert "Final_Test/Images/GT-final_test.csv or GT-final_test.csv or Final_Test/GT-final_test.csv" in msg
    assert "GTSRB_Final_Test_GT.zip" in msg


def test_test_labels_without_class_ids(tree) -> None:
    root, folder, _ = tree
    csv = folder / "Final_Test" / "Images" / "GT-final_test.csv"
    csv.write_text("Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2\n00000.ppm;8;8;1;1;7;7\n")
    with pytest.raises(DataError, match=r"lacks the column\(s\) ClassId \(test labels are in GT-final_test.csv"):
        load_gtsrb(root=root, split="test")


@pytest.mark.parametrize(("damage", "match"), [
    (lambda p: p.write_bytes(p.read_bytes()[:-5]), r"truncated: its header declares \d+x\d+ RGB pixels"),
    (lambda p: p.write_bytes(b"P3\n2 2\n255\n" + b"0 " * 12), r"not a binary PPM image: it starts with b'P3'"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40)), r"not a binary PPM image: it starts with b'\\x89P'"),
    (lambda p: p.write_bytes(b"P6\n8 x\n255\n"), "malformed PPM header"),
    (lambda p: p.write_bytes(ppm_bytes(np.zeros((5, 5, 3), np.uint8))), r"the image is 5x5 pixels but its annotation"),
    (lambda p: p.unlink(), "listed in the annotation file but missing"),
])
def test_damaged_images(tree, damage, match) -> None:
    root, folder, _ = tree
    damage(folder / TRAIN / "00007" / "00001_00000.ppm")
    with pytest.raises(DataError, match=match):
        load_gtsrb(root=root, validation=0.0)


def test_unknown_and_missing_class_folders(tree) -> None:
    root, folder, _ = tree
    (folder / TRAIN / "00043").mkdir()
    with pytest.raises(DataError, match=r"00043: unknown class folder '00043'.*folders 00000 \.\. 00042"):
        load_gtsrb(root=root)
    (folder / TRAIN / "00043").rmdir()
    (folder / TRAIN / "Readme.txt").write_text("files beside the class folders are fine")
    (folder / TRAIN / ".thumbnails").mkdir()  # and hidden folders
    shutil.rmtree(folder / TRAIN / "00007")
    with pytest.raises(DataError, match=r"class folder\(s\) 00007 missing \(42 of 43 present\)"):
        load_gtsrb(root=root)


@pytest.mark.parametrize(("csv_text", "match"), [
    (None, r"GT-00003.csv: missing; each class folder holds"),
    ("Filename;Width;Height\n", r"lacks the column\(s\) Roi.X1, Roi.Y1, Roi.X2, Roi.Y2, ClassId; expected"),
    (GTSRB_HEADER.replace(";", ",") + "\n", r"lacks the column\(s\) Filename.* separated by ';'"),
    (GTSRB_HEADER + "\n", "holds a header but no images"),
    (GTSRB_HEADER + "\n00000_00000.ppm;9;x;1;1;8;8;3\n", r"line 2: a size, ROI or ClassId is not an integer"),
    (GTSRB_HEADER + "\n00000_00000.ppm;9;9;1;1;8;8\n", r"line 2: 7 fields, the header has 8"),
    (GTSRB_HEADER + "\n00000_00000.ppm;9;9;1;1;8;8;43\n", r"line 2: ClassId 43 is not a GTSRB class"),
    (GTSRB_HEADER + "\n00000_00000.ppm;9;9;1;1;8;8;4\n", r"annotated ClassId 4 in the folder of class 3"),
    (GTSRB_HEADER + "\nsign.ppm;9;9;1;1;8;8;3\n", r"image name 'sign.ppm' is not <track>_<image>.ppm"),
    (GTSRB_HEADER + "\n../00000_00000.ppm;9;9;1;1;8;8;3\n", r"Filename '../00000_00000.ppm' is not the name of a file"),
])
def test_damaged_annotations(tree, csv_text, match) -> None:
    root, folder, _ = tree
    path = folder / TRAIN / "00003" / "GT-00003.csv"
    if csv_text is None:
        path.unlink()
    else:
        path.write_text(csv_text)
    with pytest.raises(DataError, match=match):
        load_gtsrb(root=root)


def test_roi_outside_the_image_when_cropping(tree) -> None:
    root, folder, written = tree
    info = next(i for i in written["train"] if i["class"] == 5)
    height, width = info["size"]
    rows = [(i["filename"], i["size"][1], i["size"][0], i["roi"], 5) for i in written["train"] if i["class"] == 5]
    rows[0] = (info["filename"], width, height, (2, 2, width + 3, height), 5)
    (folder / TRAIN / "00005" / "GT-00005.csv").write_text(gtsrb_csv(rows))
    assert len(load_gtsrb(root=root, validation=0.0)) == 172  # not used without crop
    with pytest.raises(DataError, match=r"ROI \(2, 2, \d+, \d+\) is not a box inside"):
        load_gtsrb(root=root, validation=0.0, crop=True)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"split": "validation", "validation": 0.0}, "split 'validation' needs validation > 0"),
    ({"validation": 1.0}, r"fraction of the tracks in \[0, 1\)"),
    ({"size": 0}, "size must be a positive int"),
    ({"seed": -1}, "seed must be a non-negative int"),
    ({"split": "val"}, "splits 'train', 'validation', 'test'"),
])
def test_bad_arguments(tmp_path, kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_gtsrb(root=tmp_path, **kwargs)


# -- PPM and resizing ------------------------------------------------------------------
def test_ppm_variants(tmp_path) -> None:
    image = np.random.default_rng(0).integers(0, 256, size=(4, 5, 3)).astype(np.uint8)
    path = write_bytes(tmp_path / "a.ppm", ppm_bytes(image, comment=b"made by a test"))
    np.testing.assert_array_equal(read_ppm(path), image)
    wide = (image.astype(np.uint16) * 257)  # 16-bit values, maxval 65535
    np.testing.assert_array_equal(read_ppm(write_bytes(tmp_path / "b.ppm", ppm_bytes(wide, maxval=65535))), image)
    low = image // 17  # maxval 15
    np.testing.assert_array_equal(read_ppm(write_bytes(tmp_path / "c.ppm", ppm_bytes(low, maxval=15))), low * 17)


def reference_bilinear(image: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pixel by pixel: half-pixel centres, coordinates clamped to the image."""
    out = np.empty((h, w))
    n_in, m_in = image.shape
    for i in range(h):
        for j in range(w):
            y = min(max((i + 0.5) * n_in / h - 0.5, 0), n_in - 1)
            x = min(max((j + 0.5) * m_in / w - 0.5, 0), m_in - 1)
            y0, x0 = int(y), int(x)
            y1, x1 = min(y0 + 1, n_in - 1), min(x0 + 1, m_in - 1)
            fy, fx = y - y0, x - x0
            out[i, j] = ((1 - fy) * (1 - fx) * image[y0, x0] + (1 - fy) * fx * image[y0, x1]
                         + fy * (1 - fx) * image[y1, x0] + fy * fx * image[y1, x1])
    return out


def test_resize_bilinear_matches_the_formula_and_pil() -> None:
    image = np.random.default_rng(1).uniform(0, 255, size=(23, 17))
    for h, w in ((32, 32), (8, 11), (23, 17)):
        np.testing.assert_allclose(resize_bilinear(image, (h, w), antialias=False), reference_bilinear(image, h, w),
                                   atol=1e-9)
    np.testing.assert_allclose(resize_bilinear(image, (40, 30)), reference_bilinear(image, 40, 30), atol=1e-9)
    Image = pytest.importorskip("PIL.Image")
    for h, w in ((8, 11), (10, 5), (32, 32)):
        pil = np.asarray(Image.fromarray(image.astype(np.float32), mode="F").resize((w, h), Image.BILINEAR))
        np.testing.assert_allclose(resize_bilinear(image, (h, w)), pil, atol=1e-3)
    rgb = np.random.default_rng(2).uniform(0, 255, size=(2, 23, 17, 3))
    np.testing.assert_allclose(resize_bilinear(rgb, (8, 11))[1, :, :, 2], resize_bilinear(rgb[1, :, :, 2], (8, 11)))


def test_read_gtsrb_csv_accepts_the_official_crlf_and_bom(tmp_path) -> None:
    path = tmp_path / "GT-00000.csv"
    path.write_bytes(("\ufeff" + gtsrb_csv([("00000_00000.ppm", 9, 8, (1, 1, 8, 7), 0)])).encode())
    (record,) = read_gtsrb_csv(path)
    assert (record.filename, record.width, record.height, record.roi, record.class_id) == (
        "00000_00000.ppm", 9, 8, (1, 1, 8, 7), 0)
