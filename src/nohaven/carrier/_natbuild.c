/* The NAT table's rows computed from nat events without SQL (see natbuild.py for the algorithm and why it gives
 * the rows of build_sql("nat", ...) in the same order).
 *
 * nat_rows(batches, coverage, order) takes the events as a tuple of batches, each (rows, columns) with the columns
 * as (validity bitmap or None, data, offset) triples of buffers (Arrow's layout) in the order of COLUMN_NAMES
 * below, and returns (rows, buffers): the output columns as bytes objects in Arrow's layout, in the order of the
 * nat table's rows with their day. The batches are read where they are: nothing is copied into one array.
 *
 * Phases: (1) one pass over the events in their order: the sources and their coverage, the range of each key
 * field (for packing a key into few 64-bit words), and where the window's order (t_ms, src, line) breaks;
 * (2) the events taken in that order (as they are, by merging their ordered runs, or radix-sorted when the runs
 * are many) and folded, key by key, into open segments held in a hash table: a close ends its segment, which
 * becomes an interval at once; the segments still open at the end become intervals last; (3) each interval
 * repeated into every day it overlaps and the rows radix-sorted by (day, public address and port, start), ties
 * sorted by the rest of the table's order; (4) the output columns filled in that order. The heavy phases run
 * without the GIL. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef NATBUILD_TIMING /* phase times on stderr, for profiling by hand */
#include <stdio.h>
#include <time.h>
static double now_s(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
#define TICK(label) do { double t_ = now_s(); fprintf(stderr, "%s %.3f\n", label, t_ - tick_); tick_ = t_; } while (0)
#define TICK_START double tick_ = now_s()
#else
#define TICK(label) ((void)0)
#define TICK_START ((void)0)
#endif

#define DAY_MS 86400000.0
#define FLAG_START_UNKNOWN 2
#define FLAG_END_OPEN 4

enum { C_ACTION, C_T, C_BEGIN, C_SLACK, C_FLAGS, C_PROTO, C_PRIV_IP, C_PRIV_PORT, C_PUB_IP, C_PUB_PORT, C_SRC,
       C_LINE, C_NLINES, NCOL };
static const char *const COLUMN_NAMES[NCOL] = {"action", "t_ms", "begin_ms", "slack_ms", "flags", "proto",
                                               "priv_ip", "priv_port", "pub_ip", "pub_port", "src", "line",
                                               "nlines"};
static const Py_ssize_t COLUMN_WIDTH[NCOL] = {1, 8, 8, 4, 1, 1, 16, 4, 16, 4, 8, 8, 4};

typedef struct {
    const uint8_t *valid; /* NULL: no nulls */
    const uint8_t *data;  /* the first element (offset applied) */
    Py_ssize_t bit0;      /* the offset, for the validity bitmap */
} column;

/* A batch of events: its columns share its rows. */
typedef struct {
    size_t n;
    column col[NCOL];
} batch;

static inline int ok(const column *c, size_t i) {
    if (!c->valid) return 1;
    size_t b = (size_t)c->bit0 + i;
    return (c->valid[b >> 3] >> (b & 7)) & 1;
}
static inline int64_t i64(const column *c, size_t i) { int64_t v; memcpy(&v, c->data + 8 * i, 8); return v; }
static inline int32_t i32(const column *c, size_t i) { int32_t v; memcpy(&v, c->data + 4 * i, 4); return v; }
static inline int8_t i8(const column *c, size_t i) { return (int8_t)c->data[i]; }
static inline const uint8_t *ip(const column *c, size_t i) { return c->data + 16 * i; }
static inline uint64_t be64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
static inline void put_be64(uint8_t *p, uint64_t v) {
    for (int k = 7; k >= 0; k--) { p[k] = (uint8_t)v; v >>= 8; }
}

/* ---- memory ------------------------------------------------------------------------------------------------ */
/* First touches of fresh pages dominate a pass over tens of megabytes (a fault per 4 KiB page): large buffers
 * ask for transparent huge pages where the kernel offers them on request. */
#define HUGE_PAGE ((size_t)2 << 20)

static void huge_pages(void *p, size_t size) {
#ifdef MADV_HUGEPAGE
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t b = ((uintptr_t)p + size) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)size;
#endif
}

static void *big(size_t count, size_t size) {
    if (count == 0) count = 1;
    if (count > SIZE_MAX / size) return NULL;
    size_t bytes = count * size;
    if (bytes < 2 * HUGE_PAGE) return malloc(bytes);
    void *p = NULL;
    if (posix_memalign(&p, HUGE_PAGE, bytes) != 0) return NULL;
    huge_pages(p, bytes);
    return p;
}

/* ---- sources: id -> (rank in value order, coverage) ------------------------------------------------------- */
typedef struct {
    size_t cap, count;     /* hash slots (a power of two), distinct sources */
    int64_t *slot_key;
    int32_t *slot_id;      /* -1: empty */
    int64_t *value;        /* by id */
    int64_t *cover;        /* by id: the source's coverage of nat */
    uint8_t *cover_ok;
    uint32_t *rank;        /* by id: rank of the value among the sources */
    size_t vcap;
} sources;

static inline size_t mix(int64_t key) {
    uint64_t z = (uint64_t)key + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (size_t)(z ^ (z >> 31));
}

static int sources_grow(sources *s) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    int64_t *keys = malloc(cap * sizeof *keys);
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!keys || !ids) { free(keys); free(ids); return -1; }
    for (size_t k = 0; k < cap; k++) ids[k] = -1;
    for (size_t k = 0; k < s->cap; k++) {
        if (s->slot_id[k] < 0) continue;
        size_t h = mix(s->slot_key[k]) & (cap - 1);
        while (ids[h] >= 0) h = (h + 1) & (cap - 1);
        keys[h] = s->slot_key[k];
        ids[h] = s->slot_id[k];
    }
    free(s->slot_key);
    free(s->slot_id);
    s->slot_key = keys;
    s->slot_id = ids;
    s->cap = cap;
    return 0;
}

/* The id of `key`, or -1 when absent (add = 0) or out of memory (add = 1: -2). */
static int32_t sources_id(sources *s, int64_t key, int add) {
    if (s->cap) {
        size_t h = mix(key) & (s->cap - 1);
        while (s->slot_id[h] >= 0) {
            if (s->slot_key[h] == key) return s->slot_id[h];
            h = (h + 1) & (s->cap - 1);
        }
    }
    if (!add) return -1;
    if (2 * (s->count + 1) > s->cap && sources_grow(s) < 0) return -2;
    if (s->count == s->vcap) {
        size_t vcap = s->vcap ? s->vcap * 2 : 16;
        int64_t *value = realloc(s->value, vcap * sizeof *value);
        if (value) s->value = value;
        int64_t *cover = realloc(s->cover, vcap * sizeof *cover);
        if (cover) s->cover = cover;
        uint8_t *cover_ok = realloc(s->cover_ok, vcap);
        if (cover_ok) s->cover_ok = cover_ok;
        if (!value || !cover || !cover_ok) return -2;
        s->vcap = vcap;
    }
    size_t h = mix(key) & (s->cap - 1);
    while (s->slot_id[h] >= 0) h = (h + 1) & (s->cap - 1);
    int32_t id = (int32_t)s->count++;
    s->slot_key[h] = key;
    s->slot_id[h] = id;
    s->value[id] = key;
    s->cover_ok[id] = 0;
    s->cover[id] = 0;
    return id;
}

static void sources_free(sources *s) {
    free(s->slot_key); free(s->slot_id); free(s->value); free(s->cover); free(s->cover_ok); free(s->rank);
}

/* Ranks of the sources' values (an insertion sort: sources are few, one per ingested file). */
static int sources_rank(sources *s) {
    size_t u = s->count;
    uint32_t *ids = malloc((u ? u : 1) * sizeof *ids);
    s->rank = malloc((u ? u : 1) * sizeof *s->rank);
    if (!ids || !s->rank) { free(ids); return -1; }
    for (size_t k = 0; k < u; k++) {
        uint32_t x = (uint32_t)k;
        size_t j = k;
        while (j > 0 && s->value[ids[j - 1]] > s->value[x]) { ids[j] = ids[j - 1]; j--; }
        ids[j] = x;
    }
    for (size_t k = 0; k < u; k++) s->rank[ids[k]] = (uint32_t)k;
    free(ids);
    return 0;
}

/* ---- radix sort of (key, value) pairs, stable, 11-bit digits, constant digits skipped --------------------- */
#define RADIX_BITS 11
#define RADIX (1u << RADIX_BITS)

/* k2, v2: scratch of n elements. */
static int radix_sort(uint64_t *keys, uint32_t *vals, size_t n, int width, uint64_t *k2, uint32_t *v2) {
    if (n < 2 || width == 0) return 0;
    int digits = (width + RADIX_BITS - 1) / RADIX_BITS;
    size_t *count = calloc((size_t)digits * RADIX, sizeof *count);
    if (!count) return -1;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = keys[i];
        for (int d = 0; d < digits; d++) count[(size_t)d * RADIX + ((k >> (d * RADIX_BITS)) & (RADIX - 1))]++;
    }
    uint64_t *ka = keys, *kb = k2;
    uint32_t *va = vals, *vb = v2;
    for (int d = 0; d < digits; d++) {
        size_t *c = count + (size_t)d * RADIX;
        int constant = 0;
        for (size_t b = 0; b < RADIX && !constant; b++) constant = c[b] == n;
        if (constant) continue;
        size_t sum = 0;
        for (size_t b = 0; b < RADIX; b++) { size_t t = c[b]; c[b] = sum; sum += t; }
        int shift = d * RADIX_BITS;
        for (size_t i = 0; i < n; i++) {
            size_t at = c[(ka[i] >> shift) & (RADIX - 1)]++;
            kb[at] = ka[i];
            vb[at] = va[i];
        }
        uint64_t *kt = ka; ka = kb; kb = kt;
        uint32_t *vt = va; va = vb; vb = vt;
    }
    if (ka != keys) {
        memcpy(keys, ka, n * sizeof *keys);
        memcpy(vals, va, n * sizeof *vals);
    }
    free(count);
    return 0;
}

static int bits(uint64_t span) {
    int b = 0;
    while (span) { b++; span >>= 1; }
    return b;
}

/* ---- packed fields ------------------------------------------------------------------------------------------ */
/* A field is one column's null flag or (part of) its value as an order-preserving unsigned integer, minus the
 * field's minimum; fields are packed into 64-bit words, none across two words. A nullable column's null flag
 * comes before its value (NULLS LAST) and a null value packs as zero. */
enum { F_NULL, F_I8, F_I32, F_I64, F_IPHI, F_IPLO, F_SRC };
#define SIGN ((uint64_t)1 << 63)

typedef struct {
    int kind, col;         /* F_*, C_* */
    uint64_t lo, hi;       /* range of the raw values seen (lo > hi: none) */
    uint64_t min;
    int width, shift, word;
} field;

/* A field's value before the minimum is subtracted, for row i of batch b (a null value: 0, not counted). */
static inline uint64_t raw_value(const field *f, const batch *b, size_t i, uint32_t rank) {
    const column *c = &b->col[f->col];
    switch (f->kind) {
    case F_NULL: return (uint64_t)!ok(c, i);
    case F_I8: return ok(c, i) ? (uint64_t)(int64_t)i8(c, i) ^ SIGN : 0;
    case F_I32: return ok(c, i) ? (uint64_t)(int64_t)i32(c, i) ^ SIGN : 0;
    case F_I64: return ok(c, i) ? (uint64_t)i64(c, i) ^ SIGN : 0;
    case F_IPHI: return ok(c, i) ? be64(ip(c, i)) : 0;
    case F_IPLO: return ok(c, i) ? be64(ip(c, i) + 8) : 0;
    default: return rank;
    }
}

static inline int counted(const field *f, const batch *b, size_t i) {
    return f->kind == F_NULL || f->kind == F_SRC || ok(&b->col[f->col], i);
}

static inline void widen(field *f, uint64_t v) {
    if (v < f->lo) f->lo = v;
    if (v > f->hi) f->hi = v;
}

#define MAX_WORDS 8

/* Fields (most significant first; group[k] of field k) packed from the least significant one into words; a
 * word holds fields of one group class only (class_of). Returns the number of words, or -1 when more than
 * MAX_WORDS are needed. word_width[w]: its bits; first_shift[w]: where the fields of group `mark` begin in it
 * (64: none). */
