/* The NAT table's rows computed from nat events without SQL (see natbuild.py for the algorithm and why it gives
 * the rows of build_sql("nat", ...) in the same order).
 *
 * nat_rows(n, columns, coverage) takes the events' columns as (validity bitmap or None, data, offset) triples of
 * buffers (Arrow's layout), in the order of COLUMN_NAMES below, and returns (rows, buffers): the output columns as
 * bytes objects in Arrow's layout, in the order of the nat table's rows with their day.
 *
 * Phases: (1) events sorted by (pub_ip, pub_port, proto, priv_ip, priv_port, t_ms, src, line), nulls last, with
 * a least-significant-digit radix sort on packed keys; (2) each key's events cut into segments after each close,
 * a segment folded into one interval; (3) the intervals of one public address and port sorted by the rest of the
 * table's order (a merge sort); (4) each interval repeated into every day it overlaps, the rows stably sorted by
 * day (radix). The heavy phases run without the GIL. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
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
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v = (v << 8) | p[k];
    return v;
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
#define DIGITS 6

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

/* ---- packed sort keys --------------------------------------------------------------------------------------- */
enum { F_NULL, F_I8, F_I32, F_I64, F_IPHI, F_IPLO, F_SRC };

typedef struct {
    int kind;
    const column *col;
    uint64_t min;
    int width, shift, word;
} field;

#define SIGN ((uint64_t)1 << 63)

/* A field's value before the minimum is subtracted, for event e. */
static inline uint64_t raw_value(const field *f, size_t e, const uint32_t *src_rank) {
    switch (f->kind) {
    case F_NULL: return (uint64_t)!ok(f->col, e);
    case F_I8: return ok(f->col, e) ? (uint64_t)(int64_t)i8(f->col, e) ^ SIGN : 0;
    case F_I32: return ok(f->col, e) ? (uint64_t)(int64_t)i32(f->col, e) ^ SIGN : 0;
    case F_I64: return ok(f->col, e) ? (uint64_t)i64(f->col, e) ^ SIGN : 0;
    case F_IPHI: return ok(f->col, e) ? be64(ip(f->col, e)) : 0;
    case F_IPLO: return ok(f->col, e) ? be64(ip(f->col, e) + 8) : 0;
    default: return src_rank[e];
    }
}

static int bits(uint64_t span) {
    int b = 0;
    while (span) { b++; span >>= 1; }
    return b;
}

/* ---- intervals ---------------------------------------------------------------------------------------------- */
enum { N_LINE = 1, N_NLINES = 2, N_FLAGS = 4, N_END = 8, N_END_LINE = 16, N_END_NLINES = 32 };

typedef struct {
    int64_t start, end, src, line, end_src, end_line;
    int32_t slack, flags, nlines, end_nlines;
    uint32_t ev;  /* an event of the key: proto, priv_ip, priv_port, pub_ip, pub_port */
    uint32_t run; /* of one public address and port */
    uint8_t nulls;
} interval;

typedef struct {
    column col[NCOL];
} events;

#define CMP(a, b) do { if ((a) != (b)) return (a) < (b) ? -1 : 1; } while (0)
/* NULLS LAST, as DuckDB orders by default. */
#define CMP_NULL(na, nb) do { if ((na) != (nb)) return (na) ? 1 : -1; } while (0)

/* The table's order after (pub_ip, pub_port), which are equal within a run. */
static int cmp_interval(const events *x, const interval *a, const interval *b) {
    CMP(a->start, b->start);
    CMP(a->src, b->src);
    CMP_NULL(a->nulls & N_LINE, b->nulls & N_LINE);
    if (!(a->nulls & N_LINE)) CMP(a->line, b->line);
    const column *proto = &x->col[C_PROTO], *ipc = &x->col[C_PRIV_IP], *port = &x->col[C_PRIV_PORT];
    int na = !ok(proto, a->ev), nb = !ok(proto, b->ev);
    CMP_NULL(na, nb);
    if (!na) CMP(i8(proto, a->ev), i8(proto, b->ev));
    na = !ok(ipc, a->ev); nb = !ok(ipc, b->ev);
    CMP_NULL(na, nb);
    if (!na) {
        int c = memcmp(ip(ipc, a->ev), ip(ipc, b->ev), 16);
        if (c) return c < 0 ? -1 : 1;
    }
    na = !ok(port, a->ev); nb = !ok(port, b->ev);
    CMP_NULL(na, nb);
    if (!na) CMP(i32(port, a->ev), i32(port, b->ev));
    CMP(a->end - a->start, b->end - b->start);
    CMP(a->slack, b->slack);
    CMP_NULL(a->nulls & N_FLAGS, b->nulls & N_FLAGS);
    if (!(a->nulls & N_FLAGS)) CMP(a->flags, b->flags);
    CMP_NULL(a->nulls & N_NLINES, b->nulls & N_NLINES);
    if (!(a->nulls & N_NLINES)) CMP(a->nlines, b->nlines);
    CMP_NULL(a->nulls & N_END, b->nulls & N_END);
    if (!(a->nulls & N_END)) CMP(a->end_src, b->end_src);
    int da = (a->nulls & (N_END_LINE | N_LINE)) != 0, db = (b->nulls & (N_END_LINE | N_LINE)) != 0;
    CMP_NULL(da, db);
    if (!da) CMP(a->end_line - a->line, b->end_line - b->line);
    CMP_NULL(a->nulls & N_END_NLINES, b->nulls & N_END_NLINES);
    if (!(a->nulls & N_END_NLINES)) CMP(a->end_nlines, b->end_nlines);
    return 0;
}

