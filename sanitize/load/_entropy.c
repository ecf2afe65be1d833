/* An instrumented JPEG Huffman decoder: what a corrupt stream leaves that libjpeg-turbo decodes silently.
 *
 * Baseline sequential and progressive Huffman JPEG (SOF0/1/2, 8-bit samples), ITU-T T.81 annex F.2.2
 * and G.1.2, doing what libjpeg-turbo's jdhuff.c / jdphuff.c do where the standard leaves a corrupt
 * stream's decoding open: a run past the band is written through jpeg_natural_order's extra entries
 * (into coefficient 63), a bit pattern that is no code is taken as symbol 0 after 17 bits (its fast
 * path, HUFF_DECODE_FAST), the data reads as zeros after its end. It counts, per event, what no clean
 * encoder produces; keeps each component's DC values (the running sums of the DC differences,
 * unclamped) and two edge sums a block for the step check made in Python (sanitize/load/dc_grid.py),
 * and runs that check on them (_grid_step.c); and, asked for, makes the picture at 1/8 scale exactly
 * as strict libjpeg-turbo would, for a file it would decode without a word (see eighth_picture).
 *
 * A C port of benchmarks/jpeg_entropy.py and of the range checks of benchmarks/concealed_signals.py,
 * where each event is explained and was measured; tests/test_entropy.py keeps the two in step. It is
 * optional: sanitize works without it (setup.py builds it when a compiler is there).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_grid_step.h"
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Events, in the order of EVENT_NAMES. The first group is silent in libjpeg-turbo; the last two are not
 * (it warns), and are reported so that a caller can tell. */
enum {
    A_PAST_END, B_AC_RANGE, C_DC_RANGE, D_PADDING, D_BYTES_LEFT, E_ZRL_EOB, E_EOBRUN_PAST_END, E_RESTARTS,
    E_BAD_CODE, E_DC_GAMUT, OVERRUN, REFINE_SIZE, EVENTS
};
static const char *EVENT_NAMES[EVENTS] = {
    "a_past_end", "b_ac_range", "c_dc_range", "d_padding", "d_bytes_left", "e_zrl_eob", "e_eobrun_past_end",
    "e_restarts", "e_bad_code", "e_dc_gamut", "overrun", "refine_size",
};

/* NATURAL[k]: the row-major position (8 v + u) of zigzag index k (T.81 figure A.6). */
static const int NATURAL[64] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
};

/* Where each row-major position is in zigzag order: the inverse of NATURAL. */
static int ZIGZAG[64];
/* How far a sequential block's zigzag index can run: a run of up to 15 zeros after coefficient 63. A
 * corrupt stream does that; libjpeg-turbo writes such a value into coefficient 63 (jpeg_natural_order's
 * 16 extra entries), and the tables indexed by it here take 63's entries up to REACH, so that the loop
 * needs no clamp (the mark a_past_end makes the picture unused). */
#define REACH 80
/* The zigzag index of row v of the first column, ZIGZAG[8 v]. */
static const int COLUMN_AT[8] = {0, 2, 3, 9, 10, 20, 21, 35};

/* AT_2X2[i][j]: the zigzag index of the coefficient jpeg_idct_2x2 reads in column i and row j of the
 * rows and columns it reads, 0, 1, 3, 5 and 7 (see idct_2x2): ZIGZAG[8 row + column]. */
static const uint8_t AT_2X2[5][5] = {
    {0, 2, 9, 20, 35}, {1, 4, 11, 22, 36}, {6, 13, 24, 38, 49}, {15, 26, 40, 51, 58}, {28, 42, 53, 60, 63},
};
/* jpeg_idct_2x2's constants in its column pass, by row 0, 1, 3, 5, 7: 1 << (CONST_BITS + 2), then FIX()es. */
static const int64_t ROW_CONSTANTS_2X2[5] = {1 << 15, 29692, -10426, 6967, -5906};
/* The FDCT's extreme F(u,v) for level-shifted 8-bit samples, zigzag order (concealed_signals.fdct_bounds). */
static double LOWEST[64], HIGHEST[64];
/* FDCT arithmetic error allowed on top of rounding, in units of F(u,v) (concealed_signals.SLACK). */
#define SLACK 2.0
/* The layouts whose 1/8-scale picture this decoder makes: grey, and YCbCr 4:4:4 or 4:2:0. */
enum { LAYOUT_OTHER, LAYOUT_GREY, LAYOUT_444, LAYOUT_420 };

/* Encoders write at most a dozen or two scans; a file of thousands costs seconds (libjpeg-turbo's own
 * TJPARAM_SCANLIMIT exists for that, simplejpeg does not set it): past this many, not judged. */
#define MAX_SCANS 100

/* Progressive JPEGs keep every coefficient until their last scan: larger ones are not judged. */
#define MAX_PROGRESSIVE_COEFFICIENTS (1 << 24)

static void fdct_bounds(void) {
    double basis[8][8];
    for (int u = 0; u < 8; u++)
        for (int x = 0; x < 8; x++)
            basis[u][x] = (u == 0 ? 1.0 / sqrt(2.0) : 1.0) / 2.0 * cos((2 * x + 1) * u * M_PI / 16.0);
    for (int k = 0; k < 64; k++) {
        int v = NATURAL[k] / 8, u = NATURAL[k] % 8;
        double positive = 0.0, negative = 0.0;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                double product = basis[v][y] * basis[u][x];
                if (product > 0)
                    positive += product;
                else
                    negative += product;
            }
        HIGHEST[k] = 127.0 * positive - 128.0 * negative;
        LOWEST[k] = -128.0 * positive + 127.0 * negative;
    }
}

/* Codes up to this long are decoded with one table look-up. */
#define LOOKAHEAD 10

typedef struct {
    int present;
    uint8_t fast_length[1 << LOOKAHEAD]; /* codes of up to LOOKAHEAD bits, by those bits: length (0: longer or none) */
    uint8_t fast_symbol[1 << LOOKAHEAD];
    /* AC tables: a code and the value bits after it, together at most LOOKAHEAD bits, by those bits:
     * value x 65536 + run x 256 + bits taken (0: not so short, or a run of 16 zeros, or end of block) */
    int32_t fast_ac[1 << LOOKAHEAD];
    int fast_ac_made;
    int32_t maxcode[18];      /* the largest code of each length, -1 if none (T.81 F.2.2.3) */
    int32_t valoffset[18];
    uint8_t symbols[256];
} Huffman;

typedef struct {
    int id, h, v, tq;
    int bw, bh;         /* blocks that hold the picture */
    int rows, cols;     /* blocks coded in an interleaved scan: the MCU grid's */
    int32_t *dc;        /* rows x cols DC values (quantised) */
    int32_t *coef;      /* progressive only: rows x cols x 64, zigzag */
    uint8_t *plane;     /* 4:2:0 chroma at 1/8 scale, when asked for: 2x2 pixels a block, (2 rows) x (2 cols) */
    float *top, *bottom; /* rows x cols: the AC part of each block's extrapolated top and bottom edge level */
    int32_t block[REACH]; /* sequential: the block being decoded, zigzag order; zero between blocks where read */
} Component;

/* A restart interval's unstuffed bytes, read a bit at a time. */
typedef struct {
    const uint8_t *bits;
    size_t size;        /* the interval's length in bytes */
    size_t next;        /* the next byte to load (past `size`: zeros, as libjpeg reads them) */
    uint64_t acc;       /* the bits loaded and not yet taken, first bit highest */
    int loaded;         /* how many of them */
} Bits;

/* The quantised values in range: lowest to lowest + span, so that one unsigned compare judges a value. */
typedef struct {
    int32_t lowest;
    uint32_t span;
} Range;

