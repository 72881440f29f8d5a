/* The LL-HLS model of one stream and the playlists rendered from it.
 *
 * Spec references are to draft-pantos-hls-rfc8216bis (HLS 2nd edition).
 *
 * Layout: a ring of segments, oldest first:
 *
 *   [ kept ... | listed ... | open ]
 *
 *   kept    left the window but stay downloadable for 3 target durations
 *           (6.2.2: a removed segment must stay available for its
 *           Availability Duration; parts 3 TD after their tag goes);
 *   listed  the playlist's segments (at least window_ms of them);
 *   open    the segment receiving parts (no EXTINF yet), when there is one.
 *
 * Numbers are kept zero-based inside and shifted by `base` at the edges
 * (rendering, lookups, decisions), so nothing here depends on its value. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cartcast/err.h"
#include "packager/llhls.h"

#define ID_MAX 128
#define XNAME_MAX 64
#define XVALUE_MAX 1024
#define REMOVED_MAX 64 /* recently removed date range IDs (RECENTLY-REMOVED-DATERANGES) */

typedef struct part {
    cc_buf_t *data;
    double dur_ms;
    bool independent;
} part_t;

typedef struct seg {
    uint64_t msn;      /* local */
    uint64_t disc;     /* local discontinuity sequence number */
    bool discontinuity; /* first segment after a re-begin: EXT-X-DISCONTINUITY */
    bool complete;
    int64_t pdt_ms;
    double dur_ms;
    uint64_t first_seq; /* local part sequence number of parts[0] */
    uint32_t nparts;    /* stays right after the parts are released */
    uint32_t parts_cap;
    part_t *parts;      /* NULL once released */
    cc_buf_t *whole;    /* built once, when the segment closes */
} seg_t;

typedef struct daterange {
    char *id, *class_name; /* class_name may be NULL; both in one block with id */
    int64_t start_ms, duration_ms, end_ms;
    size_t nx;
    char *xname[CC_LLHLS_DATERANGE_X_MAX], *xvalue[CC_LLHLS_DATERANGE_X_MAX];
    int64_t changed_at; /* live-edge PDT when added or last changed (v2 delta updates) */
} daterange_t;

typedef struct removed {
    char *id;
    int64_t at;
} removed_t;

struct cc_llhls {
    cc_llhls_config_t cfg;
    uint32_t td_s;      /* EXT-X-TARGETDURATION, fixed */
    bool has_base;
    uint64_t base;

    seg_t ring[CC_LLHLS_MAX_SEGMENTS];
    uint32_t head, count, nkept;
    bool has_open;
    uint64_t next_msn, next_seq, disc;
    bool begun, ended, force_new_segment, pending_begin, all_independent;
    int64_t pdt_end_ms;

    struct {
        uint64_t disc;
        cc_buf_t *buf;
    } inits[CC_LLHLS_MAX_INITS];
    uint32_t ninits;
    cc_buf_t *pending_init; /* from begin, placed at the first segment after it */

    cc_llhls_variant_t variant;

    daterange_t drs[CC_LLHLS_MAX_DATERANGES];
    uint32_t ndrs;
    removed_t removed[REMOVED_MAX];
    uint32_t removed_head, nremoved;
    uint64_t ids[CC_LLHLS_ID_MEMORY]; /* FNV-1a hashes of every ID used */
    uint32_t ids_head, nids;

    cc_llhls_listener_fn cb;
    void *cb_data;
    uint64_t version;

    /* Mirror mode (cartcast-edge, cc_llhls_mirror_start): numbers given, the
     * window follows the origin's EXT-X-MEDIA-SEQUENCE (floor). */
    bool mirror;
    uint64_t first_msn_local; /* next_msn when the model started: the first begin is no re-begin */
    uint64_t floor;           /* absolute MSN of the first listed segment */
    cc_buf_t *mv_raw;         /* multivariant playlist served verbatim (cc_llhls_set_multivariant) */
};

/* ---- config ---- */

void cc_llhls_config_default(cc_llhls_config_t *cfg)
{
    cfg->part_target_ms = 200;
    cfg->segment_target_ms = 1000;
    cfg->window_ms = 30000;
    cfg->number_base = -1;
}

static uint32_t td_of(const cc_llhls_config_t *cfg)
{
    uint32_t td = (cfg->segment_target_ms + 500) / 1000;
    return td < 1 ? 1 : td;
}

/* The window never lists less than 3 TD (6.2.2: a live playlist must not
 * shrink below three target durations). */
static uint32_t window_of(const cc_llhls_config_t *cfg)
{
    uint32_t min = 3 * td_of(cfg) * 1000;
    return cfg->window_ms < min ? min : cfg->window_ms;
}

int cc_llhls_config_check(const cc_llhls_config_t *cfg)
{
    if (cfg->part_target_ms < 100 || cfg->part_target_ms > 5000)
        return CC_ECONFIG;
    if (cfg->segment_target_ms < cfg->part_target_ms || cfg->segment_target_ms > 60000)
        return CC_ECONFIG;
    if (cfg->window_ms > 3600000 || cfg->number_base < -1)
        return CC_ECONFIG;
    /* Segments are at least about segment_target long (they end on the first
     * keyframe at or after it), so this many fit the window plus the 3 TD
     * kept after it, with room for short segments at re-begins. */
    uint64_t need = window_of(cfg) / cfg->segment_target_ms + 3 * td_of(cfg) * 1000 / cfg->segment_target_ms + 8;
    if (need * 2 > CC_LLHLS_MAX_SEGMENTS)
        return CC_ECONFIG;
    /* A segment of TD + 0.5 s must fit in CC_LLHLS_MAX_PARTS parts. */
    if ((uint64_t)td_of(cfg) * 1000 + 500 > (uint64_t)cfg->part_target_ms * CC_LLHLS_MAX_PARTS)
        return CC_ECONFIG;
    return 0;
}

