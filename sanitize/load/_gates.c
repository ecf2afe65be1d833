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

/* A float's bits as an unsigned integer in the same order (negative values' bits all flipped, the
 * others' sign bit), and back. */
static inline uint32_t ordered(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits ^ ((uint32_t)((int32_t)bits >> 31) | 0x80000000u);
}

static inline float unordered(uint32_t key) {
    uint32_t bits = key ^ ((key >> 31) ? 0x80000000u : 0xFFFFFFFFu);
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* The k-th smallest of values[0..count) (numpy.partition's value at k), by radix selection over `keys`
 * (count of them, scratch): a pass counts one digit's values and keeps the keys of the one holding rank
 * k. A quickselect's comparisons are unpredictable branches; these passes have none to speak of, which
 * made the gates three times cheaper. Digits of 8 bits for long arrays, of 4 for short ones (a
 * boundary's few dozen values), where a pass costs what its histogram does. */
static float kth_smallest(const float *values, size_t count, size_t k, uint32_t *keys) {
    int bits = count > 256 ? 8 : 4;
    uint32_t mask = (1u << bits) - 1;
    for (size_t i = 0; i < count; i++)
        keys[i] = ordered(values[i]);
    for (int shift = 32 - bits; shift >= 0; shift -= bits) {
        size_t histogram[256];
        memset(histogram, 0, (mask + 1) * sizeof histogram[0]);
        for (size_t i = 0; i < count; i++)
            histogram[(keys[i] >> shift) & mask]++;
        uint32_t digit = 0;
        while (histogram[digit] <= k)
            k -= histogram[digit++];
        size_t kept = 0;
        for (size_t i = 0; i < count; i++) {
            keys[kept] = keys[i];
            kept += ((keys[i] >> shift) & mask) == digit;
        }
        count = kept;
    }
    return unordered(keys[0]);
}

/* steps.py _coarse's largest value for one plane: the differences `flat` (boundaries x cols) scaled by
 * their own mean absolute value, clipped to 1, summed cumulatively into `sums` (boundaries x cols + 1);
 * a window of `cols` against the rest of its two boundaries. The mean is summed four ways at once and
 * the scale multiplied by its inverse: numpy's sums are pairwise, another order again, and both
 * differences are far inside MARGIN. */
static float coarse_max(const float *flat, size_t boundaries, size_t cols, float *sums) {
    size_t length = boundaries * cols, i = 0;
    float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (; i + 4 <= length; i += 4)
        for (int lane = 0; lane < 4; lane++)
            part[lane] += fabsf(flat[i + lane]);
    for (; i < length; i++)
        part[0] += fabsf(flat[i]);
    float scale = ((part[0] + part[1]) + (part[2] + part[3])) * (float)(1.5 / (double)length);
    float inverse = 1.0f / (scale > 1.0f ? scale : 1.0f);
    sums[0] = 0.0f;
    for (i = 0; i < length; i++) {
        float clipped = flat[i] * inverse;
        clipped = clipped < -1.0f ? -1.0f : (clipped > 1.0f ? 1.0f : clipped);
        sums[i + 1] = sums[i] + clipped;
    }
    float best = 0.0f;
    for (size_t boundary = 0; boundary + 1 < boundaries; boundary++) {
        const float *from = sums + boundary * cols; /* the window of start j + 1: from[j] to from[j + cols] */
        float pair = from[2 * cols] - from[0];
        for (size_t j = 1; j < cols; j++) {
            float coarse = fabsf(2.0f * (from[j + cols] - from[j]) - pair);
            best = coarse > best ? coarse : best;
        }
    }
    return best;
}

static int compare_floats(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int passes(const float *steps, size_t boundaries, size_t cols, float raw_gate, float coarse_gate) {
    size_t length = boundaries * cols;
    float *work = malloc((3 * length + 1 + boundaries) * sizeof(float));
    if (!work)
        return -1;
    float *flat = work, *sums = work + length, *levels = work + 2 * length + 1;
    uint32_t *keys = (uint32_t *)(work + 2 * length + 1 + boundaries);
    int verdict = 1;
    /* the raw gate: the differences less the plane's median (steps.py strongest_step) */
    float median = kth_smallest(steps, length, length / 2, keys);
    for (size_t i = 0; i < length; i++)
        flat[i] = steps[i] - median;
    if (coarse_max(flat, boundaries, cols, sums) < MARGIN * raw_gate * (float)cols) {
        verdict = 0;
        goto done;
    }
    /* the coarse gate: each boundary less the median of its own and its 3 neighbours' levels either side
     * (steps.py _levelled) */
    for (size_t b = 0; b < boundaries; b++)
        levels[b] = kth_smallest(steps + b * cols, cols, cols / 2, keys);
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
    verdict = coarse_max(flat, boundaries, cols, sums) >= MARGIN * coarse_gate * (float)cols;
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
