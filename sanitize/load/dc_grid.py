"""Concealed JPEG corruption as a step at the block boundaries, judged on what the entropy decoding gives.

A wrong DC difference shifts every later block of its component by one offset (ITU-T T.81
F.1.1.5.1). At each MCU row boundary of a component's own block grid, the step from the bottom
edge of the block above to the top edge of the block below, less the gradient just inside either,
carries that offset on the `cols` blocks from the damage on and nothing on the rest of those two
boundaries, while a photograph's own gradients seldom jump exactly at a block boundary. That is the
statistic sanitize/load/steps.py's stage 2 measures on a full-size decode (`edge_steps`); here it
comes from each block's DC value and the two edge sums the compiled decoder adds up in its pass
(sanitize/load/_entropy.c), at no decode of its own, and `strongest_step` judges its pattern.

Measured on the seeded flips of benchmarks/concealed_jpeg.py (benchmarks/concealed_dcgrid.py, where
the thresholds were chosen on seeds 1 and 3): with the entropy marks, 82.0% of the flips that
visibly damage more than 1% (seed 0), and no false positive on the 4,800 clean files of seeds 0-3
or the corpus JPEGs. The thresholds are thinnest on document-like pictures (a tilted text line).
"""

from __future__ import annotations

import numpy as np

from sanitize.load.entropy import Plane
from sanitize.load.steps import (
    CANDIDATES,
    COARSE_GATE,
    MIN_COLS,
    MIN_ROWS,
    MIN_SHIFT,
    RAW_GATE,
    Step,
    strongest_step,
)

#: A step shifting its component by less than LARGE_SHIFT levels is reported from strength GRID_STEP;
#: a larger one from LARGE_STEP: natural edges of tens of levels (a text line on paper) reach a step's
#: pattern more often than a photograph's fainter ones. Every clean file of seeds 1 and 3 above
#: strength 5 had an offset of 40 levels or more (all but one a crop of scikit-image's `page`), every
#: flip only this check found one of at most 23; one threshold of 10.5 for all offsets found 80.3%.
GRID_STEP, LARGE_SHIFT, LARGE_STEP = 7.0, 32.0, 10.5
#: A picture at least this share of whose luma steps are flat (under half a level) is drawn, not
#: photographed: graphics drawn on the grid (boxes, bands, posterised gradients) put their edges on MCU
#: boundaries, where the check cannot tell an edge from damage, and it is left to the marks. Clean real
#: photographs of seed 0: a median share of 0.20, 0.63 at the 90th percentile; graphics of
#: benchmarks/concealed_graphics.py: 0.90, 0.55 at the 10th; a flip the check found: 0.56 at most. It
#: took the graphics' false positives from 1.2% and 2.3% (seeds 0 and 1) to 0.1% and 0.6%, and lost no
#: flip of seeds 0 and 2 (benchmarks/concealed_jpeg.py).
DRAWN = 0.7
#: The check's parameters for the compiled decoder, which runs it on the planes as it makes them
#: (`entropy_decode(step_check=STEP_CHECK)`, sanitize/load/_grid_step.c): in numpy, the gates cost about
#: 25 us a plane and the judgement of a plane they let through about 170 us, as much as the decode of a
#: small photo; in C the whole check costs a few microseconds. tests/test_entropy.py holds the two alike.
STEP_CHECK = (RAW_GATE, COARSE_GATE, MIN_ROWS, MIN_COLS, CANDIDATES, DRAWN)


def whole_mcus(planes: list[Plane], size: tuple[int, int]) -> tuple[int, int, list[tuple[int, int]]] | None:
    """(rows, cols, sampling) of the whole MCUs (the last partial row and column left out; a
    one-component scan's MCU is one block, T.81 A.2.2); None under MIN_ROWS x MIN_COLS."""
    sampling = [(1, 1)] if len(planes) == 1 else [(plane.h, plane.v) for plane in planes]
    wide, tall = max(h for h, _ in sampling), max(v for _, v in sampling)
    rows, cols = size[1] // (8 * tall), size[0] // (8 * wide)
    return (rows, cols, sampling) if rows >= MIN_ROWS and cols >= MIN_COLS else None