/* ---- small helpers ---- */

static seg_t *seg_at(const cc_llhls_t *h, uint32_t i)
{
    return (seg_t *)&h->ring[(h->head + i) % CC_LLHLS_MAX_SEGMENTS];
}

static seg_t *last_seg(const cc_llhls_t *h)
{
    return h->count ? seg_at(h, h->count - 1) : NULL;
}

static void notify(cc_llhls_t *h, cc_llhls_event_t ev)
{
    if (ev == CC_LLHLS_EV_UPDATE)
        h->version++;
    if (h->cb)
        h->cb(h, ev, h->cb_data);
}

static void release_parts(seg_t *s)
{
    if (s->parts == NULL)
        return;
    for (uint32_t i = 0; i < s->nparts; i++)
        cc_buf_unref(s->parts[i].data);
    free(s->parts);
    s->parts = NULL;
    s->parts_cap = 0;
}

static void seg_clear(seg_t *s)
{
    release_parts(s);
    cc_buf_unref(s->whole);
    memset(s, 0, sizeof(*s));
}

/* The PDT at the live edge: the overlay's "now" and the clock of v2 delta
 * updates (6.2.5.1 counts CAN-SKIP-UNTIL seconds before the request; the
 * live edge follows the wall clock, and keeps this code free of a clock). */
static int64_t now_pdt(const cc_llhls_t *h)
{
    return h->pdt_end_ms;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t x = 1469598103934665603ull;
    for (; *s; s++) {
        x ^= (uint8_t)*s;
        x *= 1099511628211ull;
    }
    return x;
}

/* ---- lifetime ---- */

cc_llhls_t *cc_llhls_new(const cc_llhls_config_t *cfg)
{
    if (cfg == NULL || cc_llhls_config_check(cfg) < 0)
        return NULL;
    cc_llhls_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->cfg = *cfg;
    h->cfg.window_ms = window_of(cfg);
    h->td_s = td_of(cfg);
    h->all_independent = true;
    if (cfg->number_base >= 0) {
        h->has_base = true;
        h->base = (uint64_t)cfg->number_base;
    }
    return h;
}

static void daterange_free(daterange_t *d)
{
    free(d->id); /* one block: id, class and the X- attributes */
    memset(d, 0, sizeof(*d));
}

/* Releases everything the model holds (not the struct itself). */
static void clear_all(cc_llhls_t *h)
{
    for (uint32_t i = 0; i < h->count; i++)
        seg_clear(seg_at(h, i));
    for (uint32_t i = 0; i < h->ninits; i++)
        cc_buf_unref(h->inits[i].buf);
    cc_buf_unref(h->pending_init);
    for (uint32_t i = 0; i < h->ndrs; i++)
        daterange_free(&h->drs[i]);
    for (uint32_t i = 0; i < REMOVED_MAX; i++)
        free(h->removed[i].id);
    cc_buf_unref(h->mv_raw);
}

void cc_llhls_free(cc_llhls_t *h)
{
    if (h == NULL)
        return;
    notify(h, CC_LLHLS_EV_FREED);
    clear_all(h);
    free(h);
}

void cc_llhls_set_listener(cc_llhls_t *h, cc_llhls_listener_fn cb, void *data)
{
    h->cb = cb;
    h->cb_data = cb ? data : NULL;
}

uint64_t cc_llhls_version(const cc_llhls_t *h) { return h->version; }

uint32_t cc_llhls_target_duration_s(const cc_llhls_t *h) { return h->td_s; }

bool cc_llhls_ended(const cc_llhls_t *h) { return h->ended; }

void cc_llhls_live_edge(const cc_llhls_t *h, cc_llhls_edge_t *out)
{
    memset(out, 0, sizeof(*out));
    const seg_t *s = last_seg(h);
    if (s == NULL || s->nparts == 0)
        return;
    out->has_part = true;
    out->msn = h->base + s->msn;
    out->part = s->nparts - 1;
    out->part_seq = h->base + s->first_seq + s->nparts - 1;
    out->pdt_end_ms = h->pdt_end_ms;
}

/* ---- window maintenance ---- */

static void drop_unused_inits(cc_llhls_t *h)
{
    uint64_t min_disc = h->disc;
    for (uint32_t i = 0; i < h->count; i++)
        if (seg_at(h, i)->disc < min_disc)
            min_disc = seg_at(h, i)->disc;
    uint32_t n = 0;
    for (uint32_t i = 0; i < h->ninits; i++) {
        if (h->inits[i].disc < min_disc)
            cc_buf_unref(h->inits[i].buf);
        else
            h->inits[n++] = h->inits[i];
    }
    h->ninits = n;
}

static void remember_removed(cc_llhls_t *h, char *id)
{
    removed_t *r = &h->removed[h->removed_head];
    free(r->id);
    r->id = id;
    r->at = now_pdt(h);
    h->removed_head = (h->removed_head + 1) % REMOVED_MAX;
    if (h->nremoved < REMOVED_MAX)
        h->nremoved++;
}

static int64_t daterange_end_of(const daterange_t *d)
{
    if (d->end_ms >= 0)
        return d->end_ms;
    if (d->duration_ms >= 0)
        return d->start_ms + d->duration_ms;
    return INT64_MAX; /* still open: its dates run into the listed segments */
}

/* 6.2.1: a date range must stay while any of its dates maps to a listed
 * segment.  Dropped once it ends before the first listed segment starts. */
static void sweep_dateranges(cc_llhls_t *h)
{
    if (h->count <= h->nkept)
        return;
    int64_t first_pdt = seg_at(h, h->nkept)->pdt_ms;
    uint32_t n = 0;
    for (uint32_t i = 0; i < h->ndrs; i++) {
        daterange_t *d = &h->drs[i];
        if (daterange_end_of(d) < first_pdt) {
            size_t len = strlen(d->id);
            char *id = malloc(len + 1);
            if (id) {
                memcpy(id, d->id, len + 1);
                remember_removed(h, id);
            }
            daterange_free(d);
        } else {
            if (n != i) {
                h->drs[n] = *d;
                memset(d, 0, sizeof(*d));
            }
            n++;
        }
    }
    h->ndrs = n;
}

