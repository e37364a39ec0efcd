/* One-pass parsers of NAT log lines (a10, juniper-rtflow, cisco-asa, conntrack, citrix-lsn), for
 * nohaven.carrier.nativeparse.
 *
 * parse(fmt, data, out) reads a block of complete lines ('\n'-terminated but perhaps the last) and fills, for
 * each line i, the columns of `out` (writable buffers, in the order of COLUMNS below). A line is admitted
 * (ok[i] = 1) only when it matches the format's strict grammar, the same one the Arrow path's patterns define
 * (nohaven.carrier.vectorised): every other line gets ok[i] = 0 and is handed by the caller to the format's
 * reference parser, which gives its reason. Being stricter than the reference is always safe; admitting a line
 * the reference would read differently is a bug (tests compare the stores both paths write).
 *
 * Header times are decoded to the seconds of their date-time fields read as UTC, the offset in seconds, the
 * milliseconds of the fraction and its resolution; the caller turns them into instants (a time without an
 * offset is placed in the --tz zone by the same Python function the reference uses). A destination port of -1
 * means none was logged, -2 that no destination was. Returns the line count.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { FMT_A10 = 1, FMT_JUNIPER_RTFLOW = 2, FMT_CISCO_ASA = 3, FMT_CONNTRACK = 4, FMT_CITRIX_LSN = 5 };

enum {
    C_OK, C_START, C_END, C_ACTION, C_SEC, C_OFF, C_WALL, C_FRAC, C_RES, C_PROTO, C_PRIV_IP, C_PRIV_PORT,
    C_PUB_IP, C_PUB_PORT, C_DST_IP, C_DST_PORT, C_ELAPSED, NCOLS
};
/* element sizes of the columns, in bytes */
static const int WIDTH[NCOLS] = {1, 8, 8, 1, 8, 4, 1, 2, 2, 1, 16, 4, 16, 4, 16, 4, 8};

typedef struct {
    uint8_t *ok;
    int64_t *start, *end;
    int8_t *action;
    int64_t *sec;
    int32_t *off;
    uint8_t *wall;
    int16_t *frac, *res;
    int8_t *proto;
    uint8_t *priv_ip;
    int32_t *priv_port;
    uint8_t *pub_ip;
    int32_t *pub_port;
    uint8_t *dst_ip;
    int32_t *dst_port;
    int64_t *elapsed;
} Out;

typedef struct {
    const char *p, *end;
} Cur;

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }
static inline int is_word(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-';
}

static inline int lit(Cur *c, const char *s, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0) return 0;
    c->p += n;
    return 1;
}
#define LIT(c, s) lit((c), (s), sizeof(s) - 1)

/* exactly n digits */
static inline int digits(Cur *c, int n, int *value) {
    if (c->end - c->p < n) return 0;
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = c->p[i];
        if (!is_digit(ch)) return 0;
        v = v * 10 + (ch - '0');
    }
    c->p += n;
    *value = v;
    return 1;
}

/* 1..max digits (greedy; fails if more follow) */
static inline int number(Cur *c, int max, int64_t *value) {
    int n = 0;
    int64_t v = 0;
    while (c->p + n < c->end && is_digit(c->p[n])) {
        if (++n > max) return 0;
        v = v * 10 + (c->p[n - 1] - '0');
    }
    if (n == 0) return 0;
    c->p += n;
    *value = v;
    return 1;
}

/* a dotted quad without leading zeros (an octet 0-255), as the IPv4-mapped 16-byte address */
static inline int ipv4(Cur *c, uint8_t *out) {
    memset(out, 0, 10);
    out[10] = 0xFF;
    out[11] = 0xFF;
    for (int i = 0; i < 4; i++) {
        if (i && !LIT(c, ".")) return 0;
        int n = 0, v = 0;
        while (c->p + n < c->end && is_digit(c->p[n]) && n < 4) {
            v = v * 10 + (c->p[n] - '0');
            n++;
        }
        if (n == 0 || n > 3 || (n > 1 && c->p[0] == '0') || v > 255) return 0;
        c->p += n;
        out[12 + i] = (uint8_t)v;
    }
    return 1;
}