def grid_steps(plane: Plane, sampling: tuple[int, int], grid: tuple[int, int], *, edges: bool = True) -> np.ndarray:
    """The steps strongest_step judges, (rows - 1, cols x h, 1): at each MCU row boundary of a plane of
    `sampling` (h, v) in a `grid` of (rows, cols) whole MCUs, the level of the block below (its DC, in
    levels) plus its top edge, less the level of the block above plus its bottom edge (without
    `edges`, the DC levels alone)."""
    (h, v), (rows, cols) = sampling, grid
    level = plane.dc[: rows * v, : cols * h].astype(np.float32) * (plane.dc_step / 8)
    below, above = level[v::v], level[v - 1 : -1 : v]
    if edges:
        below = below + plane.top[v : rows * v : v, : cols * h]
        above = above + plane.bottom[v - 1 : rows * v - 1 : v, : cols * h]
    return (below - above)[..., None]


def drawn(luma_steps: np.ndarray) -> bool:
    """Whether a picture is drawn, not photographed (see DRAWN), from its luma's `grid_steps`."""
    return float(np.mean(np.abs(luma_steps) < 0.5)) >= DRAWN


def strongest_reported(
    found: list[Step], *, threshold: float = GRID_STEP, large: tuple[float, float] = (LARGE_SHIFT, LARGE_STEP)
) -> Step | None:
    """The strongest of the planes' steps `found` strong enough to report, or None: shifting its
    component by MIN_SHIFT levels or more, from strength `threshold`, or, shifting it by `large[0]`
    levels or more, from `large[1]`."""
    reported = [
        step
        for step in found
        if abs(step.offset) >= MIN_SHIFT
        and step.strength >= (threshold if abs(step.offset) < large[0] else max(threshold, large[1]))
    ]
    return max(reported, key=lambda step: step.strength, default=None)


def dc_grid_step(
    planes: list[Plane],
    size: tuple[int, int],
    *,
    threshold: float = GRID_STEP,
    large: tuple[float, float] = (LARGE_SHIFT, LARGE_STEP),
    gated: bool = True,
    edges: bool = True,
) -> Step | None:
    """The strongest step the planes of a JPEG of `size` (width, height) show that is strong enough
    to report (`strongest_reported`), or None; its row and column are the MCU's where the damage
    starts, its plane the component's. `gated` puts strongest_step's cheap gates first (half the cost,
    no flip of seed 0 lost); without `edges`, the DC values alone (measured far weaker). Not judged, as
    in steps.py's stage 1: grids under MIN_ROWS x MIN_COLS MCUs, steps starting at a row's first block
    or in the first or last MCU row, nor a `drawn` picture; with restart markers a step ends at the next
    one, which this does not model. The scan runs it compiled (STEP_CHECK, `compiled_grid_step`)."""
    grid = whole_mcus(planes, size)
    if grid is None:
        return None
    rows, cols, sampling = grid
    steps = [
        grid_steps(plane, factors, (rows, cols), edges=edges) for plane, factors in zip(planes, sampling, strict=True)
    ]
    if drawn(steps[0]):
        return None
    found = []
    for index, ((h, _), plane_steps) in enumerate(zip(sampling, steps, strict=True)):
        step = strongest_step(plane_steps, around=0, gated=gated)
        if step is not None:
            found.append(Step(step.row, step.column // h, index, step.offset, step.strength, (rows, cols)))
    return strongest_reported(found, threshold=threshold, large=large)


def compiled_grid_step(checked: tuple[int, int, list[tuple[int, int, int, float, float]]]) -> Step | None:
    """dc_grid_step's answer from the compiled decoder's run of the check (Entropy.step_check: MCU rows,
    MCU columns, and per plane where a step was found, its plane, row, column, offset and strength)."""
    rows, cols, found = checked
    return strongest_reported(
        [Step(row, column, plane, offset, strength, (rows, cols)) for plane, row, column, offset, strength in found]
    )