/* Stable merge sort of interval indices (insertion sort below 16). */
static void sort_run(const events *x, const interval *iv, uint32_t *a, uint32_t *tmp, size_t n) {
    if (n < 16) {
        for (size_t k = 1; k < n; k++) {
            uint32_t v = a[k];
            size_t j = k;
            while (j > 0 && cmp_interval(x, &iv[a[j - 1]], &iv[v]) > 0) { a[j] = a[j - 1]; j--; }
            a[j] = v;
        }
        return;
    }
    size_t h = n / 2;
    sort_run(x, iv, a, tmp, h);
    sort_run(x, iv, a + h, tmp, n - h);
    if (cmp_interval(x, &iv[a[h - 1]], &iv[a[h]]) <= 0) return;
    memcpy(tmp, a, h * sizeof *a);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) a[k++] = cmp_interval(x, &iv[a[j]], &iv[tmp[i]]) < 0 ? a[j++] : tmp[i++];
    while (i < h) a[k++] = tmp[i++];
}

/* ---- the computation ---------------------------------------------------------------------------------------- */
typedef struct {
    events x;
    size_t n;
    /* coverage given by the caller (None: from these events) */
    int has_cover;
    size_t ncover;
    column cover_src, cover_val;
    /* results */
    sources s;
    uint32_t *src_rank; /* by event: its source's rank among the sources (the order of their values) */
    int64_t *cover;     /* by rank */
    uint32_t *by_rank;  /* a rank's source id */
    uint8_t *cover_ok;
    interval *iv;
    size_t niv;
    uint32_t *order;    /* intervals in the table's order after the day */
    uint64_t *row_day;  /* rows: day - day_min, in the final order */
    uint32_t *row_iv;
    size_t rows;
    uint8_t *arena;     /* scratch of the phases in turn (see compute) */
    size_t arena_bytes;
    int rows_in_arena;
    int64_t day_min;
    const char *error;  /* set by the GIL-free phases */
} work;


/* What a segment's aggregates read of one event, gathered in sort order so that the fold reads memory in turn. */
enum { R_ACTION = 1, R_T = 2, R_BEGIN = 4, R_SLACK = 8, R_FLAGS = 16, R_LINE = 32, R_NLINES = 64 };
typedef struct {
    int64_t t, begin, line;
    int32_t slack, nlines;
    uint32_t rank; /* of the source */
    int8_t action, flags;
    uint8_t ok;    /* R_* bits: which values are not NULL */
} record;

static void make_record(const work *w, uint32_t e, record *r) {
    const events *x = &w->x;
    const column *c = x->col;
    r->ok = 0;
    r->action = 0; r->flags = 0; r->t = 0; r->begin = 0; r->line = 0; r->slack = 0; r->nlines = 0;
    if (ok(&c[C_ACTION], e)) { r->action = i8(&c[C_ACTION], e); r->ok |= R_ACTION; }
    if (ok(&c[C_T], e)) { r->t = i64(&c[C_T], e); r->ok |= R_T; }
    if (ok(&c[C_BEGIN], e)) { r->begin = i64(&c[C_BEGIN], e); r->ok |= R_BEGIN; }
    if (ok(&c[C_SLACK], e)) { r->slack = i32(&c[C_SLACK], e); r->ok |= R_SLACK; }
    if (ok(&c[C_FLAGS], e)) { r->flags = i8(&c[C_FLAGS], e); r->ok |= R_FLAGS; }
    if (ok(&c[C_LINE], e)) { r->line = i64(&c[C_LINE], e); r->ok |= R_LINE; }
    if (ok(&c[C_NLINES], e)) { r->nlines = i32(&c[C_NLINES], e); r->ok |= R_NLINES; }
    r->rank = w->src_rank[e];
}

