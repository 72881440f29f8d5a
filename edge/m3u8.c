/* Media playlist reader for the edge (see m3u8.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "edge/m3u8.h"
#include "packager/llhls.h"

/* ---- small readers ---- */

static bool starts(cc_iov_t l, const char *p)
{
    size_t n = strlen(p);
    return l.len >= n && memcmp(l.base, p, n) == 0;
}

static bool iov_eq(cc_iov_t v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && memcmp(v.base, s, n) == 0;
}

/* decimal-integer (RFC 8216bis 4.2): digits only, within 64 bits. */
static int dec_u64(cc_iov_t v, uint64_t *out)
{
    if (v.len == 0 || v.len > 20)
        return CC_EPROTO;
    uint64_t x = 0;
    for (size_t i = 0; i < v.len; i++) {
        uint8_t c = v.base[i];
        if (c < '0' || c > '9')
            return CC_EPROTO;
        uint64_t d = (uint64_t)(c - '0');
        if (x > (UINT64_MAX - d) / 10)
            return CC_EPROTO;
        x = x * 10 + d;
    }
    *out = x;
    return 0;
}

/* decimal-floating-point, non-negative, bounded text. */
static int dec_float(cc_iov_t v, double *out)
{
    char tmp[40];
    if (v.len == 0 || v.len >= sizeof(tmp))
        return CC_EPROTO;
    for (size_t i = 0; i < v.len; i++)
        if (!((v.base[i] >= '0' && v.base[i] <= '9') || v.base[i] == '.'))
            return CC_EPROTO;
    memcpy(tmp, v.base, v.len);
    tmp[v.len] = '\0';
    char *end;
    double d = strtod(tmp, &end);
    if (end != tmp + v.len || !isfinite(d) || d < 0)
        return CC_EPROTO;
    *out = d;
    return 0;
}

/* A cartcast URI of the expected kind -> its number. */
static int uri_number(cc_iov_t v, cc_llhls_uri_kind_t want, uint64_t *out)
{
    char tmp[48];
    if (v.len == 0 || v.len >= sizeof(tmp) || memchr(v.base, '\0', v.len))
        return CC_EPROTO;
    memcpy(tmp, v.base, v.len);
    tmp[v.len] = '\0';
    cc_llhls_uri_kind_t kind;
    if (cc_llhls_uri_parse(tmp, &kind, out) < 0 || kind != want)
        return CC_EPROTO;
    return 0;
}

/* ---- attribute lists (4.2): NAME=value,NAME="quoted",... ---- */

typedef struct attr {
    cc_iov_t name, value;
    bool quoted;
} attr_t;

