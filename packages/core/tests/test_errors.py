"""Error messages say what was wrong and what to do."""

from __future__ import annotations

from sparring.core.errors import CheckpointMismatchError, DuplicateNameError, UnknownNameError


def test_unknown_name_lists_registered_and_suggests() -> None:
    err = UnknownNameError("attack", "pgdd", ["pgd", "fgsm"])
    assert "Did you mean 'pgd'" in str(err) and "fgsm, pgd" in str(err) and "sparring plugins" in str(err)
    assert "Did you mean" not in str(UnknownNameError("attack", "zzzz", ["pgd"]))


def test_duplicate_names_both() -> None:
    err = DuplicateNameError("model", "dense", ["a-dist (a.plugin)", "b-dist (b.plugin)"])
    assert "a-dist" in str(err) and "b-dist" in str(err) and "Uninstall" in str(err)


def test_checkpoint_mismatch_lists_every_entry() -> None:
    err = CheckpointMismatchError(
        "w.safetensors", missing=["head.bias"], unexpected=["extra"], shapes=[("head.weight", (3, 4), (2, 4))]
    )
    text = str(err)
    assert "head.bias" in text and "extra" in text and "(3, 4)" in text and "(2, 4)" in text