typedef struct {
    long count[EVENTS];
    long where[EVENTS]; /* the first MCU (row x mcux + column) an event was met at, -1 if none */
    int progressive, width, height, mcux, mcuy, count_components, adobe_transform;
    int restart_interval;
    Component comps[4];
    int quant_present[4];
    uint16_t quant[4][64];
    /* the current interval's unstuffed bytes, and the decoder's state */
    Bits in;
    long eobrun;
    int preds[4];
    Range range[4][REACH]; /* per quantisation table and zigzag index: the quantised values in range */
    int64_t idct_factors[4][5][5]; /* per table: see idct_2x2 */
    float edge_weight[4][8]; /* per table, by row of the first column: the dequantised TOP */
    int failed; /* 1: a stream this decoder does not understand: the file is not judged */
    /* The 1/8-scale picture, as strict libjpeg-turbo decodes it, is made only for a file it would
     * decode without a word: `unusual` is set by anything it might warn or stop at, or do otherwise. */
    int eighth, unusual, saw_eoi, layout;
    int jfif; /* a JFIF APP0 before the first scan: libjpeg-turbo then takes three components as YCbCr */
    int scans, multiple_scans; /* scans met; whether the first said more are to come (progressive, or not every component) */
    int scanned[4];
    int checked, grid_rows, grid_cols; /* the step check, if asked for: its grid of whole MCUs */
    GridStep steps[4];                /* and what it found per component, `start` as an MCU index */
    int coef_bits[4][64]; /* progressive: the successive-approximation bit of each coefficient, -1 before any */
    Huffman tables[2][4]; /* last: not zeroed for each file, only their `present` flags (entropy_decode) */
} Decoder;

static void events(Decoder *d, int name, long mcu, long count) {
    if (d->count[name] == 0 || mcu < d->where[name])
        d->where[name] = mcu;
    d->count[name] += count;
}

static void event(Decoder *d, int name, long mcu) { events(d, name, mcu, 1); }

/* Whether no event was met and nothing libjpeg-turbo might warn of or do otherwise: a file whose picture
 * this decoder makes (see picture). */
static int quiet(const Decoder *d) {
    int none = !d->unusual;
    for (int name = 0; name < EVENTS; name++)
        none &= d->count[name] == 0;
    return none;
}

/* ---- bits ---- */