static int pack(field *f, int nf, const int *group, int (*class_of)(int), int mark, int *word_width,
                int *first_shift) {
    int words = 0, used = 0, word_group = -1;
    for (int k = 0; k < nf; k++) {
        f[k].min = f[k].lo <= f[k].hi ? f[k].lo : 0;
        f[k].width = f[k].lo <= f[k].hi ? bits(f[k].hi - f[k].lo) : 0;
    }
    for (int k = nf - 1; k >= 0; k--) {
        if (f[k].width == 0) { f[k].word = -1; continue; }
        if (used && (used + f[k].width > 64 || class_of(word_group) != class_of(group[k]))) {
            word_width[words++] = used;
            used = 0;
            if (words == MAX_WORDS) return -1;
        }
        if (!used) { word_group = group[k]; first_shift[words] = 64; }
        if (group[k] == mark && first_shift[words] == 64) first_shift[words] = used;
        f[k].word = words;
        f[k].shift = used;
        used += f[k].width;
    }
    if (used) word_width[words++] = used;
    return words;
}

/* The packed words of the key of row i of batch b, from the fields that take bits (active). */
static inline void pack_key(const field *key, const int *active, int nactive, int words, const batch *b, size_t i,
                            uint64_t *out) {
    for (int w = 0; w < words; w++) out[w] = 0;
    for (int a = 0; a < nactive; a++) {
        const field *f = &key[active[a]];
        const column *c = &b->col[f->col];
        uint64_t v;
        switch (f->kind) {
        case F_NULL: v = (uint64_t)!ok(c, i); break;
        case F_I8: if (!ok(c, i)) continue; v = (uint64_t)(int64_t)i8(c, i) ^ SIGN; break;
        case F_I32: if (!ok(c, i)) continue; v = (uint64_t)(int64_t)i32(c, i) ^ SIGN; break;
        case F_IPHI: if (!ok(c, i)) continue; v = be64(ip(c, i)); break;
        default: if (!ok(c, i)) continue; v = be64(ip(c, i) + 8); break;
        }
        out[f->word] |= (v - f->min) << f->shift;
    }
}

/* A field's raw value back from packed words. */
static inline uint64_t unpack(const field *f, const uint64_t *words) {
    if (f->word < 0) return f->min;
    uint64_t mask = f->width == 64 ? ~(uint64_t)0 : (((uint64_t)1 << f->width) - 1);
    return ((words[f->word] >> f->shift) & mask) + f->min;
}

/* The key of a mapping: its public side first (the table's runs), then its private side. */
enum { G_PUB, G_PRIV };
enum { K_PUB_NULL, K_PUB_HI, K_PUB_LO, K_PORT_NULL, K_PORT, K_PROTO_NULL, K_PROTO, K_PRIV_NULL, K_PRIV_HI,
       K_PRIV_LO, K_PPORT_NULL, K_PPORT, NKEY };
static const int KEY_KIND[NKEY] = {F_NULL, F_IPHI, F_IPLO, F_NULL, F_I32, F_NULL, F_I8, F_NULL, F_IPHI, F_IPLO,
                                   F_NULL, F_I32};
static const int KEY_COL[NKEY] = {C_PUB_IP, C_PUB_IP, C_PUB_IP, C_PUB_PORT, C_PUB_PORT, C_PROTO, C_PROTO,
                                  C_PRIV_IP, C_PRIV_IP, C_PRIV_IP, C_PRIV_PORT, C_PRIV_PORT};
static const int KEY_GROUP[NKEY] = {G_PUB, G_PUB, G_PUB, G_PUB, G_PUB, G_PRIV, G_PRIV, G_PRIV, G_PRIV, G_PRIV,
                                    G_PRIV, G_PRIV};
static int one_class(int g) { (void)g; return 0; }

/* The window's order (t_ms NULLS LAST, src, line NULLS LAST), for the radix path. */
enum { T_NULL, T_VALUE, T_SRC, T_LINE_NULL, T_LINE, NTIME };
static const int TIME_KIND[NTIME] = {F_NULL, F_I64, F_SRC, F_NULL, F_I64};
static const int TIME_COL[NTIME] = {C_T, C_T, C_SRC, C_LINE, C_LINE};

/* ---- the window's order ------------------------------------------------------------------------------------- */
typedef struct {
    int64_t t, src, line;
    uint8_t t_null, line_null;
} wkey;

static inline void window_key(const batch *b, size_t i, wkey *k) {
    const column *c = b->col;
    k->t_null = !ok(&c[C_T], i);
    k->t = k->t_null ? 0 : i64(&c[C_T], i);
    k->src = i64(&c[C_SRC], i);
    k->line_null = !ok(&c[C_LINE], i);
    k->line = k->line_null ? 0 : i64(&c[C_LINE], i);
}

#define CMP(a, b) do { if ((a) != (b)) return (a) < (b) ? -1 : 1; } while (0)
/* NULLS LAST, as DuckDB orders by default. */
#define CMP_NULL(na, nb) do { if ((na) != (nb)) return (na) ? 1 : -1; } while (0)

static inline int wkey_cmp(const wkey *a, const wkey *b) {
    CMP_NULL(a->t_null, b->t_null);
    CMP(a->t, b->t);
    CMP(a->src, b->src);
    CMP_NULL(a->line_null, b->line_null);
    CMP(a->line, b->line);
    return 0;
}

/* ---- segments and intervals --------------------------------------------------------------------------------- */
/* A segment's aggregates as it grows (the SQL's grp and iv, NULLs ignored as SQL aggregates ignore them). */
enum { A_KS = 1, A_FS = 2, A_KE = 4, A_COV = 8, A_SLACK = 16, A_FLAGS = 32, A_ES = 64, A_EL = 128, A_EN = 256,
       A_LINE = 512, A_NLINES = 1024 };
typedef struct {
    int64_t ks, fs, ke, cov, el, line;
    int32_t sl, fl, en, nlines;
    uint32_t es, rank; /* ranks: of the latest closing source, of the first event's source */
    uint32_t have;     /* A_* */
} segment;

/* What a segment reads of one event. */
enum { R_ACTION = 1, R_T = 2, R_BEGIN = 4, R_SLACK = 8, R_FLAGS = 16, R_LINE = 32, R_NLINES = 64 };
typedef struct {
    int64_t t, begin, line;
    int32_t slack, nlines;
    uint32_t rank;
    int8_t action, flags;
    uint8_t ok;
} record;

static inline void make_record(const batch *b, size_t i, uint32_t rank, record *r) {
    const column *c = b->col;
    r->ok = 0;
    r->action = 0; r->flags = 0; r->t = 0; r->begin = 0; r->line = 0; r->slack = 0; r->nlines = 0;
    if (ok(&c[C_ACTION], i)) { r->action = i8(&c[C_ACTION], i); r->ok |= R_ACTION; }
    if (ok(&c[C_T], i)) { r->t = i64(&c[C_T], i); r->ok |= R_T; }
    if (ok(&c[C_BEGIN], i)) { r->begin = i64(&c[C_BEGIN], i); r->ok |= R_BEGIN; }
    if (ok(&c[C_SLACK], i)) { r->slack = i32(&c[C_SLACK], i); r->ok |= R_SLACK; }
    if (ok(&c[C_FLAGS], i)) { r->flags = i8(&c[C_FLAGS], i); r->ok |= R_FLAGS; }
    if (ok(&c[C_LINE], i)) { r->line = i64(&c[C_LINE], i); r->ok |= R_LINE; }
    if (ok(&c[C_NLINES], i)) { r->nlines = i32(&c[C_NLINES], i); r->ok |= R_NLINES; }
    r->rank = rank;
}

#define IS_CLOSE(r) (((r)->ok & R_ACTION) && (r)->action >= 2)

static inline void segment_start(segment *s, const record *r) {
    memset(s, 0, sizeof *s);
    s->rank = r->rank;
    if (r->ok & R_LINE) { s->line = r->line; s->have |= A_LINE; }
    if (r->ok & R_NLINES) { s->nlines = r->nlines; s->have |= A_NLINES; }
}

/* One event of the segment, in the window's order. */
static inline void segment_add(segment *s, const record *r, const int64_t *cover, const uint8_t *cover_ok) {
    uint32_t h = s->have;
    if ((r->ok & R_ACTION) && r->action == 0 && (r->ok & R_T) && (!(h & A_KS) || r->t < s->ks)) {
        s->ks = r->t;
        h |= A_KS;
    }
    if ((r->ok & R_ACTION) && r->action == 3 && (r->ok & R_BEGIN) && (!(h & A_KS) || r->begin < s->ks)) {
        s->ks = r->begin;
        h |= A_KS;
    }
    if ((r->ok & R_T) && (!(h & A_FS) || r->t < s->fs)) { s->fs = r->t; h |= A_FS; }
    if (IS_CLOSE(r)) {
        if ((r->ok & R_T) && (!(h & A_KE) || r->t > s->ke)) { s->ke = r->t; h |= A_KE; }
        if (!(h & A_ES) || r->rank > s->es) { s->es = r->rank; h |= A_ES; }
        if ((r->ok & R_LINE) && (!(h & A_EL) || r->line > s->el)) { s->el = r->line; h |= A_EL; }
        if ((r->ok & R_NLINES) && (!(h & A_EN) || r->nlines > s->en)) { s->en = r->nlines; h |= A_EN; }
    }
    if (cover_ok[r->rank] && (!(h & A_COV) || cover[r->rank] > s->cov)) { s->cov = cover[r->rank]; h |= A_COV; }
    if ((r->ok & R_SLACK) && (!(h & A_SLACK) || r->slack > s->sl)) { s->sl = r->slack; h |= A_SLACK; }
    if (r->ok & R_FLAGS) { s->fl |= (int32_t)r->flags; h |= A_FLAGS; }
    s->have = h;
}

enum { N_LINE = 1, N_NLINES = 2, N_FLAGS = 4, N_END = 8, N_END_LINE = 16, N_END_NLINES = 32 };

typedef struct {
    int64_t start, end, line, end_line;
    int32_t slack, flags, nlines, end_nlines;
    uint32_t rank, end_rank; /* of the sources */
    uint8_t nulls;
} interval;

/* The first and last day of a kept interval (its start - slack and end + slack do not overflow: checked). */
static inline void days_of(const interval *v, int64_t *d0, int64_t *d1) {
    *d0 = (int64_t)floor((double)(v->start - (int64_t)v->slack) / DAY_MS);
    *d1 = (int64_t)floor((double)(v->end + (int64_t)v->slack) / DAY_MS);
}

/* A segment's interval; keep: 1 when it has a day, 0 when none, -1 when its times overflow. */
static void segment_end(const segment *s, interval *out, int *keep) {
    uint32_t h = s->have;
    out->nulls = 0;
    out->rank = s->rank;
    out->line = s->line;
    if (!(h & A_LINE)) out->nulls |= N_LINE;
    out->nlines = s->nlines;
    if (!(h & A_NLINES)) out->nulls |= N_NLINES;
    int have_start = (h & (A_KS | A_FS)) != 0;
    out->start = (h & A_KS) ? s->ks : s->fs;
    int have_end = 1;
    if (h & A_KE) out->end = s->ke;
    else if ((h & A_COV) && have_start) out->end = s->cov > out->start ? s->cov : out->start;
    else if (h & A_COV) out->end = s->cov;
    else if (have_start) out->end = out->start;
    else have_end = 0;
    out->flags = 0;
    if (h & A_FLAGS) out->flags = s->fl | ((h & A_KS) ? 0 : FLAG_START_UNKNOWN) | ((h & A_KE) ? 0 : FLAG_END_OPEN);
    else out->nulls |= N_FLAGS;
    out->slack = s->sl;
    out->end_rank = (h & A_ES) ? s->es : 0;
    if (!(h & A_ES)) out->nulls |= N_END;
    out->end_line = s->el;
    if (!(h & A_EL)) out->nulls |= N_END_LINE;
    out->end_nlines = s->en;
    if (!(h & A_EN)) out->nulls |= N_END_NLINES;
    *keep = 0;
    /* range(floor((start - slack) / DAY), floor((end + slack) / DAY) + 1) in DuckDB's double arithmetic; a NULL
     * start, end or slack gives no day (unnest of NULL), as does an end day before the start day. */
    if (!have_start || !have_end || !(h & A_SLACK)) return;
    int64_t lo, hi, dur;
    if (__builtin_sub_overflow(out->start, (int64_t)s->sl, &lo) || __builtin_add_overflow(out->end, (int64_t)s->sl, &hi)
        || __builtin_sub_overflow(out->end, out->start, &dur)) {
        *keep = -1; /* DuckDB refuses the statement: BIGINT out of range */
        return;
    }
    int64_t d0, d1;
    days_of(out, &d0, &d1);
    *keep = d1 >= d0;
}