/* The first and last day of a kept interval (its start - slack and end + slack do not overflow: fold checked). */
static inline void days_of(const interval *v, int64_t *d0, int64_t *d1) {
    *d0 = (int64_t)floor((double)(v->start - (int64_t)v->slack) / DAY_MS);
    *d1 = (int64_t)floor((double)(v->end + (int64_t)v->slack) / DAY_MS);
}

#define IS_CLOSE(r) (((r)->ok & R_ACTION) && (r)->action >= 2)

/* One segment (records rec[a..b) of one key, in (t_ms, src, line) order) folded into an interval. */
static void fold(const work *w, const record *rec, size_t a, size_t b, interval *out, int *keep) {
    int have_ks = 0, have_fs = 0, have_ke = 0, have_cov = 0, have_slack = 0, have_flags = 0;
    int have_es = 0, have_el = 0, have_en = 0;
    int64_t ks = 0, fs = 0, ke = 0, cov = 0, el = 0;
    uint32_t es = 0;
    int32_t sl = 0, en = 0, fl = 0;
    for (size_t k = a; k < b; k++) {
        const record *r = &rec[k];
        if ((r->ok & R_ACTION) && r->action == 0 && (r->ok & R_T) && (!have_ks || r->t < ks)) { ks = r->t; have_ks = 1; }
        if ((r->ok & R_ACTION) && r->action == 3 && (r->ok & R_BEGIN) && (!have_ks || r->begin < ks)) {
            ks = r->begin;
            have_ks = 1;
        }
        if ((r->ok & R_T) && (!have_fs || r->t < fs)) { fs = r->t; have_fs = 1; }
        if (IS_CLOSE(r)) {
            if ((r->ok & R_T) && (!have_ke || r->t > ke)) { ke = r->t; have_ke = 1; }
            if (!have_es || r->rank > es) { es = r->rank; have_es = 1; }
            if ((r->ok & R_LINE) && (!have_el || r->line > el)) { el = r->line; have_el = 1; }
            if ((r->ok & R_NLINES) && (!have_en || r->nlines > en)) { en = r->nlines; have_en = 1; }
        }
        if (w->cover_ok[r->rank] && (!have_cov || w->cover[r->rank] > cov)) { cov = w->cover[r->rank]; have_cov = 1; }
        if ((r->ok & R_SLACK) && (!have_slack || r->slack > sl)) { sl = r->slack; have_slack = 1; }
        if (r->ok & R_FLAGS) { fl |= (int32_t)r->flags; have_flags = 1; }
    }
    const record *first = &rec[a];
    out->nulls = 0;
    out->src = w->s.value[w->by_rank[first->rank]];
    out->line = first->line;
    if (!(first->ok & R_LINE)) out->nulls |= N_LINE;
    out->nlines = first->nlines;
    if (!(first->ok & R_NLINES)) out->nulls |= N_NLINES;
    int have_start = have_ks || have_fs;
    out->start = have_ks ? ks : fs;
    int have_end = 1;
    if (have_ke) out->end = ke;
    else if (have_cov && have_start) out->end = cov > out->start ? cov : out->start;
    else if (have_cov) out->end = cov;
    else if (have_start) out->end = out->start;
    else have_end = 0;
    out->flags = 0;
    if (have_flags) out->flags = fl | (have_ks ? 0 : FLAG_START_UNKNOWN) | (have_ke ? 0 : FLAG_END_OPEN);
    else out->nulls |= N_FLAGS;
    out->slack = sl;
    out->end_src = have_es ? w->s.value[w->by_rank[es]] : 0;
    if (!have_es) out->nulls |= N_END;
    out->end_line = el;
    if (!have_el) out->nulls |= N_END_LINE;
    out->end_nlines = en;
    if (!have_en) out->nulls |= N_END_NLINES;
    *keep = 0;
    /* range(floor((start - slack) / DAY), floor((end + slack) / DAY) + 1) in DuckDB's double arithmetic; a NULL
     * start, end or slack gives no day (unnest of NULL), as does an end day before the start day. */
    if (!have_start || !have_end || !have_slack) return;
    int64_t lo, hi, dur;
    if (__builtin_sub_overflow(out->start, (int64_t)sl, &lo) || __builtin_add_overflow(out->end, (int64_t)sl, &hi)
        || __builtin_sub_overflow(out->end, out->start, &dur)) {
        *keep = -1; /* DuckDB refuses the statement: BIGINT out of range */
        return;
    }
    int64_t d0, d1;
    days_of(out, &d0, &d1);
    *keep = d1 >= d0;
}

/* The sort's fields, most significant first, in two groups that never share a word: the key (its public side
 * first: the runs) and the window's order; a nullable column's null flag before its value. */
enum { G_PUB, G_PRIV, G_TIME };
#define GROUP_OF(g) ((g) == G_TIME)