static inline __attribute__((always_inline)) void refill(Bits *b) {
    if (b->next + 8 <= b->size) { /* one load; the bytes that do not fit are loaded again next time */
        const uint8_t *p = b->bits + b->next;
        uint64_t word = (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 | (uint64_t)p[3] << 32 |
                        (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 | (uint64_t)p[6] << 8 | (uint64_t)p[7];
        b->acc |= word >> b->loaded;
        int bytes = (63 - b->loaded) >> 3;
        b->next += bytes;
        b->loaded += 8 * bytes;
        return;
    }
    while (b->loaded <= 56) {
        uint64_t byte = b->next < b->size ? b->bits[b->next] : 0;
        b->acc |= byte << (56 - b->loaded);
        b->next++;
        b->loaded += 8;
    }
}

/* Bits taken so far from the interval. */
static inline size_t position(const Bits *b) { return 8 * b->next - (size_t)b->loaded; }

static inline __attribute__((always_inline)) void skip_bits(Bits *b, int count) {
    if (b->loaded < 32)
        refill(b);
    b->acc <<= count;
    b->loaded -= count;
}

static inline __attribute__((always_inline)) int get_bits(Bits *b, int count) {
    if (count == 0)
        return 0;
    if (b->loaded < 32)
        refill(b);
    int value = (int)(b->acc >> (64 - count));
    b->acc <<= count;
    b->loaded -= count;
    return value;
}

static inline __attribute__((always_inline)) int receive_extend(Decoder *d, Bits *b, int size) {
    if (size > 16) {
        d->failed = 1;
        return 0;
    }
    if (size == 0)
        return 0;
    int value = get_bits(b, size);
    return value + ((((value - (1 << (size - 1))) >> 31) & (1 - (1 << size)))); /* jdhuff.h HUFF_EXTEND */
}

static inline __attribute__((always_inline)) int decode_symbol(Decoder *d, Bits *b, const Huffman *table, long mcu) {
    if (b->loaded < 32)
        refill(b);
    uint32_t window = (uint32_t)(b->acc >> 32);
    int head = (int)(window >> (32 - LOOKAHEAD));
    if (table->fast_length[head]) {
        skip_bits(b, table->fast_length[head]);
        return table->fast_symbol[head];
    }
    for (int length = LOOKAHEAD + 1; length <= 16; length++) {
        int32_t code = (int32_t)(window >> (32 - length));
        if (code <= table->maxcode[length]) {
            skip_bits(b, length);
            return table->symbols[(table->valoffset[length] + code) & 0xFF];
        }
    }
    event(d, E_BAD_CODE, mcu);
    skip_bits(b, 17); /* HUFF_DECODE_FAST: its 8 look-ahead bits dropped, then 1 at a time up to 17; symbol 0 */
    return 0;
}

/* Fills an AC table's fast_ac: worth its 1,024 entries only for a scan of some size (see read_scan). */
static void make_fast_ac(Huffman *table) {
    for (int head = 0; head < (1 << LOOKAHEAD); head++) {
        int length = table->fast_length[head], rs = table->fast_symbol[head], size = rs & 15;
        if (!length || !size || length + size > LOOKAHEAD)
            continue;
        int bits = (head >> (LOOKAHEAD - length - size)) & ((1 << size) - 1);
        int value = bits < (1 << (size - 1)) ? bits - (1 << size) + 1 : bits;
        table->fast_ac[head] = value * 65536 + (rs >> 4) * 256 + length + size;
    }
    table->fast_ac_made = 1;
}

/* ---- headers ---- */

static int read_huffman(Decoder *d, const uint8_t *body, size_t length) {
    size_t pos = 0;
    while (pos < length) {
        if (pos + 17 > length)
            return -1;
        int cls = body[pos] >> 4, ident = body[pos] & 15;
        if (cls > 1 || ident > 3)
            return -1;
        const uint8_t *counts = body + pos + 1;
        int total = 0;
        for (int i = 0; i < 16; i++)
            total += counts[i];
        if (total > 256 || pos + 17 + total > length)
            return -1;
        Huffman *table = &d->tables[cls][ident];
        memset(table, 0, sizeof *table);
        memcpy(table->symbols, body + pos + 17, total);
        for (int i = 0; i < total && cls == 0; i++)
            if (table->symbols[i] > 15)
                d->unusual = 1; /* jdhuff.c jpeg_make_d_derived_tbl: JERR_BAD_HUFF_TABLE */
        int32_t code = 0;
        int index = 0;
        for (int size = 1; size <= 16; size++) {
            table->valoffset[size] = index - code;
            for (int i = 0; i < counts[size - 1]; i++, index++, code++) {
                if (code >= (1 << size))
                    return -1; /* more codes than fit: libjpeg refuses the table */
                if (size <= LOOKAHEAD)
                    for (int fill = code << (LOOKAHEAD - size); fill < (code + 1) << (LOOKAHEAD - size); fill++) {
                        table->fast_length[fill] = (uint8_t)size;
                        table->fast_symbol[fill] = table->symbols[index];
                    }
            }
            table->maxcode[size] = counts[size - 1] ? code - 1 : -1;
            code <<= 1;
        }
        table->present = 1;
        pos += 17 + total;
    }
    return 0;
}

static void table_ranges(Decoder *d, int t);

static int read_quant(Decoder *d, const uint8_t *body, size_t length) {
    size_t pos = 0;
    while (pos < length) {
        int wide = body[pos] >> 4, ident = body[pos] & 15;
        size_t size = wide ? 128 : 64;
        if (ident > 3 || wide > 1 || pos + 1 + size > length)
            return -1;
        for (int k = 0; k < 64; k++)
            d->quant[ident][k] = wide ? (uint16_t)(body[pos + 1 + 2 * k] << 8 | body[pos + 2 + 2 * k])
                                      : body[pos + 1 + k];
        d->quant_present[ident] = 1;
        table_ranges(d, ident);
        pos += 1 + size;
    }
    return 0;
}

static int ceil_div(int numerator, int denominator) { return (numerator + denominator - 1) / denominator; }

static int read_frame(Decoder *d, const uint8_t *body, size_t length, int progressive, size_t file_size) {
    if (d->count_components || length < 6 || body[0] != 8)
        return -1; /* a second frame, or samples other than 8 bits: not judged */
    d->height = body[1] << 8 | body[2];
    d->width = body[3] << 8 | body[4];
    int count = body[5], hmax = 1, vmax = 1;
    if (count < 1 || count > 4 || length != 6 + 3 * (size_t)count || d->width == 0 || d->height == 0)
        return -1;
    for (int i = 0; i < count; i++) {
        Component *c = &d->comps[i];
        c->id = body[6 + 3 * i];
        c->h = body[7 + 3 * i] >> 4;
        c->v = body[7 + 3 * i] & 15;
        c->tq = body[8 + 3 * i];
        if (c->h < 1 || c->h > 4 || c->v < 1 || c->v > 4 || c->tq > 3)
            return -1;
        hmax = c->h > hmax ? c->h : hmax;
        vmax = c->v > vmax ? c->v : vmax;
    }
    d->mcux = ceil_div(d->width, 8 * hmax);
    d->mcuy = ceil_div(d->height, 8 * vmax);
    d->progressive = progressive;
    size_t coefficients = 0;
    uint64_t coded = 0; /* blocks with picture in them: coded in any scan, interleaved or not */
    for (int i = 0; i < count; i++) {
        Component *c = &d->comps[i];
        c->bw = ceil_div(ceil_div(d->width * c->h, hmax), 8);
        c->bh = ceil_div(ceil_div(d->height * c->v, vmax), 8);
        c->rows = d->mcuy * c->v;
        c->cols = d->mcux * c->h;
        coefficients += (size_t)c->rows * c->cols * 64;
        coded += (uint64_t)c->bw * c->bh;
    }
    if (progressive && coefficients > MAX_PROGRESSIVE_COEFFICIENTS)
        return -1;
    if (!progressive && coded > 4 * (uint64_t)file_size)
        return -1; /* each block takes 2 bits at least (a DC code, an end of block): the data runs out, which
                    * libjpeg-turbo warns of; not decoded, so that memory and time are bounded by the file's size */
    d->count_components = count;
    const Component *comps = d->comps;
    if (count == 1) /* whatever its sampling factors, one component is at full size (its own maximum) */
        d->layout = LAYOUT_GREY;
    else if (count == 3 && comps[1].h == 1 && comps[1].v == 1 && comps[2].h == 1 && comps[2].v == 1)
        d->layout = comps[0].h == 1 && comps[0].v == 1 ? LAYOUT_444
                    : (comps[0].h == 2 && comps[0].v == 2 ? LAYOUT_420 : LAYOUT_OTHER);
    for (int i = 0; i < count; i++) {
        Component *c = &d->comps[i];
        int plane = d->eighth && d->layout == LAYOUT_420 && i > 0; /* chroma by the 2x2 IDCT */
        c->dc = calloc((size_t)c->rows * c->cols, sizeof(int32_t));
        c->top = calloc((size_t)c->rows * c->cols, sizeof(float));
        c->bottom = calloc((size_t)c->rows * c->cols, sizeof(float));
        if (!c->top || !c->bottom)
            return -1;
        if (progressive)
            c->coef = calloc((size_t)c->rows * c->cols * 64, sizeof(int32_t));
        if (plane)
            c->plane = malloc((size_t)c->rows * c->cols * 4);
        if (!c->dc || (progressive && !c->coef) || (plane && !c->plane))
            return -1;
        for (int k = 0; k < 64; k++)
            d->coef_bits[i][k] = -1;
    }
    return 0;
}

/* ---- entropy-coded data ---- */

/* A value against the range its table allows at zigzag index k; outside the picture's own blocks (the
 * MCU grid's padding) nothing is bounded. */
static inline void judge(Decoder *d, const Component *c, int y, int x, int k, int value, long mcu) {
    if ((uint32_t)value - (uint32_t)d->range[c->tq][k].lowest > d->range[c->tq][k].span) {
        if (y >= c->bh || x >= c->bw)
            return; /* padding blocks of the MCU grid: no picture to bound */
        event(d, k ? B_AC_RANGE : C_DC_RANGE, mcu);
    }
}

/* TOP[v]: the weight of F(0, v) (vertical frequency v, first column) in a block's top edge level
 * extrapolated from its first two pixel rows' means, 1.5 row 0 - 0.5 row 1 (the IDCT separated, T.81
 * A.3.3; averaging a row takes the horizontal DC basis, 1 / (2 sqrt 2)). In the bottom one, 1.5 row 7
 * - 0.5 row 6, its weight is (-1)^v TOP[v] (cos((15 - 2y) v pi / 16) = (-1)^v cos((2y + 1) v pi / 16)).
 * Their difference across a boundary, less the DC step, is sanitize/load/steps.py's edge step, here
 * from coefficients instead of pixels. */
static double TOP[8];

static void edge_tables(void) {
    for (int v = 0; v < 8; v++) {
        double scale = (v == 0 ? 1.0 / sqrt(2.0) : 1.0) / 2.0 / (2.0 * sqrt(2.0));
        TOP[v] = scale * (1.5 * cos(v * M_PI / 16.0) - 0.5 * cos(3 * v * M_PI / 16.0));
    }
}

/* A block's (zigzag) top and bottom edge levels, less its DC part, by its table's `weight`s: the sums
 * of its even and odd rows of the first column, added and subtracted (see TOP). */
static inline void edge_levels(const int32_t *block, const float *weight, float *top, float *bottom) {
    float even = (float)block[COLUMN_AT[2]] * weight[2] + (float)block[COLUMN_AT[4]] * weight[4] +
                 (float)block[COLUMN_AT[6]] * weight[6];
    float odd = (float)block[COLUMN_AT[1]] * weight[1] + (float)block[COLUMN_AT[3]] * weight[3] +
                (float)block[COLUMN_AT[5]] * weight[5] + (float)block[COLUMN_AT[7]] * weight[7];
    *top = even + odd;
    *bottom = even - odd;
}

/* When table t is defined: the quantised values its coefficients may take (a value v is out of range
 * when v x Q, less half a step (its rounding), is beyond the FDCT's extreme plus SLACK), and the
 * weights of its first column in the edge levels. */
static void table_ranges(Decoder *d, int t) {
    for (int k = 0; k < 64; k++) {
        double q = d->quant[t][k];
        int32_t highest = q > 0 ? (int32_t)floor((HIGHEST[k] + SLACK + q / 2) / q) : INT32_MAX;
        d->range[t][k].lowest = q > 0 ? (int32_t)ceil((LOWEST[k] - SLACK - q / 2) / q) : INT32_MIN;
        d->range[t][k].span = (uint32_t)highest - (uint32_t)d->range[t][k].lowest; /* highest >= 0 >= lowest */
    }
    for (int k = 64; k < REACH; k++)
        d->range[t][k] = d->range[t][63];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            d->idct_factors[t][i][j] = (int64_t)d->quant[t][AT_2X2[i][j]] * ROW_CONSTANTS_2X2[j];
    for (int v = 0; v < 8; v++) { /* the first column's coefficients, dequantised, by row */
        d->edge_weight[t][v] = (float)(d->quant[t][COLUMN_AT[v]] * TOP[v]);
    }
}

/* ---- the 1/8-scale picture, as libjpeg-turbo makes it ---- */

/* libjpeg's post-IDCT range limit, indexed by (value & 1023) (jdmaster.c prepare_range_limit_table). */
static uint8_t IDCT_LIMIT[1024];
/* jdcolor.c build_ycc_rgb_table: YCbCr to RGB in 16-bit fixed point. */
static int CR_R[256], CB_B[256];
static int64_t CR_G[256], CB_G[256];

static void picture_tables(void) {
    for (int k = 0; k < 64; k++) {
        ZIGZAG[NATURAL[k]] = k;
    }
    for (int j = 0; j < 1024; j++)
        IDCT_LIMIT[j] = j < 128 ? (uint8_t)(j + 128) : (j < 512 ? 255 : (j < 896 ? 0 : (uint8_t)(j - 896)));
    for (int i = 0, x = -128; i < 256; i++, x++) {
        CR_R[i] = (int)((91881LL * x + 32768) >> 16);  /* FIX(1.40200) */
        CB_B[i] = (int)((116130LL * x + 32768) >> 16); /* FIX(1.77200) */
        CR_G[i] = -46802LL * x;                        /* -FIX(0.71414) */
        CB_G[i] = -22554LL * x + 32768;                /* -FIX(0.34414), with ONE_HALF */
    }
}

static inline uint8_t clamp_sample(int value) { return value < 0 ? 0 : (value > 255 ? 255 : (uint8_t)value); }

/* jidctred.c jpeg_idct_1x1: a block's one pixel, from its DC. */
static inline uint8_t idct_1x1(int32_t dc, int q) {
    int64_t value = ((int64_t)dc * q + 4) >> 3;
    return IDCT_LIMIT[value & 1023];
}

#define DESCALE(x, n) (((x) + ((int64_t)1 << ((n) - 1))) >> (n))
/* jidctred.c jpeg_idct_2x2 (CONST_BITS 13, PASS1_BITS 2): a block's 2x2 pixels, from coefficients 0, 1,
 * 3, 5 and 7 of its rows and columns; `block` is in zigzag order, `factors` its table's (table_ranges):
 * each coefficient's quantisation step times the constant its row's term takes in the column pass
 * (ROW_CONSTANTS_2X2). */
static void idct_2x2(const int32_t *block, const int64_t factors[5][5], uint8_t out[2][2]) {
    /* jpeg_idct_2x2's shortcuts for columns and rows whose odd coefficients are all 0 give what its
     * general formula gives (DESCALE(x << 15, 13) = x << 2, DESCALE(x << 15, 20) = DESCALE(x, 5)), so
     * the general one alone, without a branch */
    int64_t work[2][5]; /* by the index of its column in 0, 1, 3, 5, 7 */
    for (int i = 0; i < 5; i++) {
        const uint8_t *at = AT_2X2[i];
        const int64_t *factor = factors[i];
        int64_t even = block[at[0]] * factor[0];
        int64_t odd = block[at[4]] * factor[4] + block[at[3]] * factor[3] + block[at[2]] * factor[2] +
                      block[at[1]] * factor[1];
        work[0][i] = DESCALE(even + odd, 13 - 2 + 2);
        work[1][i] = DESCALE(even - odd, 13 - 2 + 2);
    }
    for (int row = 0; row < 2; row++) {
        const int64_t *w = work[row];
        int64_t even = w[0] * (1 << 15);
        int64_t odd = w[4] * -5906 + w[3] * 6967 + w[2] * -10426 + w[1] * 29692;
        out[row][0] = IDCT_LIMIT[DESCALE(even + odd, 13 + 2 + 3 + 2) & 1023];
        out[row][1] = IDCT_LIMIT[DESCALE(even - odd, 13 + 2 + 3 + 2) & 1023];
    }
}

/* A 4:2:0 chroma block's 2x2 pixels into its component's plane. */
static void plane_block(Component *c, const int32_t *block, const int64_t factors[5][5], int y, int x) {
    uint8_t out[2][2];
    idct_2x2(block, factors, out);
    size_t wide = (size_t)c->cols * 2;
    memcpy(&c->plane[(size_t)2 * y * wide + 2 * x], out[0], 2);
    memcpy(&c->plane[(size_t)(2 * y + 1) * wide + 2 * x], out[1], 2);
}

/* The DC prediction after a difference, held within 2^17: far out of any legal range already, and a
 * stream of large differences cannot overflow it (or its shift by Al, at most 13). */
static inline int predict(int pred, int difference) {
    int value = pred + difference;
    return value > (1 << 17) ? (1 << 17) : (value < -(1 << 17) ? -(1 << 17) : value);
}

static inline int dc_first(Decoder *d, const Huffman *table, int32_t *block0, int pred, int al, long mcu) {
    Bits b = d->in; /* the reader's state in a local copy, kept in registers */
    pred = predict(pred, receive_extend(d, &b, decode_symbol(d, &b, table, mcu)));
    d->in = b;
    *block0 = pred * (1 << al);
    return pred;
}

/* Progressive: a block's AC values in the band ss..se, first scan (G.1.2.2). */
static void ac_first(Decoder *d, const Huffman *table, int32_t *block, int ss, int se, int al, long mcu) {
    if (d->eobrun > 0) {
        d->eobrun--;
        return;
    }
    Bits b = d->in; /* the reader's state in a local copy, kept in registers */
    int k = ss, zrl = 0;
    while (k <= se && !d->failed) {
        int rs = decode_symbol(d, &b, table, mcu), run = rs >> 4, size = rs & 15;
        if (size) {
            k += run;
            if (k > se)
                event(d, A_PAST_END, mcu);
            block[k < 63 ? k : 63] = receive_extend(d, &b, size) * (1 << al);
            zrl = 0;
        } else if (run == 15) {
            k += 15;
            if (k >= se)
                event(d, A_PAST_END, mcu); /* a ZRL with nothing that can follow it */
            zrl = 1;
        } else {
            if (zrl)
                event(d, E_ZRL_EOB, mcu);
            d->eobrun = (1L << run) + get_bits(&b, run) - 1;
            break;
        }
        k++;
    }
    d->in = b;
}

/* A sequential block, DC and AC, judged as it is decoded into its component's `block`, then its edge
 * levels and, with `picture`, its 2x2 pixels made from that; the reader's state is in a local copy the
 * compiler keeps in registers. Returns the DC prediction. */
static inline __attribute__((always_inline)) int sequential_block(Decoder *d, const Huffman *dc_table,
                                                                  const Huffman *ac_table, Component *c, int y,
                                                                  int x, int pred, long mcu, int picture) {
    Bits b = d->in;
    int32_t *block = c->block;
    const Range *range = d->range[c->tq];
    size_t at = (size_t)y * c->cols + x;
    pred = predict(pred, receive_extend(d, &b, decode_symbol(d, &b, dc_table, mcu)));
    c->dc[at] = pred;
    judge(d, c, y, x, 0, pred, mcu);
    int outside = 0; /* AC values out of range, counted without a branch */
    int k = 1;
    for (int after_zrl = -1; k <= 63; k++) { /* after_zrl: k just after a run of 16 zeros */
        if (b.loaded < 32)
            refill(&b);
        int32_t fast = ac_table->fast_ac[b.acc >> (64 - LOOKAHEAD)];
        int run, value;
        if (fast) { /* a short code and its value in one look-up (never a run of 16 or the end of the block) */
            b.acc <<= fast & 0xFF;
            b.loaded -= fast & 0xFF;
            run = fast >> 8 & 0xFF;
            value = fast >> 16;
        } else {
            int rs = decode_symbol(d, &b, ac_table, mcu), size = rs & 15;
            run = rs >> 4;
            if (size == 0 && run == 15) {
                k += 15;
                if (k >= 63) { /* a ZRL with nothing that can follow it */
                    event(d, A_PAST_END, mcu);
                    k = 64;
                    break;
                }
                after_zrl = k + 1;
                continue;
            }
            if (size == 0) {
                if (k == after_zrl) /* every other symbol moves k on */
                    event(d, E_ZRL_EOB, mcu);
                break;
            }
            value = receive_extend(d, &b, size);
        }
        k += run; /* at most 78: see REACH */
        block[k] = value;
        outside += (uint32_t)value - (uint32_t)range[k].lowest > range[k].span; /* no branch: large values are common */
    }
    d->in = b;
    if (k > 64) /* the last value ran past coefficient 63 */
        event(d, A_PAST_END, mcu);
    if (outside && y < c->bh && x < c->bw) /* padding blocks of the MCU grid: no picture to bound */
        events(d, B_AC_RANGE, mcu, outside);
    edge_levels(block, d->edge_weight[c->tq], &c->top[at], &c->bottom[at]);
    if (picture) {
        block[0] = pred;
        plane_block(c, block, d->idct_factors[c->tq], y, x);
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++)
                block[AT_2X2[i][j]] = 0;
    }
    for (int v = 1; v < 8; v++) /* zero again where the next block is read (the rest is never read) */
        block[COLUMN_AT[v]] = 0;
    return pred;
}

/* G.1.2.3 as libjpeg-turbo's decode_mcu_AC_refine does it. */
static void ac_refine(Decoder *d, const Huffman *table, int32_t *block, int ss, int se, int al, long mcu) {
    Bits b = d->in; /* the reader's state in a local copy, kept in registers */
    int p1 = 1 << al, m1 = -1 * (1 << al), k = ss, zrl = 0;
    if (d->eobrun == 0) {
        while (k <= se && !d->failed) {
            int rs = decode_symbol(d, &b, table, mcu), run = rs >> 4, size = rs & 15, value = 0;
            if (size) {
                if (size != 1)
                    event(d, REFINE_SIZE, mcu);
                value = get_bits(&b, 1) ? p1 : m1;
                zrl = 0;
            } else if (run != 15) {
                if (zrl)
                    event(d, E_ZRL_EOB, mcu);
                d->eobrun = (1L << run) + get_bits(&b, run);
                break;
            } else {
                zrl = 1;
            }
            while (k <= se) {
                int coef = block[k];
                if (coef != 0) {
                    if (get_bits(&b, 1) && (coef & p1) == 0)
                        block[k] = coef + (coef >= 0 ? p1 : m1);
                } else if (--run < 0) {
                    break;
                }
                k++;
            }
            if (value) {
                if (k > se)
                    event(d, A_PAST_END, mcu);
                block[k < 63 ? k : 63] = value;
            } else if (k > se && zrl) {
                event(d, A_PAST_END, mcu);
            }
            k++;
        }
    }
    if (d->eobrun > 0) {
        for (; k <= se; k++) {
            int coef = block[k];
            if (coef != 0 && get_bits(&b, 1) && (coef & p1) == 0)
                block[k] = coef + (coef >= 0 ? p1 : m1);
        }
        d->eobrun--;
    }
    d->in = b;
}

/* The end of a restart interval: what is left of the data. */
static void finish(Decoder *d, long mcu) {
    if (d->eobrun > 0)
        event(d, E_EOBRUN_PAST_END, mcu);
    if (position(&d->in) > 8 * d->in.size) {
        event(d, OVERRUN, mcu);
        return;
    }
    /* libjpeg pads with 1s (T.81 F.1.2.3); some cameras' encoders with 0s (Fujifilm's MPOs in the
     * shared corpus): only a mixture is no encoder's */
    int partial = (int)((8 - position(&d->in) % 8) % 8), padding = partial ? get_bits(&d->in, partial) : 0;
    if (padding != 0 && padding != (1 << partial) - 1)
        event(d, D_PADDING, mcu);
    if (8 * d->in.size - position(&d->in) >= 8)
        event(d, D_BYTES_LEFT, mcu);
}

typedef struct {
    int comp, td, ta;
} Member;

/* What libjpeg-turbo checks of a scan's parameters (jdhuff.c start_pass_huff_decoder, jdphuff.c
 * start_pass_phuff_decoder): where it would warn or stop, the file is `unusual`. */
static void check_scan(Decoder *d, const Member *members, int count, int ss, int se, int ah, int al) {
    for (int i = 0; i < count; i++) {
        if (!d->progressive && d->scanned[members[i].comp])
            d->unusual = 1; /* a sequential component's second scan: libjpeg-turbo keeps the coefficients of the
                             * first that the second leaves 0 (jdcoefct.c consume_data), this decoder does not */
        d->scanned[members[i].comp] = 1;
    }
    if (d->scans++ == 0)
        d->multiple_scans = d->progressive || count < d->count_components;
    if (!d->progressive) {
        if (ss != 0 || se != 63 || ah != 0 || al != 0)
            d->unusual = 1; /* JWRN_NOT_SEQUENTIAL */
        return;
    }
    int dc_band = ss == 0;
    if ((dc_band && se != 0) || (!dc_band && (ss > se || count != 1)) || (ah != 0 && al != ah - 1)) {
        d->unusual = 1; /* JERR_BAD_PROGRESSION */
        return;
    }
    for (int i = 0; i < count; i++) {
        int *bits = d->coef_bits[members[i].comp];
        if (!dc_band && bits[0] < 0)
            d->unusual = 1; /* JWRN_BOGUS_PROGRESSION: AC before DC */
        for (int k = ss; k <= se; k++) {
            if (ah != (bits[k] < 0 ? 0 : bits[k]))
                d->unusual = 1; /* JWRN_BOGUS_PROGRESSION */
            bits[k] = al;
        }
    }
}

/* Unstuffs the scan at `start` into `out` (the intervals one after another, `ends[i]` where interval i
 * ends); returns where the next marker is. Restart markers met are checked against the interval. */
static size_t split_scan(const uint8_t *data, size_t size, size_t start, uint8_t *out, size_t **ends,
                         size_t *intervals, int *restart_numbers_ok) {
    size_t pos = start, written = 0, capacity = 16, count = 0;
    *ends = malloc(capacity * sizeof(size_t));
    *restart_numbers_ok = 1;
    if (!*ends)
        return 0;
    while (pos < size) {
        const uint8_t *marker = memchr(data + pos, 0xFF, size - pos); /* the bytes up to it, copied at once */
        size_t plain = (marker ? (size_t)(marker - data) : size) - pos;
        memcpy(out + written, data + pos, plain);
        written += plain;
        pos += plain;
        if (pos >= size)
            break;
        uint8_t next = pos + 1 < size ? data[pos + 1] : 0xD9;
        if (next == 0x00) {
            out[written++] = 0xFF;
            pos += 2;
        } else if (next == 0xFF) {
            pos++; /* a fill byte */
        } else if (next >= 0xD0 && next <= 0xD7) {
            if ((size_t)(next - 0xD0) != count % 8)
                *restart_numbers_ok = 0;
            if (count + 1 >= capacity) {
                capacity *= 2;
                size_t *grown = realloc(*ends, capacity * sizeof(size_t));
                if (!grown)
                    return 0;
                *ends = grown;
            }
            (*ends)[count++] = written;
            pos += 2;
        } else {
            break;
        }
    }
    (*ends)[count++] = written;
    *intervals = count;
    return pos;
}

/* Decodes one scan (header `body`, data from `start`); returns where the next marker is, 0 on failure. */
static size_t read_scan(Decoder *d, const uint8_t *data, size_t size, const uint8_t *body, size_t length,
                        size_t start) {
    if (!d->count_components || length < 1)
        return 0;
    int count = body[0];
    if (count < 1 || count > 4 || length != 4 + 2 * (size_t)count)
        return 0; /* libjpeg: JERR_BAD_LENGTH (jdmarker.c get_sos) */
    Member members[4];
    for (int i = 0; i < count; i++) {
        int id = body[1 + 2 * i], found = -1;
        for (int j = 0; j < d->count_components; j++)
            if (d->comps[j].id == id)
                found = j;
        for (int before = 0; before < i && found >= 0; before++)
            if (members[before].comp == found)
                found = -1; /* a component twice in a scan: JERR_BAD_COMPONENT_ID */
        if (found < 0)
            return 0;
        members[i] = (Member){found, body[2 + 2 * i] >> 4, body[2 + 2 * i] & 15};
        if (members[i].td > 3 || members[i].ta > 3 || !d->quant_present[d->comps[found].tq])
            return 0;
    }
    int ss = body[1 + 2 * count], se = body[2 + 2 * count], ah = body[3 + 2 * count] >> 4,
        al = body[3 + 2 * count] & 15;
    if (ss > 63 || se > 63 || al > 13)
        return 0;
    int dc_only = d->progressive && ss == 0, refining = d->progressive && ah != 0;
    check_scan(d, members, count, ss, se, ah, al);
    for (int i = 0; i < count; i++) {
        int needs_dc = !d->progressive || (dc_only && !refining), needs_ac = !d->progressive || !dc_only;
        if ((needs_dc && !d->tables[0][members[i].td].present) || (needs_ac && !d->tables[1][members[i].ta].present))
            return 0;
    }
    for (int i = 0; i < count && size - start > 4096 && !d->progressive; i++)
        if (!d->tables[1][members[i].ta].fast_ac_made)
            make_fast_ac(&d->tables[1][members[i].ta]);
    uint8_t *unstuffed = malloc(size - start + 16);
    size_t *ends = NULL, intervals = 0;
    int numbers_ok = 1;
    if (!unstuffed)
        return 0;
    size_t end = split_scan(data, size, start, unstuffed, &ends, &intervals, &numbers_ok);
    if (!ends || !end) {
        free(unstuffed);
        free(ends);
        return 0;
    }
    const Component *first = &d->comps[members[0].comp];
    long units = count == 1 ? (long)first->bh * first->bw : (long)d->mcuy * d->mcux;
    long per = d->restart_interval ? d->restart_interval : units;
    long expected = (units + per - 1) / per - 1;
    if ((long)intervals - 1 != expected || !numbers_ok)
        event(d, E_RESTARTS, -1);
    /* a unit is one block of a single-component scan, or one MCU (T.81 A.2) */
    int wide = count == 1 ? first->bw : d->mcux;
    long left = 0; /* units left in the restart interval */
    size_t interval = 0;
    for (long unit = 0, row = 0, column = 0; unit < units && !d->failed; unit++) {
        if (left == 0) { /* a restart interval: its own bytes, a fresh prediction */
            size_t from = interval == 0 || interval > intervals ? 0 : ends[interval - 1];
            size_t to = interval < intervals ? ends[interval] : from;
            d->in = (Bits){unstuffed + from, to - from, 0, 0, 0};
            d->eobrun = 0;
            memset(d->preds, 0, sizeof d->preds);
            left = per;
            interval++;
        }
        long mcu = count == 1 ? row / first->v * d->mcux + column / first->h : unit;
        for (int m = 0; m < count; m++) {
            Component *c = &d->comps[members[m].comp];
            const Huffman *dc_table = &d->tables[0][members[m].td], *ac_table = &d->tables[1][members[m].ta];
            int *pred = &d->preds[members[m].comp];
            int tall = count == 1 ? 1 : c->v, across = count == 1 ? 1 : c->h;
            for (int by = 0; by < tall; by++)
                for (int bx = 0; bx < across; bx++) {
                    int y = (int)row * tall + by, x = (int)column * across + bx;
                    size_t at = (size_t)y * c->cols + x;
                    if (!d->progressive && !c->plane) { /* two copies of the block's decoding: no test a value */
                        *pred = sequential_block(d, dc_table, ac_table, c, y, x, *pred, mcu, 0);
                        continue;
                    }
                    if (!d->progressive) { /* with its 2x2 pixels */
                        *pred = sequential_block(d, dc_table, ac_table, c, y, x, *pred, mcu, 1);
                        continue;
                    }
                    int32_t *block = &c->coef[at * 64];
                    if (ss == 0 && ah == 0)
                        *pred = dc_first(d, dc_table, &block[0], *pred, al, mcu);
                    else if (ss == 0)
                        block[0] |= get_bits(&d->in, 1) << al;
                    else if (ah == 0)
                        ac_first(d, ac_table, block, ss, se, al, mcu);
                    else
                        ac_refine(d, ac_table, block, ss, se, al, mcu);
                }
        }
        if (--left == 0 || unit + 1 == units)
            finish(d, mcu);
        if (++column == wide) {
            column = 0;
            row++;
        }
    }
    free(unstuffed);
    free(ends);
    return d->failed ? 0 : end;
}

/* The MCU grid's whole rows and columns, the partial last ones left out (a one-component scan's MCU is
 * one block, T.81 A.2.2; dc_grid.py whole_mcus). */
static void whole_mcus(const Decoder *d, int *rows, int *cols) {
    int wide = 1, tall = 1;
    for (int i = 0; i < d->count_components && d->count_components > 1; i++) {
        wide = d->comps[i].h > wide ? d->comps[i].h : wide;
        tall = d->comps[i].v > tall ? d->comps[i].v : tall;
    }
    *rows = d->height / (8 * tall);
    *cols = d->width / (8 * wide);
}

/* e_dc_gamut: the mean colour of a whole MCU, from the DC values alone (a block's mean is its DC x Q / 8
 * + 128), must lie in the RGB cube: the encoder's samples did (T.871's conversion), chroma downsampling
 * averages in-range colours, and each mean is off by at most half a DC step / 8, plus
 * rounding (0.5 a conversion, 0.5 downsampling, 0.25 the FDCT). YCbCr only: three components, no
 * Adobe transform 0, not named R, G, B (benchmarks/concealed_signals.py check_gamut, measured there). */
static void judge_gamut(Decoder *d) {
    const Component *c = d->comps;
    if (d->count_components != 3 || d->adobe_transform == 0 || (c[0].id == 'R' && c[1].id == 'G' && c[2].id == 'B'))
        return;
    double slack[3];
    for (int i = 0; i < 3; i++)
        slack[i] = d->quant[c[i].tq][0] / 16.0 + 1.25;
    double red = slack[0] + 1.402 * slack[2], green = slack[0] + 0.344136 * slack[1] + 0.714136 * slack[2],
           blue = slack[0] + 1.772 * slack[1];
    /* whole MCUs only: in a partial one, the encoder pads each component on its own (libjpeg-turbo's
     * jccoefct.c copies the last block's DC into dummy blocks, its downsampler replicates the last
     * pixels), so luma and chroma means cover different pixels there: a clean picture with a saturated
     * last column crossed the cube (found on synthetic graphics, benchmarks/concealed_graphics.py) */
    int rows, cols;
    whole_mcus(d, &rows, &cols);
    for (int row = 0; row < rows; row++)
        for (int col = 0; col < cols; col++) {
            double mean[3];
            for (int i = 0; i < 3; i++) {
                long sum = 0;
                for (int y = 0; y < c[i].v; y++)
                    for (int x = 0; x < c[i].h; x++)
                        sum += c[i].dc[(size_t)(row * c[i].v + y) * c[i].cols + col * c[i].h + x];
                mean[i] = (double)sum / (c[i].v * c[i].h) * (d->quant[c[i].tq][0] / 8.0) + 128.0;
            }
            double r = mean[0] + 1.402 * (mean[2] - 128), b = mean[0] + 1.772 * (mean[1] - 128);
            double g = mean[0] - 0.344136 * (mean[1] - 128) - 0.714136 * (mean[2] - 128);
            if (r < -red || r > 255 + red || g < -green || g > 255 + green || b < -blue || b > 255 + blue)
                event(d, E_DC_GAMUT, (long)row * d->mcux + col);
        }
}

/* Progressive: the DC values and the range events, once every scan is in. */
static void judge_progressive(Decoder *d) {
    for (int i = 0; i < d->count_components; i++) {
        Component *c = &d->comps[i];
        for (int y = 0; y < c->rows; y++)
            for (int x = 0; x < c->cols; x++) {
                const int32_t *block = &c->coef[((size_t)y * c->cols + x) * 64];
                c->dc[(size_t)y * c->cols + x] = block[0];
                edge_levels(block, d->edge_weight[c->tq], &c->top[(size_t)y * c->cols + x],
                            &c->bottom[(size_t)y * c->cols + x]);
                long mcu = (long)(y / c->v) * d->mcux + x / c->h;
                judge(d, c, y, x, 0, block[0], mcu);
                const Range *range = d->range[c->tq];
                int outside = 0; /* as in sequential_block: counted without a branch */
                for (int k = 1; k < 64; k++)
                    outside += (uint32_t)block[k] - (uint32_t)range[k].lowest > range[k].span;
                if (outside && y < c->bh && x < c->bw) /* padding blocks of the MCU grid: no picture to bound */
                    events(d, B_AC_RANGE, mcu, outside);
            }
    }
}

static int decode(Decoder *d, const uint8_t *data, size_t size) {
    size_t pos = 2;
    while (pos + 2 <= size) {
        if (data[pos] != 0xFF) {
            d->unusual = 1; /* junk between markers: JWRN_EXTRANEOUS_DATA */
            pos++;
            continue;
        }
        int marker = data[pos + 1];
        if (marker == 0xD9) {
            d->saw_eoi = 1;
            break;
        }
        if (d->count_components && !(marker == 0xC4 || marker == 0xDB || marker == 0xDD || marker == 0xDA ||
                                     marker == 0xFE || (marker >= 0xE0 && marker <= 0xEF) || marker == 0xFF))
            d->unusual = 1; /* after the frame, only tables, scans, APPn and comments are ordinary */
        if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0xFF) {
            pos += marker == 0xFF ? 1 : 2;
            continue;
        }
        if (pos + 4 > size)
            break;
        size_t length = (size_t)(data[pos + 2] << 8 | data[pos + 3]);
        if (length < 2 || pos + 2 + length > size)
            return -1;
        const uint8_t *body = data + pos + 4;
        length -= 2;
        pos += 4 + length;
        int failed = 0;
        if (marker == 0xEE || (marker == 0xE2 && length >= 12 && memcmp(body, "ICC_PROFILE", 12) == 0))
            d->unusual = 1; /* a colour transform, a profile: libjpeg-turbo's own reading of them decides */
        if (marker == 0xC0 || marker == 0xC1 || marker == 0xC2)
            failed = read_frame(d, body, length, marker == 0xC2, size);
        else if (marker >= 0xC3 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC)
            failed = -1; /* lossless, hierarchical, arithmetic: not judged */
        else if (marker == 0xC4)
            failed = read_huffman(d, body, length);
        else if (marker == 0xDB) {
            d->unusual |= d->scans > 0; /* tables are latched at a component's first scan: jdinput.c */
            failed = read_quant(d, body, length);
        } else if (marker == 0xE0 && length >= 14 && memcmp(body, "JFIF", 5) == 0)
            d->jfif |= d->scans == 0; /* only before the first scan: jdmarker.c examine_app0 */
        else if (marker == 0xEE && length > 11 && memcmp(body, "Adobe", 5) == 0)
            d->adobe_transform = body[11];
        else if (marker == 0xDD && length == 2)
            d->restart_interval = body[0] << 8 | body[1];
        else if (marker == 0xDD)
            failed = -1; /* JERR_BAD_LENGTH (jdmarker.c get_dri) */
        else if (marker == 0xDA && d->scans >= MAX_SCANS)
            failed = -1; /* not judged: each scan goes over every block of its components again */
        else if (marker == 0xDA && d->scans && !d->multiple_scans) {
            d->unusual = 1; /* JERR_EOI_EXPECTED: a second scan of a single-scan JPEG (jdinput.c consume_markers) */
            break;          /* libjpeg-turbo stops there; decoding every block again for each such scan would not */
        } else if (marker == 0xDA) {
            pos = read_scan(d, data, size, body, length, pos);
            failed = pos == 0 ? -1 : 0;
        }
        if (failed)
            return -1;
    }
    if (!d->count_components)
        return -1;
    for (int i = 0; i < d->count_components; i++) {
        if (!d->quant_present[d->comps[i].tq])
            return -1;
        if (!d->scanned[i])
            d->unusual = 1; /* a component never decoded */
        for (int k = 0; d->progressive && k < 64; k++)
            if (d->coef_bits[i][k] != 0)
                d->unusual = 1; /* a progression left incomplete: libjpeg-turbo smooths the blocks (jdcoefct.c) */
    }
    if (!d->saw_eoi)
        d->unusual = 1; /* JWRN_JPEG_EOF */
    if (d->progressive)
        judge_progressive(d);
    judge_gamut(d);
    /* progressive 4:2:0 chroma by the 2x2 IDCT only for a quiet file, whose picture is made: its values
     * are then in range (4:2:0 chroma has no padding blocks), while a hostile file's, shifted left by up
     * to 13 bits, overflow the IDCT's 64-bit sums (found by review, 2026-11-29) */
    for (int i = 0; d->progressive && quiet(d) && i < d->count_components; i++) {
        Component *c = &d->comps[i];
        for (int y = 0; c->plane && y < c->rows; y++)
            for (int x = 0; x < c->cols; x++)
                plane_block(c, &c->coef[((size_t)y * c->cols + x) * 64], d->idct_factors[c->tq], y, x);
    }
    return 0;
}

