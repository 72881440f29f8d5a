/* cartcast-edge: following origin streams into mirrors, serving them with
 * edge/hls.c.  See edge.h and docs/edge.md.
 *
 * Ownership:
 *  - the edge owns its streams (a list), the delivery object, the HTTP
 *    client and a sweep timer (idle streams, parked requests' deadlines);
 *  - a stream owns its mirror model (cc_llhls_t), its latest parsed origin
 *    playlist (L, and the body buffer L's views point into), its fetches
 *    (parts, segments, inits: in flight, or fetched and not yet fed), its
 *    parked viewer requests, and a retry timer.  A stream is freed in its
 *    timer's close callback; the edge once every stream and its own timer
 *    are closed.
 *
 * How a stream follows its origin:
 *   join / resync   plain GET media.m3u8 (and index.m3u8 when joining) -> L;
 *                   fetch every init, part and segment L needs ("plan"); once
 *                   all are in, reset the mirror to L's numbers and feed it
 *                   all of L ("apply").  The old content keeps being served
 *                   until then.
 *   live            GET media.m3u8?_HLS_msn=M&_HLS_part=P for the part after
 *                   L's last, and part<hint>.m4s beside it (both held by the
 *                   origin until the part exists).  Each answer replaces L;
 *                   the walk then feeds the mirror what it lacks, in order,
 *                   as soon as the bytes are in.
 * cc_mirror_walk (edge/mirror.c, pure) is the one place that compares L with
 * the mirror: anything it cannot explain as "more of the same stream" (an MSN
 * jump, a new DISCONTINUITY-SEQUENCE, a part the origin no longer lists) or a
 * new TARGETDURATION / PART-TARGET starts a resync, which is also how a
 * restarted origin or a failover is followed. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "edge/hls.h"
#include "edge/http_client.h"
#include "edge/m3u8.h"
#include "edge/mirror.h"
#include "edge/node/edge.h"
#include "packager/llhls.h"

#define NAME_MAX_LEN 64
#define MAX_FETCHES 640        /* per stream: a joined window (256 segments) plus listed parts, with room */
#define FETCH_PARALLEL 8       /* non-held fetches in flight per stream */
#define FETCH_TRIES 3
#define FETCH_TIMEOUT_MS 5000
#define MEDIA_BODY_MAX (64u << 20)
#define AGE_RING 1024          /* receive times of parts (and segments, inits) for the Age header */
#define SEG_RING 512
#define INIT_RING 16
#define PARK_MS 4000           /* a request parked while joining gets 503 after this */
#define GONE_CACHE_MS 1000     /* an unknown stream's 404 is remembered this long */
#define GONE_GRACE_MS 15000    /* an origin 404 for a followed stream: keep serving this long */
#define MV_FRESH_MS 1000       /* index.m3u8 (no-cache upstream) is revalidated when older */
#define STALL_RETRY_MS 200     /* after an origin 503 on a blocking request */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 3000
#define SWEEP_MS 250

typedef struct edge_stream edge_stream_t;

enum fkind { F_INIT, F_SEGMENT, F_PART };

typedef struct fetch {
    struct fetch *next;
    edge_stream_t *s;
    uint8_t kind;
    bool hint;    /* the preload-hinted part: the origin holds the request */
    bool started; /* a request was made (maybe finished) */
    uint8_t tries;
    uint64_t number;
    cc_httpc_req_t *req; /* in flight */
    cc_buf_t *buf;       /* fetched */
    uint64_t recv_ms;
    int64_t age;
} fetch_t;

typedef struct parked {
    struct parked *prev, *next;
    edge_stream_t *s;
    cc_http_req_t *req;
    uint64_t deadline;
} parked_t;

typedef struct age_rec {
    uint64_t number;
    uint64_t at_ms; /* uv_now when the edge got (or built) it */
    int64_t up_age; /* the upstream's Age, s */
    bool used;
} age_rec_t;

enum sstate { S_JOINING, S_READY, S_GONE };

struct edge_stream {
    edge_stream_t *prev, *next;
    cc_edge_t *e;
    char name[NAME_MAX_LEN + 1];
    enum sstate state;
    bool resync; /* waiting for a plain playlist, then for everything it lists */
    bool closing;
    cc_llhls_t *h;
    cc_llhls_config_t cfg;
    cc_mirror_track_t tr;
    cc_m3u8_media_t *L;
    bool have_L;
    cc_buf_t *L_buf;
    cc_httpc_req_t *pl_req, *mv_req;
    cc_buf_t *mv_buf; /* index.m3u8 as the origin sent it */
    uint64_t mv_ms;
    int64_t mv_age;
    fetch_t *fetches;
    uint32_t nfetches, inflight;
    parked_t *phead, *ptail;
    uint32_t nparked;
    uv_timer_t timer; /* retries, polls */
    bool timer_on;
    uint64_t last_seen, gone_at, not_found_since, pl_ok_ms;
    bool upstream_ok;
    bool pl_blocking; /* the playlist request in flight carries _HLS_msn */
    uint64_t epoch;   /* origin switches when this stream last asked upstream */
    uint32_t backoff_ms;
    uint64_t parts, segments, resyncs;
    age_rec_t part_age[AGE_RING], seg_age[SEG_RING], init_age[INIT_RING];
};

typedef struct edge_stats {
    uint64_t requests, hits, parked, parked_timeouts, unknown, refused;
    uint64_t up_requests[5], up_bytes, up_errors, up_503, up_404, origin_switches, resyncs, dropped_idle;
    uint64_t bytes_out;
} edge_stats_t;

enum { UP_PLAYLIST, UP_MULTIVARIANT, UP_PART, UP_SEGMENT, UP_INIT };
static const char *const up_names[] = {"playlist", "multivariant", "part", "segment", "init"};

struct cc_edge {
    uv_loop_t *loop;
    cc_edge_config_t cfg;
    cc_httpc_t *http;
    cc_httpc_origin_t **origins;
    size_t norigins, cur;
    uint32_t fail_streak;
    cc_hls_delivery_t *d;
    cc_http_route_t inner; /* the delivery's own /live/ route */
    edge_stream_t *streams;
    uint32_t nstreams;
    uv_timer_t sweep;
    bool freeing;
    uint32_t live; /* stream timers + the sweep timer not closed yet */
    edge_stats_t st;
    char age_buf[32];
};