/* ---- the computation's state -------------------------------------------------------------------------------- */
typedef struct {
    batch *b;
    size_t nb, n;
    size_t *first;      /* global index of each batch's first row (nb + 1 entries) */
    /* coverage given by the caller (None: from these events) */
    int has_cover;
    size_t ncover;
    column cover_src, cover_val;
    int order_mode;     /* 0: chosen here; 1: merge the ordered runs; 2: radix sort */
    int parts_mode;     /* 0: chosen here; 1: one part; 2: two parts where the keys allow */
    /* the keys are split in two halves by their public side, each computed on its own thread: this part takes
     * the keys whose most significant word's public bits are below `split` (part 0) or not (part 1) */
    int part, nparts;
    uint64_t split;
    /* sources */
    sources s;
    int64_t *cover;     /* by rank */
    uint8_t *cover_ok;
    uint32_t *by_rank;  /* a rank's source id */
    int64_t last_src;   /* the last source looked up, and its rank (-1: none yet) */
    int32_t last_rank;
    /* the key */
    field key[NKEY];
    int active[NKEY], nactive; /* the key fields that take bits */
    int words;
    int word_width[MAX_WORDS], pub_shift[MAX_WORDS];
    /* open segments: a hash table of slots, each the index of a segment in the pool (or -1) */
    size_t slots;       /* a power of two */
    int32_t *slot;
    uint32_t *slot_hash;
    segment *pool;
    uint64_t *pool_key; /* words per segment */
    uint32_t *pool_hash;
    size_t pool_cap, pool_used;
    int32_t free_list;  /* a free segment, whose `rank` holds the next one (-1: none) */
    size_t open;
    /* events read ahead of their turn (see take) */
    struct pending *pend;
    int npend;
    /* intervals, and the key of each */
    interval *iv;
    uint64_t *iv_key;
    size_t niv, iv_cap;
    /* rows: intervals repeated into their days, in the table's order */
    uint32_t *row_iv;
    int64_t *row_day;
    size_t rows;
    const char *error;  /* set by the GIL-free phases */
} work;

static inline uint32_t rank_of(work *w, int64_t src) {
    if (w->last_rank >= 0 && src == w->last_src) return (uint32_t)w->last_rank;
    int32_t id = sources_id(&w->s, src, 0);
    w->last_src = src;
    w->last_rank = id < 0 ? -2 : (int32_t)w->s.rank[id];
    return (uint32_t)w->last_rank;
}

/* Whether row i of batch b takes part: a NULL source does not (the SQL's join with the coverage table drops
 * it), nor, when the coverage is given, a source it does not name. */
static inline int kept(work *w, const batch *b, size_t i) {
    const column *src = &b->col[C_SRC];
    if (!ok(src, i)) return 0;
    if (!w->has_cover) return 1;
    return sources_id(&w->s, i64(src, i), 0) >= 0;
}

static inline uint32_t hash_words(const uint64_t *k, int words) {
    uint64_t h = 0x243f6a8885a308d3ULL;
    for (int i = 0; i < words; i++) h = (h ^ k[i]) * 0x9e3779b97f4a7c15ULL, h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return (uint32_t)h | 1u; /* never 0 */
}

static int table_grow(work *w) {
    size_t cap = w->slots ? w->slots * 2 : 1024;
    int32_t *slot = malloc(cap * sizeof *slot);
    uint32_t *hash = malloc(cap * sizeof *hash);
    if (!slot || !hash) { free(slot); free(hash); return -1; }
    for (size_t k = 0; k < cap; k++) slot[k] = -1;
    for (size_t k = 0; k < w->slots; k++) {
        if (w->slot[k] < 0) continue;
        size_t h = w->slot_hash[k] & (cap - 1);
        while (slot[h] >= 0) h = (h + 1) & (cap - 1);
        slot[h] = w->slot[k];
        hash[h] = w->slot_hash[k];
    }
    free(w->slot);
    free(w->slot_hash);
    w->slot = slot;
    w->slot_hash = hash;
    w->slots = cap;
    return 0;
}

static int32_t pool_take(work *w) {
    if (w->free_list >= 0) {
        int32_t id = w->free_list;
        w->free_list = (int32_t)w->pool[id].rank;
        return id;
    }
    if (w->pool_used == w->pool_cap) {
        size_t cap = w->pool_cap ? w->pool_cap * 2 : 1024;
        if (cap > (size_t)INT32_MAX) return -1;
        segment *pool = realloc(w->pool, cap * sizeof *pool);
        if (pool) w->pool = pool;
        uint64_t *keys = realloc(w->pool_key, cap * (size_t)(w->words ? w->words : 1) * sizeof *keys);
        if (keys) w->pool_key = keys;
        uint32_t *hashes = realloc(w->pool_hash, cap * sizeof *hashes);
        if (hashes) w->pool_hash = hashes;
        if (!pool || !keys || !hashes) return -1;
        w->pool_cap = cap;
    }
    return (int32_t)w->pool_used++;
}

/* Remove the slot at `at` (linear probing: later slots of the cluster shift back). */
static void table_remove(work *w, size_t at) {
    size_t mask = w->slots - 1, hole = at, j = at;
    for (;;) {
        j = (j + 1) & mask;
        if (w->slot[j] < 0) break;
        size_t home = w->slot_hash[j] & mask;
        /* the entry at j may move to the hole when its home is not cyclically in (hole, j] */
        if ((j > hole && (home <= hole || home > j)) || (j < hole && home <= hole && home > j)) {
            w->slot[hole] = w->slot[j];
            w->slot_hash[hole] = w->slot_hash[j];
            hole = j;
        }
    }
    w->slot[hole] = -1;
}

static int emit(work *w, const segment *s, const uint64_t *key) {
    interval v;
    int keep;
    segment_end(s, &v, &keep);
    if (keep < 0) {
        w->error = "an interval's times are out of the range of 64-bit milliseconds";
        return -1;
    }
    if (!keep) return 0;
    if (w->niv == w->iv_cap) { w->error = "internal error: more intervals than events"; return -1; }
    w->iv[w->niv] = v;
    memcpy(w->iv_key + w->niv * (size_t)w->words, key, (size_t)w->words * sizeof *key);
    w->niv++;
    return 0;
}

/* Events are taken a few dozen at a time: their keys, hashes and records first (the columns read in turn, the
 * loads independent of each other), with the hash slots and open segments they will touch fetched ahead, then
 * each folded in order. The folding is latency-bound otherwise: a slot, then its segment, then the next event. */
#define AHEAD 64
struct pending {
    uint64_t key[MAX_WORDS];
    record r;
    uint32_t h;
};

/* The next event in the window's order (row i of batch b): into its key's open segment (a new one if none),
 * which a close ends. Returns -1 on an error (w->error). */
static int fold_pending(work *w);

static inline int take(work *w, const batch *b, size_t i) {
    if (!kept(w, b, i)) return 0;
    struct pending *p = &w->pend[w->npend++];
    if (i + 16 < b->n) /* the columns' next rows: the hardware's prefetch does not keep up with thirteen streams */
        for (int c = 0; c < NCOL; c++) __builtin_prefetch(b->col[c].data + COLUMN_WIDTH[c] * (i + 16));
    pack_key(w->key, w->active, w->nactive, w->words, b, i, p->key);
    if (w->nparts > 1 && ((p->key[w->words - 1] >> w->pub_shift[w->words - 1]) >= w->split) != (w->part == 1)) {
        w->npend--; /* the other part's key */
        return 0;
    }
    uint32_t rank = rank_of(w, i64(&b->col[C_SRC], i));
    p->h = hash_words(p->key, w->words);
    make_record(b, i, rank, &p->r);
    __builtin_prefetch(&w->slot[p->h & (w->slots - 1)]);
    __builtin_prefetch(&w->slot_hash[p->h & (w->slots - 1)]);
    return w->npend == AHEAD ? fold_pending(w) : 0;
}

static int fold_pending(work *w) {
    int words = w->words, n = w->npend;
    w->npend = 0;
    for (int k = 0; k < n; k++) { /* the segments the slots name (the table may change before their turn) */
        int32_t id = w->slot[w->pend[k].h & (w->slots - 1)];
        if (id >= 0) __builtin_prefetch(&w->pool[id]);
    }
    for (int k = 0; k < n; k++) {
        const struct pending *p = &w->pend[k];
        const uint64_t *key = p->key;
        uint32_t h = p->h;
        if (2 * (w->open + 1) > w->slots && table_grow(w) < 0) { w->error = "out of memory"; return -1; }
        size_t mask = w->slots - 1, at = h & mask;
        int32_t id = -1;
        while (w->slot[at] >= 0) {
            if (w->slot_hash[at] == h) {
                const uint64_t *held = w->pool_key + (size_t)w->slot[at] * words;
                int same = 1;
                for (int j = 0; j < words; j++) same &= held[j] == key[j];
                if (same) { id = w->slot[at]; break; }
            }
            at = (at + 1) & mask;
        }
        if (id < 0) {
            id = pool_take(w);
            if (id < 0) { w->error = "out of memory"; return -1; }
            segment_start(&w->pool[id], &p->r);
            memcpy(w->pool_key + (size_t)id * words, key, (size_t)words * 8);
            w->pool_hash[id] = h;
            w->slot[at] = id;
            w->slot_hash[at] = h;
            w->open++;
        }
        segment *s = &w->pool[id];
        segment_add(s, &p->r, w->cover, w->cover_ok);
        if (IS_CLOSE(&p->r)) {
            if (emit(w, s, w->pool_key + (size_t)id * words) < 0) return -1;
            table_remove(w, at);
            s->rank = (uint32_t)w->free_list;
            w->free_list = id;
            w->open--;
        }
    }
    return 0;
}

/* The segments still open at the end. */
static int close_open(work *w) {
    if (fold_pending(w) < 0) return -1;
    for (size_t k = 0; k < w->slots; k++) {
        int32_t id = w->slot[k];
        if (id < 0) continue;
        if (emit(w, &w->pool[id], w->pool_key + (size_t)id * w->words) < 0) return -1;
    }
    return 0;
}

/* ---- the events in the window's order ----------------------------------------------------------------------- */
typedef struct {
    size_t g, end;  /* the run's next global index and its end */
    size_t b;       /* the batch of g */
    wkey k;         /* of g's event */
    uint32_t run;
} cursor;

/* The batch that holds global index g < n (a bisection; empty batches hold nothing). */
static size_t batch_of(const work *w, size_t g) {
    size_t lo = 0, hi = w->nb;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (w->first[mid] <= g) lo = mid; else hi = mid;
    }
    return lo;
}

/* Move a cursor to its next kept event (from g on); 0 when the run is done. */
static int cursor_settle(work *w, cursor *c) {
    while (c->g < c->end) {
        while (c->g >= w->first[c->b + 1]) c->b++;
        const batch *bt = &w->b[c->b];
        size_t i = c->g - w->first[c->b];
        if (kept(w, bt, i)) {
            window_key(bt, i, &c->k);
            return 1;
        }
        c->g++;
    }
    return 0;
}

static inline int cursor_less(const cursor *a, const cursor *b) {
    int c = wkey_cmp(&a->k, &b->k);
    return c < 0 || (c == 0 && a->run < b->run); /* equal keys: the earlier run first (a stable merge) */
}

static void sift_down(cursor *heap, size_t n, size_t at) {
    for (;;) {
        size_t l = 2 * at + 1, r = l + 1, m = at;
        if (l < n && cursor_less(&heap[l], &heap[m])) m = l;
        if (r < n && cursor_less(&heap[r], &heap[m])) m = r;
        if (m == at) return;
        cursor t = heap[at]; heap[at] = heap[m]; heap[m] = t;
        at = m;
    }
}