/* The picture at scale 1/8 (ceil(width / 8) x ceil(height / 8)), grey or RGB, as strict libjpeg-turbo
 * decodes it with fast upsampling: luma (and 4:4:4 chroma) one pixel a block from its DC; 4:2:0 chroma
 * by the reduced 2x2 IDCT, which libjpeg picks so that no upsampling is needed (jdmaster.c); then
 * jdcolor.c's conversion. NULL when out of memory. */
static uint8_t *eighth_picture(const Decoder *d, int *height, int *width, int *channels) {
    *height = ceil_div(d->height, 8);
    *width = ceil_div(d->width, 8);
    *channels = d->layout == LAYOUT_GREY ? 1 : 3;
    uint8_t *pixels = malloc((size_t)*height * *width * *channels);
    if (!pixels)
        return NULL;
    const Component *y = &d->comps[0];
    const uint16_t *qy = d->quant[y->tq];
    for (int row = 0; row < *height; row++)
        for (int col = 0; col < *width; col++) {
            uint8_t luma = idct_1x1(y->dc[(size_t)row * y->cols + col], qy[0]);
            if (*channels == 1) {
                pixels[(size_t)row * *width + col] = luma;
                continue;
            }
            uint8_t chroma[2];
            for (int i = 1; i <= 2; i++) {
                const Component *c = &d->comps[i];
                if (d->layout == LAYOUT_444) {
                    chroma[i - 1] = idct_1x1(c->dc[(size_t)row * c->cols + col], d->quant[c->tq][0]);
                } else {
                    chroma[i - 1] = c->plane[(size_t)row * c->cols * 2 + col];
                }
            }
            int cb = chroma[0], cr = chroma[1];
            uint8_t *rgb = &pixels[((size_t)row * *width + col) * 3];
            rgb[0] = clamp_sample(luma + CR_R[cr]);
            rgb[1] = clamp_sample(luma + (int)((CB_G[cb] + CR_G[cr]) >> 16));
            rgb[2] = clamp_sample(luma + CB_B[cb]);
        }
    return pixels;
}

