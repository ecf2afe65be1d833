/* strongest_step's two cheap gates (sanitize/load/steps.py) on one component's DC-grid steps
 * (sanitize/load/dc_grid.py), in C: part of the _entropy module, which runs them on the grids it has
 * just decoded (see _gates.h).
 *
 * On a clean photograph the gates stop nearly every plane, and in numpy they cost about 25 us a plane,
 * mostly the calls' own overhead on arrays of a few thousand values: as much as a third of what the
 * scan spends on a photo. Here they cost a few microseconds. They follow the numpy code step for step,
 * in float32 as it does: the medians are the same values; only the sum that scales the differences
 * adds up in another order (numpy's is pairwise), which moves a score by about 1e-6 of itself. So a
 * plane is let through when its score is within MARGIN of a gate, and numpy then judges it exactly:
 * what is reported is what the numpy code alone reports.
 */
#include "_gates.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A score this close under a gate still goes on to numpy (see above). */
#define MARGIN 0.99f

/* The k-th smallest of values[0..count) (numpy.partition's value at k); the array is reordered. */
static float kth_smallest(float *values, size_t count, size_t k) {
    size_t low = 0, high = count - 1;
    while (high > low) {
        /* the median of three as the pivot, then Hoare's partition */
        size_t middle = low + (high - low) / 2;
        float a = values[low], b = values[middle], c = values[high];
        float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        size_t i = low, j = high;
        while (i <= j) {
            while (values[i] < pivot)
                i++;
            while (values[j] > pivot)
                j--;
            if (i <= j) {
                float swap = values[i];
                values[i] = values[j];
                values[j] = swap;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            high = j;
        else if (k >= i)
            low = i;
        else
            return values[k];
    }
    return values[k];
}

/* steps.py _coarse's largest value for one plane: the differences `flat` (length = boundaries x cols)
 * scaled by their own mean absolute value, clipped to 1, summed cumulatively into `sums` (length + 1);
 * a window of `cols` against the rest of its two boundaries. */
static float coarse_max(const float *flat, size_t length, size_t cols, float *sums) {
    float total = 0.0f;
    for (size_t i = 0; i < length; i++)
        total += fabsf(flat[i]);
    float scale = total * (float)(1.5 / (double)length);
    scale = scale > 1.0f ? scale : 1.0f;
    sums[0] = 0.0f;
    for (size_t i = 0; i < length; i++) {
        float clipped = flat[i] / scale;
        clipped = clipped < -1.0f ? -1.0f : (clipped > 1.0f ? 1.0f : clipped);
        sums[i + 1] = sums[i] + clipped;
    }
    float best = 0.0f;
    for (size_t j = 0; j + cols < length; j++) {
        if (j % cols == 0)
            continue;
        size_t boundary = j / cols;
        float window = sums[cols + j] - sums[j];
        float pair = sums[(boundary + 2) * cols] - sums[boundary * cols];
        float coarse = fabsf(2.0f * window - pair);
        best = coarse > best ? coarse : best;
    }
    return best;
}

static int compare_floats(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int passes(const float *steps, size_t boundaries, size_t cols, float raw_gate, float coarse_gate) {
    size_t length = boundaries * cols;
    float *work = malloc((2 * length + 1 + boundaries) * sizeof(float));
    if (!work)
        return -1;
    float *flat = work, *sums = work + length, *levels = work + 2 * length + 1;
    int verdict = 1;
    /* the raw gate: the differences less the plane's median (steps.py strongest_step) */
    memcpy(flat, steps, length * sizeof(float));
    float median = kth_smallest(flat, length, length / 2);
    for (size_t i = 0; i < length; i++)
        flat[i] = steps[i] - median;
    if (coarse_max(flat, length, cols, sums) < MARGIN * raw_gate * (float)cols) {
        verdict = 0;
        goto done;
    }
    /* the coarse gate: each boundary less the median of its own and its 3 neighbours' levels either side
     * (steps.py _levelled) */
    for (size_t b = 0; b < boundaries; b++) {
        memcpy(flat, steps + b * cols, cols * sizeof(float));
        levels[b] = kth_smallest(flat, cols, cols / 2);
    }
    for (size_t b = 0; b < boundaries; b++) {
        float nearby[7];
        for (int k = 0; k < 7; k++) {
            long at = (long)b + k - 3;
            nearby[k] = levels[at < 0 ? 0 : (at >= (long)boundaries ? (long)boundaries - 1 : at)];
        }
        qsort(nearby, 7, sizeof(float), compare_floats);
        for (size_t x = 0; x < cols; x++)
            flat[b * cols + x] = steps[b * cols + x] - nearby[3];
    }
    verdict = coarse_max(flat, length, cols, sums) >= MARGIN * coarse_gate * (float)cols;
done:
    free(work);
    return verdict;
}

static void grid_steps(const int32_t *dc, const float *top, const float *bottom, size_t stride, float dc_scale,
                       size_t h, size_t v, size_t rows, size_t cols, float *steps) {
    size_t width = cols * h;
    for (size_t r = 0; r + 1 < rows; r++) {
        size_t below = (r + 1) * v, above = below - 1;
        for (size_t x = 0; x < width; x++) {
            float lower = (float)dc[below * stride + x] * dc_scale + top[below * stride + x];
            float upper = (float)dc[above * stride + x] * dc_scale + bottom[above * stride + x];
            steps[r * width + x] = lower - upper;
        }
    }
}

int grid_gates(const int32_t *dc, const float *top, const float *bottom, size_t stride, int dc_step, size_t h,
               size_t v, size_t rows, size_t cols, float raw_gate, float coarse_gate) {
    size_t boundaries = rows - 1, width = cols * h;
    float *steps = malloc(boundaries * width * sizeof(float));
    if (!steps)
        return -1;
    grid_steps(dc, top, bottom, stride, (float)(dc_step / 8.0), h, v, rows, cols, steps);
    int verdict = passes(steps, boundaries, width, raw_gate, coarse_gate);
    free(steps);
    return verdict;
}