static void drop_front(cc_llhls_t *h)
{
    seg_clear(seg_at(h, 0));
    h->head = (h->head + 1) % CC_LLHLS_MAX_SEGMENTS;
    h->count--;
    if (h->nkept > 0)
        h->nkept--;
}

/* After a segment closed: slide the window, forget what is past every
 * availability promise, release old parts. */
static void maintain(cc_llhls_t *h)
{
    const double td_ms = h->td_s * 1000.0;
    if (h->mirror) {
        /* A mirror lists what the origin lists: from its MEDIA-SEQUENCE on. */
        while (h->nkept < h->count && seg_at(h, h->nkept)->complete && h->base + seg_at(h, h->nkept)->msn < h->floor)
            h->nkept++;
    } else {
        double listed = 0;
        for (uint32_t i = h->nkept; i < h->count; i++)
            if (seg_at(h, i)->complete)
                listed += seg_at(h, i)->dur_ms;
        /* Keep at least window_ms of complete segments listed. */
        while (h->nkept < h->count && seg_at(h, h->nkept)->complete) {
            double d = seg_at(h, h->nkept)->dur_ms;
            if (listed - d < h->cfg.window_ms)
                break;
            listed -= d;
            h->nkept++;
        }
    }
    /* Kept segments: the newest 3 TD worth of them stay downloadable. */
    double kept = 0;
    for (uint32_t i = 0; i < h->nkept; i++)
        kept += seg_at(h, i)->dur_ms;
    while (h->nkept > 0 && kept - seg_at(h, 0)->dur_ms >= 3 * td_ms) {
        kept -= seg_at(h, 0)->dur_ms;
        drop_front(h);
    }
    /* Parts: listed for 3 TD from the end (6.2.2 SHOULD remove them then),
     * downloadable 3 TD more (MUST), plus one TD of slack for the time
     * between playlist updates. */
    double dist = 0;
    for (uint32_t i = h->count; i-- > 0;) {
        seg_t *s = seg_at(h, i);
        if (dist > 7 * td_ms)
            release_parts(s);
        dist += s->dur_ms;
    }
    drop_unused_inits(h);
    sweep_dateranges(h);
}

/* Builds the whole-segment buffer: the parts' fragments back to back make a
 * valid CMAF segment (each is moof+mdat).  One copy per segment. */
static cc_buf_t *build_whole(const seg_t *s)
{
    size_t total = 0;
    for (uint32_t i = 0; i < s->nparts; i++)
        total += s->parts[i].data->len;
    cc_buf_t *b = cc_buf_new(total);
    if (b == NULL)
        return NULL;
    size_t off = 0;
    for (uint32_t i = 0; i < s->nparts; i++) {
        memcpy(b->data + off, s->parts[i].data->data, s->parts[i].data->len);
        off += s->parts[i].data->len;
    }
    return b;
}

/* Closes the open segment with its whole buffer (whole may be NULL after an
 * allocation failure: the segment then answers 404, its parts still work). */
static void close_open(cc_llhls_t *h, cc_buf_t *whole)
{
    seg_t *s = last_seg(h);
    s->whole = whole;
    s->complete = true;
    h->has_open = false;
}

/* ---- feeding ---- */

int cc_llhls_begin(cc_llhls_t *h, cc_buf_t *init, const cc_llhls_variant_t *variant)
{
    if (init == NULL || variant == NULL)
        return CC_EINVAL;
    if (h->ninits >= CC_LLHLS_MAX_INITS)
        return CC_ELIMIT;
    if (h->has_open) {
        cc_buf_t *whole = build_whole(last_seg(h));
        if (whole == NULL)
            return CC_ENOMEM;
        close_open(h, whole);
        maintain(h);
    }
    cc_buf_unref(h->pending_init);
    h->pending_init = cc_buf_ref(init);
    h->pending_begin = true;
    h->variant = *variant;
    h->begun = true;
    h->ended = false;
    h->force_new_segment = true;
    notify(h, CC_LLHLS_EV_UPDATE);
    return 0;
}

void cc_llhls_set_variant(cc_llhls_t *h, const cc_llhls_variant_t *variant)
{
    h->variant = *variant;
    notify(h, CC_LLHLS_EV_UPDATE);
}

/* Room for one more segment in the ring: forget the oldest kept segment, or
 * (cap reached with every segment listed) the oldest listed one as long as
 * 3 TD stay listed. */
static int make_room(cc_llhls_t *h)
{
    if (h->count < CC_LLHLS_MAX_SEGMENTS)
        return 0;
    if (h->nkept > 0) {
        drop_front(h);
        return 0;
    }
    double listed = 0;
    for (uint32_t i = 0; i < h->count; i++)
        if (seg_at(h, i)->complete)
            listed += seg_at(h, i)->dur_ms;
    if (seg_at(h, 0)->complete && listed - seg_at(h, 0)->dur_ms >= 3000.0 * h->td_s) {
        drop_front(h);
        return 0;
    }
    return CC_ELIMIT;
}