static void release(Decoder *d) {
    for (int i = 0; i < 4; i++) {
        free(d->comps[i].dc);
        free(d->comps[i].coef);
        free(d->comps[i].plane);
        free(d->comps[i].top);
        free(d->comps[i].bottom);
    }
    free(d);
}

/* Whether libjpeg-turbo takes three components as RGB, not YCbCr: no JFIF marker, no Adobe one (that
 * one makes the file `unusual`), and the components named R, G, B (jdapimin.c default_decompress_parms). */
static int rgb_by_name(const Decoder *d) {
    const Component *c = d->comps;
    return d->count_components == 3 && !d->jfif && c[0].id == 'R' && c[1].id == 'G' && c[2].id == 'B';
}

/* The picture at 1/8 scale as bytes (height, width, channels), or None: made only when asked for, for
 * a file of a layout this decoder knows that libjpeg-turbo would decode at 1/8 (both sides of at least
 * 16 pixels there, the scan's least) without a warning, and in which no event was met. */
static PyObject *picture(const Decoder *d) {
    if (!d->eighth || !quiet(d) || d->layout == LAYOUT_OTHER || rgb_by_name(d) ||
        ceil_div(d->width, 8) < 16 || ceil_div(d->height, 8) < 16)
        return Py_NewRef(Py_None);
    int height, width, channels;
    uint8_t *pixels = eighth_picture(d, &height, &width, &channels);
    if (!pixels)
        return PyErr_NoMemory();
    PyObject *out = Py_BuildValue("(y#iii)", (const char *)pixels, (Py_ssize_t)height * width * channels, height,
                                  width, channels);
    free(pixels);
    return out;
}