static int sort_fields(const events *x, field *f, int *group) {
    int nf = 0;
    const column *c = x->col;
#define ADD(kind_, col_, group_) do { f[nf] = (field){kind_, col_, 0, 0, 0, 0}; group[nf++] = group_; } while (0)
    ADD(F_NULL, &c[C_PUB_IP], G_PUB); ADD(F_IPHI, &c[C_PUB_IP], G_PUB); ADD(F_IPLO, &c[C_PUB_IP], G_PUB);
    ADD(F_NULL, &c[C_PUB_PORT], G_PUB); ADD(F_I32, &c[C_PUB_PORT], G_PUB);
    ADD(F_NULL, &c[C_PROTO], G_PRIV); ADD(F_I8, &c[C_PROTO], G_PRIV);
    ADD(F_NULL, &c[C_PRIV_IP], G_PRIV); ADD(F_IPHI, &c[C_PRIV_IP], G_PRIV); ADD(F_IPLO, &c[C_PRIV_IP], G_PRIV);
    ADD(F_NULL, &c[C_PRIV_PORT], G_PRIV); ADD(F_I32, &c[C_PRIV_PORT], G_PRIV);
    ADD(F_NULL, &c[C_T], G_TIME); ADD(F_I64, &c[C_T], G_TIME);
    ADD(F_SRC, &c[C_SRC], G_TIME);
    ADD(F_NULL, &c[C_LINE], G_TIME); ADD(F_I64, &c[C_LINE], G_TIME);
#undef ADD
    return nf;
}

#define MAX_WORDS 16