/* The runs merged by a heap; a run goes on while its events come before every other run's next one. */
static int by_merge(work *w, const size_t *run_start, size_t runs) {
    cursor *heap = malloc((runs ? runs : 1) * sizeof *heap);
    if (!heap) { w->error = "out of memory"; return -1; }
    size_t n = 0;
    for (size_t r = 0; r < runs; r++) {
        size_t end = r + 1 < runs ? run_start[r + 1] : w->n;
        if (run_start[r] >= end) continue;
        cursor c = {run_start[r], end, batch_of(w, run_start[r]), {0, 0, 0, 0, 0}, (uint32_t)r};
        if (cursor_settle(w, &c)) heap[n++] = c;
    }
    for (size_t k = n; k-- > 0;) sift_down(heap, n, k);
    int failed = 0;
    while (n && !failed) {
        cursor *c = &heap[0];
        for (;;) {
            if (take(w, &w->b[c->b], c->g - w->first[c->b]) < 0) { failed = 1; break; }
            c->g++;
            if (!cursor_settle(w, c)) { heap[0] = heap[--n]; break; }
            if (n > 1) {
                int other = n > 2 && cursor_less(&heap[2], &heap[1]) ? 2 : 1;
                if (cursor_less(&heap[other], c)) break;
            }
        }
        if (n) sift_down(heap, n, 0);
    }
    free(heap);
    return failed ? -1 : 0;
}

/* The kept events radix-sorted by the window's order (least significant word first, each sort stable), then
 * taken in it. */
static int by_radix(work *w, field *tf, size_t m) {
    int group[NTIME] = {0};
    int width[MAX_WORDS], unused[MAX_WORDS];
    int words = pack(tf, NTIME, group, one_class, -1, width, unused);
    if (words < 0) { w->error = "internal error: too many sort words"; return -1; }
    uint64_t *keys = big(m, sizeof *keys), *k2 = big(m, sizeof *k2), *kw = words > 1 ? big(m, sizeof *kw) : NULL;
    uint32_t *pos = big(m, sizeof *pos), *v2 = big(m, sizeof *v2), *global = big(m, sizeof *global);
    int failed = !keys || !k2 || !pos || !v2 || !global || (words > 1 && !kw);
    if (failed) w->error = "out of memory";
    size_t q = 0;
    for (size_t bi = 0; bi < w->nb && !failed; bi++) { /* global[q]: the q-th kept event */
        const batch *bt = &w->b[bi];
        for (size_t i = 0; i < bt->n; i++)
            if (kept(w, bt, i)) global[q++] = (uint32_t)(w->first[bi] + i);
    }
    for (q = 0; q < m && !failed; q++) pos[q] = (uint32_t)q; /* kept indices, sorted below */
    for (int word = 0; word < words && !failed; word++) {
        uint64_t *value = words == 1 ? keys : kw; /* by kept index */
        size_t bi = 0;
        for (q = 0; q < m; q++) {
            while (global[q] >= w->first[bi + 1]) bi++;
            const batch *bt = &w->b[bi];
            size_t i = global[q] - w->first[bi];
            uint32_t rank = rank_of(w, i64(&bt->col[C_SRC], i));
            uint64_t v = 0;
            for (int k = 0; k < NTIME; k++) {
                if (tf[k].word != word || !counted(&tf[k], bt, i)) continue;
                v |= (raw_value(&tf[k], bt, i, rank) - tf[k].min) << tf[k].shift;
            }
            value[q] = v;
        }
        if (words > 1)
            for (q = 0; q < m; q++) keys[q] = kw[pos[q]];
        if (radix_sort(keys, pos, m, width[word], k2, v2) < 0) { failed = 1; w->error = "out of memory"; }
    }
    size_t bi = 0;
    for (q = 0; q < m && !failed; q++) {
        size_t g = global[pos[q]];
        if (g < w->first[bi] || g >= w->first[bi + 1]) bi = batch_of(w, g);
        failed = take(w, &w->b[bi], g - w->first[bi]) < 0;
    }
    free(keys); free(k2); free(kw); free(pos); free(v2); free(global);
    return failed ? -1 : 0;
}

/* ---- phase 1: one pass over the events in their order ---------------------------------------------------- */
static int add_run(size_t **run_start, size_t *runs, size_t *cap, size_t at) {
    if (*runs == *cap) {
        size_t grown = *cap ? *cap * 2 : 64;
        size_t *p = realloc(*run_start, grown * sizeof *p);
        if (!p) return -1;
        *run_start = p;
        *cap = grown;
    }
    (*run_start)[(*runs)++] = at;
    return 0;
}

/* The range of a field's raw values over every row of a batch, kept or not (a wider range than the kept rows'
 * only costs bits), a column at a time. */
static void column_range(field *f, const batch *b) {
    const column *c = &b->col[f->col];
    size_t n = b->n;
    uint64_t lo = f->lo, hi = f->hi;
    if (f->kind == F_NULL) { /* raw values: 0 where valid, 1 where null */
        int any_null = 0, any_valid = !c->valid && n > 0;
        for (size_t i = 0; c->valid && i < n && !(any_null && any_valid); i++) {
            if (ok(c, i)) any_valid = 1; else any_null = 1;
        }
        if (any_valid) widen(f, 0);
        if (any_null) widen(f, 1);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (c->valid && !ok(c, i)) continue;
        uint64_t v;
        switch (f->kind) {
        case F_I8: v = (uint64_t)(int64_t)i8(c, i) ^ SIGN; break;
        case F_I32: v = (uint64_t)(int64_t)i32(c, i) ^ SIGN; break;
        case F_I64: v = (uint64_t)i64(c, i) ^ SIGN; break;
        case F_IPHI: v = be64(ip(c, i)); break;
        default: v = be64(ip(c, i) + 8); break;
        }
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    f->lo = lo;
    f->hi = hi;
}

/* Sources, coverage, the key fields' and the window fields' ranges, and the runs of the window's order
 * (recorded up to `limit`; more are counted). m: the kept events. */
static const char *survey(work *w, field *tf, size_t **run_start, size_t *runs, size_t limit, size_t *m) {
    size_t cap = 0, counted_runs = 0;
    wkey prev = {0, 0, 0, 0, 0}, k;
    int have_prev = 0;
    int64_t last_src = 0;
    int32_t last_id = -3;
    *m = 0;
    *runs = 0;
    for (size_t bi = 0; bi < w->nb; bi++) {
        const batch *bt = &w->b[bi];
        for (int f = 0; f < NKEY; f++) column_range(&w->key[f], bt);
        for (int f = 0; f < NTIME; f++)
            if (tf[f].kind != F_SRC) column_range(&tf[f], bt);
        const column *src = &bt->col[C_SRC], *t = &bt->col[C_T];
        for (size_t i = 0; i < bt->n; i++) {
            if (!ok(src, i)) continue;
            int64_t value = i64(src, i);
            int32_t id = last_id;
            if (id == -3 || value != last_src) {
                id = sources_id(&w->s, value, !w->has_cover);
                if (id == -2) return "out of memory";
                last_src = value;
                last_id = id;
            }
            if (id < 0) continue;
            if (!w->has_cover && ok(t, i)) {
                int64_t v = i64(t, i);
                if (!w->s.cover_ok[id] || v > w->s.cover[id]) { w->s.cover[id] = v; w->s.cover_ok[id] = 1; }
            }
            window_key(bt, i, &k);
            if (!have_prev || wkey_cmp(&k, &prev) < 0) {
                counted_runs++;
                if (counted_runs <= limit && add_run(run_start, runs, &cap, have_prev ? w->first[bi] + i : 0) < 0)
                    return "out of memory";
            }
            prev = k;
            have_prev = 1;
            (*m)++;
        }
    }
    if (counted_runs > limit) *runs = counted_runs;
    return NULL;
}

/* ---- phase 3: rows in the table's order ----------------------------------------------------------------- */
/* A row's sort fields, least significant first: the start, the public side of the key (by word, from the
 * lowest), the day. */
typedef struct {
    int what;    /* 0: start, 1: the public bits of key word `word`, 2: day */
    int word;
    uint64_t min;
    int width, shift, sort_word;
} row_field;

static inline uint64_t row_value(const work *w, const row_field *f, uint32_t k, int64_t day, int64_t dmin) {
    const interval *v = &w->iv[k];
    switch (f->what) {
    case 0: return ((uint64_t)v->start ^ SIGN) - f->min;
    case 1: return (w->iv_key[(size_t)k * w->words + f->word] >> w->pub_shift[f->word]) - f->min;
    default: return (uint64_t)(day - dmin);
    }
}

/* The table's order after (day, pub_ip, pub_port, start_ms), which are equal in a tie; of intervals ia, ib. */
static int cmp_tail(const work *w, uint32_t ia, uint32_t ib) {
    const interval *a = &w->iv[ia], *b = &w->iv[ib];
    CMP(a->rank, b->rank);
    CMP_NULL(a->nulls & N_LINE, b->nulls & N_LINE);
    if (!(a->nulls & N_LINE)) CMP(a->line, b->line);
    /* (proto, priv_ip, priv_port), NULLS LAST: the key words, whose public bits are equal here */
    const uint64_t *ka = w->iv_key + (size_t)ia * w->words, *kb = w->iv_key + (size_t)ib * w->words;
    for (int k = w->words - 1; k >= 0; k--) CMP(ka[k], kb[k]);
    CMP(a->end - a->start, b->end - b->start);
    CMP(a->slack, b->slack);
    CMP_NULL(a->nulls & N_FLAGS, b->nulls & N_FLAGS);
    if (!(a->nulls & N_FLAGS)) CMP(a->flags, b->flags);
    CMP_NULL(a->nulls & N_NLINES, b->nulls & N_NLINES);
    if (!(a->nulls & N_NLINES)) CMP(a->nlines, b->nlines);
    CMP_NULL(a->nulls & N_END, b->nulls & N_END);
    if (!(a->nulls & N_END)) CMP(a->end_rank, b->end_rank);
    int da = (a->nulls & (N_END_LINE | N_LINE)) != 0, db = (b->nulls & (N_END_LINE | N_LINE)) != 0;
    CMP_NULL(da, db);
    if (!da) CMP(a->end_line - a->line, b->end_line - b->line);
    CMP_NULL(a->nulls & N_END_NLINES, b->nulls & N_END_NLINES);
    if (!(a->nulls & N_END_NLINES)) CMP(a->end_nlines, b->end_nlines);
    return 0;
}

/* Stable merge sort of a tie's intervals by cmp_tail (insertion sort below 16). */
static void sort_tie(const work *w, uint32_t *a, uint32_t *tmp, size_t n) {
    if (n < 16) {
        for (size_t k = 1; k < n; k++) {
            uint32_t v = a[k];
            size_t j = k;
            while (j > 0 && cmp_tail(w, a[j - 1], v) > 0) { a[j] = a[j - 1]; j--; }
            a[j] = v;
        }
        return;
    }
    size_t h = n / 2;
    sort_tie(w, a, tmp, h);
    sort_tie(w, a + h, tmp, n - h);
    if (cmp_tail(w, a[h - 1], a[h]) <= 0) return;
    memcpy(tmp, a, h * sizeof *a);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) a[k++] = cmp_tail(w, a[j], tmp[i]) < 0 ? a[j++] : tmp[i++];
    while (i < h) a[k++] = tmp[i++];
}