/* The step check (grid_step) on each component's grid of whole MCUs, into d->steps; none on a grid
 * under min_rows x min_cols MCUs, which the check does not judge. 0, or -1 when out of memory. */
static int run_step_check(Decoder *d, const GridCheck *check) {
    int single = d->count_components == 1;
    whole_mcus(d, &d->grid_rows, &d->grid_cols);
    for (int i = 0; i < d->count_components; i++)
        d->steps[i].found = 0;
    for (int i = 0; i < d->count_components; i++) {
        const Component *c = &d->comps[i];
        int h = single ? 1 : c->h, v = single ? 1 : c->v;
        if (d->grid_rows < check->min_rows || d->grid_cols < check->min_cols || d->grid_rows * v > c->rows ||
            d->grid_cols * h > c->cols)
            continue;
        if (grid_step(c->dc, c->top, c->bottom, (size_t)c->cols, d->quant[c->tq][0], (size_t)h, (size_t)v,
                      (size_t)d->grid_rows, (size_t)d->grid_cols, check, i == 0, &d->steps[i]) < 0)
            return -1;
        if (d->steps[i].drawn)
            return 0; /* a drawn picture: judged by the marks alone (dc_grid.py drawn) */
        if (d->steps[i].found) /* from a block index to an MCU row and column */
            d->steps[i].start = d->steps[i].start / ((long)d->grid_cols * h) * d->grid_cols +
                                d->steps[i].start % ((long)d->grid_cols * h) / h;
    }
    return 0;
}