static const char *compute(work *w) {
    TICK_START;
    events *x = &w->x;
    size_t n = w->n;
    const column *src = &x->col[C_SRC];
    /* sources and their coverage: given, or the last time each source says anything of nat */
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
    uint32_t *kept = big(n, sizeof *kept);
    uint32_t *sid = big(n, sizeof *sid);
    w->src_rank = sid;
    if (!kept || !sid) { free(kept); return "out of memory"; }
    size_t m = 0;
    for (size_t e = 0; e < n; e++) {
        if (!ok(src, e)) continue; /* the join with coverage drops a NULL source */
        int32_t id = sources_id(&w->s, i64(src, e), !w->has_cover);
        if (id == -2) { free(kept); return "out of memory"; }
        if (id < 0) continue;
        if (!w->has_cover && ok(&x->col[C_T], e)) {
            int64_t v = i64(&x->col[C_T], e);
            if (!w->s.cover_ok[id] || v > w->s.cover[id]) { w->s.cover[id] = v; w->s.cover_ok[id] = 1; }
        }
        kept[m] = (uint32_t)e;
        sid[e] = (uint32_t)id;
        m++;
    }
    /* from here on a source is its rank, and its coverage is found by rank */
    size_t u = w->s.count;
    w->cover = malloc((u ? u : 1) * sizeof *w->cover);
    w->cover_ok = malloc(u ? u : 1);
    w->by_rank = malloc((u ? u : 1) * sizeof *w->by_rank);
    if (sources_rank(&w->s) < 0 || !w->cover || !w->cover_ok || !w->by_rank) { free(kept); return "out of memory"; }
    for (size_t id = 0; id < u; id++) {
        w->cover[w->s.rank[id]] = w->s.cover[id];
        w->cover_ok[w->s.rank[id]] = w->s.cover_ok[id];
        w->by_rank[w->s.rank[id]] = (uint32_t)id;
    }
    for (size_t j = 0; j < m; j++) sid[kept[j]] = w->s.rank[sid[kept[j]]];
    TICK("sources");

    field f[24];
    int group[24];
    int nf = sort_fields(x, f, group);
    for (int k = 0; k < nf; k++) {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (size_t j = 0; j < m; j++) {
            uint32_t e = kept[j];
            if (f[k].kind != F_NULL && f[k].kind != F_SRC && !ok(f[k].col, e)) continue;
            uint64_t v = raw_value(&f[k], e, sid);
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        f[k].min = lo <= hi ? lo : 0;
        f[k].width = lo <= hi ? bits(hi - lo) : 0;
    }
    /* pack from the least significant field into 64-bit words, a new word for each group */
    int words = 0, used = 0, word_group[MAX_WORDS], word_width[MAX_WORDS], pub_shift[MAX_WORDS];
    for (int k = nf - 1; k >= 0; k--) {
        if (f[k].width == 0) { f[k].word = -1; continue; }
        if (used && (used + f[k].width > 64 || GROUP_OF(word_group[words]) != GROUP_OF(group[k]))) {
            word_width[words] = used;
            words++;
            used = 0;
            if (words == MAX_WORDS) { free(kept); return "internal error: too many sort words"; }
        }
        if (!used) { word_group[words] = group[k]; pub_shift[words] = 64; }
        if (group[k] == G_PUB && pub_shift[words] == 64) pub_shift[words] = used;
        f[k].word = words;
        f[k].shift = used;
        used += f[k].width;
    }
    if (used) { word_width[words] = used; words++; }
    TICK("minmax");
    uint64_t *key[MAX_WORDS] = {NULL};
    /* One arena serves the phases in turn, since fresh pages cost more than the passes over them: first the
     * sort (a word's keys by event, the keys in sort order, the radix scratch), then the records in sort order
     * with the key changes, last the rows by day. */
    size_t sort_bytes = 8 * n + 20 * m, change_at = sort_bytes > 40 * m ? sort_bytes : 40 * m;
    w->arena_bytes = change_at + m;
    w->arena = big(w->arena_bytes, 1);
    uint8_t *arena = w->arena;
    uint32_t *pos = big(m, sizeof *pos);
    const char *error = NULL;
    if (!arena || !pos) { error = "out of memory"; goto sorted_done; }
    uint64_t *wordbuf = (uint64_t *)(void *)arena, *sorted = (uint64_t *)(void *)(arena + 8 * n),
             *k2 = (uint64_t *)(void *)(arena + 8 * n + 8 * m);
    uint32_t *v2 = (uint32_t *)(void *)(arena + 8 * n + 16 * m);
    record *srec = (record *)(void *)arena;
    uint8_t *change = arena + change_at;
    for (size_t j = 0; j < m; j++) pos[j] = kept[j];
    for (int word = 0; word < words; word++) { /* least significant word first: each sort is stable */
        /* by event; a word's keys are kept for the key changes only when it is of the key and not the last */
        int keep_word = word_group[word] != G_TIME && word != words - 1;
        uint64_t *kw = keep_word ? big(n, sizeof *kw) : wordbuf;
        if (keep_word) key[word] = kw;
        if (!kw) { error = "out of memory"; goto sorted_done; }
        for (size_t j = 0; j < m; j++) kw[kept[j]] = 0;
        for (int k = 0; k < nf; k++) {
            if (f[k].word != word) continue;
            const field *fk = &f[k];
            int nullable = fk->kind != F_NULL && fk->kind != F_SRC;
            for (size_t j = 0; j < m; j++) {
                uint32_t e = kept[j];
                if (nullable && !ok(fk->col, e)) continue;
                kw[e] |= (raw_value(fk, e, sid) - fk->min) << fk->shift;
            }
        }
        TICK("keys");
        for (size_t i = 0; i < m; i++) sorted[i] = kw[pos[i]];
        if (radix_sort(sorted, pos, m, word_width[word], k2, v2) < 0) { error = "out of memory"; goto sorted_done; }
        TICK("radix");
    }
    /* where the key (bit 1) and the public side (bit 2) change, from the key words in sort order */
    memset(change, 0, m);
    if (m) change[0] = 3;
    for (int word = 0; word < words && m; word++) {
        if (word_group[word] == G_TIME) continue;
        int shift = pub_shift[word];
        const uint64_t *kw = key[word];
        uint64_t prev = kw ? kw[pos[0]] : sorted[0]; /* the last word sorted is in `sorted` */
        for (size_t i = 1; i < m; i++) {
            uint64_t v = kw ? kw[pos[i]] : sorted[i];
            if (v != prev) change[i] |= shift == 0 || (shift < 64 && (v >> shift) != (prev >> shift)) ? 3 : 1;
            prev = v;
        }
    }
    for (size_t i = 0; i < m; i++) { /* pos: the events in sort order */
        if (i + 8 < m) {
            uint32_t ahead = pos[i + 8];
            __builtin_prefetch(x->col[C_T].data + 8 * (size_t)ahead);
            __builtin_prefetch(x->col[C_LINE].data + 8 * (size_t)ahead);
            __builtin_prefetch(x->col[C_SLACK].data + 4 * (size_t)ahead);
            __builtin_prefetch(x->col[C_NLINES].data + 4 * (size_t)ahead);
            __builtin_prefetch(x->col[C_ACTION].data + (size_t)ahead);
            __builtin_prefetch(sid + ahead);
        }
        make_record(w, pos[i], &srec[i]);
    }
    TICK("records");

    /* segments -> intervals, each with the run (one public address and port) it belongs to */
    size_t cap = 0;
    for (size_t i = 0; i < m; i++) cap += (change[i] & 1) || (i && IS_CLOSE(&srec[i - 1]) && !(change[i] & 1));
    w->iv = big(cap, sizeof *w->iv);
    if (!w->iv) { error = "out of memory"; goto sorted_done; }
    uint32_t run = 0;
    for (size_t i = 0; i < m;) {
        size_t g = i + 1;
        while (g < m && !(change[g] & 1)) g++;
        if (i && (change[i] & 2)) run++;
        size_t a = i;
        for (size_t k = i; k < g; k++) {
            if (k + 1 == g || IS_CLOSE(&srec[k])) {
                interval v;
                int keep;
                fold(w, srec, a, k + 1, &v, &keep);
                v.ev = pos[a];
                v.run = run;
                if (keep < 0) { error = "an interval's times are out of the range of 64-bit milliseconds"; goto sorted_done; }
                if (keep) w->iv[w->niv++] = v;
                a = k + 1;
            }
        }
        i = g;
    }
sorted_done:
    for (int word = 0; word < words; word++) free(key[word]);
    free(pos);
    free(kept);
    if (error) return error;
    TICK("segments");

    uint32_t *order = big(w->niv, sizeof *order);
    uint32_t *tmp = big(w->niv, sizeof *tmp);
    w->order = order;
    if (!order || !tmp) { free(tmp); return "out of memory"; }
    for (size_t k = 0; k < w->niv; k++) order[k] = (uint32_t)k;
    size_t run_start = 0;
    for (size_t k = 1; k <= w->niv; k++) { /* a run: the intervals of one public address and port */
        if (k < w->niv && w->iv[k - 1].run == w->iv[k].run) continue;
        if (k - run_start > 1) sort_run(x, w->iv, order + run_start, tmp, k - run_start);
        run_start = k;
    }
    free(tmp);
    TICK("runs");

    /* rows: each interval in every day it overlaps, then stably by day */
    size_t rows = 0;
    int64_t dmin = INT64_MAX, dmax = INT64_MIN;
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
    }
    uint64_t *day2;
    uint32_t *iv2;
    if (24 * rows <= w->arena_bytes) { /* the records are folded: the arena holds the rows */
        w->rows_in_arena = 1;
        w->row_day = (uint64_t *)(void *)w->arena;
        day2 = (uint64_t *)(void *)(w->arena + 8 * rows);
        w->row_iv = (uint32_t *)(void *)(w->arena + 16 * rows);
        iv2 = (uint32_t *)(void *)(w->arena + 20 * rows);
    } else {
        w->row_day = big(rows, sizeof *w->row_day);
        w->row_iv = big(rows, sizeof *w->row_iv);
        day2 = big(rows, sizeof *day2);
        iv2 = big(rows, sizeof *iv2);
        if (!w->row_day || !w->row_iv || !day2 || !iv2) { free(day2); free(iv2); return "out of memory"; }
    }
    size_t r = 0;
    for (size_t k = 0; k < w->niv; k++) {
        const interval *v = &w->iv[order[k]];
        int64_t d0, d1;
        days_of(v, &d0, &d1);
        for (int64_t d = d0; d <= d1; d++) {
            w->row_day[r] = (uint64_t)(d - dmin);
            w->row_iv[r] = order[k];
            r++;
        }
    }
    w->rows = rows;
    w->day_min = rows ? dmin : 0;
    int failed = rows && radix_sort(w->row_day, w->row_iv, rows, bits((uint64_t)(dmax - dmin)), day2, iv2) < 0;
    if (!w->rows_in_arena) {
        free(day2);
        free(iv2);
    }
    if (failed) return "out of memory";
    TICK("days");
    return NULL;
}

