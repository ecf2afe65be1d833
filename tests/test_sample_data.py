"""The committed sample_data/ holds what its table says it holds."""

from __future__ import annotations

from pathlib import Path

import sanitize

TRAIN = Path(__file__).resolve().parents[1] / "sample_data" / "classification" / "train.txt"

EXPECTED = {
    "broken/truncated.jpg": "decode:corrupt_data",
    "broken/flipped_bytes.jpg": "decode:corrupt_data",
    "broken/bad_crc.png": "decode:corrupt_data",
    "broken/png_named.jpg": "format:extension_mismatch",
    "broken/cut_last_frame.gif": "decode:corrupt_data",
    "broken/hijacked.jpg": "format:not_an_image",
    "broken/empty.jpg": "decode:empty",
    "broken/bomb.png": "decode:decompression_bomb",
    "broken/nan.tif": "finite:nonfinite",
    "broken/inf.npy": "finite:nonfinite",
    "broken/pickled.npy": "decode:pickled_object",
    "broken/huge_values.tif": "probe:nonfinite_loss",
    "clean/lost.jpg": "paths:missing",
    "../make_sample_data.py": "paths:outside_root",
    "/etc/hostname": "paths:outside_root",
}


def test_every_documented_problem_is_found_and_nothing_else():
    report = sanitize.scan(TRAIN, num_classes=3, ignore_label=255, scheduler="synchronous")
    errors = {r.path: {f"{f.check}:{f.code}" for f in r.findings if f.is_error} for r in report.flagged}
    for path, code in EXPECTED.items():
        assert code in errors.get(path, set()), path
    label_errors = [r for r in report.flagged if any(f.check == "label" for f in r.findings)]
    assert len(label_errors) == 7
    assert report.error_count == len(EXPECTED) + len(label_errors)
    # the 24 clean lines, the ignore-label line and sixteen_bit.png (fine at its default scale)
    assert sum(1 for _ in report.clean_samples()) == 24 + 1 + 1


def test_sixteen_bit_png_is_a_scale_outlier_when_read_at_8_bit_scale():
    report = sanitize.scan(TRAIN, num_classes=3, ignore_label=255, scheduler="synchronous", probe_scale=(1 / 255,))
    outliers = [r.path for r in report.flagged if any(f.code == "scale_outlier" for f in r.findings)]
    assert "broken/sixteen_bit.png" in outliers