/* What the step check found: (MCU rows, MCU columns, [(component, MCU row, MCU column, offset, strength)
 * per component where a step was found]); None if not asked. */
static PyObject *found_steps(const Decoder *d) {
    if (!d->checked)
        return Py_NewRef(Py_None);
    PyObject *found = PyList_New(0);
    for (int i = 0; found && i < d->count_components; i++) {
        const GridStep *step = &d->steps[i];
        if (!step->found)
            continue;
        PyObject *item = Py_BuildValue("(illdd)", i, step->start / d->grid_cols, step->start % d->grid_cols,
                                       (double)step->offset, step->strength);
        if (!item || PyList_Append(found, item) < 0)
            Py_CLEAR(found);
        Py_XDECREF(item);
    }
    return found ? Py_BuildValue("(iiN)", d->grid_rows, d->grid_cols, found) : NULL;
}

static PyObject *result(const Decoder *d, int planes) {
    PyObject *events = PyDict_New(), *components = planes ? PyList_New(0) : Py_NewRef(Py_None);
    if (!events || !components)
        goto failed;
    for (int name = 0; name < EVENTS; name++) {
        if (!d->count[name])
            continue;
        PyObject *value = Py_BuildValue("(ll)", d->count[name], d->where[name]);
        if (!value || PyDict_SetItemString(events, EVENT_NAMES[name], value) < 0) {
            Py_XDECREF(value);
            goto failed;
        }
        Py_DECREF(value);
    }
    for (int i = 0; planes && i < d->count_components; i++) {
        const Component *c = &d->comps[i];
        Py_ssize_t blocks = (Py_ssize_t)c->rows * c->cols;
        PyObject *item = Py_BuildValue(
            "{s:i,s:i,s:i,s:i,s:i,s:i,s:y#,s:y#,s:y#}", "id", c->id, "h", c->h, "v", c->v, "rows", c->rows, "cols",
            c->cols, "dc_step", d->quant[c->tq][0], "dc", (const char *)c->dc, blocks * (Py_ssize_t)sizeof(int32_t),
            "top", (const char *)c->top, blocks * (Py_ssize_t)sizeof(float), "bottom", (const char *)c->bottom,
            blocks * (Py_ssize_t)sizeof(float));
        if (!item || PyList_Append(components, item) < 0) {
            Py_XDECREF(item);
            goto failed;
        }
        Py_DECREF(item);
    }
    PyObject *eighth = picture(d);
    if (!eighth)
        goto failed;
    PyObject *steps = found_steps(d);
    if (!steps) {
        Py_DECREF(eighth);
        goto failed;
    }
    return Py_BuildValue("{s:N,s:N,s:N,s:N,s:O,s:O,s:i,s:i,s:i,s:i,s:i}", "events", events, "components", components,
                         "steps", steps, "eighth", eighth, "progressive", d->progressive ? Py_True : Py_False, "unusual",
                         d->unusual ? Py_True : Py_False, "width", d->width, "height", d->height, "mcux", d->mcux,
                         "mcuy", d->mcuy, "adobe_transform", d->adobe_transform);
failed:
    Py_XDECREF(events);
    Py_XDECREF(components);
    return NULL;
}