/* ---- output: Arrow buffers -------------------------------------------------------------------------------- */
enum { O_PUB_IP, O_PUB_PORT, O_START, O_DUR, O_SLACK, O_FLAGS, O_PROTO, O_PRIV_IP, O_PRIV_PORT, O_SRC, O_LINE,
       O_NLINES, O_END_SRC, O_END_DLINE, O_END_NLINES, O_DAY, NOUT };
static const Py_ssize_t OUT_WIDTH[NOUT] = {16, 4, 8, 8, 4, 4, 1, 16, 4, 8, 8, 4, 8, 8, 4, 8};
static const int OUT_NULLABLE[NOUT] = {1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0};
static const int OUT_BINARY[NOUT] = {1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};

typedef struct {
    uint8_t *valid[NOUT], *data[NOUT], *offsets[NOUT];
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

/* An address column of the rows, from the events' column (e: each row's event). */
static void fill_ip(const column *c, const uint32_t *e, size_t rows, uint8_t *valid, uint8_t *data,
                    uint8_t *offsets, int large) {
    int64_t off = 0;
    set_offset(offsets, 0, 0, large);
    for (size_t r = 0; r < rows; r++) {
        if (r + 16 < rows) __builtin_prefetch(c->data + 16 * (size_t)e[r + 16]);
        int b = ok(c, e[r]);
        set_valid(valid, r, b);
        if (b) { memcpy(data + off, ip(c, e[r]), 16); off += 16; }
        set_offset(offsets, r + 1, off, large);
    }
}

/* A port column (4 bytes) or the protocol (1 byte) of the rows. */
static void fill_int(const column *c, const uint32_t *e, size_t rows, uint8_t *valid, uint8_t *data, int width) {
    for (size_t r = 0; r < rows; r++) {
        if (r + 16 < rows) __builtin_prefetch(c->data + (size_t)width * e[r + 16]);
        int b = ok(c, e[r]);
        set_valid(valid, r, b);
        if (width == 4) {
            int32_t v = b ? i32(c, e[r]) : 0;
            memcpy(data + 4 * r, &v, 4);
        } else {
            data[r] = b ? c->data[e[r]] : 0;
        }
    }
}

/* The output columns, one at a time: first those of the intervals (read nearly in turn), then the key's, each
 * gathered from the events' column by the row's event (e, filled by the first pass). */
static void fill(const work *w, outbufs *o, uint32_t *e) {
    const events *x = &w->x;
    size_t rows = w->rows;
    for (int c = 0; c < NOUT; c++)
        if (OUT_NULLABLE[c]) memset(o->valid[c], 0, (rows + 7) / 8);
    for (size_t r = 0; r < rows; r++) {
        const interval *v = &w->iv[w->row_iv[r]];
        int b;
        int32_t i4;
        int64_t i8v;
        i8v = (int64_t)w->row_day[r] + w->day_min; memcpy(o->data[O_DAY] + 8 * r, &i8v, 8);
        e[r] = v->ev;
        memcpy(o->data[O_START] + 8 * r, &v->start, 8);
        i8v = v->end - v->start; memcpy(o->data[O_DUR] + 8 * r, &i8v, 8);
        memcpy(o->data[O_SLACK] + 4 * r, &v->slack, 4);
        b = !(v->nulls & N_FLAGS); set_valid(o->valid[O_FLAGS], r, b);
        i4 = b ? v->flags : 0; memcpy(o->data[O_FLAGS] + 4 * r, &i4, 4);
        memcpy(o->data[O_SRC] + 8 * r, &v->src, 8);
        b = !(v->nulls & N_LINE); set_valid(o->valid[O_LINE], r, b);
        i8v = b ? v->line : 0; memcpy(o->data[O_LINE] + 8 * r, &i8v, 8);
        b = !(v->nulls & N_NLINES); set_valid(o->valid[O_NLINES], r, b);
        i4 = b ? v->nlines : 0; memcpy(o->data[O_NLINES] + 4 * r, &i4, 4);
        b = !(v->nulls & N_END); set_valid(o->valid[O_END_SRC], r, b);
        i8v = b ? v->end_src : 0; memcpy(o->data[O_END_SRC] + 8 * r, &i8v, 8);
        b = !(v->nulls & (N_END_LINE | N_LINE)); set_valid(o->valid[O_END_DLINE], r, b);
        i8v = b ? v->end_line - v->line : 0; memcpy(o->data[O_END_DLINE] + 8 * r, &i8v, 8);
        b = !(v->nulls & N_END_NLINES); set_valid(o->valid[O_END_NLINES], r, b);
        i4 = b ? v->end_nlines : 0; memcpy(o->data[O_END_NLINES] + 4 * r, &i4, 4);
    }
    fill_ip(&x->col[C_PUB_IP], e, rows, o->valid[O_PUB_IP], o->data[O_PUB_IP], o->offsets[O_PUB_IP], o->large);
    fill_ip(&x->col[C_PRIV_IP], e, rows, o->valid[O_PRIV_IP], o->data[O_PRIV_IP], o->offsets[O_PRIV_IP], o->large);
    fill_int(&x->col[C_PUB_PORT], e, rows, o->valid[O_PUB_PORT], o->data[O_PUB_PORT], 4);
    fill_int(&x->col[C_PRIV_PORT], e, rows, o->valid[O_PRIV_PORT], o->data[O_PRIV_PORT], 4);
    fill_int(&x->col[C_PROTO], e, rows, o->valid[O_PROTO], o->data[O_PROTO], 1);
}

/* ---- Python glue -------------------------------------------------------------------------------------------- */
typedef struct {
    Py_buffer views[2 * NCOL + 4];
    int nviews;
} held;

static void release(held *h) {
    for (int k = 0; k < h->nviews; k++) PyBuffer_Release(&h->views[k]);
    h->nviews = 0;
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
    Py_buffer *data = &h->views[h->nviews];
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(triple, 1), data, PyBUF_SIMPLE) < 0) return -1;
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
        Py_buffer *bitmap = &h->views[h->nviews];
        if (PyObject_GetBuffer(validity, bitmap, PyBUF_SIMPLE) < 0) return -1;
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