int cc_llhls_add_part(cc_llhls_t *h, cc_buf_t *data, double duration_ms, bool independent, bool new_segment,
                      int64_t pdt_ms)
{
    if (!h->begun || h->ended)
        return CC_ESTATE;
    /* 1 us of slack for timestamps converted through doubles; the written
     * DURATION is clamped to PART-TARGET (4.4.4.9: MUST be <= it). */
    if (data == NULL || !(duration_ms > 0) || duration_ms > h->cfg.part_target_ms + 0.001 || pdt_ms < 0)
        return CC_EINVAL;
    if (duration_ms > h->cfg.part_target_ms)
        duration_ms = h->cfg.part_target_ms;

    bool start = new_segment || h->force_new_segment || !h->has_open;
    seg_t *s;
    if (!start) {
        s = last_seg(h);
        /* EXTINF rounded to the nearest integer must stay <= TD (4.4.3.1). */
        if (s->nparts >= CC_LLHLS_MAX_PARTS || s->dur_ms + duration_ms >= (h->td_s + 0.5) * 1000.0)
            return CC_ELIMIT;
        if (s->nparts == s->parts_cap) {
            uint32_t cap = s->parts_cap * 2;
            part_t *p = realloc(s->parts, cap * sizeof(*p));
            if (p == NULL)
                return CC_ENOMEM;
            s->parts = p;
            s->parts_cap = cap;
        }
    } else {
        cc_buf_t *whole = NULL;
        if (h->has_open && (whole = build_whole(last_seg(h))) == NULL)
            return CC_ENOMEM;
        part_t *parts = malloc(8 * sizeof(*parts));
        int r = parts ? make_room(h) : CC_ENOMEM;
        if (r < 0) {
            free(parts);
            cc_buf_unref(whole);
            return r;
        }
        if (h->has_open)
            close_open(h, whole);
        if (!h->has_base) {
            h->has_base = true;
            h->base = (uint64_t)pdt_ms;
        }
        s = seg_at(h, h->count++);
        memset(s, 0, sizeof(*s));
        s->parts = parts;
        s->parts_cap = 8;
        s->msn = h->next_msn;
        s->first_seq = h->next_seq;
        s->pdt_ms = pdt_ms;
        if (h->pending_begin) {
            /* A re-begin: the new init gets the next discontinuity sequence
             * number and the segment EXT-X-DISCONTINUITY (6.2.1: changes in
             * encoding parameters or timing MUST be signalled). */
            if (h->next_msn > h->first_msn_local) {
                h->disc++;
                s->discontinuity = true;
            }
            h->inits[h->ninits].disc = h->disc;
            h->inits[h->ninits].buf = h->pending_init;
            h->ninits++;
            h->pending_init = NULL;
            h->pending_begin = false;
        }
        s->disc = h->disc;
        h->next_msn++;
        h->has_open = true;
        h->force_new_segment = false;
        if (!independent)
            h->all_independent = false;
    }
    part_t *p = &s->parts[s->nparts++];
    p->data = cc_buf_ref(data);
    p->dur_ms = duration_ms;
    p->independent = independent;
    s->dur_ms += duration_ms;
    h->next_seq++;
    h->pdt_end_ms = pdt_ms + (int64_t)llround(duration_ms);
    maintain(h);
    notify(h, CC_LLHLS_EV_UPDATE);
    return 0;
}

void cc_llhls_end(cc_llhls_t *h)
{
    if (h->ended)
        return;
    if (h->has_open) {
        close_open(h, build_whole(last_seg(h)));
        maintain(h);
    }
    h->ended = true;
    notify(h, CC_LLHLS_EV_UPDATE);
}

/* ---- mirror mode (cartcast-edge) ---- */

int cc_llhls_mirror_start(cc_llhls_t *h, uint64_t msn, uint64_t part_seq, uint64_t disc)
{
    if (h->begun || h->count > 0 || h->has_base)
        return CC_ESTATE;
    /* One base for every counter: the smallest, so that each local number
     * (absolute - base) stays >= 0; later numbers only grow. */
    uint64_t base = msn < part_seq ? msn : part_seq;
    if (disc < base)
        base = disc;
    h->mirror = true;
    h->has_base = true;
    h->base = base;
    h->next_msn = h->first_msn_local = msn - base;
    h->next_seq = part_seq - base;
    h->disc = disc - base;
    h->floor = msn;
    return 0;
}

void cc_llhls_mirror_window(cc_llhls_t *h, uint64_t first_msn)
{
    if (h->mirror && first_msn > h->floor)
        h->floor = first_msn;
}

int cc_llhls_mirror_add_segment(cc_llhls_t *h, cc_buf_t *whole, double duration_ms, int64_t pdt_ms)
{
    if (!h->mirror || !h->begun || h->ended)
        return CC_ESTATE;
    if (whole == NULL || !(duration_ms > 0) || duration_ms >= (h->td_s + 0.5) * 1000.0 || pdt_ms < 0)
        return CC_EINVAL;
    cc_buf_t *prev = NULL;
    if (h->has_open && (prev = build_whole(last_seg(h))) == NULL)
        return CC_ENOMEM;
    int r = make_room(h);
    if (r < 0) {
        cc_buf_unref(prev);
        return r;
    }
    if (h->has_open)
        close_open(h, prev);
    seg_t *s = seg_at(h, h->count++);
    memset(s, 0, sizeof(*s));
    s->msn = h->next_msn;
    s->first_seq = h->next_seq; /* no parts: its part numbers are not known */
    s->pdt_ms = pdt_ms;
    if (h->pending_begin) {
        if (h->next_msn > h->first_msn_local) {
            h->disc++;
            s->discontinuity = true;
        }
        h->inits[h->ninits].disc = h->disc;
        h->inits[h->ninits].buf = h->pending_init;
        h->ninits++;
        h->pending_init = NULL;
        h->pending_begin = false;
    }
    s->disc = h->disc;
    s->dur_ms = duration_ms;
    s->whole = cc_buf_ref(whole);
    s->complete = true;
    h->next_msn++;
    h->force_new_segment = false;
    h->pdt_end_ms = pdt_ms + (int64_t)llround(duration_ms);
    maintain(h);
    notify(h, CC_LLHLS_EV_UPDATE);
    return 0;
}

int cc_llhls_mirror_expect_begin(cc_llhls_t *h)
{
    if (!h->mirror || !h->begun)
        return CC_ESTATE;
    if (h->has_open) {
        cc_buf_t *whole = build_whole(last_seg(h));
        if (whole == NULL)
            return CC_ENOMEM;
        close_open(h, whole);
        maintain(h);
    }
    h->ended = false;
    h->force_new_segment = true;
    notify(h, CC_LLHLS_EV_UPDATE);
    return 0;
}

