"""Concealed JPEG corruption seen as a step: damage libjpeg-turbo decodes without a word, in the DC grid.

A flipped bit in a JPEG's entropy-coded data is caught by strict decoding only when it breaks
the Huffman stream; otherwise the decoder resynchronises and returns a damaged picture silently.
The damage that matters has one shape: JPEG codes each block's DC coefficient as the difference
from the previous block's (ITU-T T.81, F.1.1.5.1), so a wrong DC difference, from a flipped
magnitude bit or from the garbage decoded while the stream is out of step, shifts every later DC
value of that component until the next restart marker, which resets the prediction (T.81 F.1.1.5.1,
Annex B.2.1). The result is a step of one constant offset that starts at one MCU and persists, in
MCU order, to the end of the restart interval: a brightness or colour shift from the middle of an
MCU row to the end of the image.

The scan already decodes JPEGs DCT-downscaled, which at scale 1/8 keeps exactly one pixel per
block, its DC; so stage 1 works on those pixels: MCU means, the vertical differences between
consecutive MCU rows in raster order, and the signature of a step starting at MCU m: the `cols`
differences from m on all carry one offset, the rest of the two row boundaries they straddle
none. A picture's own edges seldom do that, but a DC grid is coarse, so only when stage 1 finds
such a step is the file decoded again at full size, where stage 2 judges steps at the MCU
boundaries themselves, against the picture's one-pixel gradients: near stage 1's and anywhere
else. Measured recall, false positives and cost: docs/checks.md and docs/performance.md, from
benchmarks/concealed_jpeg.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import simplejpeg

#: JPEG markers: start of frame (baseline, extended, progressive; Huffman only), restart
#: interval, start of scan.
_SOF = {0xC0, 0xC1, 0xC2}
_DRI, _SOS = 0xDD, 0xDA
#: Grids smaller than this many MCUs are not judged: too few to tell a step from the picture.
MIN_ROWS, MIN_COLS = 4, 6
#: The coarse score (2 x window - both boundaries, in clipped units per MCU column, 0 to 4) a DC grid
#: needs to be judged at all: first on its differences less each plane's median (the cheapest test: 4
#: in 10 clean photographs stop there, and every photo-like JPEG of benchmarks/scan_throughput.py),
#: then on its differences levelled boundary by boundary (about 2 in 3 stop by then). With the first gate alone, at
#: 0.6, twice as many clean files went on to stage 2 for no more flips found; with the second alone,
#: the levelling cost every file 40% more (benchmarks/concealed_jpeg.py's files, other seeds than
#: those of docs/checks.md).
RAW_GATE, COARSE_GATE = 0.6, 0.8
#: Starts judged robustly per plane: the best this many by the coarse score. The single best is often
#: a natural edge's, not the damage's: 12 starts rather than 1 (and stage 2's own search) raised the
#: share of visibly damaging flips found from about 28% to 36-40%, with fewer clean files in stage 2.
CANDIDATES = 12


@dataclass(frozen=True)
class Frame:
    """What the detector needs from a JPEG's header."""

    width: int
    height: int
    #: (horizontal, vertical) sampling factors per component.
    sampling: tuple[tuple[int, int], ...]
    #: MCUs per restart interval (0: no restart markers).
    restart_interval: int


def read_frame(data: bytes) -> Frame | None:
    """The frame header and restart interval, read up to the first scan; None if not understood."""
    pos, size = 2, len(data)
    sampling: tuple[tuple[int, int], ...] = ()
    width = height = restart = 0
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        body = data[pos + 4 : pos + 2 + length]
        if marker in _SOF and len(body) >= 6:
            height, width, count = int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big"), body[5]
            sampling = tuple(
                (body[7 + 3 * i] >> 4, body[7 + 3 * i] & 15) for i in range(count) if 8 + 3 * i < len(body)
            )
        elif marker == _DRI and len(body) >= 2:
            restart = int.from_bytes(body[:2], "big")
        elif marker == _SOS:
            break
        pos += 2 + length
    if not sampling or width == 0 or height == 0:
        return None
    return Frame(width, height, sampling, restart)