static PyObject *entropy_decode(PyObject *module, PyObject *args, PyObject *kwargs) {
    (void)module;
    static char *keywords[] = {"data", "eighth", "step_check", "planes", NULL};
    Py_buffer view;
    int eighth = 0, planes = 1;
    PyObject *asked = Py_None;
    GridCheck check = {0.0f, 0.0f, 0, 0, 0, 0.0f};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|$pOp", keywords, &view, &eighth, &asked, &planes))
        return NULL;
    if (asked != Py_None && !PyTuple_Check(asked)) { /* PyArg_ParseTuple would raise SystemError */
        PyErr_SetString(PyExc_TypeError, "step_check must be a tuple or None");
        PyBuffer_Release(&view);
        return NULL;
    }
    if (asked != Py_None && (!PyArg_ParseTuple(asked, "ffiiif", &check.raw_gate, &check.coarse_gate, &check.min_rows,
                                               &check.min_cols, &check.candidates, &check.drawn) ||
                             check.min_rows < 2 || check.min_cols < 2 || check.candidates < 1)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "step_check: min_rows and min_cols must be 2 or more, candidates 1");
        PyBuffer_Release(&view);
        return NULL;
    }
    Decoder *d = malloc(sizeof(Decoder));
    if (d) { /* the Huffman tables (most of its size) are filled when defined */
        memset(d, 0, offsetof(Decoder, tables));
        for (int i = 0; i < 8; i++)
            d->tables[i / 4][i % 4].present = 0;
    }
    if (!d) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    d->adobe_transform = -1;
    d->eighth = eighth;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = view.len >= 4 ? decode(d, view.buf, (size_t)view.len) : -1;
    d->checked = status == 0 && asked != Py_None;
    if (d->checked && run_step_check(d, &check) < 0)
        status = -2;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *out = status == 0 ? result(d, planes) : (status == -2 ? PyErr_NoMemory() : Py_NewRef(Py_None));
    release(d);
    return out;
}

static PyMethodDef METHODS[] = {
    {"decode", (PyCFunction)(void (*)(void))entropy_decode, METH_VARARGS | METH_KEYWORDS,
     "decode(data, *, eighth=False, step_check=None, planes=True) -> dict | None: the events and (with planes)\n"
     "the DC values and edge sums ('components') of a Huffman\n"
     "JPEG's entropy-coded data, and with eighth=True its picture at 1/8 scale as strict libjpeg-turbo decodes\n"
     "it (bytes, height, width, channels) where this decoder can make it exactly, else None; with step_check=\n"
     "(raw_gate, coarse_gate, min_rows, min_cols, candidates, drawn), 'steps': the strongest step dc_grid.py's check\n"
     "finds per component, (component, MCU row, MCU column, offset, strength) (sanitize/load/_grid_step.h),\n"
     "else None. None when the file is not one this decoder judges (not 8-bit Huffman sequential or\n"
     "progressive, or headers it cannot follow)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_entropy", NULL, -1, METHODS};

PyMODINIT_FUNC PyInit__entropy(void) {
    fdct_bounds();
    picture_tables();
    edge_tables();
    return PyModule_Create(&MODULE);
}