void cc_llhls_mirror_set_independent(cc_llhls_t *h, bool all_independent)
{
    if (h->mirror)
        h->all_independent = all_independent;
}

void cc_llhls_set_multivariant(cc_llhls_t *h, cc_buf_t *raw)
{
    cc_buf_t *old = h->mv_raw;
    h->mv_raw = cc_buf_ref(raw);
    cc_buf_unref(old);
    notify(h, CC_LLHLS_EV_UPDATE);
}

int cc_llhls_mirror_reset(cc_llhls_t *h, const cc_llhls_config_t *cfg)
{
    if (cfg == NULL || cc_llhls_config_check(cfg) < 0)
        return CC_ECONFIG;
    cc_llhls_listener_fn cb = h->cb;
    void *cb_data = h->cb_data;
    uint64_t version = h->version;
    clear_all(h);
    memset(h, 0, sizeof(*h));
    h->cfg = *cfg;
    h->cfg.window_ms = window_of(cfg);
    h->td_s = td_of(cfg);
    h->all_independent = true;
    if (cfg->number_base >= 0) {
        h->has_base = true;
        h->base = (uint64_t)cfg->number_base;
    }
    h->cb = cb;
    h->cb_data = cb_data;
    h->version = version;
    notify(h, CC_LLHLS_EV_UPDATE);
    return 0;
}

/* ---- date ranges ---- */

/* quoted-string (4.2): no '"', CR or LF; we also refuse other control bytes
 * (a TAB would break the RECENTLY-REMOVED-DATERANGES list). */
static bool quoted_ok(const char *s, size_t max, bool allow_empty)
{
    if (s == NULL)
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c == '"' || c < 0x20 || c == 0x7f || n >= max)
            return false;
    }
    return allow_empty || n > 0;
}

static bool xname_ok(const char *s)
{
    if (s == NULL || strncmp(s, "X-", 2) != 0 || s[2] == '\0' || strlen(s) > XNAME_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

static daterange_t *find_daterange(cc_llhls_t *h, const char *id)
{
    for (uint32_t i = 0; i < h->ndrs; i++)
        if (strcmp(h->drs[i].id, id) == 0)
            return &h->drs[i];
    return NULL;
}

static bool id_used(const cc_llhls_t *h, uint64_t x)
{
    for (uint32_t i = 0; i < h->nids; i++)
        if (h->ids[i] == x)
            return true;
    return false;
}

int cc_llhls_daterange_add(cc_llhls_t *h, const cc_llhls_daterange_t *dr)
{
    if (dr == NULL || !quoted_ok(dr->id, ID_MAX, false) ||
        (dr->class_name && !quoted_ok(dr->class_name, ID_MAX, false)) || dr->start_ms < 0 ||
        dr->duration_ms < -1 || dr->end_ms < -1 || (dr->end_ms >= 0 && dr->end_ms < dr->start_ms) ||
        dr->nx > CC_LLHLS_DATERANGE_X_MAX)
        return CC_EINVAL;
    /* 4.4.5.1: END-DATE and DURATION both given must agree. */
    if (dr->end_ms >= 0 && dr->duration_ms >= 0 && dr->start_ms + dr->duration_ms != dr->end_ms)
        return CC_EINVAL;
    size_t need = strlen(dr->id) + 1 + (dr->class_name ? strlen(dr->class_name) + 1 : 0);
    for (size_t i = 0; i < dr->nx; i++) {
        if (!xname_ok(dr->x[i].name) || !quoted_ok(dr->x[i].value, XVALUE_MAX, true))
            return CC_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(dr->x[i].name, dr->x[j].name) == 0)
                return CC_EINVAL;
        need += strlen(dr->x[i].name) + strlen(dr->x[i].value) + 2;
    }
    uint64_t hash = fnv1a(dr->id);
    /* 6.2.1: an ID MUST NOT be reused for a new date range. */
    if (id_used(h, hash))
        return CC_EBUSY;
    if (h->ndrs >= CC_LLHLS_MAX_DATERANGES)
        return CC_ELIMIT;
    char *block = malloc(need), *p = block;
    if (block == NULL)
        return CC_ENOMEM;
    daterange_t *d = &h->drs[h->ndrs];
    memset(d, 0, sizeof(*d));
#define CC__COPY(dst, src)                 \
    do {                                   \
        size_t n_ = strlen(src) + 1;       \
        memcpy(p, (src), n_);              \
        (dst) = p;                         \
        p += n_;                           \
    } while (0)
    CC__COPY(d->id, dr->id);
    if (dr->class_name)
        CC__COPY(d->class_name, dr->class_name);
    for (size_t i = 0; i < dr->nx; i++) {
        CC__COPY(d->xname[i], dr->x[i].name);
        CC__COPY(d->xvalue[i], dr->x[i].value);
    }
#undef CC__COPY
    d->nx = dr->nx;
    d->start_ms = dr->start_ms;
    d->duration_ms = dr->duration_ms;
    d->end_ms = dr->end_ms;
    d->changed_at = now_pdt(h);
    h->ndrs++;
    h->ids[h->ids_head] = hash;
    h->ids_head = (h->ids_head + 1) % CC_LLHLS_ID_MEMORY;
    if (h->nids < CC_LLHLS_ID_MEMORY)
        h->nids++;
    /* An already finished range may be out of the window at once. */
    sweep_dateranges(h);
    notify(h, CC_LLHLS_EV_UPDATE);
    return 0;
}

int cc_llhls_daterange_end(cc_llhls_t *h, const char *id, int64_t end_ms)
{
    if (id == NULL)
        return CC_EINVAL;
    daterange_t *d = find_daterange(h, id);
    if (d == NULL)
        return CC_ENOENT;
    if (end_ms < d->start_ms)
        return CC_EINVAL;
    int64_t cur = daterange_end_of(d);
    if (cur != INT64_MAX)
        return cur == end_ms ? 0 : CC_ESTATE;
    d->duration_ms = end_ms - d->start_ms;
    /* The tag changed: a v2 delta update must carry it again. */
    d->changed_at = now_pdt(h);
    sweep_dateranges(h);
    notify(h, CC_LLHLS_EV_UPDATE);
    return 0;
}

/* ---- requests ---- */

/* Digits only, at most 20 of them, value <= max.  leading_zero: accept
 * "007" (a decimal-integer, 4.2) or only canonical numbers (URIs). */
static int parse_dec(const char *s, size_t len, uint64_t max, bool leading_zero, uint64_t *out)
{
    if (len == 0 || len > 20 || (!leading_zero && len > 1 && s[0] == '0'))
        return CC_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CC_EINVAL;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (max - d) / 10)
            return CC_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int cc_llhls_uri_parse(const char *file, cc_llhls_uri_kind_t *kind, uint64_t *number)
{
    static const struct {
        const char *prefix, *suffix;
        cc_llhls_uri_kind_t kind;
        bool numbered;
    } names[] = {
        {"index.m3u8", "", CC_LLHLS_URI_MULTIVARIANT, false},
        {"media.m3u8", "", CC_LLHLS_URI_MEDIA, false},
        {"init", ".mp4", CC_LLHLS_URI_INIT, true},
        {"seg", ".m4s", CC_LLHLS_URI_SEGMENT, true},
        {"part", ".m4s", CC_LLHLS_URI_PART, true},
    };
    if (file == NULL)
        return CC_ENOENT;
    size_t len = strlen(file);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t pl = strlen(names[i].prefix), sl = strlen(names[i].suffix);
        if (!names[i].numbered) {
            if (strcmp(file, names[i].prefix) != 0)
                continue;
            *kind = names[i].kind;
            *number = 0;
            return 0;
        }
        if (len <= pl + sl || strncmp(file, names[i].prefix, pl) != 0 ||
            strcmp(file + len - sl, names[i].suffix) != 0)
            continue;
        uint64_t v;
        if (parse_dec(file + pl, len - pl - sl, UINT64_MAX, false, &v) < 0)
            return CC_ENOENT;
        *kind = names[i].kind;
        *number = v;
        return 0;
    }
    return CC_ENOENT;
}