/* The rows (each interval once per day it overlaps), left in row_iv and row_day in the table's order. */
static const char *sort_rows(work *w) {
    size_t rows = 0;
    int64_t dmin = INT64_MAX, dmax = INT64_MIN;
    uint64_t smin = UINT64_MAX, smax = 0;
    for (size_t k = 0; k < w->niv; k++) {
        const interval *v = &w->iv[k];
        int64_t d0, d1;
        days_of(v, &d0, &d1);
        uint64_t span = (uint64_t)(d1 - d0) + 1;
        if (span > (uint64_t)UINT32_MAX || rows + span > (size_t)UINT32_MAX)
            return "too many rows: the intervals' days exceed 2^32 rows";
        rows += span;
        if (d0 < dmin) dmin = d0;
        if (d1 > dmax) dmax = d1;
        uint64_t s = (uint64_t)v->start ^ SIGN;
        if (s < smin) smin = s;
        if (s > smax) smax = s;
    }
    w->rows = rows;
    /* the sort fields, least significant first, packed into words as the key is */
    row_field f[MAX_WORDS + 2];
    int nf = 0;
    f[nf++] = (row_field){0, 0, smin, rows ? bits(smax - smin) : 0, 0, 0};
    for (int k = 0; k < w->words; k++)
        if (w->pub_shift[k] < 64) {
            uint64_t lo = UINT64_MAX, hi = 0;
            for (size_t j = 0; j < w->niv; j++) {
                uint64_t v = w->iv_key[j * (size_t)w->words + k] >> w->pub_shift[k];
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            f[nf++] = (row_field){1, k, w->niv ? lo : 0, w->niv ? bits(hi - lo) : 0, 0, 0};
        }
    int day_f = nf;
    f[nf++] = (row_field){2, 0, 0, rows ? bits((uint64_t)(dmax - dmin)) : 0, 0, 0};
    int sort_words = 0, used = 0, width[MAX_WORDS + 2];
    for (int k = 0; k < nf; k++) {
        if (f[k].width == 0) { f[k].sort_word = -1; continue; }
        if (used && used + f[k].width > 64) { width[sort_words++] = used; used = 0; }
        f[k].sort_word = sort_words;
        f[k].shift = used;
        used += f[k].width;
    }
    if (used) width[sort_words++] = used;
    /* keys with the interval of each row (vals); the day is in the key */
    uint32_t *vals = big(rows, sizeof *vals), *v2 = big(rows, sizeof *v2);
    uint64_t *keys = big(rows, sizeof *keys), *k2 = big(rows, sizeof *k2);
    int64_t *day_of_row = sort_words > 1 ? big(rows, sizeof *day_of_row) : NULL;
    uint32_t *pos = sort_words > 1 ? big(rows, sizeof *pos) : NULL;
    if (!vals || !v2 || !keys || !k2 || (sort_words > 1 && (!day_of_row || !pos))) {
        free(vals); free(v2); free(keys); free(k2); free(day_of_row); free(pos);
        return "out of memory";
    }
    size_t r = 0;
    for (size_t k = 0; k < w->niv; k++) {
        int64_t d0, d1;
        days_of(&w->iv[k], &d0, &d1);
        for (int64_t d = d0; d <= d1; d++, r++) {
            if (sort_words > 1) { /* sorted below word by word, rows by their index */
                day_of_row[r] = d;
                vals[r] = (uint32_t)k;
                pos[r] = (uint32_t)r;
                continue;
            }
            uint64_t v = 0;
            for (int j = 0; j < nf; j++)
                if (f[j].sort_word == 0) v |= row_value(w, &f[j], (uint32_t)k, d, dmin) << f[j].shift;
            keys[r] = v;
            vals[r] = (uint32_t)k;
        }
    }
    int64_t *sorted_day = (int64_t *)(void *)k2;
    if (sort_words <= 1) {
        if (radix_sort(keys, vals, rows, sort_words ? width[0] : 0, k2, v2) < 0) {
            free(vals); free(v2); free(keys); free(k2);
            return "out of memory";
        }
        for (size_t a = 0; a < rows;) { /* ties of (day, public side, start): by the rest of the order */
            size_t b = a + 1;
            while (b < rows && keys[b] == keys[a]) b++;
            if (b - a > 1) sort_tie(w, vals + a, v2, b - a);
            a = b;
        }
        const row_field *fd = &f[day_f];
        uint64_t mask = fd->width >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << fd->width) - 1);
        for (size_t q = 0; q < rows; q++)
            sorted_day[q] = fd->sort_word < 0 ? dmin : (int64_t)((keys[q] >> fd->shift) & mask) + dmin;
    } else {
        for (int sw = 0; sw < sort_words; sw++) {
            for (size_t q = 0; q < rows; q++) {
                uint64_t v = 0;
                for (int j = 0; j < nf; j++)
                    if (f[j].sort_word == sw)
                        v |= row_value(w, &f[j], vals[pos[q]], day_of_row[pos[q]], dmin) << f[j].shift;
                keys[q] = v;
            }
            if (radix_sort(keys, pos, rows, width[sw], k2, v2) < 0) {
                free(vals); free(v2); free(keys); free(k2); free(day_of_row); free(pos);
                return "out of memory";
            }
        }
        uint32_t *sorted_iv = v2; /* the rows' intervals and days in order */
        for (size_t q = 0; q < rows; q++) {
            sorted_iv[q] = vals[pos[q]];
            sorted_day[q] = day_of_row[pos[q]];
        }
        for (size_t a = 0; a < rows;) { /* ties of (day, public side, start) */
            size_t b = a + 1;
            for (; b < rows; b++) {
                int same = sorted_day[b] == sorted_day[a];
                for (int j = 0; j < nf && same; j++)
                    if (f[j].sort_word >= 0 && f[j].what != 2)
                        same = row_value(w, &f[j], sorted_iv[b], 0, 0) == row_value(w, &f[j], sorted_iv[a], 0, 0);
                if (!same) break;
            }
            if (b - a > 1) sort_tie(w, sorted_iv + a, vals, b - a);
            a = b;
        }
        free(vals);
        vals = sorted_iv;
        v2 = NULL;
        free(day_of_row);
        free(pos);
    }
    free(keys);
    free(v2);
    w->row_iv = vals;
    w->row_day = sorted_day;
    return NULL;
}

#define PARALLEL_MIN ((size_t)1 << 18) /* events from which the keys are split in two parts on two threads */

typedef struct {
    work *w;
    field tf[NTIME];
    const size_t *run_start;
    size_t runs, limit, m;
    const char *error;
} part_job;

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One part's segments, intervals and rows. */
static void *part_thread(void *arg) {
    part_job *job = arg;
    work *w = job->w;
    w->iv_cap = job->m;
    w->iv = big(job->m, sizeof *w->iv);
    w->iv_key = big(job->m * (size_t)(w->words ? w->words : 1), sizeof *w->iv_key);
    w->pend = malloc(AHEAD * sizeof *w->pend);
    w->slots = 0;
    w->slot = NULL;
    w->slot_hash = NULL;
    if (!w->iv || !w->iv_key || !w->pend || table_grow(w) < 0) { job->error = "out of memory"; return NULL; }
    w->free_list = -1;
    w->last_rank = -1;
    int failed = job->runs <= job->limit ? by_merge(w, job->run_start, job->runs) : by_radix(w, job->tf, job->m);
    if (!failed) failed = close_open(w);
    if (failed) { job->error = w->error ? w->error : "out of memory"; return NULL; }
    job->error = sort_rows(w);
    return NULL;
}

/* The rows of the events in w->b: w points at two works, the second used when the keys are split in two. */
static const char *compute(work *w) {
    TICK_START;
    if (w->has_cover) {
        for (size_t k = 0; k < w->ncover; k++) {
            if (!ok(&w->cover_src, k)) continue;
            int32_t id = sources_id(&w->s, i64(&w->cover_src, k), 1);
            if (id < 0) return "out of memory";
            if (ok(&w->cover_val, k)) {
                int64_t v = i64(&w->cover_val, k);
                if (!w->s.cover_ok[id] || v > w->s.cover[id]) { w->s.cover[id] = v; w->s.cover_ok[id] = 1; }
            }
        }
    }
    for (int k = 0; k < NKEY; k++) w->key[k] = (field){KEY_KIND[k], KEY_COL[k], UINT64_MAX, 0, 0, 0, 0, 0};
    field tf[NTIME];
    for (int k = 0; k < NTIME; k++) tf[k] = (field){TIME_KIND[k], TIME_COL[k], UINT64_MAX, 0, 0, 0, 0, 0};
    size_t *run_start = NULL, runs = 0, m = 0;
    size_t limit = w->order_mode == 1 ? SIZE_MAX : (w->order_mode == 2 ? 0 : (w->n / 256 > 64 ? w->n / 256 : 64));
    const char *error = survey(w, tf, &run_start, &runs, limit, &m);
    if (error) { free(run_start); return error; }
    size_t u = w->s.count;
    if (sources_rank(&w->s) < 0) { free(run_start); return "out of memory"; }
    w->cover = malloc((u ? u : 1) * sizeof *w->cover);
    w->cover_ok = malloc(u ? u : 1);
    w->by_rank = malloc((u ? u : 1) * sizeof *w->by_rank);
    if (!w->cover || !w->cover_ok || !w->by_rank) { free(run_start); return "out of memory"; }
    for (size_t id = 0; id < u; id++) {
        w->cover[w->s.rank[id]] = w->s.cover[id];
        w->cover_ok[w->s.rank[id]] = w->s.cover_ok[id];
        w->by_rank[w->s.rank[id]] = (uint32_t)id;
    }
    if (u) { tf[T_SRC].lo = 0; tf[T_SRC].hi = u - 1; }
    w->words = pack(w->key, NKEY, KEY_GROUP, one_class, G_PUB, w->word_width, w->pub_shift);
    if (w->words < 0) { free(run_start); return "internal error: too many key words"; }
    for (int k = 0; k < NKEY; k++)
        if (w->key[k].word >= 0) w->active[w->nactive++] = k;
    TICK("survey");
    /* two parts where the events are many and the public side of the keys varies: split at a sampled median */
    w->nparts = 1;
    int top = w->words - 1;
    if (w->parts_mode != 1 && (w->parts_mode == 2 || m >= PARALLEL_MIN) && top >= 0 && w->pub_shift[top] < 64) {
        size_t step = m / 4096 > 1 ? m / 4096 : 1, count = 0, cap = m / step + 2;
        uint64_t *sample = malloc(cap * sizeof *sample), key[MAX_WORDS];
        if (!sample) { free(run_start); return "out of memory"; }
        for (size_t bi = 0, seen = 0; bi < w->nb; bi++)
            for (size_t i = 0; i < w->b[bi].n; i++) {
                if (!kept(w, &w->b[bi], i) || seen++ % step || count == cap) continue;
                pack_key(w->key, w->active, w->nactive, w->words, &w->b[bi], i, key);
                sample[count++] = key[top] >> w->pub_shift[top];
            }
        qsort(sample, count, sizeof *sample, cmp_u64);
        if (count && sample[count / 2] > sample[0]) {
            w->split = sample[count / 2];
            w->nparts = 2;
        } else if (count > 1 && sample[count - 1] > sample[0]) {
            w->split = sample[count - 1];
            w->nparts = 2;
        }
        free(sample);
    }
    work *other = w + 1; /* the state holds two works */
    if (w->nparts == 2) {
        *other = *w; /* the shared part (batches, sources, key fields) by pointer: only part 0 frees it */
        other->part = 1;
    }
    part_job jobs[2] = {{w, {{0}}, run_start, runs, limit, m, NULL}, {other, {{0}}, run_start, runs, limit, m, NULL}};
    memcpy(jobs[0].tf, tf, sizeof tf);
    memcpy(jobs[1].tf, tf, sizeof tf);
    pthread_t thread;
    int threaded = w->nparts == 2 && pthread_create(&thread, NULL, part_thread, &jobs[1]) == 0;
    part_thread(&jobs[0]);
    if (w->nparts == 2) {
        if (threaded) pthread_join(thread, NULL);
        else part_thread(&jobs[1]);
    }
    free(run_start);
    TICK("parts");
    return jobs[0].error ? jobs[0].error : jobs[1].error;
}

/* ---- output: Arrow buffers -------------------------------------------------------------------------------- */
/* Two forms of the rows: the SQL's (ROW_*, build_sql's columns and types, with the day; for the incremental
 * build and the tests), and the stored table's (NAT_*: nohaven.carrier.schema.NAT_SCHEMA, the private address
 * split into priv_v4 / priv_ip6), handed out a day's file at a time so that the rows are never held whole. */
enum { ROW_PUB_IP, ROW_PUB_PORT, ROW_START, ROW_DUR, ROW_SLACK, ROW_FLAGS, ROW_PROTO, ROW_PRIV_IP, ROW_PRIV_PORT,
       ROW_SRC, ROW_LINE, ROW_NLINES, ROW_END_SRC, ROW_END_DLINE, ROW_END_NLINES, ROW_DAY, NROW };
static const Py_ssize_t ROW_WIDTH[NROW] = {16, 4, 8, 8, 4, 4, 1, 16, 4, 8, 8, 4, 8, 8, 4, 8};
static const int ROW_NULLABLE[NROW] = {1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0};
static const int ROW_BINARY[NROW] = {1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};

enum { NAT_PUB_IP, NAT_PUB_PORT, NAT_START, NAT_DUR, NAT_SLACK, NAT_FLAGS, NAT_PROTO, NAT_PRIV_V4, NAT_PRIV_IP6,
       NAT_PRIV_PORT, NAT_SRC, NAT_LINE, NAT_NLINES, NAT_END_SRC, NAT_END_DLINE, NAT_END_NLINES, NNAT };
static const Py_ssize_t NAT_WIDTH[NNAT] = {16, 4, 8, 8, 4, 1, 1, 8, 16, 4, 8, 8, 4, 8, 8, 4};
static const int NAT_NULLABLE[NNAT] = {1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1};
static const int NAT_BINARY[NNAT] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

