/* sanitize/load/dc_grid.py's step check in C: strongest_step (sanitize/load/steps.py) on one
 * component's DC-grid steps, run by the _entropy module on the grids it has just decoded (see
 * _grid_step.h).
 *
 * On a clean photograph the cheap gates stop nearly every plane; in numpy they cost about 25 us a
 * plane and the full judgement of a plane they let through about 170 us, mostly the calls' own
 * overhead on arrays of a few thousand values: as much as the decode itself on a small photo. Here
 * the whole check costs a few microseconds. It follows the numpy code step for step, in float32 where
 * it is float32: the medians are the same values (a radix selection, numpy.partition's k-th), the
 * other sums add up in another order (numpy's are pairwise), which moves a score by about 1e-6 of
 * itself; where scores tie, the candidates kept may differ (numpy.argpartition leaves ties to its
 * algorithm). tests/test_entropy.py holds the two to the same steps on clean and damaged files.
 */
#include "_grid_step.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* steps.py _coarse for one plane: how likely each start j + cols is (`scores`, boundaries x cols - cols
 * of them, when not NULL), and the largest: the differences `flat` (boundaries x cols) scaled by their
 * own mean absolute value, clipped to 1, summed cumulatively into `sums` (boundaries x cols + 1); a
 * window of `cols` against the rest of its two boundaries, 0 at a row's first MCU. The mean is summed
 * four ways at once and the scale multiplied by its inverse (numpy: pairwise, and divided). */
static float coarse_scores(const float *flat, size_t boundaries, size_t cols, float *sums, float *scores) {
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
        if (scores)
            scores[boundary * cols] = 0.0f;
        for (size_t j = 1; j < cols; j++) {
            float coarse = fabsf(2.0f * (from[j + cols] - from[j]) - pair);
            best = coarse > best ? coarse : best;
            if (scores)
                scores[boundary * cols + j] = coarse;
        }
    }
    return best;
}