int cc_llhls_query_parse(const char *msn, const char *part, const char *skip, cc_llhls_query_t *q)
{
    memset(q, 0, sizeof(*q));
    uint64_t v;
    if (msn) {
        if (parse_dec(msn, strlen(msn), UINT64_MAX, true, &v) < 0)
            return CC_EINVAL;
        q->has_msn = true;
        q->msn = v;
    }
    if (part) {
        /* 6.2.5.2: _HLS_part without _HLS_msn MUST get Bad Request. */
        if (!msn || parse_dec(part, strlen(part), UINT32_MAX, true, &v) < 0)
            return CC_EINVAL;
        q->has_part = true;
        q->part = (uint32_t)v;
    }
    if (skip) {
        if (strcmp(skip, "YES") == 0)
            q->skip = 1;
        else if (strcmp(skip, "v2") == 0)
            q->skip = 2;
        else
            return CC_EINVAL;
    }
    return 0;
}

/* The Advance Part Limit (6.2.5.2): 3 / PART-TARGET below one second, else 3. */
static uint64_t advance_part_limit(const cc_llhls_t *h)
{
    return h->cfg.part_target_ms < 1000 ? 3000 / h->cfg.part_target_ms : 3;
}

cc_llhls_decision_t cc_llhls_decide(const cc_llhls_t *h, const cc_llhls_query_t *q)
{
    /* 6.2.5.2: a server MUST ignore _HLS_msn and _HLS_part with ENDLIST. */
    if (h->ended)
        return CC_LLHLS_ANSWER;
    const seg_t *last = last_seg(h);
    if (last == NULL || !h->has_base)
        return CC_LLHLS_HOLD;
    if (!q->has_msn)
        return CC_LLHLS_ANSWER;
    const uint64_t last_msn = h->base + last->msn;
    const uint64_t last_part = last->nparts - 1;
    if (q->msn > last_msn && q->msn - last_msn > 2)
        return CC_LLHLS_BAD_REQUEST;
    if (!q->has_part) {
        /* 6.2.5.2: a Media Segment with MSN >= M: a complete one. */
        uint64_t done;
        if (last->complete)
            done = last_msn;
        else if (h->count >= 2)
            done = last_msn - 1;
        else
            return CC_LLHLS_HOLD;
        return q->msn <= done ? CC_LLHLS_ANSWER : CC_LLHLS_HOLD;
    }
    if (q->msn < last_msn)
        return CC_LLHLS_ANSWER; /* that part, or part 0 of a later segment, is listed */
    uint64_t want_msn = q->msn, want_part = q->part;
    if (q->msn == last_msn) {
        if (want_part <= last_part)
            return CC_LLHLS_ANSWER;
        if (last->complete) {
            /* Past the final part of a complete segment: part 0 of the next. */
            want_msn++;
            want_part = 0;
        }
    }
    /* How many parts past the last one the request is, at least. */
    uint64_t dist;
    if (want_msn == last_msn) {
        dist = want_part - last_part;
    } else {
        uint64_t per_seg = (h->cfg.segment_target_ms + h->cfg.part_target_ms / 2) / h->cfg.part_target_ms;
        dist = want_part + 1 + (want_msn - last_msn - 1) * (per_seg ? per_seg : 1);
    }
    return dist > advance_part_limit(h) ? CC_LLHLS_BAD_REQUEST : CC_LLHLS_HOLD;
}

/* ---- rendering ---- */