static void next_playlist(edge_stream_t *s);
static void begin_resync(edge_stream_t *s, const char *why);
static void progress(edge_stream_t *s);
static void stream_drop(edge_stream_t *s, const char *why);

/* ---- small helpers ---- */

void cc_edge_config_default(cc_edge_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->idle_ms = 30000;
    cfg->max_streams = 256;
    cfg->failover_after = 3;
}

static uint64_t now_ms(const cc_edge_t *e) { return uv_now(e->loop); }

static bool name_ok(const char *name, size_t len)
{
    if (len == 0 || len > NAME_MAX_LEN || name[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return false;
    }
    return true;
}

static cc_httpc_origin_t *origin_of(cc_edge_t *e) { return e->origins[e->cur]; }

static const char *state_name(const edge_stream_t *s)
{
    if (s->state == S_JOINING)
        return "joining";
    if (s->state == S_GONE)
        return "gone";
    if (!s->upstream_ok)
        return "upstream_down";
    if (s->resync)
        return "resyncing";
    if (s->tr.ended)
        return "ended";
    return "live";
}

static void age_put(age_rec_t *ring, size_t n, uint64_t number, uint64_t at, int64_t up_age)
{
    age_rec_t *a = &ring[number % n];
    a->number = number;
    a->at_ms = at;
    a->up_age = up_age < 0 ? 0 : up_age;
    a->used = true;
}

static const age_rec_t *age_get(const age_rec_t *ring, size_t n, uint64_t number)
{
    const age_rec_t *a = &ring[number % n];
    return a->used && a->number == number ? a : NULL;
}

/* ---- timers ---- */

static void on_stream_timer(uv_timer_t *t);

static void stream_timer(edge_stream_t *s, uint64_t ms)
{
    uv_timer_start(&s->timer, on_stream_timer, ms, 0);
    s->timer_on = true;
}

static void stream_timer_stop(edge_stream_t *s)
{
    uv_timer_stop(&s->timer);
    s->timer_on = false;
}

/* ---- parked viewer requests (before the mirror has content) ---- */

static void parked_unlink(parked_t *p)
{
    edge_stream_t *s = p->s;
    if (p->prev)
        p->prev->next = p->next;
    else
        s->phead = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        s->ptail = p->prev;
    s->nparked--;
}

static void parked_closed(cc_http_req_t *req, void *data)
{
    parked_t *p = data;
    parked_unlink(p);
    free(p);
}

static int park(edge_stream_t *s, cc_http_req_t *req)
{
    parked_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return CC_ENOMEM;
    /* The delivery code reads these when it gets the request; a parked
     * request has given its header table back (docs/http.md), so read them
     * now: the HTTP layer keeps what was read. */
    cc_http_req_header(req, "accept-encoding");
    cc_http_req_header(req, "range");
    p->s = s;
    p->req = req;
    p->deadline = now_ms(s->e) + PARK_MS;
    p->prev = s->ptail;
    if (s->ptail)
        s->ptail->next = p;
    else
        s->phead = p;
    s->ptail = p;
    s->nparked++;
    s->e->st.parked++;
    cc_http_req_on_close(req, parked_closed, p);
    return CC_HTTP_HELD;
}

/* Hands a request to the delivery code (at once, or after being parked). */
static void dispatch(cc_edge_t *e, cc_http_req_t *req)
{
    int r = e->inner.handler(req, e->inner.data);
    if (r < 0 && cc_http_respond_text(req, 500, "text/plain; charset=utf-8", "internal error\n") < 0)
        cc_log_warn("edge.respond", "msg=\"could not answer\" error=%s", cc_strerror(r));
}

static void unpark_all(edge_stream_t *s)
{
    while (s->phead) {
        parked_t *p = s->phead;
        cc_http_req_t *req = p->req;
        parked_unlink(p);
        free(p);
        dispatch(s->e, req);
    }
}

static void unpark_error(edge_stream_t *s, int status, const char *text)
{
    while (s->phead) {
        parked_t *p = s->phead;
        cc_http_req_t *req = p->req;
        parked_unlink(p);
        free(p);
        cc_http_respond_text(req, status, "text/plain; charset=utf-8", text);
    }
}

/* ---- fetches ---- */

static fetch_t *fetch_find(edge_stream_t *s, uint8_t kind, uint64_t number)
{
    for (fetch_t *f = s->fetches; f; f = f->next)
        if (f->kind == kind && f->number == number)
            return f;
    return NULL;
}

static void fetch_remove(edge_stream_t *s, fetch_t *f)
{
    for (fetch_t **pp = &s->fetches; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    if (f->req) {
        cc_httpc_cancel(f->req);
        if (!f->hint)
            s->inflight--;
    }
    cc_buf_unref(f->buf);
    s->nfetches--;
    free(f);
}

static void fetch_clear(edge_stream_t *s, bool keep_done)
{
    for (fetch_t *f = s->fetches, *n; f; f = n) {
        n = f->next;
        if (!(keep_done && f->buf))
            fetch_remove(s, f);
    }
}

static void on_fetch(void *data, int err, const cc_httpc_response_t *resp);
static void upstream_failed(edge_stream_t *s, int err, const char *what);

static int fetch_start(edge_stream_t *s, fetch_t *f)
{
    static const char *const fmt[] = {"/live/%s/init%" PRIu64 ".mp4", "/live/%s/seg%" PRIu64 ".m4s",
                                      "/live/%s/part%" PRIu64 ".m4s"};
    char path[160];
    snprintf(path, sizeof(path), fmt[f->kind], s->name, f->number);
    uint32_t td = s->have_L ? s->L->target_duration_s : 1;
    uint32_t timeout = f->hint ? 3000 * td + 2000 : FETCH_TIMEOUT_MS;
    int r = cc_httpc_get(origin_of(s->e), path, timeout, MEDIA_BODY_MAX, on_fetch, f, &f->req);
    if (r < 0)
        return r;
    s->epoch = s->e->st.origin_switches;
    f->started = true;
    f->tries++;
    if (!f->hint)
        s->inflight++;
    s->e->st.up_requests[f->kind == F_PART ? UP_PART : f->kind == F_SEGMENT ? UP_SEGMENT : UP_INIT]++;
    return 0;
}

/* Starts queued fetches up to the parallel cap. */
static void fetch_pump(edge_stream_t *s)
{
    for (fetch_t *f = s->fetches; f && s->inflight < FETCH_PARALLEL; f = f->next)
        if (!f->req && !f->buf && !f->started && fetch_start(s, f) < 0)
            break;
}

/* The bytes of an object, or NULL after making sure they are on their way. */
static cc_buf_t *need(edge_stream_t *s, uint8_t kind, uint64_t number, bool hint, fetch_t **out)
{
    fetch_t *f = fetch_find(s, kind, number);
    if (out)
        *out = NULL;
    if (f) {
        if (out)
            *out = f;
        if (f->buf)
            return f->buf;
        if (!f->req && f->started && !f->hint) {
            /* failed before and was left for a retry */
            f->started = false;
        }
        if (!f->req && !f->started && (hint || s->inflight < FETCH_PARALLEL)) {
            f->hint = f->hint || hint;
            fetch_start(s, f);
        }
        return NULL;
    }
    if (s->nfetches >= MAX_FETCHES)
        return NULL;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->s = s;
    f->kind = kind;
    f->number = number;
    f->hint = hint;
    f->next = s->fetches;
    s->fetches = f;
    s->nfetches++;
    if (out)
        *out = f;
    if (hint || s->inflight < FETCH_PARALLEL)
        fetch_start(s, f);
    return NULL;
}

static void on_fetch(void *data, int err, const cc_httpc_response_t *resp)
{
    fetch_t *f = data;
    edge_stream_t *s = f->s;
    cc_edge_t *e = s->e;
    f->req = NULL;
    if (!f->hint)
        s->inflight--;
    if (resp)
        e->st.up_bytes += resp->wire_bytes;
    if (err == 0 && resp->status == 200) {
        f->buf = cc_buf_ref(resp->body);
        f->recv_ms = now_ms(e);
        f->age = resp->age;
        fetch_pump(s);
        progress(s);
        return;
    }
    if (err == 0 && f->hint && (resp->status == 404 || resp->status == 503)) {
        /* The hinted part will not come (ended), or not within 3 TD (stalled):
         * the next playlist answer says what to ask for. */
        fetch_remove(s, f);
        fetch_pump(s);
        return;
    }
    if (err == 0 && resp->status == 404) {
        /* The origin no longer has what it listed a moment ago: we fell behind. */
        e->st.up_404++;
        fetch_remove(s, f);
        begin_resync(s, "object gone upstream");
        return;
    }
    if (f->tries < FETCH_TRIES && err != CC_ETOOBIG) {
        e->st.up_errors++;
        if (fetch_start(s, f) == 0)
            return;
    }
    char what[64];
    snprintf(what, sizeof(what), "fetch status=%d", err == 0 ? resp->status : 0);
    fetch_remove(s, f);
    upstream_failed(s, err ? err : CC_EPROTO, what);
}

/* Fetched objects the mirror has passed are no longer needed. */
static void fetch_gc(edge_stream_t *s)
{
    const cc_mirror_track_t *t = &s->tr;
    for (fetch_t *f = s->fetches, *n; f; f = n) {
        n = f->next;
        if (!f->buf)
            continue;
        if ((f->kind == F_PART && f->number < t->next_seq) ||
            (f->kind == F_SEGMENT && t->has_seg && f->number <= t->last_msn) ||
            (f->kind == F_INIT && t->begun && f->number <= t->disc))
            fetch_remove(s, f);
    }
}

/* ---- resync and the playlist loop ---- */

static void begin_resync(edge_stream_t *s, const char *why)
{
    if (s->resync && s->pl_req && !s->have_L)
        return;
    cc_log_info("edge.resync", "stream=%s reason=%s", s->name, why);
    s->resync = true;
    s->have_L = false;
    fetch_clear(s, false);
    if (s->pl_req) {
        cc_httpc_cancel(s->pl_req);
        s->pl_req = NULL;
    }
    stream_timer_stop(s);
    next_playlist(s);
}

/* The walk's view of the fetches: the bytes if fetched, else make sure
 * they are coming. */
static cc_buf_t *ops_get(void *data, cc_mirror_kind_t kind, uint64_t number)
{
    static const uint8_t fk[] = {[CC_MIRROR_INIT] = F_INIT, [CC_MIRROR_SEGMENT] = F_SEGMENT, [CC_MIRROR_PART] = F_PART};
    return need(data, fk[kind], number, false, NULL);
}

/* Age bookkeeping: when the edge got what went into the mirror. */
static void ops_fed(void *data, cc_mirror_kind_t kind, uint64_t number)
{
    edge_stream_t *s = data;
    static const uint8_t fk[] = {[CC_MIRROR_INIT] = F_INIT, [CC_MIRROR_SEGMENT] = F_SEGMENT, [CC_MIRROR_PART] = F_PART};
    fetch_t *f = fetch_find(s, fk[kind], number);
    if (f == NULL)
        return;
    if (kind == CC_MIRROR_PART) {
        age_put(s->part_age, AGE_RING, number, f->recv_ms, f->age);
        s->parts++;
    } else if (kind == CC_MIRROR_SEGMENT) {
        age_put(s->seg_age, SEG_RING, number, f->recv_ms, f->age);
    } else {
        age_put(s->init_age, INIT_RING, number, f->recv_ms, f->age);
    }
}

/* A segment was closed in the mirror: its whole buffer was built now. */
static void ops_closed(void *data, uint64_t msn)
{
    edge_stream_t *s = data;
    age_put(s->seg_age, SEG_RING, msn, now_ms(s->e), 0);
    s->segments++;
}

static int walk(edge_stream_t *s, bool apply, bool scratch)
{
    const cc_mirror_ops_t ops = {ops_get, ops_fed, ops_closed, s};
    return cc_mirror_walk(s->h, &s->tr, s->L, apply, scratch, &ops);
}

/* Everything L lists is fetched: make the mirror L (the viewers' old state
 * goes in one step). */
static void finish_resync(edge_stream_t *s)
{
    cc_edge_t *e = s->e;
    cc_llhls_config_t cfg;
    int r = cc_mirror_config(s->L, &cfg);
    if (r == 0 && s->h == NULL && (s->h = cc_llhls_new(&cfg)) == NULL)
        r = CC_ENOMEM;
    /* Viewers held across the rebuild are decided once, against the whole
     * new state (cc_hls_delivery_quiet), not at every step of it. */
    if (r == 0) {
        cc_hls_delivery_quiet(e->d, s->h, true);
        r = cc_mirror_restart(s->h, s->L, &s->tr);
    }
    if (r < 0) {
        if (s->h)
            cc_hls_delivery_quiet(e->d, s->h, false);
        upstream_failed(s, r, "mirror config");
        return;
    }
    s->cfg = cfg;
    if (s->mv_buf)
        cc_llhls_set_multivariant(s->h, s->mv_buf);
    memset(s->part_age, 0, sizeof(s->part_age));
    memset(s->seg_age, 0, sizeof(s->seg_age));
    memset(s->init_age, 0, sizeof(s->init_age));
    r = walk(s, true, true);
    cc_hls_delivery_quiet(e->d, s->h, false);
    if (r != 0) {
        upstream_failed(s, CC_EPROTO, "mirror rebuild");
        return;
    }
    s->resync = false;
    s->resyncs++;
    e->st.resyncs++;
    fetch_gc(s);
    cc_log_info("edge.follow", "stream=%s origin=%s msn=%" PRIu64 " disc=%" PRIu64 " parts=%zu", s->name,
                cc_httpc_origin_url(origin_of(e)), s->L->media_sequence, s->L->discontinuity_sequence, s->L->nparts);
    if (s->state == S_JOINING) {
        s->state = S_READY;
        unpark_all(s);
    }
    next_playlist(s);
}

/* Something arrived (a playlist, an object): move the mirror forward. */
static void progress(edge_stream_t *s)
{
    if (!s->have_L || s->closing)
        return;
    if (s->resync || s->state == S_JOINING) {
        if (s->state == S_JOINING && s->mv_buf == NULL)
            return;
        int r = walk(s, false, true);
        if (r < 0)
            upstream_failed(s, CC_EPROTO, "playlist not mirrorable");
        else if (r == 0)
            finish_resync(s);
        return;
    }
    int r = walk(s, false, false);
    if (r >= 0)
        r = walk(s, true, false);
    if (r < 0) {
        /* What the mirror holds against what the origin lists: enough to tell
         * which of cc_mirror_walk's continuity checks failed. */
        const cc_m3u8_media_t *L = s->L;
        const cc_m3u8_segment_t *g = L->nsegments ? &L->segments[L->nsegments - 1] : NULL;
        cc_log_info("edge.discontinuous", "stream=%s mirror_msn=%" PRIu64 " mirror_complete=%d mirror_next_part=%"
                    PRIu64 " origin_first_msn=%" PRIu64 " origin_last_msn=%" PRIu64 " origin_last_parts=%u "
                    "origin_parts=%zu origin_first_part=%" PRIu64, s->name, s->tr.last_msn, s->tr.last_complete,
                    s->tr.next_seq, L->media_sequence, g ? g->msn : 0, g ? (unsigned)g->nparts : 0u, L->nparts,
                    L->nparts ? L->parts[0].seq : 0);
        begin_resync(s, "playlist does not continue the mirror");
        return;
    }
    fetch_gc(s);
    fetch_pump(s);
}

static void on_playlist(void *data, int err, const cc_httpc_response_t *resp);
static void on_multivariant(void *data, int err, const cc_httpc_response_t *resp);

static void request_multivariant(edge_stream_t *s)
{
    if (s->mv_req)
        return;
    char path[128];
    snprintf(path, sizeof(path), "/live/%s/index.m3u8", s->name);
    uint32_t timeout = s->state == S_READY ? 2000 : 5000; /* viewers wait for it when READY */
    if (cc_httpc_get(origin_of(s->e), path, timeout, CC_M3U8_TEXT_MAX, on_multivariant, s, &s->mv_req) == 0) {
        s->e->st.up_requests[UP_MULTIVARIANT]++;
        s->epoch = s->e->st.origin_switches;
    }
}

/* The next upstream playlist request: blocking for the part after L's
 * last (and that part, the preload hint, beside it); plain when there is
 * no L to continue or the stream has ended (then polled once per TD). */
static void next_playlist(edge_stream_t *s)
{
    if (s->pl_req || s->timer_on || s->closing)
        return;
    char path[200];
    uint32_t td = s->have_L ? s->L->target_duration_s : 1;
    uint32_t timeout = 3000 * td + 3000;
    s->pl_blocking = false;
    if (!s->have_L || s->resync) {
        snprintf(path, sizeof(path), "/live/%s/media.m3u8", s->name);
        timeout = 10000;
    } else if (s->L->endlist) {
        /* Nothing to block for: ENDLIST answers every directive at once. */
        snprintf(path, sizeof(path), "/live/%s/media.m3u8", s->name);
    } else {
        const cc_m3u8_segment_t *last = &s->L->segments[s->L->nsegments - 1];
        uint64_t msn = last->complete ? last->msn + 1 : last->msn;
        uint32_t part = last->complete ? 0 : last->nparts;
        snprintf(path, sizeof(path), "/live/%s/media.m3u8?_HLS_msn=%" PRIu64 "&_HLS_part=%u", s->name, msn, part);
        s->pl_blocking = true;
        if (s->L->has_hint)
            need(s, F_PART, s->L->hint_seq, true, NULL);
    }
    int r = cc_httpc_get(origin_of(s->e), path, timeout, CC_M3U8_TEXT_MAX, on_playlist, s, &s->pl_req);
    if (r < 0) {
        upstream_failed(s, r, "request");
        return;
    }
    s->e->st.up_requests[UP_PLAYLIST]++;
    s->epoch = s->e->st.origin_switches;
}

static void on_stream_timer(uv_timer_t *t)
{
    edge_stream_t *s = t->data;
    s->timer_on = false;
    if (s->state == S_GONE || s->closing)
        return;
    if (s->state == S_JOINING && s->mv_buf == NULL)
        request_multivariant(s);
    next_playlist(s);
}

static void switch_origin(cc_edge_t *e)
{
    size_t from = e->cur;
    e->cur = (e->cur + 1) % e->norigins;
    e->fail_streak = 0;
    e->st.origin_switches++;
    cc_log_warn("edge.failover", "from=%s to=%s", cc_httpc_origin_url(e->origins[from]),
                cc_httpc_origin_url(e->origins[e->cur]));
}

/* The origin did not answer: keep serving, retry with a capped exponential
 * backoff, and move to the next origin after failover_after failures in a
 * row (counted across streams: they share the origin). */
static void upstream_failed(edge_stream_t *s, int err, const char *what)
{
    cc_edge_t *e = s->e;
    if (s->closing)
        return;
    e->st.up_errors++;
    if (s->upstream_ok || s->backoff_ms >= BACKOFF_MAX_MS)
        cc_log_warn("edge.upstream", "stream=%s origin=%s what=\"%s\" error=%s", s->name,
                    cc_httpc_origin_url(origin_of(e)), what, cc_strerror(err));
    s->upstream_ok = false;
    /* A request made to an origin the edge has already left says nothing new. */
    if (s->epoch == e->st.origin_switches && ++e->fail_streak >= e->cfg.failover_after && e->norigins > 1)
        switch_origin(e);
    if (s->pl_req) {
        cc_httpc_cancel(s->pl_req);
        s->pl_req = NULL;
    }
    if (s->mv_req) {
        cc_httpc_cancel(s->mv_req);
        s->mv_req = NULL;
    }
    fetch_clear(s, true);
    s->backoff_ms = s->backoff_ms == 0 ? BACKOFF_MIN_MS : s->backoff_ms * 2;
    if (s->backoff_ms > BACKOFF_MAX_MS)
        s->backoff_ms = BACKOFF_MAX_MS;
    stream_timer_stop(s);
    stream_timer(s, s->backoff_ms);
    if (s->state == S_READY && s->mv_req == NULL)
        unpark_all(s); /* index.m3u8 revalidation failed: serve what we have */
}

static void upstream_ok(edge_stream_t *s)
{
    cc_edge_t *e = s->e;
    if (!s->upstream_ok && s->backoff_ms)
        cc_log_info("edge.upstream", "stream=%s origin=%s state=back", s->name, cc_httpc_origin_url(origin_of(e)));
    s->upstream_ok = true;
    s->backoff_ms = 0;
    e->fail_streak = 0;
}

static void on_playlist(void *data, int err, const cc_httpc_response_t *resp)
{
    edge_stream_t *s = data;
    cc_edge_t *e = s->e;
    s->pl_req = NULL;
    if (resp)
        e->st.up_bytes += resp->wire_bytes;
    if (err < 0) {
        upstream_failed(s, err, "playlist");
        return;
    }
    int status = resp->status;
    if (status == 404) {
        e->st.up_404++;
        upstream_ok(s);
        if (s->state == S_JOINING) {
            /* Unknown upstream: remembered for a moment, viewers get 404. */
            s->state = S_GONE;
            s->gone_at = now_ms(e);
            if (s->mv_req) {
                cc_httpc_cancel(s->mv_req);
                s->mv_req = NULL;
            }
            fetch_clear(s, false);
            unpark_all(s);
            return;
        }
        if (s->not_found_since == 0)
            s->not_found_since = now_ms(e);
        if (now_ms(e) - s->not_found_since > GONE_GRACE_MS) {
            stream_drop(s, "gone upstream");
            return;
        }
        s->have_L = false;
        s->resync = true; /* whatever comes back is a new stream */
        stream_timer(s, 1000);
        return;
    }
    if (status == 503) {
        /* No new part within 3 TD (the publisher is gone for now), or a busy origin. */
        e->st.up_503++;
        stream_timer(s, STALL_RETRY_MS);
        return;
    }
    if (status == 400) {
        upstream_ok(s);
        begin_resync(s, "origin refused the delivery directives");
        return;
    }
    if (status != 200) {
        upstream_failed(s, CC_EPROTO, "playlist status");
        return;
    }
    int r = cc_m3u8_parse_media((const char *)resp->body->data, resp->body->len, s->L);
    if (r < 0 || s->L->nsegments == 0 || s->L->part_target_ms == 0 || s->L->skipped) {
        s->have_L = false;
        cc_log_warn("edge.playlist", "stream=%s error=%s", s->name, cc_strerror(r < 0 ? r : CC_EPROTO));
        upstream_failed(s, CC_EPROTO, "playlist parse");
        return;
    }
    /* A blocking answer with nothing new would make the next request a busy loop. */
    bool unchanged = s->pl_blocking && s->L_buf && s->L_buf->len == resp->body->len &&
                     memcmp(s->L_buf->data, resp->body->data, resp->body->len) == 0;
    cc_buf_unref(s->L_buf);
    s->L_buf = cc_buf_ref(resp->body);
    s->have_L = true;
    s->not_found_since = 0;
    s->pl_ok_ms = now_ms(e);
    upstream_ok(s);
    if (s->h && !s->resync && s->state == S_READY &&
        (s->L->part_target_ms != s->cfg.part_target_ms || s->L->target_duration_s * 1000 != s->cfg.segment_target_ms)) {
        s->resync = true;
        fetch_clear(s, true);
        cc_log_info("edge.resync", "stream=%s reason=\"new PART-TARGET or TARGETDURATION\"", s->name);
    }
    progress(s);
    if (s->closing || s->state == S_GONE)
        return;
    /* While resyncing, the loop waits for the fetches (finish_resync restarts it). */
    if (s->resync)
        return;
    if (s->L->endlist)
        stream_timer(s, 1000u * s->L->target_duration_s);
    else if (unchanged)
        stream_timer(s, STALL_RETRY_MS);
    else
        next_playlist(s);
}

static void on_multivariant(void *data, int err, const cc_httpc_response_t *resp)
{
    edge_stream_t *s = data;
    cc_edge_t *e = s->e;
    s->mv_req = NULL;
    if (resp)
        e->st.up_bytes += resp->wire_bytes;
    if (s->state == S_GONE)
        return;
    if (err == 0 && resp->status == 200) {
        if (!(s->mv_buf && s->mv_buf->len == resp->body->len &&
              memcmp(s->mv_buf->data, resp->body->data, resp->body->len) == 0)) {
            cc_buf_unref(s->mv_buf);
            s->mv_buf = cc_buf_ref(resp->body);
            if (s->h)
                cc_llhls_set_multivariant(s->h, s->mv_buf);
        }
        s->mv_ms = now_ms(e);
        s->mv_age = resp->age;
        if (s->state == S_READY)
            unpark_all(s);
        else
            progress(s);
        return;
    }
    if (err == 0 && resp->status == 404 && s->state == S_JOINING)
        return; /* the media playlist's 404 decides */
    if (s->state == S_READY) {
        unpark_all(s); /* serve the copy we have; its Age tells how old */
        return;
    }
    upstream_failed(s, err ? err : CC_EPROTO, "multivariant");
}

/* ---- streams ---- */

static void stream_closed(uv_handle_t *h)
{
    edge_stream_t *s = h->data;
    cc_edge_t *e = s->e;
    free(s->L);
    free(s);
    e->live--;
    if (e->freeing && e->live == 0)
        free(e);
}

/* Stops pulling and frees the mirror (the delivery code hears
 * CC_LLHLS_EV_FREED: held viewers get 404). */
static void stream_free(edge_stream_t *s)
{
    cc_edge_t *e = s->e;
    s->closing = true;
    if (s->pl_req)
        cc_httpc_cancel(s->pl_req);
    if (s->mv_req)
        cc_httpc_cancel(s->mv_req);
    s->pl_req = s->mv_req = NULL;
    fetch_clear(s, false);
    unpark_error(s, 503, "stream unavailable\n");
    if (s->h)
        cc_llhls_free(s->h);
    s->h = NULL;
    cc_buf_unref(s->L_buf);
    cc_buf_unref(s->mv_buf);
    s->L_buf = s->mv_buf = NULL;
    if (s->prev)
        s->prev->next = s->next;
    else
        e->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    e->nstreams--;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, stream_closed);
}

static void stream_drop(edge_stream_t *s, const char *why)
{
    cc_log_info("edge.drop", "stream=%s reason=\"%s\" parts=%" PRIu64, s->name, why, s->parts);
    stream_free(s);
}

static edge_stream_t *stream_find(cc_edge_t *e, const char *name)
{
    for (edge_stream_t *s = e->streams; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static edge_stream_t *stream_new(cc_edge_t *e, const char *name)
{
    edge_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->L = malloc(sizeof(*s->L));
    if (s->L == NULL || uv_timer_init(e->loop, &s->timer) < 0) {
        free(s->L);
        free(s);
        return NULL;
    }
    s->timer.data = s;
    e->live++;
    s->e = e;
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->state = S_JOINING;
    s->resync = true;
    s->upstream_ok = true;
    s->last_seen = now_ms(e);
    s->next = e->streams;
    if (e->streams)
        e->streams->prev = s;
    e->streams = s;
    e->nstreams++;
    cc_log_info("edge.join", "stream=%s origin=%s", name, cc_httpc_origin_url(origin_of(e)));
    request_multivariant(s);
    next_playlist(s);
    return s;
}

/* ---- the delivery code's view ---- */

static cc_llhls_t *lookup(void *data, const char *name)
{
    cc_edge_t *e = data;
    edge_stream_t *s = stream_find(e, name);
    return s && s->state == S_READY ? s->h : NULL;
}

static edge_stream_t *stream_of_model(cc_edge_t *e, const cc_llhls_t *h)
{
    for (edge_stream_t *s = e->streams; s; s = s->next)
        if (s->h == h)
            return s;
    return NULL;
}

/* Age (RFC 9111 5.1): how long ago the edge got the object from upstream,
 * plus the upstream's own Age.  Blocking playlist answers made for the
 * request get none.  A playlist answered from the mirror is as old as the
 * last word from the origin, which is "now" while the blocking request
 * loop is healthy (a held upstream request means "nothing new yet"). */
static size_t headers_hook(void *data, const cc_hls_answer_t *a, cc_http_header_t *out, size_t max)
{
    cc_edge_t *e = data;
    e->st.bytes_out += a->body_len;
    if (a->held || max == 0)
        return 0;
    edge_stream_t *s = stream_of_model(e, a->h);
    if (s == NULL)
        return 0;
    uint64_t now = now_ms(e);
    int64_t age = -1;
    const age_rec_t *r = NULL;
    switch (a->kind) {
    case CC_LLHLS_URI_PART:
        r = age_get(s->part_age, AGE_RING, a->number);
        break;
    case CC_LLHLS_URI_SEGMENT:
        r = age_get(s->seg_age, SEG_RING, a->number);
        break;
    case CC_LLHLS_URI_INIT:
        r = age_get(s->init_age, INIT_RING, a->number);
        break;
    case CC_LLHLS_URI_MULTIVARIANT:
        if (s->mv_ms)
            age = (int64_t)((now - s->mv_ms) / 1000) + (s->mv_age > 0 ? s->mv_age : 0);
        break;
    case CC_LLHLS_URI_MEDIA:
        age = s->upstream_ok ? 0 : (int64_t)((now - s->pl_ok_ms) / 1000);
        break;
    }
    if (r)
        age = (int64_t)((now - r->at_ms) / 1000) + r->up_age;
    if (age < 0)
        return 0;
    snprintf(e->age_buf, sizeof(e->age_buf), "%" PRId64, age);
    out[0] = (cc_http_header_t){"Age", e->age_buf};
    return 1;
}

/* The /live/ route: the delivery code, once the stream's mirror has content. */
static int handle_live(cc_http_req_t *req, void *data)
{
    cc_edge_t *e = data;
    e->st.requests++;
    const char *path = cc_http_req_path(req);
    const char *name = path + strlen("/live/"), *slash = strchr(name, '/');
    cc_llhls_uri_kind_t kind;
    uint64_t number;
    if (strncmp(path, "/live/", 6) != 0 || slash == NULL || !name_ok(name, (size_t)(slash - name)) ||
        cc_llhls_uri_parse(slash + 1, &kind, &number) < 0) {
        e->inner.handler(req, e->inner.data); /* its 404 */
        return 0;
    }
    char sname[NAME_MAX_LEN + 1];
    memcpy(sname, name, (size_t)(slash - name));
    sname[slash - name] = '\0';
    edge_stream_t *s = stream_find(e, sname);
    if (s == NULL) {
        if (e->nstreams >= e->cfg.max_streams) {
            e->st.refused++;
            cc_http_header_t hdr = {"Retry-After", "5"};
            cc_buf_t *b = cc_buf_from("too many streams on this edge\n", 30);
            int r = b ? cc_http_respond(req, 503, "text/plain; charset=utf-8", b, &hdr, 1) : CC_ENOMEM;
            cc_buf_unref(b);
            return r;
        }
        s = stream_new(e, sname);
        if (s == NULL)
            return CC_ENOMEM;
    }
    s->last_seen = now_ms(e);
    switch (s->state) {
    case S_GONE:
        e->st.unknown++;
        return e->inner.handler(req, e->inner.data);
    case S_JOINING:
        return park(s, req);
    case S_READY:
        break;
    }
    if (kind == CC_LLHLS_URI_MULTIVARIANT && s->upstream_ok && now_ms(e) - s->mv_ms > MV_FRESH_MS) {
        /* no-cache upstream: revalidate (one request for every viewer asking meanwhile). */
        request_multivariant(s);
        if (s->mv_req)
            return park(s, req);
    }
    e->st.hits++;
    return e->inner.handler(req, e->inner.data);
}

static void on_sweep(uv_timer_t *t)
{
    cc_edge_t *e = t->data;
    uint64_t now = now_ms(e);
    for (edge_stream_t *s = e->streams, *n; s; s = n) {
        n = s->next;
        while (s->phead && s->phead->deadline <= now) {
            parked_t *p = s->phead;
            cc_http_req_t *req = p->req;
            parked_unlink(p);
            free(p);
            e->st.parked_timeouts++;
            cc_http_respond_text(req, 503, "text/plain; charset=utf-8", "not available yet\n");
        }
        if (s->state == S_GONE && now - s->gone_at >= GONE_CACHE_MS && s->phead == NULL)
            stream_drop(s, "unknown upstream");
        else if (now - s->last_seen >= e->cfg.idle_ms && s->phead == NULL) {
            e->st.dropped_idle++;
            stream_drop(s, "idle");
        }
    }
}

/* ---- lifetime ---- */

int cc_edge_new(uv_loop_t *loop, const cc_edge_config_t *cfg, cc_edge_t **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    if (cfg->norigins == 0) {
        snprintf(errbuf, errlen, "at least one --origin is needed");
        return CC_EINVAL;
    }
    cc_edge_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return CC_ENOMEM;
    e->loop = loop;
    e->cfg = *cfg;
    if (e->cfg.failover_after == 0)
        e->cfg.failover_after = 1;
    e->origins = calloc(cfg->norigins, sizeof(*e->origins));
    cc_httpc_config_t hc;
    cc_httpc_config_default(&hc);
    int r = e->origins ? cc_httpc_new(loop, &hc, &e->http) : CC_ENOMEM;
    for (size_t i = 0; r == 0 && i < cfg->norigins; i++) {
        r = cc_httpc_origin_add(e->http, cfg->origins[i], &e->origins[i]);
        if (r < 0)
            snprintf(errbuf, errlen, "--origin '%s' is not http://HOST[:PORT][/PREFIX]%s", cfg->origins[i],
                     r == CC_EUNSUPPORTED ? " (the edge pulls over plain http)" : "");
    }
    e->norigins = cfg->norigins;
    e->d = r == 0 ? cc_hls_delivery_new(loop, lookup, e) : NULL;
    if (r == 0 && e->d == NULL)
        r = CC_ENOMEM;
    if (r < 0) {
        if (e->http)
            cc_httpc_free(e->http);
        free(e->origins);
        free(e);
        return r;
    }
    e->inner = cc_hls_delivery_route(e->d);
    cc_hls_delivery_set_headers_hook(e->d, headers_hook, e);
    e->cfg.origins = NULL; /* not kept */
    uv_timer_init(loop, &e->sweep);
    e->sweep.data = e;
    e->live = 1;
    uv_timer_start(&e->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    *out = e;
    return 0;
}

cc_http_route_t cc_edge_route(cc_edge_t *e)
{
    cc_http_route_t r = {"GET", "/live/", handle_live, e};
    return r;
}

static void sweep_closed(uv_handle_t *h)
{
    cc_edge_t *e = h->data;
    e->live--;
    if (e->live == 0)
        free(e);
}

void cc_edge_free(cc_edge_t *e)
{
    if (e == NULL)
        return;
    /* Held viewers get 503 and the delivery code lets go of every mirror
     * before the mirrors go. */
    cc_hls_delivery_free(e->d);
    e->d = NULL;
    while (e->streams)
        stream_free(e->streams);
    cc_httpc_free(e->http);
    e->http = NULL;
    free(e->origins);
    e->origins = NULL;
    e->freeing = true;
    uv_timer_stop(&e->sweep);
    uv_close((uv_handle_t *)&e->sweep, sweep_closed);
}

/* ---- metrics ---- */

#define EMIT(...)                                                \
    do {                                                         \
        if ((r = cc_dynbuf_appendf(out, __VA_ARGS__)) < 0)       \
            return r;                                            \
    } while (0)

int cc_edge_render_metrics(cc_edge_t *e, cc_dynbuf_t *out)
{
    int r;
    const edge_stats_t *st = &e->st;
    cc_hls_stats_t hs;
    cc_hls_delivery_stats(e->d, &hs);
    cc_httpc_stats_t hc;
    cc_httpc_stats(e->http, &hc);
    EMIT("# HELP cartcast_edge_viewer_requests_total Viewer requests under /live/.\n"
         "# TYPE cartcast_edge_viewer_requests_total counter\ncartcast_edge_viewer_requests_total %" PRIu64 "\n",
         st->requests);
    EMIT("# HELP cartcast_edge_cache_hits_total /live/ requests answered from the edge's memory (no upstream wait).\n"
         "# TYPE cartcast_edge_cache_hits_total counter\ncartcast_edge_cache_hits_total %" PRIu64 "\n",
         st->hits);
    EMIT("# HELP cartcast_edge_cache_misses_total /live/ requests parked until a stream was joined or index.m3u8 "
         "revalidated.\n# TYPE cartcast_edge_cache_misses_total counter\ncartcast_edge_cache_misses_total %" PRIu64
         "\n",
         st->parked);
    EMIT("# HELP cartcast_edge_parked_timeouts_total Parked requests answered 503.\n"
         "# TYPE cartcast_edge_parked_timeouts_total counter\ncartcast_edge_parked_timeouts_total %" PRIu64 "\n",
         st->parked_timeouts);
    EMIT("# HELP cartcast_edge_bytes_out_total Body bytes of 200 answers under /live/ (not counting held playlist "
         "answers' headers).\n# TYPE cartcast_edge_bytes_out_total counter\ncartcast_edge_bytes_out_total %" PRIu64
         "\n",
         st->bytes_out);
    EMIT("# HELP cartcast_edge_upstream_requests_total Requests sent to the origin, by object.\n"
         "# TYPE cartcast_edge_upstream_requests_total counter\n");
    for (int i = 0; i < 5; i++)
        EMIT("cartcast_edge_upstream_requests_total{type=\"%s\"} %" PRIu64 "\n", up_names[i], st->up_requests[i]);
    EMIT("# HELP cartcast_edge_upstream_bytes_total Response bytes read from the origin.\n"
         "# TYPE cartcast_edge_upstream_bytes_total counter\ncartcast_edge_upstream_bytes_total %" PRIu64 "\n",
         hc.bytes_in);
    EMIT("# HELP cartcast_edge_origin_errors_total Upstream failures (connect, timeout, bad answer), 503s and 404s.\n"
         "# TYPE cartcast_edge_origin_errors_total counter\n"
         "cartcast_edge_origin_errors_total{kind=\"failure\"} %" PRIu64 "\n"
         "cartcast_edge_origin_errors_total{kind=\"503\"} %" PRIu64 "\n"
         "cartcast_edge_origin_errors_total{kind=\"404\"} %" PRIu64 "\n",
         st->up_errors, st->up_503, st->up_404);
    EMIT("# HELP cartcast_edge_origin_switches_total Failovers to the next --origin.\n"
         "# TYPE cartcast_edge_origin_switches_total counter\ncartcast_edge_origin_switches_total %" PRIu64 "\n",
         st->origin_switches);
    EMIT("# HELP cartcast_edge_origin_current The --origin pulled from now (1).\n"
         "# TYPE cartcast_edge_origin_current gauge\n");
    for (size_t i = 0; i < e->norigins; i++)
        EMIT("cartcast_edge_origin_current{origin=\"%s\"} %d\n", cc_httpc_origin_url(e->origins[i]), i == e->cur);
    EMIT("# HELP cartcast_edge_upstream_connections Connections open to origins.\n"
         "# TYPE cartcast_edge_upstream_connections gauge\ncartcast_edge_upstream_connections %" PRIu64 "\n",
         hc.conns_open);
    EMIT("# HELP cartcast_edge_resyncs_total Mirrors rebuilt from a fresh origin playlist (joins included).\n"
         "# TYPE cartcast_edge_resyncs_total counter\ncartcast_edge_resyncs_total %" PRIu64 "\n",
         st->resyncs);
    EMIT("# HELP cartcast_edge_streams_dropped_idle_total Streams dropped after --idle-ms without a request.\n"
         "# TYPE cartcast_edge_streams_dropped_idle_total counter\ncartcast_edge_streams_dropped_idle_total %" PRIu64
         "\n",
         st->dropped_idle);
    EMIT("# HELP cartcast_edge_streams_refused_total Requests for a new stream refused by --max-streams.\n"
         "# TYPE cartcast_edge_streams_refused_total counter\ncartcast_edge_streams_refused_total %" PRIu64 "\n",
         st->refused);
    EMIT("# HELP cartcast_hls_held_requests Blocking playlist and part requests held right now.\n"
         "# TYPE cartcast_hls_held_requests gauge\ncartcast_hls_held_requests %" PRIu64 "\n",
         hs.held_now);
    EMIT("# HELP cartcast_hls_held_total Requests ever held, by outcome.\n# TYPE cartcast_hls_held_total counter\n"
         "cartcast_hls_held_total{outcome=\"answered\"} %" PRIu64 "\ncartcast_hls_held_total{outcome=\"timeout\"} %"
         PRIu64 "\n",
         hs.held_answered, hs.held_timeouts);
    EMIT("# HELP cartcast_hls_errors_total LL-HLS requests answered with an error.\n"
         "# TYPE cartcast_hls_errors_total counter\ncartcast_hls_errors_total{status=\"400\"} %" PRIu64 "\n"
         "cartcast_hls_errors_total{status=\"404\"} %" PRIu64 "\n",
         hs.bad_requests, hs.not_found);
    EMIT("# HELP cartcast_hls_renders_total Playlists rendered (once per model version and variant).\n"
         "# TYPE cartcast_hls_renders_total counter\ncartcast_hls_renders_total %" PRIu64 "\n",
         hs.renders);
    EMIT("# HELP cartcast_edge_streams Streams followed, by state.\n# TYPE cartcast_edge_streams gauge\n"
         "cartcast_edge_streams %u\n",
         e->nstreams);
    EMIT("# HELP cartcast_edge_stream_state A followed stream's state (joining, live, resyncing, ended, "
         "upstream_down, gone).\n# TYPE cartcast_edge_stream_state gauge\n");
    for (edge_stream_t *s = e->streams; s; s = s->next)
        EMIT("cartcast_edge_stream_state{stream=\"%s\",state=\"%s\"} 1\n", s->name, state_name(s));
    EMIT("# HELP cartcast_edge_stream_parts_total Parts fed to a stream's mirror.\n"
         "# TYPE cartcast_edge_stream_parts_total counter\n");
    for (edge_stream_t *s = e->streams; s; s = s->next)
        EMIT("cartcast_edge_stream_parts_total{stream=\"%s\"} %" PRIu64 "\n", s->name, s->parts);
    EMIT("# HELP cartcast_edge_stream_last_msn Media sequence number of the newest segment in a stream's mirror.\n"
         "# TYPE cartcast_edge_stream_last_msn gauge\n");
    for (edge_stream_t *s = e->streams; s; s = s->next)
        if (s->tr.has_seg)
            EMIT("cartcast_edge_stream_last_msn{stream=\"%s\"} %" PRIu64 "\n", s->name, s->tr.last_msn);
    return 0;
}