#define MAX_OUT 16
typedef struct {
    uint8_t *valid[MAX_OUT], *data[MAX_OUT], *offsets[MAX_OUT];
    int large; /* 64-bit offsets (Arrow's large_binary): 2^31 bytes of addresses or more */
} outbufs;

static inline void set_offset(uint8_t *offsets, size_t r, int64_t value, int large) {
    if (large) {
        memcpy(offsets + 8 * r, &value, 8);
    } else {
        int32_t v = (int32_t)value;
        memcpy(offsets + 4 * r, &v, 4);
    }
}

static inline void set_valid(uint8_t *bitmap, size_t r, int v) {
    if (v) bitmap[r >> 3] |= (uint8_t)(1u << (r & 7));
}

/* An address of the key back from its words; 0 when NULL. */
static inline int key_ip(const work *w, const uint64_t *kw, int null_f, int hi_f, uint8_t *out) {
    if (unpack(&w->key[null_f], kw)) return 0;
    put_be64(out, unpack(&w->key[hi_f], kw));
    put_be64(out + 8, unpack(&w->key[hi_f + 1], kw));
    return 1;
}

static inline int key_i32(const work *w, const uint64_t *kw, int null_f, int32_t *out) {
    if (unpack(&w->key[null_f], kw)) { *out = 0; return 0; }
    *out = (int32_t)(int64_t)(unpack(&w->key[null_f + 1], kw) ^ SIGN);
    return 1;
}

/* The columns both forms share, for output row r (the table's row `row`). */
#define PUT(col, width, value) do { __typeof__(value) v_ = (value); memcpy(o->data[col] + (width) * r, &v_, width); } while (0)

/* Rows [from, from + count) of the table's order, in either form. */
static void fill(const work *w, size_t from, size_t count, int stored, outbufs *o) {
    int nout = stored ? NNAT : NROW;
    const int *nullable = stored ? NAT_NULLABLE : ROW_NULLABLE;
    int64_t pub_off = 0, priv_off = 0;
    for (int c = 0; c < nout; c++)
        if (nullable[c]) memset(o->valid[c], 0, (count + 7) / 8);
    int pub = stored ? NAT_PUB_IP : ROW_PUB_IP;
    set_offset(o->offsets[pub], 0, 0, o->large);
    if (!stored) set_offset(o->offsets[ROW_PRIV_IP], 0, 0, o->large);
    for (size_t r = 0; r < count; r++) {
        if (r + 8 < count) {
            uint32_t ahead = w->row_iv[from + r + 8];
            __builtin_prefetch(&w->iv[ahead]);
            __builtin_prefetch(w->iv_key + (size_t)ahead * w->words);
        }
        size_t row = from + r;
        uint32_t k = w->row_iv[row];
        const interval *v = &w->iv[k];
        const uint64_t *kw = w->iv_key + (size_t)k * w->words;
        int b, line_ok = !(v->nulls & N_LINE);
        int32_t port;
        uint8_t addr[16];
        int c_start = stored ? NAT_START : ROW_START, c_dur = stored ? NAT_DUR : ROW_DUR;
        int c_slack = stored ? NAT_SLACK : ROW_SLACK, c_src = stored ? NAT_SRC : ROW_SRC;
        int c_line = stored ? NAT_LINE : ROW_LINE, c_nlines = stored ? NAT_NLINES : ROW_NLINES;
        int c_es = stored ? NAT_END_SRC : ROW_END_SRC, c_edl = stored ? NAT_END_DLINE : ROW_END_DLINE;
        int c_en = stored ? NAT_END_NLINES : ROW_END_NLINES;
        PUT(c_start, 8, v->start);
        PUT(c_dur, 8, v->end - v->start);
        PUT(c_slack, 4, v->slack);
        PUT(c_src, 8, w->s.value[w->by_rank[v->rank]]);
        set_valid(o->valid[c_line], r, line_ok);
        PUT(c_line, 8, line_ok ? v->line : (int64_t)0);
        b = !(v->nulls & N_NLINES); set_valid(o->valid[c_nlines], r, b);
        PUT(c_nlines, 4, b ? v->nlines : 0);
        b = !(v->nulls & N_END); set_valid(o->valid[c_es], r, b);
        PUT(c_es, 8, b ? w->s.value[w->by_rank[v->end_rank]] : (int64_t)0);
        b = !(v->nulls & (N_END_LINE | N_LINE)); set_valid(o->valid[c_edl], r, b);
        PUT(c_edl, 8, b ? v->end_line - v->line : (int64_t)0);
        b = !(v->nulls & N_END_NLINES); set_valid(o->valid[c_en], r, b);
        PUT(c_en, 4, b ? v->end_nlines : 0);
        /* the key */
        b = key_ip(w, kw, K_PUB_NULL, K_PUB_HI, o->data[pub] + pub_off);
        set_valid(o->valid[pub], r, b);
        pub_off += b ? 16 : 0;
        set_offset(o->offsets[pub], r + 1, pub_off, o->large);
        int c_port = stored ? NAT_PUB_PORT : ROW_PUB_PORT, c_pport = stored ? NAT_PRIV_PORT : ROW_PRIV_PORT;
        int c_proto = stored ? NAT_PROTO : ROW_PROTO;
        b = key_i32(w, kw, K_PORT_NULL, &port); set_valid(o->valid[c_port], r, b); PUT(c_port, 4, port);
        b = key_i32(w, kw, K_PPORT_NULL, &port); set_valid(o->valid[c_pport], r, b); PUT(c_pport, 4, port);
        b = !unpack(&w->key[K_PROTO_NULL], kw); set_valid(o->valid[c_proto], r, b);
        o->data[c_proto][r] = b ? (uint8_t)(int8_t)(int64_t)(unpack(&w->key[K_PROTO], kw) ^ SIGN) : 0;
        int have_priv = key_ip(w, kw, K_PRIV_NULL, K_PRIV_HI, addr);
        if (stored) {
            /* an IPv4-mapped address (::ffff:a.b.c.d) as the integer priv_v4, another one whole in priv_ip6 */
            int v4 = have_priv && be64(addr) == 0 && (be64(addr + 8) >> 32) == 0xffff;
            set_valid(o->valid[NAT_PRIV_V4], r, v4);
            PUT(NAT_PRIV_V4, 8, v4 ? (int64_t)(be64(addr + 8) & 0xffffffffu) : (int64_t)0);
            set_valid(o->valid[NAT_PRIV_IP6], r, have_priv && !v4);
            if (have_priv && !v4) memcpy(o->data[NAT_PRIV_IP6] + 16 * r, addr, 16);
            else memset(o->data[NAT_PRIV_IP6] + 16 * r, 0, 16);
            b = !(v->nulls & N_FLAGS); set_valid(o->valid[NAT_FLAGS], r, b);
            o->data[NAT_FLAGS][r] = b ? (uint8_t)(int8_t)v->flags : 0;
        } else {
            set_valid(o->valid[ROW_PRIV_IP], r, have_priv);
            if (have_priv) { memcpy(o->data[ROW_PRIV_IP] + priv_off, addr, 16); priv_off += 16; }
            set_offset(o->offsets[ROW_PRIV_IP], r + 1, priv_off, o->large);
            b = !(v->nulls & N_FLAGS); set_valid(o->valid[ROW_FLAGS], r, b);
            PUT(ROW_FLAGS, 4, b ? v->flags : 0);
            PUT(ROW_DAY, 8, w->row_day[row]);
        }
    }
}
#undef PUT

/* ---- Python glue -------------------------------------------------------------------------------------------- */
typedef struct {
    Py_buffer *views;
    int nviews, cap;
} held;

static Py_buffer *hold(held *h) {
    if (h->nviews == h->cap) {
        int cap = h->cap ? 2 * h->cap : 64;
        Py_buffer *views = PyMem_Realloc(h->views, (size_t)cap * sizeof *views);
        if (!views) { PyErr_NoMemory(); return NULL; }
        h->views = views;
        h->cap = cap;
    }
    return &h->views[h->nviews];
}

static void release(held *h) {
    for (int k = 0; k < h->nviews; k++) PyBuffer_Release(&h->views[k]);
    PyMem_Free(h->views);
    h->views = NULL;
    h->nviews = h->cap = 0;
}

/* One (validity or None, data, offset) triple of `length` elements of `width` bytes into `out`. */
static int take_column(PyObject *triple, const char *name, Py_ssize_t length, Py_ssize_t width, column *out,
                       held *h) {
    if (!PyTuple_Check(triple) || PyTuple_GET_SIZE(triple) != 3) {
        PyErr_Format(PyExc_TypeError, "column %s: expected (validity or None, data, offset)", name);
        return -1;
    }
    Py_ssize_t offset = PyLong_AsSsize_t(PyTuple_GET_ITEM(triple, 2));
    if (offset == -1 && PyErr_Occurred()) return -1;
    if (offset < 0) {
        PyErr_Format(PyExc_ValueError, "column %s: negative offset", name);
        return -1;
    }
    Py_buffer *data = hold(h);
    if (!data || PyObject_GetBuffer(PyTuple_GET_ITEM(triple, 1), data, PyBUF_SIMPLE) < 0) return -1;
    h->nviews++;
    if (data->len / width < offset + length) {
        PyErr_Format(PyExc_ValueError, "column %s: data holds %zd bytes, %zd elements of %zd bytes need %zd", name,
                     data->len, offset + length, width, (offset + length) * width);
        return -1;
    }
    out->data = (const uint8_t *)data->buf + offset * width;
    out->bit0 = offset;
    out->valid = NULL;
    PyObject *validity = PyTuple_GET_ITEM(triple, 0);
    if (validity != Py_None) {
        Py_buffer *bitmap = hold(h);
        if (!bitmap || PyObject_GetBuffer(validity, bitmap, PyBUF_SIMPLE) < 0) return -1;
        h->nviews++;
        if (bitmap->len < (offset + length + 7) / 8) {
            PyErr_Format(PyExc_ValueError, "column %s: validity bitmap holds %zd bytes, %zd needed", name,
                         bitmap->len, (offset + length + 7) / 8);
            return -1;
        }
        out->valid = bitmap->buf;
    }
    return 0;
}

/* A computed table: its rows in order (those of part 0, then part 1, day by day), handed out by `nat_next`. */
typedef struct {
    work w[2];
    size_t next[2]; /* each part's next row to hand out */
} state;

static void state_free(state *st) {
    for (int k = 0; k < 2; k++) {
        work *w = &st->w[k];
        if (k == 1 && st->w[0].nparts < 2) break;
        free(w->slot);
        free(w->slot_hash);
        free(w->pool);
        free(w->pool_key);
        free(w->pool_hash);
        free(w->iv);
        free(w->iv_key);
        free(w->row_iv);
        free(w->row_day);
        free(w->pend);
    }
    work *w = &st->w[0]; /* what the parts share */
    sources_free(&w->s);
    free(w->cover);
    free(w->cover_ok);
    free(w->by_rank);
    free(w->b);
    free(w->first);
    free(st);
}

static void capsule_free(PyObject *capsule) {
    state *st = PyCapsule_GetPointer(capsule, "nohaven.natbuild.state");
    if (st) state_free(st);
}