static int append_pdt(cc_dynbuf_t *out, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL)
        return CC_EINVAL;
    return cc_dynbuf_appendf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int render_daterange(const daterange_t *d, cc_dynbuf_t *out)
{
    int r = cc_dynbuf_appendf(out, "#EXT-X-DATERANGE:ID=\"%s\"", d->id);
    if (r == 0 && d->class_name)
        r = cc_dynbuf_appendf(out, ",CLASS=\"%s\"", d->class_name);
    if (r == 0)
        r = cc_dynbuf_appendf(out, ",START-DATE=\"");
    if (r == 0)
        r = append_pdt(out, d->start_ms);
    if (r == 0)
        r = cc_dynbuf_appendf(out, "\"");
    if (r == 0 && d->end_ms >= 0) {
        r = cc_dynbuf_appendf(out, ",END-DATE=\"");
        if (r == 0)
            r = append_pdt(out, d->end_ms);
        if (r == 0)
            r = cc_dynbuf_appendf(out, "\"");
    }
    if (r == 0 && d->duration_ms >= 0)
        r = cc_dynbuf_appendf(out, ",DURATION=%.3f", d->duration_ms / 1000.0);
    for (size_t i = 0; r == 0 && i < d->nx; i++)
        r = cc_dynbuf_appendf(out, ",%s=\"%s\"", d->xname[i], d->xvalue[i]);
    if (r == 0)
        r = cc_dynbuf_appendf(out, "\n");
    return r;
}

