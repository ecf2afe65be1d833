"""Memory bounds: every input's size is judged before it is allocated, frames are decoded and
checked one at a time, and reductions over a whole array work in bounded chunks. Peaks are
measured with tracemalloc, which traces numpy's allocations (a memory-mapped file's pages are
not allocations: they are the page cache's, read and dropped as the kernel sees fit)."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sanitize.batch import check_batch
from sanitize.checks.finite import check_finite
from sanitize.config import ScanConfig
from sanitize.load.image import load, pillow_limits
from sanitize.model import Loaded, Sample
from sanitize.probe.net import block_mean
from sanitize.remote import ObjectStore
from tests.conftest import codes

MB = 1 << 20


def peak_bytes(run: Callable[[], object]) -> tuple[object, int]:
    """(what `run` returns, the peak of memory allocated while it ran)."""
    tracemalloc.start()
    try:
        result = run()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """A .npy header declaring `shape`, written by numpy's own writer, with no data after it."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def load_local(path: Path, config: ScanConfig):
    with pillow_limits(config):
        return load(Sample(0, path.name, str(path), "0"), config)


def object_loader(data: bytes, name: str, config: ScanConfig) -> Callable[[], Loaded]:
    """`data` put in fsspec's in-memory object store, and what loads it as a sample there (the
    object path: its size judged, then fetched whole)."""
    store = ObjectStore("memory")
    url = f"memory://memory-test/{name}"
    store.filesystem().pipe_file(url, data)
    status = store.filesystem().info(url)

    def _load() -> Loaded:
        with pillow_limits(config):
            return load(Sample(0, name, url, "0"), config, {url: status}, store)

    return _load


@pytest.mark.parametrize("where", ["file", "object"])
def test_a_npy_header_declaring_more_than_the_file_holds_is_refused_before_allocating(tmp_path, config, where):
    """200 MB declared, 64 bytes present: reading from a buffer, np.load allocated the declared
    size before finding the data missing."""
    data = npy_header((5000, 5000)) + bytes(64)
    if where == "file":
        (tmp_path / "bomb.npy").write_bytes(data)
        loaded, peak = peak_bytes(lambda: load_local(tmp_path / "bomb.npy", config))
    else:
        loaded, peak = peak_bytes(object_loader(data, "bomb.npy", config))
    assert peak < MB
    assert codes(loaded.findings) == {"decode:corrupt_data"}
    assert "declares 200,000,000 bytes of data" in loaded.findings[0].message
    assert "holds 64: truncated" in loaded.findings[0].message


@pytest.mark.parametrize("where", ["file", "object"])
def test_a_npy_over_max_file_bytes_is_too_large(tmp_path, where):
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((64, 64), np.float32))  # 16 KiB of data
    config = ScanConfig(num_classes=3, max_file_bytes=8192)
    if where == "file":
        (tmp_path / "big.npy").write_bytes(buffer.getvalue())
        loaded = load_local(tmp_path / "big.npy", config)
    else:
        loaded = object_loader(buffer.getvalue(), "big.npy", config)()
    assert codes(loaded.findings) == {"decode:too_large"}
    assert "over --max-file-bytes 8,192" in loaded.findings[0].message


def test_a_big_float_npy_is_checked_and_probed_in_memory_far_below_its_size(tmp_path, config):
    """32 MB of float32, its only NaN in the last element: the finite check finds it and the probe
    runs, and the batch's work allocates under a quarter of the array's size (a boolean mask of
    it was 1/4, the probe's three-channel copy 3x, its float64 conversion 6x)."""
    array = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(4096, 2048))
    array[:] = 0.5
    array[-1, -1] = np.nan
    array.flush()
    del array
    size = (tmp_path / "big.npy").stat().st_size
    result, peak = peak_bytes(
        lambda: check_batch([Sample(0, "big.npy", str(tmp_path / "big.npy"), "0")], tmp_path, config)
    )
    (flagged,) = result.flagged
    assert {f"{f.check}:{f.code}" for f in flagged.findings} >= {"finite:nonfinite"}
    assert any("1 NaN of 8,388,608 values" in f.message for f in flagged.findings)
    assert peak < size / 4, f"peak {peak:,} bytes for a {size:,}-byte array"


def test_block_means_of_a_very_wide_array_are_summed_in_slices():
    """A one-row array of 2M values: summed over rows for its whole width at once, the row sums
    were 16 x 2M float64 (256 MB); in slices, a few MB. The means are the same, to rounding."""
    array = np.random.default_rng(0).integers(0, 256, (1, 2_000_000, 1), dtype=np.uint8)
    means, peak = peak_bytes(lambda: block_mean(array, 16))
    expected = array[0, :, 0].reshape(16, -1).mean(axis=1)
    np.testing.assert_allclose(means[0, :, 0], expected, rtol=1e-6)
    assert np.all(means == means[:1])  # every grid row averages the one row
    assert peak < 16 * MB


def multipage_float_tiff(frames: list[np.ndarray]) -> bytes:
    images = [Image.fromarray(frame, mode="F") for frame in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="TIFF", save_all=True, append_images=images[1:], compression="tiff_adobe_deflate")
    return buffer.getvalue()


def test_a_multipage_float_tiff_is_checked_one_frame_at_a_time(tmp_path, config):
    """12 frames of 4 MB compressed to a few KB: NaN and Inf in the last frames are found, and the
    peak is that of the first frame (kept as the sample's pixels, copied once on the way) whatever
    the frame count: every frame was kept until the finite check ran."""
    frames = [np.full((1024, 1024), float(index), np.float32) for index in range(12)]
    frames[10][100, 100] = np.nan
    frames[11][0, 0] = np.inf
    path = tmp_path / "stack.tif"
    path.write_bytes(multipage_float_tiff(frames))
    assert path.stat().st_size < frames[0].nbytes / 4
    loaded, peak = peak_bytes(lambda: load_local(path, config))
    assert loaded.info.frames == 12
    assert [f.message for f in check_finite(loaded, config)] == ["1 NaN, 1 +Inf of 12,582,912 values"]
    assert peak < 2.5 * frames[0].nbytes, f"peak {peak:,} bytes, one frame is {frames[0].nbytes:,}"


def test_the_per_pixel_loss_of_a_big_mask_is_counted_in_slices(config):
    """A 4096 x 4096 mask (16 MB of uint8): its labels and grid cells as int64 were 8x its size each."""
    from sanitize.probe.segment import pixel_loss

    seg = ScanConfig(num_classes=3, task="segmentation")
    index_map = np.random.default_rng(0).integers(0, 4, (4096, 4096), dtype=np.uint8)  # 3: out of range
    grid_input = np.zeros(3 * seg.probe_grid**2, np.float32)
    (_, loss, valid), peak = peak_bytes(lambda: pixel_loss(grid_input, index_map, seg))
    assert valid == int((index_map < 3).sum())
    assert loss == pytest.approx(np.log(3))  # zero inputs: uniform softmax over 3 classes
    assert peak < index_map.nbytes / 2


def test_the_regions_of_a_big_mask_are_found_a_band_at_a_time():
    """A 4096 x 4096 mask: the neighbour comparisons were five boolean masks of its size at once."""
    from sanitize.load.mask import region_values

    index_map = np.zeros((4096, 4096), np.uint8)
    index_map[::2] = 1  # stripes: no region of 1 or 0 ...
    index_map[4000:4003, 10:13] = 2  # ... but one 3 x 3 square of 2, near the bottom
    regions, peak = peak_bytes(lambda: region_values(index_map))
    assert regions == (2,)
    assert peak < index_map.nbytes / 2