#: JFIF's RGB to YCbCr (ITU-T T.871 section 7) as a matrix, offsets left out: only differences matter.
_TO_YCBCR = np.array(
    [[0.299, -0.168736, 0.5], [0.587, -0.331264, -0.418688], [0.114, 0.5, -0.081312]], dtype=np.float32
)


def components(pixels: np.ndarray) -> np.ndarray:
    """(height, width, planes) float32: grey as it is, RGB back to YCbCr."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    values = pixels.astype(np.float32, copy=False)
    return values @ _TO_YCBCR if values.shape[2] == 3 else values


def _mcu_shape(pixels: np.ndarray, frame: Frame) -> tuple[int, int, int, int] | None:
    """(rows, cols, mcu height, mcu width) of the whole MCUs in pixels decoded at scale n/8; None if too few."""
    block = round(8 * pixels.shape[1] / frame.width)  # output pixels per 8 input pixels
    wide, tall = (
        (1, 1) if len(frame.sampling) == 1 else (max(h for h, _ in frame.sampling), max(v for _, v in frame.sampling))
    )
    # a single-component scan's MCU is one block (T.81 A.2.2); the last MCU row and column may be padding
    rows, cols = frame.height // (8 * tall), frame.width // (8 * wide)
    if block < 1 or rows < MIN_ROWS or cols < MIN_COLS:
        return None
    if rows * block * tall > pixels.shape[0] or cols * block * wide > pixels.shape[1]:
        return None  # a header that does not match the pixels: not judged
    return rows, cols, block * tall, block * wide


def _sum_blocks(values: np.ndarray, rows: int, cols: int, height: int, width: int) -> np.ndarray:
    """The sums of `values` over a grid of height x width blocks, by adding strided slices (numpy's
    reductions over inner axes of a small array cost ten times more)."""
    whole = values[: rows * height, : cols * width].astype(np.float32)
    total = whole[::height]
    for k in range(1, height):
        total = total + whole[k::height]
    summed = total[:, ::width]
    for k in range(1, width):
        summed = summed + total[:, k::width]
    return summed


def dc_steps(pixels: np.ndarray, frame: Frame) -> np.ndarray | None:
    """Between each pair of vertically adjacent MCUs, the difference of their means, per component:
    (rows - 1, cols, planes). At scale 1/8 a pixel is a block's DC, so this is a DC difference."""
    shape = _mcu_shape(pixels, frame)
    if shape is None:
        return None
    rows, cols, mcu_h, mcu_w = shape
    grid = components(_sum_blocks(pixels, rows, cols, mcu_h, mcu_w) / (mcu_h * mcu_w))
    return grid[1:] - grid[:-1]


def edge_steps(pixels: np.ndarray, frame: Frame) -> np.ndarray | None:
    """The same at full size, at the MCU boundary itself: the step from an MCU's last pixel row to the
    next one's first, less the mean gradient just inside either, averaged along each MCU's width. A
    DC shift moves every pixel of a block alike, so it stands out here far above a photograph's own
    one-pixel gradients, where a natural edge seldom sits exactly on the boundary."""
    shape = _mcu_shape(pixels, frame)
    if shape is None:
        return None
    rows, cols, mcu_h, mcu_w = shape
    y = np.arange(1, rows) * mcu_h
    around = pixels[np.stack((y - 2, y - 1, y, y + 1), axis=1).ravel(), : cols * mcu_w].astype(np.float32)
    around = around.reshape(rows - 1, 4, cols * mcu_w, -1)
    above, last, first, below = (around[:, k] for k in range(4))
    step = 1.5 * (first - last) - 0.5 * (below - above)  # (first - last) - ((last - above) + (below - first)) / 2
    # linear throughout: averaged along each MCU's width first, then turned to YCbCr (far fewer values)
    return components(step.reshape(rows - 1, cols, mcu_w, -1).mean(axis=2))


@dataclass(frozen=True)
class Step:
    """A shift of one component by `offset` levels from the MCU at (row, column) on, in an MCU grid of `shape`."""

    row: int
    column: int
    plane: int
    offset: float
    #: How far the shift stands out of the picture's own differences (a robust t statistic).
    strength: float
    shape: tuple[int, int]