int cc_llhls_render_media(const cc_llhls_t *h, int skip, cc_dynbuf_t *out)
{
    if (h->count <= h->nkept || !h->has_base)
        return CC_EAGAIN;
    /* 6.2.5.1: _HLS_skip is ignored once the playlist has ENDLIST. */
    if (h->ended || skip < 0 || skip > 2)
        skip = 0;
    const double td = h->td_s;
    const double skip_until_ms = 6 * td * 1000; /* CAN-SKIP-UNTIL: >= 6 TD (4.4.3.8) */
    const int64_t now = now_pdt(h);

    double total = 0;
    for (uint32_t i = h->nkept; i < h->count; i++)
        total += seg_at(h, i)->dur_ms;
    /* Delta update (6.2.5.1): complete segments whose end is further than the
     * Skip Boundary from the end of the playlist. */
    uint32_t skipped = 0;
    if (skip) {
        double end = 0;
        for (uint32_t i = h->nkept; i < h->count; i++) {
            const seg_t *s = seg_at(h, i);
            end += s->dur_ms;
            if (!s->complete || total - end <= skip_until_ms)
                break;
            skipped++;
        }
        /* _HLS_skip=YES with nothing old enough to skip yet (a young stream):
         * answer with the full playlist rather than an EXT-X-SKIP of zero
         * segments, which strict parsers reject.  v2 keeps its EXT-X-SKIP: it
         * still carries the removed and skipped date ranges. */
        if (skipped == 0 && skip == 1)
            skip = 0;
    }
    /* EXT-X-VERSION: no more than what is used (6.2.1, section 8): EXT-X-MAP
     * needs 6, EXT-X-SKIP 9, a skip that replaces date ranges 10.  The
     * low-latency tags themselves need none. */
    const int version = skip == 2 ? 10 : skip == 1 ? 9 : 6;
    const seg_t *first = seg_at(h, h->nkept);
    int r = cc_dynbuf_appendf(
        out,
        "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%u\n"
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=%.3f,CAN-SKIP-DATERANGES=YES,"
        "HOLD-BACK=%.3f,PART-HOLD-BACK=%.3f\n"
        "#EXT-X-PART-INF:PART-TARGET=%.3f\n#EXT-X-MEDIA-SEQUENCE:%" PRIu64 "\n"
        "#EXT-X-DISCONTINUITY-SEQUENCE:%" PRIu64 "\n",
        version, h->td_s, skip_until_ms / 1000, 3 * td, 3 * h->cfg.part_target_ms / 1000.0,
        h->cfg.part_target_ms / 1000.0, h->base + first->msn, h->base + first->disc);
    if (r == 0 && h->all_independent)
        r = cc_dynbuf_appendf(out, "#EXT-X-INDEPENDENT-SEGMENTS\n");
    if (r == 0 && skip) {
        r = cc_dynbuf_appendf(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS=%u", skipped);
        if (r == 0 && skip == 2) {
            /* 6.2.5.1: list the IDs removed within CAN-SKIP-UNTIL of now. */
            r = cc_dynbuf_appendf(out, ",RECENTLY-REMOVED-DATERANGES=\"");
            bool any = false;
            for (uint32_t k = 0; r == 0 && k < h->nremoved; k++) {
                const removed_t *rm = &h->removed[(h->removed_head + REMOVED_MAX - h->nremoved + k) % REMOVED_MAX];
                if (rm->id == NULL || (double)(now - rm->at) > skip_until_ms)
                    continue;
                r = cc_dynbuf_appendf(out, "%s%s", any ? "\t" : "", rm->id);
                any = true;
            }
            if (r == 0)
                r = cc_dynbuf_appendf(out, "\"");
        }
        if (r == 0)
            r = cc_dynbuf_appendf(out, "\n");
    }
    for (uint32_t i = 0; r == 0 && i < h->ndrs; i++) {
        const daterange_t *d = &h->drs[i];
        /* v2 (6.2.5.1): leave out ranges added more than CAN-SKIP-UNTIL ago. */
        if (skip == 2 && (double)(now - d->changed_at) > skip_until_ms)
            continue;
        r = render_daterange(d, out);
    }

    /* Parts are listed for the last segments, ending within 3 TD of the end. */
    double end = 0;
    const seg_t *prev = NULL;
    for (uint32_t i = h->nkept; r == 0 && i < h->count; i++) {
        const seg_t *s = seg_at(h, i);
        end += s->dur_ms;
        if (i < h->nkept + skipped) {
            prev = s;
            continue;
        }
        bool first_out = i == h->nkept + skipped;
        /* The first listed segment's discontinuity is counted by
         * EXT-X-DISCONTINUITY-SEQUENCE instead (6.2.2). */
        if (s->discontinuity && i != h->nkept)
            r = cc_dynbuf_appendf(out, "#EXT-X-DISCONTINUITY\n");
        /* Media Segment tags come before the segment's first EXT-X-PART (4.4.4.9). */
        if (r == 0 && (first_out || s->discontinuity || (prev && prev->disc != s->disc)))
            r = cc_dynbuf_appendf(out, "#EXT-X-MAP:URI=\"init%" PRIu64 ".mp4\"\n", h->base + s->disc);
        if (r == 0)
            r = cc_dynbuf_appendf(out, "#EXT-X-PROGRAM-DATE-TIME:");
        if (r == 0)
            r = append_pdt(out, s->pdt_ms);
        if (r == 0)
            r = cc_dynbuf_appendf(out, "\n");
        /* 6.2.2: EXT-X-PART tags SHOULD go once more than 3 TD from the end.
         * We also keep them on the last three segments only (the open one
         * counts), which is what validators such as hls-parser check, and
         * keeps playlists small: PART-HOLD-BACK needs far less. */
        if (s->parts && total - end <= 3 * td * 1000 && i + 3 >= h->count) {
            for (uint32_t k = 0; r == 0 && k < s->nparts; k++)
                r = cc_dynbuf_appendf(out, "#EXT-X-PART:DURATION=%.5f,URI=\"part%" PRIu64 ".m4s\"%s\n",
                                      s->parts[k].dur_ms / 1000, h->base + s->first_seq + k,
                                      s->parts[k].independent ? ",INDEPENDENT=YES" : "");
        }
        if (r == 0 && s->complete)
            r = cc_dynbuf_appendf(out, "#EXTINF:%.5f,\nseg%" PRIu64 ".m4s\n", s->dur_ms / 1000, h->base + s->msn);
        prev = s;
    }
    /* 4.4.5.3: one hint for the next part, never with ENDLIST.  Its URI is
     * right whichever segment the part lands in (part numbers never reset). */
    if (r == 0 && !h->ended && h->begun)
        r = cc_dynbuf_appendf(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part%" PRIu64 ".m4s\"\n",
                              h->base + h->next_seq);
    if (r == 0 && h->ended)
        r = cc_dynbuf_appendf(out, "#EXT-X-ENDLIST\n");
    return r;
}

int cc_llhls_render_multivariant(const cc_llhls_t *h, cc_dynbuf_t *out)
{
    if (h->mv_raw)
        return cc_dynbuf_append(out, h->mv_raw->data, h->mv_raw->len);
    if (!h->begun && h->count == 0)
        return CC_EAGAIN;
    const cc_llhls_variant_t *v = &h->variant;
    /* BANDWIDTH is REQUIRED (4.4.6.2); before the first segment is measured
     * there is no figure yet, and 0 would make some players skip the variant. */
    uint64_t bw = v->bandwidth ? v->bandwidth : (v->average_bandwidth ? v->average_bandwidth : 1);
    int r = cc_dynbuf_appendf(out, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=%" PRIu64, bw);
    if (r == 0 && v->average_bandwidth)
        r = cc_dynbuf_appendf(out, ",AVERAGE-BANDWIDTH=%" PRIu64, v->average_bandwidth);
    if (r == 0 && v->codecs[0] && memchr(v->codecs, '\0', sizeof(v->codecs)) && quoted_ok(v->codecs, sizeof(v->codecs), false))
        r = cc_dynbuf_appendf(out, ",CODECS=\"%s\"", v->codecs);
    if (r == 0 && v->width && v->height)
        r = cc_dynbuf_appendf(out, ",RESOLUTION=%ux%u", v->width, v->height);
    if (r == 0 && v->frame_rate > 0 && v->frame_rate < 1000)
        r = cc_dynbuf_appendf(out, ",FRAME-RATE=%.3f", v->frame_rate);
    if (r == 0)
        r = cc_dynbuf_appendf(out, "\nmedia.m3u8\n");
    return r;
}

/* ---- lookups ---- */

cc_buf_t *cc_llhls_get_part(const cc_llhls_t *h, uint64_t seq, bool *pending)
{
    if (pending)
        *pending = false;
    if (!h->has_base || seq < h->base)
        return NULL;
    uint64_t local = seq - h->base;
    if (local >= h->next_seq) {
        if (pending && local == h->next_seq && h->begun && !h->ended)
            *pending = true;
        return NULL;
    }
    for (uint32_t i = h->count; i-- > 0;) {
        const seg_t *s = seg_at(h, i);
        if (local < s->first_seq)
            continue;
        if (local >= s->first_seq + s->nparts || s->parts == NULL)
            return NULL;
        return cc_buf_ref(s->parts[local - s->first_seq].data);
    }
    return NULL;
}

cc_buf_t *cc_llhls_get_segment(const cc_llhls_t *h, uint64_t msn)
{
    if (!h->has_base || msn < h->base || h->count == 0)
        return NULL;
    uint64_t local = msn - h->base, first = seg_at(h, 0)->msn;
    if (local < first || local - first >= h->count)
        return NULL;
    const seg_t *s = seg_at(h, (uint32_t)(local - first));
    return s->complete ? cc_buf_ref(s->whole) : NULL;
}

cc_buf_t *cc_llhls_get_init(const cc_llhls_t *h, uint64_t discontinuity_seq)
{
    if (!h->has_base || discontinuity_seq < h->base)
        return NULL;
    uint64_t local = discontinuity_seq - h->base;
    for (uint32_t i = 0; i < h->ninits; i++)
        if (h->inits[i].disc == local)
            return cc_buf_ref(h->inits[i].buf);
    return NULL;
}