static PyObject *nat_start(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *batches, *coverage;
    int order_mode = 0, parts_mode = 0;
    if (!PyArg_ParseTuple(args, "O!O|ii:nat_start", &PyTuple_Type, &batches, &coverage, &order_mode, &parts_mode))
        return NULL;
    if (order_mode < 0 || order_mode > 2) {
        PyErr_SetString(PyExc_ValueError, "nat_start: order is 0 (chosen), 1 (merge) or 2 (radix)");
        return NULL;
    }
    if (parts_mode < 0 || parts_mode > 2) {
        PyErr_SetString(PyExc_ValueError, "nat_start: parts is 0 (chosen), 1 or 2");
        return NULL;
    }
    state *st = calloc(1, sizeof *st);
    if (!st) return PyErr_NoMemory();
    work *w = &st->w[0];
    w->order_mode = order_mode;
    w->parts_mode = parts_mode;
    held h = {NULL, 0, 0};
    w->nb = (size_t)PyTuple_GET_SIZE(batches);
    w->b = calloc(w->nb ? w->nb : 1, sizeof *w->b);
    w->first = calloc(w->nb + 1, sizeof *w->first);
    if (!w->b || !w->first) { PyErr_NoMemory(); goto fail; }
    for (size_t k = 0; k < w->nb; k++) {
        PyObject *item = PyTuple_GET_ITEM(batches, k), *columns;
        Py_ssize_t n;
        if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "nO!", &n, &PyTuple_Type, &columns)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "nat_start: a batch is (rows, columns)");
            goto fail;
        }
        if (n < 0) { PyErr_SetString(PyExc_ValueError, "nat_start: a batch of negative length"); goto fail; }
        if (PyTuple_GET_SIZE(columns) != NCOL) {
            PyErr_Format(PyExc_ValueError, "nat_start: %d columns expected, got %zd", NCOL, PyTuple_GET_SIZE(columns));
            goto fail;
        }
        w->b[k].n = (size_t)n;
        w->first[k] = w->n;
        w->n += (size_t)n;
        if (w->n >= (size_t)UINT32_MAX) {
            PyErr_Format(PyExc_ValueError, "nat_start: %zu events or more (at most %u at a time)", w->n,
                         UINT32_MAX - 1);
            goto fail;
        }
        for (int c = 0; c < NCOL; c++)
            if (take_column(PyTuple_GET_ITEM(columns, c), COLUMN_NAMES[c], n, COLUMN_WIDTH[c], &w->b[k].col[c], &h) < 0)
                goto fail;
    }
    w->first[w->nb] = w->n;
    if (coverage != Py_None) {
        Py_ssize_t m;
        PyObject *cs, *cv;
        if (!PyTuple_Check(coverage) || !PyArg_ParseTuple(coverage, "nO!O!", &m, &PyTuple_Type, &cs, &PyTuple_Type,
                                                          &cv)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "coverage: expected None or (n, src column, coverage column)");
            goto fail;
        }
        if (m < 0) { PyErr_SetString(PyExc_ValueError, "coverage: negative length"); goto fail; }
        if (take_column(cs, "coverage src", m, 8, &w->cover_src, &h) < 0) goto fail;
        if (take_column(cv, "coverage", m, 8, &w->cover_val, &h) < 0) goto fail;
        w->has_cover = 1;
        w->ncover = (size_t)m;
    }
    const char *error;
    Py_BEGIN_ALLOW_THREADS
    error = compute(w);
    Py_END_ALLOW_THREADS
    release(&h); /* the rows hold everything they need: the events' buffers are no longer read */
    if (error) {
        PyErr_Format(error[0] == 'o' ? PyExc_MemoryError : PyExc_ValueError, "nat_rows: %s", error);
        state_free(st);
        return NULL;
    }
    PyObject *capsule = PyCapsule_New(st, "nohaven.natbuild.state", capsule_free);
    if (!capsule) state_free(st);
    return capsule;
fail:
    release(&h);
    state_free(st);
    return NULL;
}

/* nat_next(state, max_rows, stored): the next rows, at most max_rows; stored: of one day, in the stored
 * table's form; else in the SQL's form (with the day). None when every row has been handed out. */
static PyObject *nat_next(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule;
    Py_ssize_t max_rows;
    int stored;
    if (!PyArg_ParseTuple(args, "Onp:nat_next", &capsule, &max_rows, &stored)) return NULL;
    state *st = PyCapsule_GetPointer(capsule, "nohaven.natbuild.state");
    if (!st) return NULL;
    if (max_rows < 1) { PyErr_SetString(PyExc_ValueError, "nat_next: max_rows must be positive"); return NULL; }
    /* the part whose next row is of the earliest day (part 0 first: its keys come first in a day) */
    int nparts = st->w[0].nparts, pick = -1;
    for (int k = 0; k < nparts; k++)
        if (st->next[k] < st->w[k].rows
            && (pick < 0 || st->w[k].row_day[st->next[k]] < st->w[pick].row_day[st->next[pick]]))
            pick = k;
    if (pick < 0) Py_RETURN_NONE;
    work *w = &st->w[pick];
    size_t from = st->next[pick], count = w->rows - from;
    if (count > (size_t)max_rows) count = (size_t)max_rows;
    int64_t day = w->row_day[from];
    size_t same = 0; /* the rows of this day only */
    while (same < count && w->row_day[from + same] == day) same++;
    count = same;
    int nout = stored ? NNAT : NROW;
    const Py_ssize_t *width = stored ? NAT_WIDTH : ROW_WIDTH;
    const int *nullable = stored ? NAT_NULLABLE : ROW_NULLABLE, *binary = stored ? NAT_BINARY : ROW_BINARY;
    Py_ssize_t rows = (Py_ssize_t)count;
    PyObject *bufs[MAX_OUT][3], *result = NULL;
    memset(bufs, 0, sizeof bufs);
    outbufs o;
    memset(&o, 0, sizeof o);
    o.large = rows > INT32_MAX / 16;
    for (int c = 0; c < nout; c++) {
        bufs[c][1] = PyBytes_FromStringAndSize(NULL, rows * width[c]);
        if (!bufs[c][1]) goto done;
        o.data[c] = (uint8_t *)PyBytes_AS_STRING(bufs[c][1]);
        if (nullable[c]) {
            bufs[c][0] = PyBytes_FromStringAndSize(NULL, (rows + 7) / 8);
            if (!bufs[c][0]) goto done;
            o.valid[c] = (uint8_t *)PyBytes_AS_STRING(bufs[c][0]);
        }
        if (binary[c]) {
            bufs[c][2] = PyBytes_FromStringAndSize(NULL, (rows + 1) * (o.large ? 8 : 4));
            if (!bufs[c][2]) goto done;
            o.offsets[c] = (uint8_t *)PyBytes_AS_STRING(bufs[c][2]);
        }
    }
    Py_BEGIN_ALLOW_THREADS
    fill(w, from, count, stored, &o);
    Py_END_ALLOW_THREADS
    st->next[pick] += count;
    PyObject *out = PyTuple_New(nout);
    if (!out) goto done;
    for (int c = 0; c < nout; c++) {
        PyObject *item = PyTuple_New(3);
        if (!item) { Py_DECREF(out); goto done; }
        for (int k = 0; k < 3; k++) {
            PyObject *b = bufs[c][k] ? bufs[c][k] : Py_None;
            Py_INCREF(b);
            PyTuple_SET_ITEM(item, k, b);
        }
        PyTuple_SET_ITEM(out, c, item);
    }
    result = Py_BuildValue("(LnN)", (long long)day, rows, out);
done:
    for (int c = 0; c < nout; c++)
        for (int k = 0; k < 3; k++) Py_XDECREF(bufs[c][k]);
    return result;
}

/* ---- which events have one of some keys (an incremental build's) -------------------------------------------- */
/* A mapping key as it is, NULLs zeroed and flagged, for hashing and comparing. */
typedef struct {
    uint8_t pub[16], priv[16];
    int32_t pub_port, priv_port;
    int8_t proto;
    uint8_t nulls;
    uint8_t pad[6];
} raw_key;

static inline void raw_key_of(const batch *b, size_t i, raw_key *k) {
    const column *c = b->col;
    memset(k, 0, sizeof *k);
    if (ok(&c[C_PUB_IP], i)) memcpy(k->pub, ip(&c[C_PUB_IP], i), 16); else k->nulls |= 1;
    if (ok(&c[C_PRIV_IP], i)) memcpy(k->priv, ip(&c[C_PRIV_IP], i), 16); else k->nulls |= 2;
    if (ok(&c[C_PUB_PORT], i)) k->pub_port = i32(&c[C_PUB_PORT], i); else k->nulls |= 4;
    if (ok(&c[C_PRIV_PORT], i)) k->priv_port = i32(&c[C_PRIV_PORT], i); else k->nulls |= 8;
    if (ok(&c[C_PROTO], i)) k->proto = i8(&c[C_PROTO], i); else k->nulls |= 16;
}

static inline uint64_t raw_hash(const raw_key *k) {
    uint64_t w[6], h = 0x243f6a8885a308d3ULL;
    memcpy(w, k, sizeof w);
    for (int i = 0; i < 6; i++) h = (h ^ w[i]) * 0x9e3779b97f4a7c15ULL, h ^= h >> 31;
    return h * 0xbf58476d1ce4e5b9ULL;
}

#define FILTER_BITS 24 /* a bit per hash value's top bits: most events of other keys stop there (2 MB) */

/* A set of mapping keys: open addressing on their hashes, behind a bit filter. */
typedef struct {
    raw_key *keys;
    uint64_t *hashes; /* 0: an empty slot (a key's hash is made odd) */
    uint64_t *filter;
    size_t slots;
} key_set;

static void key_set_free(key_set *ks) {
    if (!ks) return;
    free(ks->keys);
    free(ks->hashes);
    free(ks->filter);
    free(ks);
}

static void key_set_capsule_free(PyObject *capsule) {
    key_set_free(PyCapsule_GetPointer(capsule, "nohaven.natbuild.key_set"));
}

/* The batches (as nat_start takes them), in an array of their own to free (one more, zeroed, than the batches);
   NULL with an exception set. */
static batch *take_batches(PyObject *batches, held *h) {
    batch *all = calloc((size_t)PyTuple_GET_SIZE(batches) + 1, sizeof *all);
    if (!all) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(batches); k++) {
        PyObject *item = PyTuple_GET_ITEM(batches, k), *columns;
        Py_ssize_t n;
        if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "nO!", &n, &PyTuple_Type, &columns)
            || PyTuple_GET_SIZE(columns) != NCOL || n < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "a batch is (rows, 13 columns)");
            free(all);
            return NULL;
        }
        all[k].n = (size_t)n;
        for (int c = 0; c < NCOL; c++)
            if (take_column(PyTuple_GET_ITEM(columns, c), COLUMN_NAMES[c], n, COLUMN_WIDTH[c], &all[k].col[c],
                            h) < 0) {
                free(all);
                return NULL;
            }
    }
    return all;
}

/* key_set(batches) -> the set of their rows' mapping keys (NULL equal to NULL), for keys_in. */
static PyObject *make_key_set(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *batches, *result = NULL;
    if (!PyArg_ParseTuple(args, "O!:key_set", &PyTuple_Type, &batches)) return NULL;
    held h = {NULL, 0, 0};
    Py_ssize_t nb = PyTuple_GET_SIZE(batches);
    batch *all = NULL;
    key_set *ks = calloc(1, sizeof *ks);
    if (!ks) { PyErr_NoMemory(); goto done; }
    if (!(all = take_batches(batches, &h))) goto done;
    size_t rows = 0;
    for (Py_ssize_t k = 0; k < nb; k++) rows += all[k].n;
    ks->slots = 64;
    while (ks->slots < 2 * rows) ks->slots *= 2;
    ks->keys = big(ks->slots, sizeof *ks->keys);
    ks->hashes = calloc(ks->slots, sizeof *ks->hashes);
    ks->filter = calloc(((size_t)1 << FILTER_BITS) / 64, sizeof *ks->filter);
    if (!ks->keys || !ks->hashes || !ks->filter) { PyErr_NoMemory(); goto done; }
    Py_BEGIN_ALLOW_THREADS
    size_t mask = ks->slots - 1;
    for (Py_ssize_t k = 0; k < nb; k++)
        for (size_t i = 0; i < all[k].n; i++) {
            raw_key key;
            raw_key_of(&all[k], i, &key);
            uint64_t hv = raw_hash(&key) | 1, bit = hv >> (64 - FILTER_BITS);
            size_t at = hv & mask;
            while (ks->hashes[at] && !(ks->hashes[at] == hv && !memcmp(&ks->keys[at], &key, sizeof key)))
                at = (at + 1) & mask;
            if (!ks->hashes[at]) {
                ks->hashes[at] = hv;
                ks->keys[at] = key;
                ks->filter[bit >> 6] |= (uint64_t)1 << (bit & 63);
            }
        }
    Py_END_ALLOW_THREADS
    result = PyCapsule_New(ks, "nohaven.natbuild.key_set", key_set_capsule_free);
    if (result) ks = NULL;
done:
    key_set_free(ks);
    release(&h);
    free(all);
    return result;
}

