/* sanitize/load/dc_grid.py's step check on one component's DC grid (sanitize/load/_grid_step.c), for
 * sanitize/load/_entropy.c. */
#ifndef SANITIZE_GRID_STEP_H
#define SANITIZE_GRID_STEP_H

#include <stddef.h>
#include <stdint.h>

/* The check's parameters: sanitize/load/steps.py's RAW_GATE, COARSE_GATE, MIN_ROWS, MIN_COLS and
 * CANDIDATES, and dc_grid.py's DRAWN, handed over by dc_grid.py (STEP_CHECK). */
typedef struct {
    float raw_gate, coarse_gate;
    int min_rows, min_cols, candidates;
    float drawn;
} GridCheck;

/* The strongest start of a plane: `start` indexes the plane's blocks of whole MCU rows (row x cols x h
 * + block column), from the second row on. */
typedef struct {
    int drawn; /* luma only: the share DRAWN of its steps or more is flat, and nothing was judged */
    int found;
    long start;
    float offset;
    double strength;
} GridStep;

/* strongest_step(around=0) on one component's steps, dc_grid.py grid_steps': at each MCU row boundary,
 * the level (DC x dc_step / 8) plus top edge of the block below, less the level plus bottom edge of the
 * block above, over the first rows x v and cols x h blocks of arrays `stride` blocks wide. `out->found`
 * is 0 where the gates stop the plane or no start turns the corner, or, for the `luma` plane, where the
 * picture is drawn (dc_grid.py drawn). 0, or -1 when out of memory. */
int grid_step(const int32_t *dc, const float *top, const float *bottom, size_t stride, int dc_step, size_t h, size_t v,
              size_t rows, size_t cols, const GridCheck *check, int luma, GridStep *out);

#endif