static void work_free(work *w) {
    sources_free(&w->s);
    free(w->src_rank);
    free(w->cover);
    free(w->cover_ok);
    free(w->by_rank);
    free(w->iv);
    free(w->order);
    if (!w->rows_in_arena) {
        free(w->row_day);
        free(w->row_iv);
    }
    free(w->arena);
}

static PyObject *nat_rows(PyObject *self, PyObject *args) {
    (void)self;
    Py_ssize_t n;
    PyObject *columns, *coverage;
    if (!PyArg_ParseTuple(args, "nO!O:nat_rows", &n, &PyTuple_Type, &columns, &coverage)) return NULL;
    if (n < 0 || (size_t)n >= (size_t)UINT32_MAX) {
        PyErr_Format(PyExc_ValueError, "nat_rows: %zd events (at most %u at a time)", n, UINT32_MAX - 1);
        return NULL;
    }
    if (PyTuple_GET_SIZE(columns) != NCOL) {
        PyErr_Format(PyExc_ValueError, "nat_rows: %d columns expected, got %zd", NCOL, PyTuple_GET_SIZE(columns));
        return NULL;
    }
    work w;
    memset(&w, 0, sizeof w);
    w.n = (size_t)n;
    held h;
    h.nviews = 0;
    PyObject *result = NULL, *bufs[NOUT][3];
    memset(bufs, 0, sizeof bufs);
    for (int c = 0; c < NCOL; c++)
        if (take_column(PyTuple_GET_ITEM(columns, c), COLUMN_NAMES[c], n, COLUMN_WIDTH[c], &w.x.col[c], &h) < 0)
            goto fail;
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
        if (take_column(cs, "coverage src", m, 8, &w.cover_src, &h) < 0) goto fail;
        if (take_column(cv, "coverage", m, 8, &w.cover_val, &h) < 0) goto fail;
        w.has_cover = 1;
        w.ncover = (size_t)m;
    }
    const char *error;
    Py_BEGIN_ALLOW_THREADS
    error = compute(&w);
    Py_END_ALLOW_THREADS
    if (error) {
        PyErr_Format(error[0] == 'o' ? PyExc_MemoryError : PyExc_ValueError, "nat_rows: %s", error);
        goto fail;
    }
    Py_ssize_t rows = (Py_ssize_t)w.rows;
    outbufs o;
    memset(&o, 0, sizeof o);
    o.large = rows > INT32_MAX / 16;
    for (int c = 0; c < NOUT; c++) {
        bufs[c][1] = PyBytes_FromStringAndSize(NULL, rows * OUT_WIDTH[c]);
        if (!bufs[c][1]) goto fail;
        o.data[c] = (uint8_t *)PyBytes_AS_STRING(bufs[c][1]);
        huge_pages(o.data[c], (size_t)(rows * OUT_WIDTH[c]));
        if (OUT_NULLABLE[c]) {
            bufs[c][0] = PyBytes_FromStringAndSize(NULL, (rows + 7) / 8);
            if (!bufs[c][0]) goto fail;
            o.valid[c] = (uint8_t *)PyBytes_AS_STRING(bufs[c][0]);
        }
        if (OUT_BINARY[c]) {
            bufs[c][2] = PyBytes_FromStringAndSize(NULL, (rows + 1) * (o.large ? 8 : 4));
            if (!bufs[c][2]) goto fail;
            o.offsets[c] = (uint8_t *)PyBytes_AS_STRING(bufs[c][2]);
        }
    }
    uint32_t *row_ev = big((size_t)rows, sizeof *row_ev); /* each row's event */
    if (!row_ev) { PyErr_NoMemory(); goto fail; }
    Py_BEGIN_ALLOW_THREADS
    fill(&w, &o, row_ev);
    Py_END_ALLOW_THREADS
    free(row_ev);
    PyObject *out = PyTuple_New(NOUT);
    if (!out) goto fail;
    for (int c = 0; c < NOUT; c++) {
        PyObject *item = PyTuple_New(3);
        if (!item) { Py_DECREF(out); goto fail; }
        for (int k = 0; k < 3; k++) {
            PyObject *b = bufs[c][k] ? bufs[c][k] : Py_None;
            Py_INCREF(b);
            PyTuple_SET_ITEM(item, k, b);
        }
        PyTuple_SET_ITEM(out, c, item);
    }
    result = Py_BuildValue("(nN)", rows, out);
fail:
    for (int c = 0; c < NOUT; c++)
        for (int k = 0; k < 3; k++) Py_XDECREF(bufs[c][k]);
    release(&h);
    work_free(&w);
    return result;
}

static PyMethodDef methods[] = {
    {"nat_rows", nat_rows, METH_VARARGS,
     "nat_rows(n, columns, coverage) -> (rows, buffers): the NAT table's rows with their day, as Arrow buffers."},
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