/* keys_in(key_set, batches) -> masks: a byte per row of each batch, 1 where its mapping key is in the set. */
static PyObject *keys_in(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule, *batches, *result = NULL;
    if (!PyArg_ParseTuple(args, "OO!:keys_in", &capsule, &PyTuple_Type, &batches)) return NULL;
    key_set *ks = PyCapsule_GetPointer(capsule, "nohaven.natbuild.key_set");
    if (!ks) return NULL;
    held h = {NULL, 0, 0};
    Py_ssize_t nb = PyTuple_GET_SIZE(batches);
    batch *all = NULL;
    PyObject *masks = PyTuple_New(nb);
    if (!masks || !(all = take_batches(batches, &h))) goto done;
    for (Py_ssize_t k = 0; k < nb; k++) {
        PyObject *mask = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)all[k].n);
        if (!mask) goto done;
        PyTuple_SET_ITEM(masks, k, mask);
    }
    Py_BEGIN_ALLOW_THREADS
    size_t slots = ks->slots;
    for (Py_ssize_t k = 0; k < nb; k++) {
        const batch *b = &all[k];
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(PyTuple_GET_ITEM(masks, k));
        for (size_t i = 0; i < b->n; i++) {
            if (i + 16 < b->n) {
                __builtin_prefetch(b->col[C_PUB_IP].data + 16 * (i + 16));
                __builtin_prefetch(b->col[C_PRIV_IP].data + 16 * (i + 16));
            }
            raw_key key;
            raw_key_of(b, i, &key);
            uint64_t hv = raw_hash(&key) | 1, bit = hv >> (64 - FILTER_BITS);
            uint8_t found = 0;
            if (ks->filter[bit >> 6] >> (bit & 63) & 1) {
                size_t at = hv & (slots - 1);
                while (ks->hashes[at]) {
                    if (ks->hashes[at] == hv && !memcmp(&ks->keys[at], &key, sizeof key)) { found = 1; break; }
                    at = (at + 1) & (slots - 1);
                }
            }
            out[i] = found;
        }
    }
    Py_END_ALLOW_THREADS
    result = masks;
    masks = NULL;
done:
    Py_XDECREF(masks);
    release(&h);
    free(all);
    return result;
}

/* ---- a ranged build's split of events by public (address, port) ------------------------------------------------ */
#define RANGE_KEY 21 /* as buildparts keys them: a NULL flag, the public address, the public port big-endian */

/* A key as words that compare as its bytes do: a NULL key (all 0xFF bytes) after every other (0x00 first). */
typedef struct {
    uint64_t null, hi, lo, port;
} range_key;

static inline range_key range_key_of(const batch *b, size_t i) {
    const column *c = b->col;
    range_key k = {1, UINT64_MAX, UINT64_MAX, UINT32_MAX};
    if (ok(&c[C_PUB_IP], i) && ok(&c[C_PUB_PORT], i)) { /* else NULLS LAST, as the table's order has them */
        const uint8_t *a = ip(&c[C_PUB_IP], i);
        k = (range_key){0, be64(a), be64(a + 8), (uint32_t)i32(&c[C_PUB_PORT], i)};
    }
    return k;
}

static inline range_key range_key_from(const uint8_t key[RANGE_KEY]) {
    return (range_key){key[0] != 0, be64(key + 1), be64(key + 9),
                       (uint64_t)key[17] << 24 | (uint64_t)key[18] << 16 | (uint64_t)key[19] << 8 | key[20]};
}

static inline int range_key_le(const range_key *a, const range_key *b) {
    if (a->null != b->null) return a->null < b->null;
    if (a->hi != b->hi) return a->hi < b->hi;
    if (a->lo != b->lo) return a->lo < b->lo;
    return a->port <= b->port;
}

/* One column's rows moved to their places (row i to at[i], n of them): the data, and the validity bitmap (zeroed
   first) where the column has one. Each column is read in order and written in as many runs as ranges. */
static void scatter(const column *c, Py_ssize_t width, const uint32_t *at, size_t n, uint8_t *data,
                    uint8_t *valid) {
    const uint8_t *in = c->data;
    switch (width) {
    case 1:
        for (size_t i = 0; i < n; i++) data[at[i]] = in[i];
        break;
    case 4:
        for (size_t i = 0; i < n; i++) memcpy(data + 4 * (size_t)at[i], in + 4 * i, 4);
        break;
    case 8:
        for (size_t i = 0; i < n; i++) memcpy(data + 8 * (size_t)at[i], in + 8 * i, 8);
        break;
    case 16:
        for (size_t i = 0; i < n; i++) memcpy(data + 16 * (size_t)at[i], in + 16 * i, 16);
        break;
    default:
        for (size_t i = 0; i < n; i++) memcpy(data + (size_t)width * at[i], in + width * i, (size_t)width);
    }
    if (!valid) return;
    memset(valid, 0, (n + 7) / 8);
    for (size_t i = 0; i < n; i++) valid[at[i] >> 3] |= (uint8_t)(ok(c, i) << (at[i] & 7));
}

/* The range of a key: how many cuts are at or below it (a search without branches on the comparisons, which a
   random key would mispredict). */
static inline size_t range_of(const range_key *cut, size_t ncut, const range_key *key) {
    const range_key *base = cut;
    size_t n = ncut;
    if (n == 0) return 0;
    while (n > 1) {
        size_t half = n / 2;
        base = range_key_le(&base[half], key) ? base + half : base;
        n -= half;
    }
    return (size_t)(base - cut) + range_key_le(base, key);
}

/* A writable buffer of at least `need` bytes into `view`; -1 with an exception set. */
static int writable(PyObject *object, Py_ssize_t need, const char *what, int column, Py_buffer *view) {
    if (PyObject_GetBuffer(object, view, PyBUF_WRITABLE) < 0) return -1;
    if (view->len < need) {
        PyErr_Format(PyExc_ValueError, "range_split: the %s buffer of column %s holds %zd bytes, %zd needed", what,
                     COLUMN_NAMES[column], view->len, need);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* range_split(cuts, batch, outputs) -> bounds: the batch's rows (one batch, as nat_start takes batches) taken
   range by range, each range's rows in their order, into the caller's buffers: outputs holds for each column None
   (not taken) or (validity or None, data), writable buffers of at least (rows + 7) / 8 and rows * width bytes (a
   validity bitmap is needed where the column has one). bounds: an int64 per range, and one more, where each range
   starts. cuts: ascending keys of RANGE_KEY bytes, concatenated; range r holds the keys k with
   cut r-1 <= k < cut r (numpy.searchsorted(cuts, keys, side="right")). */
static PyObject *range_split(PyObject *self, PyObject *args) {
    (void)self;
    const char *cuts;
    Py_ssize_t cuts_len;
    PyObject *batches, *outputs, *result = NULL;
    if (!PyArg_ParseTuple(args, "y#O!O!:range_split", &cuts, &cuts_len, &PyTuple_Type, &batches, &PyTuple_Type,
                          &outputs))
        return NULL;
    if (cuts_len % RANGE_KEY) {
        PyErr_Format(PyExc_ValueError, "cuts are keys of %d bytes", RANGE_KEY);
        return NULL;
    }
    if (PyTuple_GET_SIZE(batches) != 1 || PyTuple_GET_SIZE(outputs) != NCOL) {
        PyErr_Format(PyExc_ValueError, "range_split takes one batch and an output a column (%d)", NCOL);
        return NULL;
    }
    size_t ncut = (size_t)cuts_len / RANGE_KEY, nparts = ncut + 1;
    held h = {NULL, 0, 0};
    batch *all = NULL;
    Py_buffer data[NCOL], valid[NCOL];
    int have[NCOL] = {0}, have_valid[NCOL] = {0};
    int64_t *next = calloc(nparts, sizeof *next);
    range_key *cut = malloc(nparts * sizeof *cut);
    uint32_t *ids = NULL;
    PyObject *bounds_obj = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(8 * (nparts + 1)));
    if (!next || !cut || !bounds_obj) { PyErr_NoMemory(); goto done; }
    for (size_t r = 0; r < ncut; r++) cut[r] = range_key_from((const uint8_t *)cuts + RANGE_KEY * r);
    if (!(all = take_batches(batches, &h))) goto done;
    const batch *b = &all[0];
    if (b->n > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "range_split: a batch of more than 2^32 rows");
        goto done;
    }
    for (int c = 0; c < NCOL; c++) {
        PyObject *out = PyTuple_GET_ITEM(outputs, c);
        if (out == Py_None) continue;
        if (!PyTuple_Check(out) || PyTuple_GET_SIZE(out) != 2) {
            PyErr_Format(PyExc_TypeError, "range_split: column %s: expected (validity or None, data)", COLUMN_NAMES[c]);
            goto done;
        }
        if (writable(PyTuple_GET_ITEM(out, 1), (Py_ssize_t)(b->n * (size_t)COLUMN_WIDTH[c]), "data", c, &data[c]) < 0)
            goto done;
        have[c] = 1;
        PyObject *bitmap = PyTuple_GET_ITEM(out, 0);
        if (bitmap == Py_None) {
            if (b->col[c].valid) {
                PyErr_Format(PyExc_ValueError, "range_split: column %s has NULLs and no validity buffer to take them",
                             COLUMN_NAMES[c]);
                goto done;
            }
            continue;
        }
        if (writable(bitmap, (Py_ssize_t)((b->n + 7) / 8), "validity", c, &valid[c]) < 0) goto done;
        have_valid[c] = 1;
    }
    ids = malloc((b->n + 1) * sizeof *ids);
    if (!ids) { PyErr_NoMemory(); goto done; }
    int64_t *bounds = (int64_t *)PyBytes_AS_STRING(bounds_obj);
    Py_BEGIN_ALLOW_THREADS
    memset(bounds, 0, 8 * (nparts + 1));
    for (size_t i = 0; i < b->n; i++) {
        range_key key = range_key_of(b, i);
        size_t r = range_of(cut, ncut, &key);
        ids[i] = (uint32_t)r;
        bounds[r + 1]++;
    }
    for (size_t r = 0; r < nparts; r++) bounds[r + 1] += bounds[r];
    memcpy(next, bounds, 8 * nparts);
    for (size_t i = 0; i < b->n; i++) ids[i] = (uint32_t)next[ids[i]]++; /* now each row's place */
    for (int c = 0; c < NCOL; c++)
        if (have[c])
            scatter(&b->col[c], COLUMN_WIDTH[c], ids, b->n, data[c].buf, have_valid[c] ? valid[c].buf : NULL);
    Py_END_ALLOW_THREADS
    result = bounds_obj;
    bounds_obj = NULL;
done:
    for (int c = 0; c < NCOL; c++) {
        if (have[c]) PyBuffer_Release(&data[c]);
        if (have_valid[c]) PyBuffer_Release(&valid[c]);
    }
    Py_XDECREF(bounds_obj);
    release(&h);
    free(all);
    free(next);
    free(cut);
    free(ids);
    return result;
}

static PyMethodDef methods[] = {
    {"nat_start", nat_start, METH_VARARGS,
     "nat_start(batches, coverage, order=0, parts=0) -> state: the NAT table's rows computed from the events' "
     "batches. order: 0 chooses how the events are put in the window's order, 1 merges their ordered runs, 2 "
     "radix-sorts them; parts: 0 chooses, 1 computes all keys on one thread, 2 splits them in two halves by their "
     "public side, each on a thread of its own (the forced modes are for tests)."},
    {"key_set", make_key_set, METH_VARARGS,
     "key_set(batches) -> the set of their rows' mapping keys (NULL equal to NULL), for keys_in."},
    {"keys_in", keys_in, METH_VARARGS,
     "keys_in(key_set, batches) -> masks: a byte per row of each batch, 1 where its mapping key is in the set."},
    {"range_split", range_split, METH_VARARGS,
     "range_split(cuts, (batch,), outputs) -> bounds: a batch's rows taken by key range of public (address, port) "
     "into the caller's buffers (a (validity or None, data) pair a column, or None: not taken), for a ranged "
     "build's split; where each range starts (int64)."},
    {"nat_next", nat_next, METH_VARARGS,
     "nat_next(state, max_rows, stored) -> (day, rows, buffers) or None: the next rows (of one day and one part) "
     "as Arrow buffers, in the stored table's form (stored) or in the SQL's form with their day."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_natbuild", "The NAT table's rows, compiled.", -1,
                                    methods, NULL, NULL, NULL, NULL};

/* The constants this file shares with Python (store.DAY_MS, timeparse's flags), exported so that natbuild.py
   refuses an extension that disagrees with them. */
PyMODINIT_FUNC PyInit__natbuild(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "DAY_MS", (long)DAY_MS) < 0
        || PyModule_AddIntConstant(m, "FLAG_START_UNKNOWN", FLAG_START_UNKNOWN) < 0
        || PyModule_AddIntConstant(m, "FLAG_END_OPEN", FLAG_END_OPEN) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