/* Next attribute from *p; 1 when one was read, 0 at the end, CC_EPROTO. */
static int next_attr(cc_iov_t *rest, attr_t *a)
{
    const uint8_t *p = rest->base, *end = rest->base + rest->len;
    if (p == end)
        return 0;
    const uint8_t *n = p;
    while (p < end && ((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
        p++;
    if (p == n || p == end || *p != '=')
        return CC_EPROTO;
    a->name = cc_iov(n, (size_t)(p - n));
    p++;
    if (p < end && *p == '"') {
        const uint8_t *v = ++p;
        while (p < end && *p != '"')
            p++;
        if (p == end)
            return CC_EPROTO;
        a->value = cc_iov(v, (size_t)(p - v));
        a->quoted = true;
        p++;
    } else {
        const uint8_t *v = p;
        while (p < end && *p != ',' && *p != '"')
            p++;
        if (p == v || (p < end && *p == '"'))
            return CC_EPROTO;
        a->value = cc_iov(v, (size_t)(p - v));
        a->quoted = false;
    }
    if (p < end) {
        if (*p != ',' || p + 1 == end)
            return CC_EPROTO;
        p++;
    }
    *rest = cc_iov(p, (size_t)(end - p));
    return 1;
}

/* ---- dates ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CC_EPROTO;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int cc_m3u8_parse_date(const char *s, size_t len, int64_t *out_ms)
{
    unsigned Y, M, D, h, m, sec;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return CC_EPROTO;
    if (digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &m) || digits(s + 17, 2, &sec))
        return CC_EPROTO;
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return CC_EPROTO;
    size_t i = 19;
    unsigned ms = 0;
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        unsigned scale = 100;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            ms += (unsigned)(s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start || i - start > 9)
            return CC_EPROTO;
    }
    int64_t offset_min = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        unsigned oh, om;
        i++;
        if (len - i == 5 && s[i + 2] == ':') {
            if (digits(s + i, 2, &oh) || digits(s + i + 3, 2, &om))
                return CC_EPROTO;
            i += 5;
        } else if (len - i == 4) {
            if (digits(s + i, 2, &oh) || digits(s + i + 2, 2, &om))
                return CC_EPROTO;
            i += 4;
        } else {
            return CC_EPROTO;
        }
        if (oh > 23 || om > 59)
            return CC_EPROTO;
        offset_min = sign * (int64_t)(oh * 60 + om);
    } else {
        return CC_EPROTO;
    }
    if (i != len)
        return CC_EPROTO;
    int64_t days = days_from_civil(Y, M, D);
    int64_t t = ((days * 24 + h) * 60 + m) * 60 + sec - offset_min * 60;
    *out_ms = t * 1000 + ms;
    return 0;
}

/* ---- the playlist ---- */

typedef struct parse {
    cc_m3u8_media_t *out;
    bool in_seg;          /* a segment has begun (tags or parts seen, no URI yet) */
    bool have_msn;
    uint64_t next_msn;
    uint64_t disc;        /* discontinuity sequence of the next segment */
    bool has_map;
    uint64_t map_disc;
    bool pending_disc;
    int64_t pending_pdt;
    bool have_extinf;
    double extinf_ms;
} parse_t;

static cc_m3u8_segment_t *cur_seg(parse_t *p)
{
    cc_m3u8_media_t *o = p->out;
    if (p->in_seg)
        return &o->segments[o->nsegments - 1];
    if (o->nsegments >= CC_M3U8_MAX_SEGMENTS)
        return NULL;
    if (!p->have_msn) {
        p->next_msn = o->media_sequence + o->skipped;
        p->have_msn = true;
    }
    cc_m3u8_segment_t *s = &o->segments[o->nsegments++];
    memset(s, 0, sizeof(*s));
    s->msn = p->next_msn;
    s->pdt_ms = -1;
    s->first_part = (uint32_t)o->nparts;
    p->in_seg = true;
    return s;
}

/* Tags that come before a segment's parts: they apply to the segment being
 * assembled (or the next one). */
static int seg_tag_flush(parse_t *p, cc_m3u8_segment_t *s)
{
    if (p->pending_disc) {
        s->discontinuity = true;
        p->disc++;
        p->pending_disc = false;
    }
    s->disc = p->disc;
    s->has_map = p->has_map;
    s->map_disc = p->map_disc;
    if (p->pending_pdt >= 0) {
        s->pdt_ms = p->pending_pdt;
        p->pending_pdt = -1;
    }
    return 0;
}

static int tag_part(parse_t *p, cc_iov_t attrs)
{
    cc_m3u8_media_t *o = p->out;
    bool new_seg = !p->in_seg;
    cc_m3u8_segment_t *s = cur_seg(p);
    if (s == NULL)
        return CC_ETOOBIG;
    if (new_seg)
        seg_tag_flush(p, s);
    if (o->nparts >= CC_M3U8_MAX_PARTS)
        return CC_ETOOBIG;
    cc_m3u8_part_t part = {0};
    bool has_dur = false, has_uri = false;
    attr_t a;
    int r;
    while ((r = next_attr(&attrs, &a)) == 1) {
        if (iov_eq(a.name, "DURATION")) {
            double d;
            if (a.quoted || dec_float(a.value, &d) < 0)
                return CC_EPROTO;
            part.dur_ms = d * 1000.0;
            has_dur = true;
        } else if (iov_eq(a.name, "URI")) {
            if (!a.quoted || uri_number(a.value, CC_LLHLS_URI_PART, &part.seq) < 0)
                return CC_EPROTO;
            has_uri = true;
        } else if (iov_eq(a.name, "INDEPENDENT")) {
            part.independent = !a.quoted && iov_eq(a.value, "YES");
        } else if (iov_eq(a.name, "GAP")) {
            return CC_EPROTO; /* cartcast never writes gaps: nothing to mirror */
        }
    }
    if (r < 0 || !has_dur || !has_uri || !(part.dur_ms > 0))
        return CC_EPROTO;
    /* Part numbers never reset and grow by one (llhls.h). */
    if (o->nparts > 0 && part.seq != o->parts[o->nparts - 1].seq + 1)
        return CC_EPROTO;
    o->parts[o->nparts++] = part;
    s->nparts++;
    return 0;
}

static int tag_daterange(parse_t *p, cc_iov_t attrs)
{
    cc_m3u8_media_t *o = p->out;
    if (o->ndateranges >= CC_M3U8_MAX_DATERANGES)
        return CC_ETOOBIG;
    cc_m3u8_daterange_t *d = &o->dateranges[o->ndateranges];
    memset(d, 0, sizeof(*d));
    d->start_ms = d->duration_ms = d->end_ms = -1;
    attr_t a;
    int r;
    while ((r = next_attr(&attrs, &a)) == 1) {
        if (iov_eq(a.name, "ID")) {
            if (!a.quoted || a.value.len == 0)
                return CC_EPROTO;
            d->id = a.value;
        } else if (iov_eq(a.name, "CLASS")) {
            if (!a.quoted)
                return CC_EPROTO;
            d->class_name = a.value;
        } else if (iov_eq(a.name, "START-DATE") || iov_eq(a.name, "END-DATE")) {
            int64_t ms;
            if (!a.quoted || cc_m3u8_parse_date((const char *)a.value.base, a.value.len, &ms) < 0)
                return CC_EPROTO;
            if (a.name.base[0] == 'S')
                d->start_ms = ms;
            else
                d->end_ms = ms;
        } else if (iov_eq(a.name, "DURATION")) {
            double v;
            if (a.quoted || dec_float(a.value, &v) < 0 || v > 1e9)
                return CC_EPROTO;
            d->duration_ms = llround(v * 1000.0);
        } else if (starts(a.name, "X-") && a.quoted) {
            if (d->nx >= CC_M3U8_DR_X_MAX)
                return CC_ETOOBIG;
            d->x[d->nx].name = a.name;
            d->x[d->nx].value = a.value;
            d->nx++;
        }
    }
    if (r < 0 || d->id.base == NULL || d->start_ms < 0)
        return CC_EPROTO;
    o->ndateranges++;
    return 0;
}

static int tag_value_u64(cc_iov_t line, size_t prefix, uint64_t *out)
{
    return dec_u64(cc_iov(line.base + prefix, line.len - prefix), out);
}

static int parse_line(parse_t *p, cc_iov_t l)
{
    cc_m3u8_media_t *o = p->out;
    uint64_t v;
    attr_t a;
    int r;
    if (l.len == 0)
        return 0;
    if (l.base[0] != '#') {
        /* A segment URI: closes the segment that EXTINF opened. */
        if (!p->have_extinf)
            return CC_EPROTO;
        bool new_seg = !p->in_seg;
        cc_m3u8_segment_t *s = cur_seg(p);
        if (s == NULL)
            return CC_ETOOBIG;
        if (new_seg)
            seg_tag_flush(p, s);
        if (uri_number(l, CC_LLHLS_URI_SEGMENT, &v) < 0 || v != s->msn)
            return CC_EPROTO;
        s->complete = true;
        s->dur_ms = p->extinf_ms;
        p->have_extinf = false;
        p->in_seg = false;
        p->next_msn++;
        return 0;
    }
    if (!starts(l, "#EXT"))
        return 0; /* a comment */
#define TAG(name) (starts(l, name) ? strlen(name) : 0)
    size_t n;
    if ((n = TAG("#EXT-X-VERSION:"))) {
        if (tag_value_u64(l, n, &v) < 0 || v > 100)
            return CC_EPROTO;
        o->version = (int)v;
    } else if ((n = TAG("#EXT-X-TARGETDURATION:"))) {
        if (tag_value_u64(l, n, &v) < 0 || v == 0 || v > 3600)
            return CC_EPROTO;
        o->target_duration_s = (uint32_t)v;
    } else if ((n = TAG("#EXT-X-PART-INF:"))) {
        cc_iov_t rest = cc_iov(l.base + n, l.len - n);
        while ((r = next_attr(&rest, &a)) == 1) {
            double d;
            if (iov_eq(a.name, "PART-TARGET")) {
                if (a.quoted || dec_float(a.value, &d) < 0 || d > 3600)
                    return CC_EPROTO;
                o->part_target_ms = (uint32_t)llround(d * 1000.0);
            }
        }
        if (r < 0)
            return r;
    } else if ((n = TAG("#EXT-X-SERVER-CONTROL:"))) {
        cc_iov_t rest = cc_iov(l.base + n, l.len - n);
        while ((r = next_attr(&rest, &a)) == 1)
            if (iov_eq(a.name, "CAN-BLOCK-RELOAD"))
                o->can_block_reload = iov_eq(a.value, "YES");
        if (r < 0)
            return r;
    } else if ((n = TAG("#EXT-X-MEDIA-SEQUENCE:"))) {
        if (p->have_msn || tag_value_u64(l, n, &o->media_sequence) < 0)
            return CC_EPROTO;
    } else if ((n = TAG("#EXT-X-DISCONTINUITY-SEQUENCE:"))) {
        if (p->have_msn || tag_value_u64(l, n, &o->discontinuity_sequence) < 0)
            return CC_EPROTO;
        p->disc = o->discontinuity_sequence;
    } else if (iov_eq(l, "#EXT-X-INDEPENDENT-SEGMENTS")) {
        o->independent_segments = true;
    } else if ((n = TAG("#EXT-X-SKIP:"))) {
        cc_iov_t rest = cc_iov(l.base + n, l.len - n);
        while ((r = next_attr(&rest, &a)) == 1)
            if (iov_eq(a.name, "SKIPPED-SEGMENTS")) {
                if (a.quoted || dec_u64(a.value, &v) < 0 || v > UINT32_MAX)
                    return CC_EPROTO;
                o->skipped = (uint32_t)v;
            }
        if (r < 0 || p->have_msn)
            return CC_EPROTO;
    } else if ((n = TAG("#EXT-X-MAP:"))) {
        cc_iov_t rest = cc_iov(l.base + n, l.len - n);
        bool has = false;
        while ((r = next_attr(&rest, &a)) == 1) {
            if (iov_eq(a.name, "URI")) {
                if (!a.quoted || uri_number(a.value, CC_LLHLS_URI_INIT, &p->map_disc) < 0)
                    return CC_EPROTO;
                has = true;
            } else if (iov_eq(a.name, "BYTERANGE")) {
                return CC_EPROTO;
            }
        }
        if (r < 0 || !has || p->in_seg)
            return CC_EPROTO;
        p->has_map = true;
    } else if ((n = TAG("#EXT-X-PROGRAM-DATE-TIME:"))) {
        int64_t ms;
        if (cc_m3u8_parse_date((const char *)l.base + n, l.len - n, &ms) < 0 || p->in_seg)
            return CC_EPROTO;
        p->pending_pdt = ms;
    } else if (iov_eq(l, "#EXT-X-DISCONTINUITY")) {
        if (p->in_seg)
            return CC_EPROTO;
        p->pending_disc = true;
    } else if ((n = TAG("#EXT-X-PART:"))) {
        return tag_part(p, cc_iov(l.base + n, l.len - n));
    } else if ((n = TAG("#EXTINF:"))) {
        const uint8_t *s = l.base + n, *c = memchr(s, ',', l.len - n);
        double d;
        if (c == NULL || dec_float(cc_iov(s, (size_t)(c - s)), &d) < 0 || d > 3600 || p->have_extinf)
            return CC_EPROTO;
        p->extinf_ms = d * 1000.0;
        p->have_extinf = true;
    } else if ((n = TAG("#EXT-X-PRELOAD-HINT:"))) {
        cc_iov_t rest = cc_iov(l.base + n, l.len - n);
        bool part = false, has_uri = false;
        uint64_t seq = 0;
        while ((r = next_attr(&rest, &a)) == 1) {
            if (iov_eq(a.name, "TYPE"))
                part = iov_eq(a.value, "PART");
            else if (iov_eq(a.name, "URI"))
                has_uri = a.quoted && uri_number(a.value, CC_LLHLS_URI_PART, &seq) == 0;
            else if (iov_eq(a.name, "BYTERANGE-START") || iov_eq(a.name, "BYTERANGE-LENGTH"))
                return CC_EPROTO;
        }
        if (r < 0)
            return r;
        if (part) {
            if (!has_uri)
                return CC_EPROTO;
            o->has_hint = true;
            o->hint_seq = seq;
        }
    } else if ((n = TAG("#EXT-X-DATERANGE:"))) {
        return tag_daterange(p, cc_iov(l.base + n, l.len - n));
    } else if (iov_eq(l, "#EXT-X-ENDLIST")) {
        o->endlist = true;
    }
#undef TAG
    return 0;
}

int cc_m3u8_parse_media(const char *text, size_t len, cc_m3u8_media_t *out)
{
    if (text == NULL || len > CC_M3U8_TEXT_MAX)
        return text == NULL ? CC_EINVAL : CC_ETOOBIG;
    out->version = 0;
    out->target_duration_s = out->part_target_ms = 0;
    out->can_block_reload = out->independent_segments = out->endlist = out->has_hint = false;
    out->media_sequence = out->discontinuity_sequence = out->hint_seq = 0;
    out->skipped = 0;
    out->nsegments = out->nparts = out->ndateranges = 0;
    parse_t p = {.out = out, .pending_pdt = -1};

    const uint8_t *s = (const uint8_t *)text, *end = s + len;
    bool first = true;
    while (s < end) {
        const uint8_t *e = memchr(s, '\n', (size_t)(end - s));
        const uint8_t *next = e ? e + 1 : end;
        if (e == NULL)
            e = end;
        if (e > s && e[-1] == '\r')
            e--;
        cc_iov_t line = cc_iov(s, (size_t)(e - s));
        if (line.len > CC_M3U8_LINE_MAX)
            return CC_ETOOBIG;
        if (memchr(line.base, '\0', line.len))
            return CC_EPROTO;
        if (first) {
            if (!iov_eq(line, "#EXTM3U"))
                return CC_EPROTO;
            first = false;
        } else {
            int r = parse_line(&p, line);
            if (r < 0)
                return r;
        }
        s = next;
    }
    if (first || out->target_duration_s == 0 || p.have_extinf)
        return CC_EPROTO;
    /* The open segment must have parts; tags with nothing after them mean a
     * truncated playlist. */
    if (p.in_seg && out->segments[out->nsegments - 1].nparts == 0)
        return CC_EPROTO;
    if (p.pending_disc || p.pending_pdt >= 0)
        return CC_EPROTO;
    /* Parts in a segment before a complete one only exist if the later one
     * has parts too (the origin lists parts for the last segments only) and
     * their numbers run on. */
    if (out->has_hint && out->nparts > 0 && out->hint_seq <= out->parts[out->nparts - 1].seq)
        return CC_EPROTO;
    return 0;
}