static inline int port(Cur *c, int32_t *out) {
    int64_t v;
    if (!number(c, 5, &v) || v > 65535) return 0;
    *out = (int32_t)v;
    return 1;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static const int MONTH_DAYS[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* a proleptic Gregorian date and a time of day without a leap second */
static int valid_time(int y, int mo, int d, int h, int mi, int s) {
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= MONTH_DAYS[mo] + (mo == 2 && leap);
}

/* an optional ".digits": its first three as milliseconds, and the resolution they give (1000 ms without) */
static int fraction(Cur *c, int *frac, int *res) {
    *frac = 0;
    *res = 1000;
    if (c->p >= c->end || *c->p != '.') return 1;
    c->p++;
    int n = 0;
    while (c->p < c->end && is_digit(*c->p)) {
        if (n < 3) *frac = *frac * 10 + (*c->p - '0');
        n++;
        c->p++;
    }
    if (n == 0) return 0;
    for (int k = n; k < 3; k++) *frac *= 10;
    *res = n == 1 ? 100 : n == 2 ? 10 : 1;
    return 1;
}

/* YYYY-MM-DDTHH:MM:SS[.f+][Z|+hh:mm|+hhmm] followed by a space (not consumed) */
static int timestamp(Cur *c, Out *o, Py_ssize_t i) {
    int y, mo, d, h, mi, s;
    if (!digits(c, 4, &y) || !LIT(c, "-") || !digits(c, 2, &mo) || !LIT(c, "-") || !digits(c, 2, &d)
        || !LIT(c, "T") || !digits(c, 2, &h) || !LIT(c, ":") || !digits(c, 2, &mi) || !LIT(c, ":")
        || !digits(c, 2, &s))
        return 0;
    int frac, res;
    if (!valid_time(y, mo, d, h, mi, s) || !fraction(c, &frac, &res)) return 0;
    int32_t off = 0;
    uint8_t wall = 1;
    if (c->p < c->end && *c->p == 'Z') {
        c->p++;
        wall = 0;
    } else if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
        int sign = *c->p == '-' ? -1 : 1, oh, om;
        c->p++;
        if (!digits(c, 2, &oh)) return 0;
        if (c->p < c->end && *c->p == ':') c->p++;
        if (!digits(c, 2, &om) || oh > 23 || om > 59) return 0;
        off = sign * (oh * 3600 + om * 60);
        wall = 0;
    }
    if (c->p >= c->end || *c->p != ' ') return 0;
    o->sec[i] = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    o->off[i] = off;
    o->wall[i] = wall;
    o->frac[i] = (int16_t)frac;
    o->res[i] = (int16_t)res;
    return 1;
}

static inline int host(Cur *c) {
    const char *from = c->p;
    while (c->p < c->end && is_word(*c->p)) c->p++;
    return c->p > from;
}

/* 2026-11-27T03:14:07+01:00 cgn-2 NAT-TCP-C: 100.64.23.122:51515<->192.0.2.80:443,203.0.113.9:40001<-->192.0.2.80:443 */
static int a10(Cur *c, Out *o, Py_ssize_t i) {
    if (!timestamp(c, o, i) || !LIT(c, " ") || !host(c) || !LIT(c, " NAT-")) return 0;
    if (LIT(c, "TCP")) o->proto[i] = 6;
    else if (LIT(c, "UDP")) o->proto[i] = 17;
    else if (LIT(c, "ICMP")) o->proto[i] = 1;
    else return 0;
    if (LIT(c, "-C: ")) o->action[i] = 0;
    else if (LIT(c, "-F: ")) o->action[i] = 2;
    else return 0;
    int32_t ignored;
    uint8_t ignored_ip[16];
    if (!ipv4(c, o->priv_ip + 16 * i) || !LIT(c, ":") || !port(c, o->priv_port + i) || !LIT(c, "<->")
        || !ipv4(c, o->dst_ip + 16 * i) || !LIT(c, ":") || !port(c, o->dst_port + i) || !LIT(c, ",")
        || !ipv4(c, o->pub_ip + 16 * i) || !LIT(c, ":") || !port(c, o->pub_port + i) || !LIT(c, "<-->")
        || !ipv4(c, ignored_ip) || !LIT(c, ":") || !port(c, &ignored))
        return 0;
    o->elapsed[i] = -1;
    return c->p == c->end;
}

enum { K_SRC, K_SPORT, K_DST, K_DPORT, K_NAT, K_NPORT, K_PROTO, K_ELAPSED, NKEYS };
static const char *KEYS[NKEYS] = {"source-address", "source-port", "destination-address", "destination-port",
                                  "nat-source-address", "nat-source-port", "protocol-id", "elapsed-time"};

static int key_id(const char *p, size_t n) {
    int k;
    switch (n) { /* the needed keys' lengths: one comparison per pair */
    case 11: k = p[0] == 's' ? K_SPORT : K_PROTO; break;
    case 12: k = K_ELAPSED; break;
    case 14: k = K_SRC; break;
    case 15: k = K_NPORT; break;
    case 16: k = K_DPORT; break;
    case 18: k = K_NAT; break;
    case 19: k = K_DST; break;
    default: return -1;
    }
    return memcmp(KEYS[k], p, n) == 0 ? k : -1;
}

static int whole_value(const char *p, const char *end, int kind, Out *o, Py_ssize_t i) {
    Cur v = {p, end};
    int64_t n;
    switch (kind) {
    case K_SRC: return ipv4(&v, o->priv_ip + 16 * i) && v.p == end;
    case K_DST: return ipv4(&v, o->dst_ip + 16 * i) && v.p == end;
    case K_NAT: return ipv4(&v, o->pub_ip + 16 * i) && v.p == end;
    case K_SPORT: return port(&v, o->priv_port + i) && v.p == end;
    case K_NPORT: return port(&v, o->pub_port + i) && v.p == end;
    case K_DPORT: return port(&v, o->dst_port + i) && v.p == end;
    case K_PROTO:
        if (!number(&v, 3, &n) || v.p != end || n > 127) return 0;
        o->proto[i] = (int8_t)n;
        return 1;
    case K_ELAPSED:
        if (!number(&v, 12, &n) || v.p != end) return 0;
        o->elapsed[i] = n;
        return 1;
    }
    return 0;
}

static const char *find(const char *p, const char *end, const char *s, size_t n) {
    for (; (size_t)(end - p) >= n; p++) {
        p = memchr(p, s[0], (size_t)(end - p) - n + 1);
        if (!p) return NULL;
        if (memcmp(p, s, n) == 0) return p;
    }
    return NULL;
}

/* <14>1 2026-11-27T03:14:07.120+01:00 srx-1 RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.26 k="v" ...] */
static int juniper(Cur *c, Out *o, Py_ssize_t i) {
    const char *line = c->p;
    int64_t pri;
    if (!LIT(c, "<") || !number(c, 3, &pri) || !LIT(c, ">1 ") || !timestamp(c, o, i) || !LIT(c, " ") || !host(c)
        || !LIT(c, " RT_FLOW - RT_FLOW_SESSION_"))
        return 0;
    int close;
    if (LIT(c, "CREATE")) close = 0;
    else if (LIT(c, "CLOSE")) close = 1;
    else return 0;
    /* the reference reads the first message id: a second one anywhere makes the line its business */
    if (find(c->p, c->end, "RT_FLOW_SESSION_", 16) || find(line, c->p - 16 - (close ? 5 : 6), "RT_FLOW_SESSION_", 16))
        return 0;
    if (!LIT(c, " [junos@")) return 0;
    const char *from = c->p;
    while (c->p < c->end && (is_digit(*c->p) || *c->p == '.')) c->p++;
    if (c->p == from) return 0;
    int seen[NKEYS] = {0};
    while (c->p < c->end && *c->p == ' ') {
        c->p++;
        const char *k = c->p;
        while (c->p < c->end && is_word(*c->p)) c->p++;
        if (c->p == k || !LIT(c, "=\"")) return 0;
        size_t klen = (size_t)(c->p - 2 - k);
        const char *v = c->p;
        while (c->p < c->end && *c->p != '"' && *c->p != '\\') c->p++;
        if (c->p >= c->end || *c->p != '"') return 0;
        int id = key_id(k, klen);
        if (id >= 0) {
            if (seen[id]++) return 0; /* the reference keeps the last of a repeated key: not ours to decide */
            if (!whole_value(v, c->p, id, o, i)) return 0;
        }
        c->p++;
    }
    if (!LIT(c, "]") || c->p != c->end) return 0;
    for (int k = 0; k < K_ELAPSED; k++)
        if (!seen[k]) return 0;
    if (!seen[K_ELAPSED]) o->elapsed[i] = -1;
    if (close && !seen[K_ELAPSED]) return 0; /* the reference rejects a close without elapsed-time */
    const uint8_t *src = o->priv_ip + 16 * i, *nat = o->pub_ip + 16 * i;
    if (memcmp(src, nat, 16) == 0 && o->priv_port[i] == o->pub_port[i]) return 0; /* no translation */
    if (nat[12] == 0 && nat[13] == 0 && nat[14] == 0 && nat[15] == 0) return 0;   /* unset address */
    o->action[i] = close ? 3 : 0;
    return 1;
}


static const char MONTHS[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* Mon dd yyyy hh:mm:ss[.f] (a local time: wall = 1), followed by ':' or ' ' (not consumed) */
static int bsd_year_time(Cur *c, Out *o, Py_ssize_t i) {
    if (c->end - c->p < 3) return 0;
    int mo = 0, d = 0, n = 0, y, h, mi, s;
    for (int k = 0; k < 12 && !mo; k++)
        if (memcmp(c->p, MONTHS + 3 * k, 3) == 0) mo = k + 1;
    if (!mo) return 0;
    c->p += 3;
    if (!LIT(c, " ")) return 0;
    while (c->p < c->end && *c->p == ' ') c->p++;
    while (c->p < c->end && is_digit(*c->p) && n < 3) {
        d = d * 10 + (*c->p - '0');
        n++;
        c->p++;
    }
    if (n < 1 || n > 2 || !LIT(c, " ") || !digits(c, 4, &y) || !LIT(c, " ") || !digits(c, 2, &h) || !LIT(c, ":")
        || !digits(c, 2, &mi) || !LIT(c, ":") || !digits(c, 2, &s))
        return 0;
    int frac, res;
    if (!valid_time(y, mo, d, h, mi, s) || !fraction(c, &frac, &res)) return 0;
    if (c->p >= c->end || (*c->p != ' ' && *c->p != ':')) return 0;
    o->sec[i] = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    o->off[i] = 0;
    o->wall[i] = 1;
    o->frac[i] = (int16_t)frac;
    o->res[i] = (int16_t)res;
    return 1;
}

/* inside:100.64.0.7/51515 */
static inline int asa_endpoint(Cur *c, uint8_t *ip, int32_t *pt) {
    return host(c) && LIT(c, ":") && ipv4(c, ip) && LIT(c, "/") && port(c, pt);
}

/* Nov 27 2026 03:14:07: %ASA-6-305011: Built dynamic TCP translation from inside:100.64.0.7/51515 to
 * outside:203.0.113.9/40001[ duration 0:01:30]; also after <PRI>, an RFC 3339 time and a host name */
static int cisco_asa(Cur *c, Out *o, Py_ssize_t i) {
    int64_t pri;
    if (c->p < c->end && *c->p == '<') {
        c->p++;
        if (!number(c, 3, &pri) || !LIT(c, ">")) return 0;
        LIT(c, "1 ");
    }
    if (c->p < c->end && is_digit(*c->p)) {
        if (!timestamp(c, o, i)) return 0;
    } else if (!bsd_year_time(c, o, i)) {
        return 0;
    }
    if (!LIT(c, ": %")) {
        if (!LIT(c, " ")) return 0;
        if (!LIT(c, "%")) {
            if (!host(c) || !(LIT(c, " : %") || LIT(c, ": %") || LIT(c, " %"))) return 0;
        }
    }
    if (!(LIT(c, "ASA-") || LIT(c, "FTD-")) || c->p >= c->end || !is_digit(*c->p)) return 0;
    c->p++;
    if (!LIT(c, "-30501") || c->p >= c->end || (*c->p != '1' && *c->p != '2')) return 0;
    c->p++;
    if (!LIT(c, ": ")) return 0;
    int built;
    if (LIT(c, "Built ")) built = 1;
    else if (LIT(c, "Teardown ")) built = 0;
    else return 0;
    if (!(LIT(c, "dynamic ") || LIT(c, "static "))) return 0;
    if (LIT(c, "TCP ")) o->proto[i] = 6;
    else if (LIT(c, "UDP ")) o->proto[i] = 17;
    else if (LIT(c, "ICMP ")) o->proto[i] = 1;
    else return 0;
    if (!LIT(c, "translation from ") || !asa_endpoint(c, o->priv_ip + 16 * i, o->priv_port + i)) return 0;
    if (c->p < c->end && *c->p == '(') {
        const char *close = memchr(c->p, ')', (size_t)(c->end - c->p));
        if (!close) return 0;
        c->p = close + 1;
    }
    if (!LIT(c, " to ") || !asa_endpoint(c, o->pub_ip + 16 * i, o->pub_port + i)) return 0;
    o->elapsed[i] = -1;
    int duration = 0;
    if (LIT(c, " duration ")) {
        int64_t hours;
        int minutes, seconds;
        if (!number(c, 9, &hours) || !LIT(c, ":") || !digits(c, 2, &minutes) || !LIT(c, ":")
            || !digits(c, 2, &seconds))
            return 0;
        o->elapsed[i] = hours * 3600 + minutes * 60 + seconds;
        duration = 1;
    }
    if (c->p != c->end) return 0;
    o->action[i] = built ? 0 : duration ? 3 : 2;
    return 1;
}

static inline int blank(char ch) { return ch == ' ' || ch == '\t'; }

/* digits without a leading zero (but "0"): equal numbers are then equal text, as the reference compares them */
static inline int plain_port(Cur *c, int32_t *out) {
    if (c->end - c->p > 1 && c->p[0] == '0' && is_digit(c->p[1])) return 0;
    return port(c, out);
}

/* src=100.64.1.2 dst=192.0.2.80 sport=51515 dport=443 */
static int conntrack_tuple(Cur *c, uint8_t *src, uint8_t *dst, int32_t *sport, int32_t *dport) {
    return LIT(c, "src=") && ipv4(c, src) && LIT(c, " dst=") && ipv4(c, dst) && LIT(c, " sport=")
           && plain_port(c, sport) && LIT(c, " dport=") && plain_port(c, dport)
           && (c->p == c->end || *c->p == ' ');
}

/* [1795745647.120000]	    [NEW] tcp      6 120 SYN_SENT src=... dst=... sport=... dport=... [UNREPLIED] src=... */
static int conntrack(Cur *c, Out *o, Py_ssize_t i) {
    while (c->p < c->end && blank(*c->p)) c->p++;
    int64_t sec, proto;
    if (!LIT(c, "[") || !number(c, 12, &sec) || !LIT(c, ".")) return 0;
    int frac = 0, k = 0;
    while (c->p < c->end && is_digit(*c->p)) {
        if (k < 3) frac = frac * 10 + (*c->p - '0');
        k++;
        c->p++;
    }
    if (k < 1 || k > 9 || !LIT(c, "]") || c->p >= c->end || !blank(*c->p)) return 0;
    for (int j = k; j < 3; j++) frac *= 10;
    while (c->p < c->end && blank(*c->p)) c->p++;
    if (LIT(c, "[NEW]")) o->action[i] = 0;
    else if (LIT(c, "[DESTROY]")) o->action[i] = 2;
    else return 0;
    if (c->p >= c->end || !blank(*c->p)) return 0;
    while (c->p < c->end && blank(*c->p)) c->p++;
    const char *name = c->p;
    while (c->p < c->end && ((*c->p >= 'a' && *c->p <= 'z') || is_digit(*c->p))) c->p++;
    if (c->p == name || (c->p - name == 4 && memcmp(name, "ipv", 3) == 0)) return 0; /* an "ipv4 2" prefix */
    if (c->p >= c->end || !blank(*c->p)) return 0;
    while (c->p < c->end && blank(*c->p)) c->p++;
    if (!number(c, 3, &proto) || proto > 127 || !LIT(c, " ")) return 0;
    /* exactly two tuples: the original (subscriber -> destination) and the reply (destination -> public) */
    int seen = 0;
    uint8_t reply_src[16];
    int32_t reply_sport;
    while (c->p < c->end) {
        if (c->end - c->p >= 4 && memcmp(c->p, "src=", 4) == 0) {
            int good = seen == 0 ? conntrack_tuple(c, o->priv_ip + 16 * i, o->dst_ip + 16 * i, o->priv_port + i,
                                                   o->dst_port + i)
                                 : conntrack_tuple(c, reply_src, o->pub_ip + 16 * i, &reply_sport, o->pub_port + i);
            if (!good || ++seen > 2) return 0;
        } else { /* another token (timeout, state, [UNREPLIED], mark=0 ...): none may hold "src=" */
            const char *token = c->p;
            while (c->p < c->end && *c->p != ' ') c->p++;
            if (c->p == token || find(token, c->p, "src=", 4)) return 0;
        }
        if (c->p < c->end) {
            c->p++;
            if (c->p == c->end) return 0; /* a trailing space */
        }
    }
    if (seen != 2) return 0;
    if (memcmp(o->pub_ip + 16 * i, o->priv_ip + 16 * i, 16) == 0 && o->pub_port[i] == o->priv_port[i]) return 0;
    o->sec[i] = sec;
    o->off[i] = 0;
    o->wall[i] = 0;
    o->frac[i] = (int16_t)frac;
    o->res[i] = (int16_t)(k >= 3 ? 1 : k == 2 ? 10 : 100);
    o->proto[i] = (int8_t)proto;
    o->elapsed[i] = -1;
    return 1;
}

/* 100.64.0.7:51515:0 (address, port, traffic domain) */
static inline int citrix_client(Cur *c, uint8_t *ip, int32_t *pt) {
    int64_t td;
    return ipv4(c, ip) && LIT(c, ":") && port(c, pt) && LIT(c, ":") && number(c, 5, &td);
}

static inline int citrix_protocol(Cur *c, int8_t *proto) {
    const char *from = c->p;
    while (c->p < c->end && is_word(*c->p) && *c->p != '.' && *c->p != '-') c->p++;
    size_t n = (size_t)(c->p - from);
    char up[5] = {0};
    if (n < 3 || n > 4) return 0;
    for (size_t k = 0; k < n; k++) up[k] = (char)(from[k] >= 'a' && from[k] <= 'z' ? from[k] - 32 : from[k]);
    if (memcmp(up, "TCP", 4) == 0) *proto = 6;
    else if (memcmp(up, "UDP", 4) == 0) *proto = 17;
    else if (memcmp(up, "ICMP", 5) == 0) *proto = 1;
    else return 0;
    return c->p == c->end;
}

/* 11/27/2026:02:14:07 GMT ns-cgn-1 0-PPE-0 : default LSN LSN_ADDRPORT_MAPPING 1234 0 : Client IP:Port:TD
 * 100.64.0.7:51515:0, NatIP:NatPort 203.0.113.9:40001, Destination IP:Port:TD 192.0.2.80:443:0, Protocol: TCP
 * or, compact: ... : C 100.64.0.8:5353:0 203.0.113.9:40002 198.51.100.53:53:0 UDP */
static int citrix_lsn(Cur *c, Out *o, Py_ssize_t i) {
    const char *line = c->p;
    int mo, d, y, h, mi, s;
    if (!digits(c, 2, &mo) || !LIT(c, "/") || !digits(c, 2, &d) || !LIT(c, "/") || !digits(c, 4, &y)
        || !LIT(c, ":") || !digits(c, 2, &h) || !LIT(c, ":") || !digits(c, 2, &mi) || !LIT(c, ":")
        || !digits(c, 2, &s))
        return 0;
    if (!valid_time(y, mo, d, h, mi, s)) return 0;
    o->wall[i] = !(LIT(c, " GMT") || LIT(c, " UTC"));
    if (!LIT(c, " ")) return 0;
    o->sec[i] = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    o->off[i] = 0;
    o->frac[i] = 0;
    o->res[i] = 1000;
    /* the message: the first "LSN LSN_", after a space, with no other "LSN" before it */
    const char *at = find(c->p, c->end, "LSN LSN_", 8);
    if (!at || at[-1] != ' ' || find(line, at + 2, "LSN", 3) != NULL) return 0;
    c->p = at + 8;
    if (LIT(c, "ADDRPORT_MAPPING") || LIT(c, "SESSION") || LIT(c, "MAPPING")) {
        if (c->p < c->end && ((*c->p >= 'A' && *c->p <= 'Z') || *c->p == '_')) return 0;
    } else {
        return 0;
    }
    const char *colon = memchr(c->p, ':', (size_t)(c->end - c->p));
    if (!colon) return 0;
    c->p = colon + 1;
    while (c->p < c->end && *c->p == ' ') c->p++;
    o->elapsed[i] = -1;
    o->action[i] = 0;
    uint8_t *dst = o->dst_ip + 16 * i;
    if (LIT(c, "Client IP:Port:TD ")) { /* the default form */
        if (!citrix_client(c, o->priv_ip + 16 * i, o->priv_port + i)) return 0;
        if (!(LIT(c, ", NatIP:NatPort ") || LIT(c, ", Mapped IP:Port "))) return 0;
        if (!ipv4(c, o->pub_ip + 16 * i) || !LIT(c, ":") || !port(c, o->pub_port + i)) return 0;
        o->dst_port[i] = -2;
        if (LIT(c, ", Destination IP:Port:TD ")) {
            if (!citrix_client(c, dst, o->dst_port + i)) return 0;
        } else if (LIT(c, ", Destination IP:TD ")) {
            int64_t td;
            if (!ipv4(c, dst) || !LIT(c, ":") || !number(c, 5, &td)) return 0;
            o->dst_port[i] = -1;
        }
        if (!LIT(c, ", Protocol: ")) return 0;
        return citrix_protocol(c, o->proto + i);
    }
    /* the compact form, led by an optional created / deleted code */
    if (c->p < c->end && *c->p >= 'A' && *c->p <= 'Z') {
        const char *code = c->p;
        while (c->p < c->end && *c->p >= 'A' && *c->p <= 'Z') c->p++;
        if (c->p - code > 2 || !LIT(c, " ")) return 0;
        o->action[i] = c->p[-2] == 'D' ? 2 : 0;
    }
    if (!citrix_client(c, o->priv_ip + 16 * i, o->priv_port + i) || !LIT(c, " ")
        || !ipv4(c, o->pub_ip + 16 * i) || !LIT(c, ":") || !port(c, o->pub_port + i) || !LIT(c, " "))
        return 0;
    o->dst_port[i] = -2;
    if (c->p < c->end && is_digit(*c->p)) {
        if (!citrix_client(c, dst, o->dst_port + i) || !LIT(c, " ")) return 0;
    }
    return citrix_protocol(c, o->proto + i);
}

static PyObject *parse(PyObject *self, PyObject *args) {
    (void)self;
    int fmt;
    Py_buffer data;
    PyObject *outs;
    if (!PyArg_ParseTuple(args, "iy*O!", &fmt, &data, &PyTuple_Type, &outs)) return NULL;
    Py_buffer views[NCOLS];
    int held = 0;
    PyObject *result = NULL;
    if (fmt < FMT_A10 || fmt > FMT_CITRIX_LSN) {
        PyErr_Format(PyExc_ValueError, "unknown format %d", fmt);
        goto done;
    }
    if (PyTuple_GET_SIZE(outs) != NCOLS) {
        PyErr_Format(PyExc_ValueError, "expected %d output buffers", NCOLS);
        goto done;
    }
    const char *base = data.buf, *stop = base + data.len;
    Py_ssize_t capacity = PY_SSIZE_T_MAX;
    for (; held < NCOLS; held++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(outs, held), &views[held], PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        if (views[held].len / WIDTH[held] < capacity) capacity = views[held].len / WIDTH[held];
    }
    Out o = {views[C_OK].buf, views[C_START].buf, views[C_END].buf, views[C_ACTION].buf, views[C_SEC].buf,
             views[C_OFF].buf, views[C_WALL].buf, views[C_FRAC].buf, views[C_RES].buf, views[C_PROTO].buf,
             views[C_PRIV_IP].buf, views[C_PRIV_PORT].buf, views[C_PUB_IP].buf, views[C_PUB_PORT].buf,
             views[C_DST_IP].buf, views[C_DST_PORT].buf, views[C_ELAPSED].buf};
    Py_ssize_t i = 0;
    int overflow = 0;
    Py_BEGIN_ALLOW_THREADS
    for (const char *p = base; p < stop; i++) {
        if (i == capacity) { overflow = 1; break; }
        const char *nl = memchr(p, '\n', (size_t)(stop - p));
        const char *end = nl ? nl : stop;
        Cur c = {p, end};
        o.start[i] = p - base;
        o.end[i] = end - base;
        int ok = 0;
        switch (fmt) {
        case FMT_A10: ok = a10(&c, &o, i); break;
        case FMT_JUNIPER_RTFLOW: ok = juniper(&c, &o, i); break;
        case FMT_CISCO_ASA: ok = cisco_asa(&c, &o, i); break;
        case FMT_CONNTRACK: ok = conntrack(&c, &o, i); break;
        case FMT_CITRIX_LSN: ok = citrix_lsn(&c, &o, i); break;
        }
        o.ok[i] = (uint8_t)ok;
        p = nl ? nl + 1 : stop;
    }
    Py_END_ALLOW_THREADS
    if (overflow)
        PyErr_Format(PyExc_ValueError, "the output buffers hold %zd lines, the data more", capacity);
    else
        result = PyLong_FromSsize_t(i);
done:
    for (int k = 0; k < held; k++) PyBuffer_Release(&views[k]);
    PyBuffer_Release(&data);
    return result;
}

/* scan(data) -> (newlines, carriage returns): one pass over a block. */
static PyObject *scan(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    Py_ssize_t nl = 0, cr = 0, i = 0;
    Py_BEGIN_ALLOW_THREADS
    const unsigned char *p = data.buf;
#ifdef __SSE2__ /* sixteen bytes at a time: each match subtracts -1 from a byte counter, summed every 255 rounds */
    const __m128i want_nl = _mm_set1_epi8('\n'), want_cr = _mm_set1_epi8('\r'), zero = _mm_setzero_si128();
    while (i + 16 <= data.len) {
        __m128i count_nl = zero, count_cr = zero;
        for (int round = 0; round < 255 && i + 16 <= data.len; round++, i += 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            count_nl = _mm_sub_epi8(count_nl, _mm_cmpeq_epi8(x, want_nl));
            count_cr = _mm_sub_epi8(count_cr, _mm_cmpeq_epi8(x, want_cr));
        }
        __m128i sum_nl = _mm_sad_epu8(count_nl, zero), sum_cr = _mm_sad_epu8(count_cr, zero);
        nl += _mm_cvtsi128_si32(sum_nl) + _mm_extract_epi16(sum_nl, 4);
        cr += _mm_cvtsi128_si32(sum_cr) + _mm_extract_epi16(sum_cr, 4);
    }
#endif
    for (; i < data.len; i++) {
        nl += p[i] == '\n';
        cr += p[i] == '\r';
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return Py_BuildValue("(nn)", nl, cr);
}

/* The event columns (nohaven.carrier.schema.EVENT_SCHEMA's, those a NAT line fills) of the admitted lines, in
 * line order, from parse's per-line columns; the lines not admitted are listed for the reference parser. */
enum { E_KIND_OFFSETS, E_KIND_DATA, E_ACTION, E_T, E_BEGIN, E_BEGIN_VALID, E_SLACK, E_FLAGS, E_PROTO, E_PRIV_IP,
       E_PRIV_PORT, E_PUB_IP, E_PUB_PORT, E_DST_IP, E_DST_IP_VALID, E_DST_PORT, E_DST_PORT_VALID, E_SRC, E_LINE,
       E_NLINES, E_REST, NEVENT };
#define ACTION_WHOLE 3

/* compact(lines, parsed, placed, first_line, src, destination, out) -> (kept, rest): `parsed` the columns
 * parse filled, `placed` None or (ms, slack, flags) by line for lines whose time is local (wall), the instants
 * the --tz zone gives them (flags < 0: the zone refuses the time, the reference says why). Each output buffer
 * holds `lines` elements (bitmaps bits, kind's offsets one more, its data three bytes each). */
static PyObject *compact(PyObject *self, PyObject *args) {
    (void)self;
    Py_ssize_t n;
    long long first_line, src;
    int destination;
    PyObject *parsed, *placed, *outs;
    if (!PyArg_ParseTuple(args, "nO!OLLpO!", &n, &PyTuple_Type, &parsed, &placed, &first_line, &src, &destination,
                          &PyTuple_Type, &outs))
        return NULL;
    Py_buffer in[NCOLS], wall[3], out[NEVENT];
    int nin = 0, nwall = 0, nout = 0;
    PyObject *result = NULL;
    if (n < 0 || PyTuple_GET_SIZE(parsed) != NCOLS || PyTuple_GET_SIZE(outs) != NEVENT
        || (placed != Py_None && (!PyTuple_Check(placed) || PyTuple_GET_SIZE(placed) != 3))) {
        PyErr_SetString(PyExc_ValueError, "compact: lines, parse's columns, None or 3 placed columns, the outputs");
        goto done;
    }
    for (; nin < NCOLS; nin++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(parsed, nin), &in[nin], PyBUF_C_CONTIGUOUS) < 0) goto done;
        if (in[nin].len < n * WIDTH[nin]) { nin++; PyErr_SetString(PyExc_ValueError, "compact: a short column"); goto done; }
    }
    for (; placed != Py_None && nwall < 3; nwall++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(placed, nwall), &wall[nwall], PyBUF_C_CONTIGUOUS) < 0) goto done;
        if (wall[nwall].len < n * 8) { nwall++; PyErr_SetString(PyExc_ValueError, "compact: a short column"); goto done; }
    }
    static const int OUT_WIDTH[NEVENT] = {4, 3, 1, 8, 8, 0, 4, 1, 1, 16, 4, 16, 4, 16, 0, 4, 0, 8, 8, 4, 4};
    for (; nout < NEVENT; nout++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(outs, nout), &out[nout], PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        Py_ssize_t need = OUT_WIDTH[nout] ? n * OUT_WIDTH[nout] + (nout == E_KIND_OFFSETS ? 4 : 0) : (n + 7) / 8;
        if (out[nout].len < need) { nout++; PyErr_SetString(PyExc_ValueError, "compact: a short output"); goto done; }
    }
    Py_ssize_t kept = 0, rest = 0;
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *ok = in[C_OK].buf, *is_wall = in[C_WALL].buf;
    const int8_t *action = in[C_ACTION].buf, *proto = in[C_PROTO].buf;
    const int64_t *sec = in[C_SEC].buf, *elapsed = in[C_ELAPSED].buf;
    const int32_t *off = in[C_OFF].buf, *priv_port = in[C_PRIV_PORT].buf, *pub_port = in[C_PUB_PORT].buf,
                  *dst_port = in[C_DST_PORT].buf;
    const int16_t *frac = in[C_FRAC].buf, *res = in[C_RES].buf;
    const uint8_t *priv_ip = in[C_PRIV_IP].buf, *pub_ip = in[C_PUB_IP].buf, *dst_ip = in[C_DST_IP].buf;
    const int64_t *w_ms = nwall ? wall[0].buf : NULL, *w_slack = nwall ? wall[1].buf : NULL,
                  *w_flags = nwall ? wall[2].buf : NULL;
    int32_t *o_kind = out[E_KIND_OFFSETS].buf, *o_slack = out[E_SLACK].buf, *o_priv_port = out[E_PRIV_PORT].buf,
            *o_pub_port = out[E_PUB_PORT].buf, *o_dst_port = out[E_DST_PORT].buf, *o_nlines = out[E_NLINES].buf,
            *o_rest = out[E_REST].buf;
    char *o_kind_data = out[E_KIND_DATA].buf;
    int8_t *o_action = out[E_ACTION].buf, *o_flags = out[E_FLAGS].buf, *o_proto = out[E_PROTO].buf;
    int64_t *o_t = out[E_T].buf, *o_begin = out[E_BEGIN].buf, *o_src = out[E_SRC].buf, *o_line = out[E_LINE].buf;
    uint8_t *o_begin_valid = out[E_BEGIN_VALID].buf, *o_dst_ip_valid = out[E_DST_IP_VALID].buf,
            *o_dst_port_valid = out[E_DST_PORT_VALID].buf, *o_priv_ip = out[E_PRIV_IP].buf,
            *o_pub_ip = out[E_PUB_IP].buf, *o_dst_ip = out[E_DST_IP].buf;
    memset(o_begin_valid, 0, (size_t)(n + 7) / 8);
    memset(o_dst_ip_valid, 0, (size_t)(n + 7) / 8);
    memset(o_dst_port_valid, 0, (size_t)(n + 7) / 8);
    o_kind[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int good = ok[i];
        int64_t ms, slack, flags = 0;
        if (good && is_wall[i] == 1) {
            if (!w_ms || w_flags[i] < 0) {
                good = 0; /* the zone refuses this local time: the reference says why */
            } else {
                ms = w_ms[i] + frac[i];
                slack = w_slack[i] - 1000 + res[i];
                flags = w_flags[i];
            }
        } else {
            ms = (sec[i] - off[i]) * 1000 + frac[i];
            slack = res[i];
        }
        if (!good) { o_rest[rest++] = (int32_t)i; continue; }
        Py_ssize_t k = kept++;
        int whole = action[i] == ACTION_WHOLE;
        o_kind[k + 1] = (int32_t)(3 * (k + 1));
        memcpy(o_kind_data + 3 * k, "nat", 3);
        o_action[k] = action[i];
        o_t[k] = ms;
        o_begin[k] = whole ? ms - elapsed[i] * 1000 - 1000 : 0;
        if (whole) o_begin_valid[k >> 3] |= (uint8_t)(1u << (k & 7));
        o_slack[k] = (int32_t)(whole ? slack + 1000 : slack);
        o_flags[k] = (int8_t)flags;
        o_proto[k] = proto[i];
        memcpy(o_priv_ip + 16 * k, priv_ip + 16 * i, 16);
        o_priv_port[k] = priv_port[i];
        memcpy(o_pub_ip + 16 * k, pub_ip + 16 * i, 16);
        o_pub_port[k] = pub_port[i];
        int32_t port = destination ? dst_port[i] : -2; /* -1: no port logged; -2: no destination */
        if (port != -2) {
            memcpy(o_dst_ip + 16 * k, dst_ip + 16 * i, 16);
            o_dst_ip_valid[k >> 3] |= (uint8_t)(1u << (k & 7));
        } else {
            memset(o_dst_ip + 16 * k, 0, 16);
        }
        o_dst_port[k] = port >= 0 ? port : 0;
        if (port >= 0) o_dst_port_valid[k >> 3] |= (uint8_t)(1u << (k & 7));
        o_src[k] = (int64_t)src;
        o_line[k] = (int64_t)first_line + i;
        o_nlines[k] = 1;
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(nn)", kept, rest);
done:
    for (int k = 0; k < nin; k++) PyBuffer_Release(&in[k]);
    for (int k = 0; k < nwall; k++) PyBuffer_Release(&wall[k]);
    for (int k = 0; k < nout; k++) PyBuffer_Release(&out[k]);
    return result;
}

static PyObject *newlines(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    Py_ssize_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    const char *p = data.buf, *stop = p + data.len;
    while (p < stop && (p = memchr(p, '\n', (size_t)(stop - p))) != NULL) {
        count++;
        p++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(count);
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS, "parse(fmt, data, outs) -> lines: fill the output columns for each line"},
    {"newlines", newlines, METH_VARARGS, "newlines(data) -> how many '\\n' bytes data holds"},
    {"scan", scan, METH_VARARGS, "scan(data) -> (newlines, carriage returns) in one pass"},
    {"compact", compact, METH_VARARGS,
     "compact(lines, parsed, placed, first_line, src, destination, out) -> (kept, rest): the admitted lines' event "
     "columns"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_natparse", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__natparse(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "A10", FMT_A10) < 0 || PyModule_AddIntConstant(m, "JUNIPER_RTFLOW", FMT_JUNIPER_RTFLOW) < 0
        || PyModule_AddIntConstant(m, "COLUMNS", NCOLS) < 0
        || PyModule_AddIntConstant(m, "ACTION_WHOLE", ACTION_WHOLE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
