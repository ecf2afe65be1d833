/* strongest_step's cheap gates on a DC grid (sanitize/load/_gates.c), for sanitize/load/_entropy.c. */
#ifndef SANITIZE_GATES_H
#define SANITIZE_GATES_H

#include <stddef.h>
#include <stdint.h>

/* Whether one component's DC-grid steps come within 1% of passing strongest_step's raw and coarse gates
 * (1), or are stopped by them (0); -1 when out of memory. The steps are dc_grid.py's: at each MCU row
 * boundary, the level (DC x dc_step / 8) plus top edge of the block below, less the level plus bottom
 * edge of the block above, over the first rows x v and cols x h blocks of arrays `stride` blocks wide. */
int grid_gates(const int32_t *dc, const float *top, const float *bottom, size_t stride, int dc_step, size_t h,
               size_t v, size_t rows, size_t cols, float raw_gate, float coarse_gate);

#endif