def _coarse(flat: np.ndarray, cols: int) -> np.ndarray:
    """How likely each start is (as the index j of MCU j + cols), per plane, in one pass of cumulative
    sums: the sum of a window against the rest of its two boundaries, each difference clipped to a
    scale of its plane's own so that no single edge dominates, and a picture's gradient cancels."""
    length = flat.shape[1]
    scale = np.maximum(np.abs(flat).sum(axis=1, keepdims=True) * (1.5 / length), 1.0)
    sums = np.zeros((flat.shape[0], length + 1), dtype=np.float32)
    np.cumsum(np.clip(flat / scale, -1.0, 1.0), axis=1, out=sums[:, 1:])
    window = sums[:, cols:length] - sums[:, : length - cols]
    pair = np.repeat(sums[:, 2 * cols :: cols] - sums[:, : length + 1 - 2 * cols : cols], cols, axis=1)
    coarse = np.abs(2 * window - pair)
    coarse[:, ::cols] = 0.0
    return coarse


@cache
def _nearby(boundaries: int) -> np.ndarray:
    """For each boundary, its own index and its 3 neighbours' either side, the ends repeated."""
    return np.clip(np.arange(boundaries)[:, None] + np.arange(-3, 4), 0, boundaries - 1)


def _levelled(steps: np.ndarray) -> np.ndarray:
    """(planes, boundaries x cols) differences, each less its boundary's level (a gradient of the
    picture): the median of its own boundary's and its 3 neighbours' either side, robust to a step
    (which moves one of a pair's levels) and to a band nearby."""
    boundaries, cols, planes = steps.shape
    flat = steps.reshape(-1, planes).T
    by_boundary = flat.reshape(planes, boundaries, cols)
    level = np.partition(by_boundary, cols // 2, axis=2)[..., cols // 2]
    smooth = np.partition(level[:, _nearby(boundaries)], 3, axis=2)[..., 3]
    return (by_boundary - smooth[..., None]).reshape(planes, -1)


def strongest_step(steps: np.ndarray, around: int, near: Step | None = None, gated: bool = True) -> Step | None:
    """The most convincing step in (rows - 1, cols, planes) differences between MCU rows, within
    `around` MCUs of each plane's CANDIDATES most likely starts (none if `gated` and their coarse
    scores are under RAW_GATE or COARSE_GATE), or of `near`'s (a step found on another grid).

    A step starting at MCU m = (r, c) adds its offset to the `cols` differences from m on in raster
    order (row boundary r - 1 from column c, boundary r before it) and to nothing else on those
    two boundaries. Each candidate is judged robustly on every plane: the median of its window (the
    offset) against the median of the rest of its two boundaries (which must stay near 0: a natural
    band, a text line, moves both boundaries), each boundary's values less the level of the boundary
    beyond it (a gradient of the picture), in units of the spread of both around their medians, as
    a two-sample t statistic; and the window must turn the corner, its part on either boundary
    carrying the offset. A step at a row's first MCU is a horizontal edge to this test and is not
    judged, nor one in the first or last MCU row.
    """
    boundaries, cols, planes = steps.shape
    if gated and near is None:  # the cheap gate: on the differences less each plane's median (a plain gradient)
        raw, half = steps.reshape(-1, planes).T, boundaries * cols // 2
        if _coarse(raw - np.partition(raw, half, axis=1)[:, half : half + 1], cols).max() < RAW_GATE * cols:
            return None
    flat = _levelled(steps)  # flat[p, i]: MCU i + cols against the one above, less its boundary's level
    if near is None:
        coarse = _coarse(flat, cols)
        if gated and coarse.max() < COARSE_GATE * cols:
            return None
        count = min(CANDIDATES, coarse.shape[1])
        centres = np.argpartition(coarse, -count, axis=1)[:, -count:].ravel()
    else:
        centres = np.array([near.row * cols + near.column - cols])
    starts = np.unique(np.clip(centres[:, None] + np.arange(-around, around + 1), 1, flat.shape[1] - cols - 1))
    starts = starts[starts % cols != 0]
    if starts.size == 0:
        return None
    column = np.arange(cols)
    inside = starts[:, None] + column  # the window of start m: flat[m - cols : m]
    rest = (starts // cols * cols)[:, None] + np.where(column < starts[:, None] % cols, column, column + cols)
    values = flat[:, np.stack((inside, rest))]  # (planes, window or rest, candidates, cols)
    middle = np.partition(values, cols // 2, axis=3)[..., cols // 2 : cols // 2 + 1]  # the (upper) medians
    spread = np.abs(values - middle).sum(axis=(1, 3)) / (2 * cols)
    offset, level = middle[:, 0, :, 0], middle[:, 1, :, 0]
    strength = (np.abs(offset) - 2 * np.abs(level)) / ((1.25 * spread + 0.5) * np.sqrt(2 / cols))
    # the window turns the corner: its part on each boundary carries the offset (a natural edge along
    # one boundary, nearly the whole window, does not turn it), each part's mean at least half of it
    upper = column < cols - (starts % cols)[:, None]  # the window's part on the upper boundary
    window = values[:, 0] * np.sign(offset)[..., None]
    parts = np.minimum(
        np.where(upper, window, 0).sum(axis=2) / upper.sum(axis=1),
        np.where(upper, 0, window).sum(axis=2) / (~upper).sum(axis=1),
    )
    strength = np.where(parts >= 0.5 * np.abs(offset), strength, -np.inf)
    plane, index = np.unravel_index(int(np.argmax(strength)), strength.shape)
    if not np.isfinite(strength[plane, index]):
        return None
    row, col = divmod(int(starts[index]) + cols, cols)
    return Step(
        row, col, int(plane), float(offset[plane, index]), float(strength[plane, index]), (boundaries + 1, cols)
    )


#: Stage 1 on the DC grid: a file whose strongest step is at least this strong is decoded again in
#: full; stage 2 at full size: a step at least this strong there is reported. Chosen on re-encoded
#: real photographs (benchmarks/concealed_jpeg.py's, other seeds than its report's; docs/checks.md):
#: about 1 clean file in 30 goes to stage 2, and no clean file of 2,400 reached 5.4 there.
SUSPICIOUS, CONCEALED = 4.0, 7.0
#: The smallest shift (levels of 255) stage 2 reports: a step of a level or two on a smooth gradient
#: is the quantisation's own banding, not damage, however regular (a clean grey gradient reached
#: strength 7.7 with a shift of 2 levels; found by review, 2026-11-29).
MIN_SHIFT = 4.0


def concealed_step(data: bytes, pixels: np.ndarray) -> Step | None:
    """The step a silently damaged JPEG shows, or None: `pixels` are its strict, DCT-downscaled decode.

    Stage 1 looks for the step in the DC grid those pixels already are; only when one stands out
    is the file decoded again at full size (fast IDCT and upsampling, so that steps stay sharp),
    where stage 2 judges steps at the MCU boundaries themselves, near stage 1's and anywhere.
    """
    frame = read_frame(data)
    if frame is None or len(frame.sampling) not in (1, 3):
        return None
    steps = dc_steps(pixels, frame)
    first = strongest_step(steps, around=0) if steps is not None else None
    if first is None or first.strength < SUSPICIOUS:
        return None
    colorspace = "GRAY" if len(frame.sampling) == 1 else "RGB"
    try:
        full = simplejpeg.decode_jpeg(data, colorspace=colorspace, fastdct=True, fastupsample=True, strict=False)
    except ValueError:  # it decoded strictly a moment ago; whatever this is, the decode check has judged
        return None
    steps = edge_steps(full, frame)
    if steps is None:
        return None
    # near stage 1's step, and anywhere at all: the DC grid often places a step a few MCUs off, or
    # finds a natural edge stronger than the damage it still signals
    found = (strongest_step(steps, around=2, near=first), strongest_step(steps, around=0, gated=False))
    step = max((s for s in found if s is not None), key=lambda s: s.strength, default=None)
    return step if step is not None and step.strength >= CONCEALED and abs(step.offset) >= MIN_SHIFT else None