static int compare_longs(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The most convincing start among the `count` of `starts` (sorted, none at a row's first MCU), judged
 * as strongest_step does: the upper medians of its window (the offset) and of the rest of its two
 * boundaries (the level), their spread, a two-sample t statistic, and the window turning the corner. */
static void best_start(const float *flat, size_t cols, const long *starts, size_t count, uint32_t *keys,
                       GridStep *out) {
    float *window = malloc(2 * cols * sizeof(float)), *rest = window ? window + cols : NULL;
    out->found = 0;
    if (!window)
        return;
    double best = -INFINITY;
    for (size_t n = 0; n < count; n++) {
        size_t start = (size_t)starts[n], boundary = start / cols, into = start % cols;
        for (size_t c = 0; c < cols; c++) {
            window[c] = flat[start + c];
            rest[c] = flat[boundary * cols + c + (c < into ? 0 : cols)];
        }
        float offset = kth_smallest(window, cols, cols / 2, keys), level = kth_smallest(rest, cols, cols / 2, keys);
        float spread = 0.0f;
        for (size_t c = 0; c < cols; c++)
            spread += fabsf(window[c] - offset) + fabsf(rest[c] - level);
        spread /= (float)(2 * cols);
        float sign = (float)((offset > 0.0f) - (offset < 0.0f));
        double upper = 0.0, lower = 0.0; /* the window's parts on the upper and the lower boundary */
        for (size_t c = 0; c < cols; c++)
            *(c < cols - into ? &upper : &lower) += (double)(window[c] * sign);
        double parts = fmin(upper / (double)(cols - into), lower / (double)into);
        if (parts < 0.5 * (double)fabsf(offset))
            continue; /* a natural edge along one boundary does not turn the corner */
        double strength = (double)(fabsf(offset) - 2.0f * fabsf(level)) /
                          ((double)(1.25f * spread + 0.5f) * sqrt(2.0 / (double)cols));
        if (strength > best) { /* the first of equals, as numpy.argmax */
            best = strength;
            *out = (GridStep){.found = 1, .start = (long)start + (long)cols, .offset = offset, .strength = strength};
        }
    }
    free(window);
}

/* strongest_step(steps, around=0) of one plane (boundaries x cols), gated: `out` says whether a start
 * was judged and, if so, the best. 0, or -1 when out of memory. */
static int judge_plane(const float *steps, size_t boundaries, size_t cols, const GridCheck *check, GridStep *out) {
    size_t length = boundaries * cols, scored = length - cols;
    out->found = 0;
    long *starts = malloc((size_t)check->candidates * sizeof(long) + (4 * length + 1 + boundaries) * sizeof(float));
    if (!starts)
        return -1;
    float *flat = (float *)(starts + check->candidates), *sums = flat + length, *levels = sums + length + 1,
          *scores = levels + boundaries;
    uint32_t *keys = (uint32_t *)(scores + length);
    /* the raw gate: the differences less the plane's median */
    float median = kth_smallest(steps, length, length / 2, keys);
    for (size_t i = 0; i < length; i++)
        flat[i] = steps[i] - median;
    if (coarse_scores(flat, boundaries, cols, sums, NULL) < check->raw_gate * (float)cols)
        goto done;
    /* each boundary less the median of its own and its 3 neighbours' levels either side (_levelled) */
    for (size_t b = 0; b < boundaries; b++)
        levels[b] = kth_smallest(steps + b * cols, cols, cols / 2, keys);
    for (size_t b = 0; b < boundaries; b++) {
        float nearby[7];
        for (int k = 0; k < 7; k++) {
            long at = (long)b + k - 3;
            nearby[k] = levels[at < 0 ? 0 : (at >= (long)boundaries ? (long)boundaries - 1 : at)];
        }
        float level = kth_smallest(nearby, 7, 3, keys);
        for (size_t x = 0; x < cols; x++)
            flat[b * cols + x] = steps[b * cols + x] - level;
    }
    /* the coarse gate, then the `candidates` likeliest starts (the first of equals) */
    if (coarse_scores(flat, boundaries, cols, sums, scores) < check->coarse_gate * (float)cols)
        goto done;
    size_t count = 0, wanted = (size_t)check->candidates < scored ? (size_t)check->candidates : scored;
    for (size_t j = 0; j < scored; j++) {
        if (count == wanted && scores[j] <= scores[starts[count - 1]])
            continue;
        size_t at = count < wanted ? count++ : count - 1; /* insert j, the list kept by score, highest first */
        while (at > 0 && scores[starts[at - 1]] < scores[j]) {
            starts[at] = starts[at - 1];
            at--;
        }
        starts[at] = (long)j;
    }
    /* as starts: within [1, scored - 1], sorted, once each, none at a row's first MCU (np.unique) */
    for (size_t n = 0; n < count; n++)
        starts[n] = starts[n] < 1 ? 1 : (starts[n] > (long)scored - 1 ? (long)scored - 1 : starts[n]);
    qsort(starts, count, sizeof(long), compare_longs);
    size_t kept = 0;
    for (size_t n = 0; n < count; n++)
        if ((kept == 0 || starts[n] != starts[kept - 1]) && starts[n] % (long)cols != 0)
            starts[kept++] = starts[n];
    best_start(flat, cols, starts, kept, keys, out);
done:
    free(starts);
    return 0;
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

int grid_step(const int32_t *dc, const float *top, const float *bottom, size_t stride, int dc_step, size_t h, size_t v,
              size_t rows, size_t cols, const GridCheck *check, int luma, GridStep *out) {
    size_t boundaries = rows - 1, width = cols * h, flat = 0;
    float *steps = malloc(boundaries * width * sizeof(float));
    if (!steps)
        return -1;
    grid_steps(dc, top, bottom, stride, (float)(dc_step / 8.0), h, v, rows, cols, steps);
    for (size_t i = 0; luma && i < boundaries * width; i++)
        flat += fabsf(steps[i]) < 0.5f;
    out->drawn = luma && (double)flat >= (double)check->drawn * (double)(boundaries * width);
    int status = out->drawn ? (out->found = 0) : judge_plane(steps, boundaries, width, check, out);
    free(steps);
    return status;
}
