/* LL-HLS delivery: parses /live/NAME/FILE, serves playlists and media from a
 * cc_llhls_t, and parks blocking requests until the model changes.
 *
 * Ownership:
 *  - one hls_stream_t per model a request has named: it is the model's
 *    listener, owns the held requests of that stream (a doubly linked list in
 *    arrival order, so in deadline order too: every hold of a stream lasts the
 *    same 3 x TARGETDURATION) and the rendered playlists of the current model
 *    version.  It goes away on CC_LLHLS_EV_FREED (held requests get 404).
 *  - a held_t per parked request, freed when answered, timed out, or when the
 *    client leaves (cc_http_req_on_close).
 *  - one sweep timer per delivery object, running only while something is held.
 * Playlists are rendered once per model version (and gzipped once) and the
 * same cc_buf_t goes to every viewer; media buffers come from the model. */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "edge/hls.h"

#define PREFIX "/live/"
#define NAME_MAX_LEN 64
#define PLAYLIST_MAX (1u << 20) /* a rendered playlist larger than this is a bug */
#define SWEEP_MS 50             /* timeout resolution for held requests */

#define CT_PLAYLIST "application/vnd.apple.mpegurl"
#define CT_MEDIA "video/mp4"
/* Parts, segments and inits never change once their URI exists, and URIs are
 * never reused (numbers start at the stream's first PDT, llhls.h). */
#define CC_IMMUTABLE "max-age=31536000, immutable"

typedef struct hls_stream hls_stream_t;

enum held_kind { HELD_MEDIA, HELD_MULTIVARIANT, HELD_PART };

typedef struct held {
    struct held *prev, *next;
    hls_stream_t *s;
    cc_http_req_t *req;
    uint64_t deadline; /* uv_now() ms */
    uint64_t part_seq;
    cc_llhls_query_t q;
    uint8_t kind;
    bool gzip;
} held_t;

/* Within one model event every held request answered with the same kind of
 * answer gets the same prepared answer (cc_http_answer_t): its headers and
 * body are made once, and plain HTTP/1.1 connections share one header block.
 * A playlist answer depends only on these (not on the _HLS_msn/_HLS_part it
 * waited for); a part's on its number. */
typedef struct answer_key {
    uint8_t what; /* CC_LLHLS_URI_MEDIA, _MULTIVARIANT or _PART */
    bool gzip, blocking;
    int skip;
    uint64_t number;
} answer_key_t;

#define ANSWER_MEMO_MAX 4

typedef struct answer_memo {
    hls_stream_t *s;
    answer_key_t key;
    cc_http_answer_t *a;
} answer_memo_t;

typedef struct rendered {
    uint64_t version;
    cc_buf_t *buf;
} rendered_t;

struct hls_stream {
    hls_stream_t *prev, *next;
    cc_hls_delivery_t *d;
    cc_llhls_t *h;
    held_t *head, *tail;
    rendered_t media[3][2]; /* [skip][gzip] */
    rendered_t mv[2];       /* [gzip] */
    bool quiet;             /* cc_hls_delivery_quiet: events do not decide held requests */
};

struct cc_hls_delivery {
    uv_loop_t *loop;
    cc_hls_lookup_fn lookup;
    void *lookup_data;
    hls_stream_t *streams;
    uv_timer_t *timer; /* own allocation: freed in its close callback */
    bool timer_on;
    cc_hls_stats_t st;
    cc_hls_headers_fn headers_fn; /* optional extra headers on 200 answers (the edge's Age) */
    void *headers_data;
    /* CARTCAST_BENCH_STAMPS=1 in the environment: answers made in a model event
     * (held requests) carry `x-cartcast-ready: <CLOCK_REALTIME ns>`, the instant
     * that event began, i.e. when the part that satisfied them completed on the
     * origin or was fed into the edge's mirror.  bench/held_client.c measures
     * each answer's arrival from it (docs/benchmarks.md).  Off by default: it is
     * a benchmark's reference point, not something a viewer needs. */
    bool stamps;
    char stamp[24]; /* "" outside a model event */
    bool in_event;  /* answers made now go in memo (cleared at the event's end) */
    answer_memo_t memo[ANSWER_MEMO_MAX];
    unsigned memo_next;
};

/* ---- small helpers ---- */

bool cc_hls_accepts_gzip(const char *ae)
{
    if (ae == NULL)
        return false;
    int gzip = -1, star = -1; /* -1 unseen, 0 refused, 1 accepted */
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t tlen = (size_t)(p - tok);
        bool ok = true;
        /* parameters: only q matters; q=0 (0, 0.0, 0.000) refuses */
        while (*p && *p != ',') {
            if (*p == ';') {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
                    double q = strtod(p + 2, NULL);
                    ok = q > 0;
                }
            }
            if (*p && *p != ',' && *p != ';')
                p++;
        }
        if ((tlen == 4 && strncasecmp(tok, "gzip", 4) == 0) || (tlen == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
            gzip = ok;
        else if (tlen == 1 && tok[0] == '*')
            star = ok;
    }
    return gzip >= 0 ? gzip == 1 : star == 1;
}

/* gzip (RFC 1952) via zlib: windowBits 31 = 15 + the gzip wrapper.  One
 * compression per playlist version, shared by every viewer. */
static cc_buf_t *gzip_buf(const cc_buf_t *in)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong bound = deflateBound(&z, (uLong)in->len);
    cc_buf_t *tmp = cc_buf_new(bound), *out = NULL;
    if (tmp) {
        z.next_in = (Bytef *)in->data;
        z.avail_in = (uInt)in->len;
        z.next_out = tmp->data;
        z.avail_out = (uInt)bound;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END)
            out = cc_buf_from(tmp->data, z.total_out); /* tight copy: the bound is ~the input size */
        cc_buf_unref(tmp);
    }
    deflateEnd(&z);
    return out;
}

static void set_rendered(rendered_t *r, uint64_t version, cc_buf_t *buf)
{
    cc_buf_unref(r->buf);
    r->buf = buf;
    r->version = version;
}

/* The playlist for this model version: rendered once, gzipped once.
 * Borrowed reference (the cache keeps it); NULL with *err set. */
static cc_buf_t *playlist(hls_stream_t *s, bool multivariant, int skip, bool gzip, int *err)
{
    uint64_t v = cc_llhls_version(s->h);
    rendered_t *plain = multivariant ? &s->mv[0] : &s->media[skip][0];
    rendered_t *want = multivariant ? &s->mv[gzip] : &s->media[skip][gzip];
    if (want->buf && want->version == v)
        return want->buf;
    if (!(plain->buf && plain->version == v)) {
        cc_dynbuf_t d;
        cc_dynbuf_init(&d, PLAYLIST_MAX);
        int r = multivariant ? cc_llhls_render_multivariant(s->h, &d) : cc_llhls_render_media(s->h, skip, &d);
        cc_buf_t *b = r == 0 ? cc_dynbuf_take(&d) : NULL;
        cc_dynbuf_free(&d);
        if (b == NULL) {
            *err = r < 0 ? r : CC_ENOMEM;
            return NULL;
        }
        set_rendered(plain, v, b);
        s->d->st.renders++;
    }
    if (!gzip)
        return plain->buf;
    cc_buf_t *z = gzip_buf(plain->buf);
    if (z == NULL) {
        *err = CC_ENOMEM;
        return NULL;
    }
    set_rendered(want, v, z);
    return z;
}

static void error_reply(cc_hls_delivery_t *d, cc_http_req_t *req, int status, const char *text)
{
    if (status == 400)
        d->st.bad_requests++;
    else if (status == 404)
        d->st.not_found++;
    /* Errors are not cached: the stream or the part may exist a moment later. */
    cc_http_header_t hdr = {"Cache-Control", "no-cache"};
    cc_buf_t *b = cc_buf_from(text, strlen(text));
    if (b == NULL || cc_http_respond(req, status, "text/plain; charset=utf-8", b, &hdr, 1) < 0)
        cc_log_warn("hls.respond", "path=%s status=%d msg=\"could not answer\"", cc_http_req_path(req), status);
    cc_buf_unref(b);
}

/* Appends the headers hook's headers (if any) after n fixed ones. */
static size_t extra_headers(cc_hls_delivery_t *d, cc_llhls_t *h, cc_llhls_uri_kind_t kind, uint64_t number,
                            bool blocking, bool held, const cc_buf_t *body, cc_http_header_t *hdrs, size_t n)
{
    if (d->headers_fn == NULL)
        return n;
    cc_hls_answer_t a = {.h = h, .kind = kind, .number = number, .blocking = blocking, .held = held,
                         .body_len = body ? body->len : 0};
    size_t k = d->headers_fn(d->headers_data, &a, hdrs + n, CC_HLS_EXTRA_HEADERS);
    return n + (k > CC_HLS_EXTRA_HEADERS ? CC_HLS_EXTRA_HEADERS : k);
}

static bool key_eq(const answer_key_t *a, const answer_key_t *b)
{
    return a->what == b->what && a->gzip == b->gzip && a->blocking == b->blocking && a->skip == b->skip &&
           a->number == b->number;
}

static void memo_clear(cc_hls_delivery_t *d)
{
    for (unsigned i = 0; i < ANSWER_MEMO_MAX; i++) {
        cc_http_answer_unref(d->memo[i].a);
        d->memo[i] = (answer_memo_t){0};
    }
    d->memo_next = 0;
}

/* Inside a model event, the prepared answer already made for key; NULL
 * outside one or the first time (the caller then builds the headers). */
static cc_http_answer_t *memo_find(hls_stream_t *s, const answer_key_t *key)
{
    cc_hls_delivery_t *d = s->d;
    for (unsigned i = 0; d->in_event && i < ANSWER_MEMO_MAX; i++)
        if (d->memo[i].a && d->memo[i].s == s && key_eq(&d->memo[i].key, key))
            return d->memo[i].a;
    return NULL;
}

/* Answers req.  Outside a model event (or for a request that may ask for a
 * byte range) with cc_http_respond(); inside one, with a prepared answer made
 * here from the headers and kept for the event's other requests of the same
 * key (which memo_find() gives them before they build any headers). */
static int answer(hls_stream_t *s, cc_http_req_t *req, const answer_key_t *key, const char *type, cc_buf_t *body,
                  const cc_http_header_t *hdrs, size_t n)
{
    cc_hls_delivery_t *d = s->d;
    if (!d->in_event)
        return cc_http_respond(req, 200, type, body, hdrs, n);
    cc_http_answer_t *a;
    int r = cc_http_answer_new(200, type, body, hdrs, n, &a);
    if (r < 0)
        return r;
    answer_memo_t *m = &d->memo[d->memo_next++ % ANSWER_MEMO_MAX];
    cc_http_answer_unref(m->a);
    *m = (answer_memo_t){.s = s, .key = *key, .a = a};
    return cc_http_respond_prepared(req, a);
}

/* Appendix B.1 caching: a blocking playlist response is good for 6 TD (it
 * is what every later client asking the same directives must get); a plain
 * one for half a TD (whole seconds: 0 when TD = 1). */
static int send_playlist(hls_stream_t *s, cc_http_req_t *req, bool multivariant, const cc_llhls_query_t *q,
                         bool gzip, bool held)
{
    int err = 0;
    int skip = q ? q->skip : 0;
    bool blocking = q && q->has_msn;
    cc_llhls_uri_kind_t kind = multivariant ? CC_LLHLS_URI_MULTIVARIANT : CC_LLHLS_URI_MEDIA;
    answer_key_t key = {.what = (uint8_t)kind, .gzip = gzip, .blocking = blocking, .skip = skip};
    cc_http_answer_t *made = memo_find(s, &key);
    if (made)
        return cc_http_respond_prepared(req, made);
    cc_buf_t *b = playlist(s, multivariant, skip, gzip, &err);
    if (b == NULL)
        return err;
    char cc[48];
    uint32_t td = cc_llhls_target_duration_s(s->h);
    if (multivariant)
        snprintf(cc, sizeof(cc), "no-cache");
    else if (blocking)
        snprintf(cc, sizeof(cc), "max-age=%u", 6 * td);
    else
        snprintf(cc, sizeof(cc), "max-age=%u", td / 2);
    cc_http_header_t hdrs[4 + CC_HLS_EXTRA_HEADERS] = {
        {"Cache-Control", cc}, {"Vary", "Accept-Encoding"}, {"Content-Encoding", "gzip"}};
    size_t n = extra_headers(s->d, s->h, kind, 0, blocking, held, b, hdrs, gzip ? 3 : 2);
    if (held && s->d->stamp[0])
        hdrs[n++] = (cc_http_header_t){"x-cartcast-ready", s->d->stamp};
    return answer(s, req, &key, CT_PLAYLIST, b, hdrs, n);
}

static int send_media(hls_stream_t *s, cc_http_req_t *req, cc_buf_t *b, cc_llhls_uri_kind_t kind, uint64_t number,
                      bool held)
{
    answer_key_t key = {.what = (uint8_t)kind, .number = number};
    cc_http_answer_t *made = memo_find(s, &key);
    if (made)
        return cc_http_respond_prepared(req, made);
    cc_http_header_t hdrs[2 + CC_HLS_EXTRA_HEADERS] = {{"Cache-Control", CC_IMMUTABLE}};
    size_t n = extra_headers(s->d, s->h, kind, number, false, held, b, hdrs, 1);
    if (held && s->d->stamp[0])
        hdrs[n++] = (cc_http_header_t){"x-cartcast-ready", s->d->stamp};
    return answer(s, req, &key, CT_MEDIA, b, hdrs, n);
}

/* ---- held requests ---- */

static void on_sweep(uv_timer_t *t);

static void timer_update(cc_hls_delivery_t *d)
{
    if (d->st.held_now > 0 && !d->timer_on) {
        uv_timer_start(d->timer, on_sweep, SWEEP_MS, SWEEP_MS);
        d->timer_on = true;
    } else if (d->st.held_now == 0 && d->timer_on) {
        uv_timer_stop(d->timer);
        d->timer_on = false;
    }
}

static void held_unlink(held_t *w)
{
    hls_stream_t *s = w->s;
    if (w->prev)
        w->prev->next = w->next;
    else
        s->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        s->tail = w->prev;
    s->d->st.held_now--;
    timer_update(s->d);
}

static void held_closed(cc_http_req_t *req, void *data)
{
    held_t *w = data;
    held_unlink(w);
    free(w);
}

static int hold(hls_stream_t *s, cc_http_req_t *req, enum held_kind kind, const cc_llhls_query_t *q,
                uint64_t part_seq, bool gzip)
{
    held_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return CC_ENOMEM;
    w->s = s;
    w->req = req;
    w->kind = (uint8_t)kind;
    w->gzip = gzip;
    w->part_seq = part_seq;
    if (q)
        w->q = *q;
    /* 6.2.5.2: a server that cannot answer after 3 TD SHOULD answer 503. */
    w->deadline = uv_now(s->d->loop) + 3000ull * cc_llhls_target_duration_s(s->h);
    w->prev = s->tail;
    if (s->tail)
        s->tail->next = w;
    else
        s->head = w;
    s->tail = w;
    cc_http_req_on_close(req, held_closed, w);
    s->d->st.held_now++;
    s->d->st.held_total++;
    timer_update(s->d);
    return CC_HTTP_HELD;
}

/* Detaches w (its request is answered by the caller right after). */
static cc_http_req_t *held_take(held_t *w)
{
    cc_http_req_t *req = w->req;
    held_unlink(w);
    free(w);
    return req;
}

/* Re-checks one held request against the model; true when it was answered. */
static bool held_check(held_t *w)
{
    hls_stream_t *s = w->s;
    cc_hls_delivery_t *d = s->d;
    int r = 0;
    switch (w->kind) {
    case HELD_MEDIA: {
        cc_llhls_decision_t dec = cc_llhls_decide(s->h, &w->q);
        if (dec == CC_LLHLS_HOLD)
            return false;
        cc_llhls_query_t q = w->q;
        bool gzip = w->gzip;
        cc_http_req_t *req = held_take(w);
        if (dec == CC_LLHLS_BAD_REQUEST) {
            error_reply(d, req, 400, "delivery directive out of range\n");
            return true;
        }
        r = send_playlist(s, req, false, &q, gzip, true);
        if (r < 0)
            error_reply(d, req, r == CC_EAGAIN ? 503 : 500, "playlist unavailable\n");
        else
            d->st.held_answered++;
        return true;
    }
    case HELD_MULTIVARIANT: {
        bool gzip = w->gzip;
        int err = 0;
        if (playlist(s, true, 0, gzip, &err) == NULL && err == CC_EAGAIN)
            return false;
        cc_http_req_t *req = held_take(w);
        r = send_playlist(s, req, true, NULL, gzip, true);
        if (r < 0)
            error_reply(d, req, 500, "playlist unavailable\n");
        else
            d->st.held_answered++;
        return true;
    }
    case HELD_PART: {
        bool pending = false;
        cc_buf_t *b = cc_llhls_get_part(s->h, w->part_seq, &pending);
        if (b == NULL && pending)
            return false;
        uint64_t seq = w->part_seq;
        cc_http_req_t *req = held_take(w);
        if (b == NULL) {
            /* 6.2.6: a hinted part that will not come (the publish ended). */
            error_reply(d, req, 404, "part not found\n");
            return true;
        }
        if (send_media(s, req, b, CC_LLHLS_URI_PART, seq, true) < 0)
            error_reply(d, req, 500, "internal error\n");
        else
            d->st.held_answered++;
        cc_buf_unref(b);
        return true;
    }
    }
    return false;
}

static void stream_free(hls_stream_t *s, int status, const char *text)
{
    cc_hls_delivery_t *d = s->d;
    while (s->head) {
        cc_http_req_t *req = held_take(s->head);
        error_reply(d, req, status, text);
    }
    for (int i = 0; i < 3; i++)
        for (int g = 0; g < 2; g++)
            cc_buf_unref(s->media[i][g].buf);
    cc_buf_unref(s->mv[0].buf);
    cc_buf_unref(s->mv[1].buf);
    if (s->prev)
        s->prev->next = s->next;
    else
        d->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    d->st.streams--;
    free(s);
}

static void on_model_event(cc_llhls_t *h, cc_llhls_event_t ev, void *data)
{
    hls_stream_t *s = data;
    if (ev == CC_LLHLS_EV_FREED) {
        /* 6.2.1: a removed presentation answers 404. */
        cc_log_debug("hls.stream_freed", "held=%s", s->head ? "yes" : "no");
        stream_free(s, 404, "stream ended\n");
        return;
    }
    if (s->quiet)
        return;
    cc_hls_delivery_t *d = s->d;
    if (d->stamps && s->head) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(d->stamp, sizeof(d->stamp), "%lld", (long long)ts.tv_sec * 1000000000 + ts.tv_nsec);
    }
    d->in_event = true;
    for (held_t *w = s->head, *next; w; w = next) {
        next = w->next;
        held_check(w);
    }
    d->in_event = false;
    memo_clear(d);
    d->stamp[0] = '\0';
}

static void on_sweep(uv_timer_t *t)
{
    cc_hls_delivery_t *d = t->data;
    uint64_t now = uv_now(d->loop);
    for (hls_stream_t *s = d->streams; s; s = s->next) {
        while (s->head && s->head->deadline <= now) {
            cc_http_req_t *req = held_take(s->head);
            d->st.held_timeouts++;
            error_reply(d, req, 503, "not available yet\n");
        }
    }
}

static hls_stream_t *attach(cc_hls_delivery_t *d, cc_llhls_t *h)
{
    for (hls_stream_t *s = d->streams; s; s = s->next)
        if (s->h == h)
            return s;
    hls_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->d = d;
    s->h = h;
    s->next = d->streams;
    if (d->streams)
        d->streams->prev = s;
    d->streams = s;
    d->st.streams++;
    cc_llhls_set_listener(h, on_model_event, s);
    return s;
}

/* ---- the route ---- */

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

static int handle_live(cc_http_req_t *req, void *data)
{
    cc_hls_delivery_t *d = data;
    const char *path = cc_http_req_path(req);
    if (strncmp(path, PREFIX, sizeof(PREFIX) - 1) != 0) {
        error_reply(d, req, 404, "not found\n");
        return 0;
    }
    const char *name = path + sizeof(PREFIX) - 1, *slash = strchr(name, '/');
    cc_llhls_uri_kind_t kind;
    uint64_t number;
    if (slash == NULL || !name_ok(name, (size_t)(slash - name)) ||
        cc_llhls_uri_parse(slash + 1, &kind, &number) < 0) {
        error_reply(d, req, 404, "not found\n");
        return 0;
    }
    char sname[NAME_MAX_LEN + 1];
    memcpy(sname, name, (size_t)(slash - name));
    sname[slash - name] = '\0';
    cc_llhls_t *h = d->lookup(d->lookup_data, sname);
    if (h == NULL) {
        error_reply(d, req, 404, "unknown stream\n");
        return 0;
    }
    hls_stream_t *s = attach(d, h);
    if (s == NULL)
        return CC_ENOMEM;

    /* Headers must be read before a request is parked (docs/http.md). */
    bool gzip = (kind == CC_LLHLS_URI_MEDIA || kind == CC_LLHLS_URI_MULTIVARIANT) &&
                cc_hls_accepts_gzip(cc_http_req_header(req, "accept-encoding"));
    int r;
    switch (kind) {
    case CC_LLHLS_URI_MULTIVARIANT: {
        int err = 0;
        if (playlist(s, true, 0, gzip, &err) == NULL)
            return err == CC_EAGAIN ? hold(s, req, HELD_MULTIVARIANT, NULL, 0, gzip) : err;
        return send_playlist(s, req, true, NULL, gzip, false);
    }
    case CC_LLHLS_URI_MEDIA: {
        cc_llhls_query_t q;
        if (cc_llhls_query_parse(cc_http_req_query(req, "_HLS_msn"), cc_http_req_query(req, "_HLS_part"),
                                 cc_http_req_query(req, "_HLS_skip"), &q) < 0) {
            error_reply(d, req, 400, "malformed delivery directive\n");
            return 0;
        }
        switch (cc_llhls_decide(h, &q)) {
        case CC_LLHLS_BAD_REQUEST:
            error_reply(d, req, 400, "delivery directive out of range\n");
            return 0;
        case CC_LLHLS_HOLD:
            return hold(s, req, HELD_MEDIA, &q, 0, gzip);
        case CC_LLHLS_ANSWER:
            break;
        }
        r = send_playlist(s, req, false, &q, gzip, false);
        if (r == CC_EAGAIN) /* ended before any part: nothing will come */
            error_reply(d, req, 404, "stream has no media\n");
        return r == CC_EAGAIN ? 0 : r;
    }
    case CC_LLHLS_URI_INIT:
    case CC_LLHLS_URI_SEGMENT: {
        cc_buf_t *b = kind == CC_LLHLS_URI_INIT ? cc_llhls_get_init(h, number) : cc_llhls_get_segment(h, number);
        if (b == NULL) {
            error_reply(d, req, 404, "not found\n");
            return 0;
        }
        r = send_media(s, req, b, kind, number, false);
        cc_buf_unref(b);
        return r;
    }
    case CC_LLHLS_URI_PART: {
        bool pending = false;
        cc_buf_t *b = cc_llhls_get_part(h, number, &pending);
        if (b == NULL) {
            if (pending)
                return hold(s, req, HELD_PART, NULL, number, false);
            /* 6.2.6: not found and not hinted -> 404 */
            error_reply(d, req, 404, "not found\n");
            return 0;
        }
        r = send_media(s, req, b, kind, number, false);
        cc_buf_unref(b);
        return r;
    }
    }
    return CC_EINVAL;
}

/* ---- lifetime ---- */

cc_hls_delivery_t *cc_hls_delivery_new(uv_loop_t *loop, cc_hls_lookup_fn lookup, void *lookup_data)
{
    if (loop == NULL || lookup == NULL)
        return NULL;
    cc_hls_delivery_t *d = calloc(1, sizeof(*d));
    uv_timer_t *t = malloc(sizeof(*t));
    if (d == NULL || t == NULL || uv_timer_init(loop, t) < 0) {
        free(d);
        free(t);
        return NULL;
    }
    t->data = d;
    d->timer = t;
    d->loop = loop;
    d->lookup = lookup;
    d->lookup_data = lookup_data;
    const char *st = getenv("CARTCAST_BENCH_STAMPS");
    d->stamps = st != NULL && strcmp(st, "1") == 0;
    return d;
}

void cc_hls_delivery_quiet(cc_hls_delivery_t *d, cc_llhls_t *h, bool quiet)
{
    for (hls_stream_t *s = d->streams; s; s = s->next)
        if (s->h == h) {
            s->quiet = quiet;
            if (!quiet)
                on_model_event(h, CC_LLHLS_EV_UPDATE, s);
            return;
        }
}

cc_http_route_t cc_hls_delivery_route(cc_hls_delivery_t *d)
{
    cc_http_route_t r = {"GET", PREFIX, handle_live, d};
    return r;
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data); /* the delivery object */
    free(h);
}

void cc_hls_delivery_free(cc_hls_delivery_t *d)
{
    if (d == NULL)
        return;
    while (d->streams) {
        hls_stream_t *s = d->streams;
        cc_llhls_set_listener(s->h, NULL, NULL);
        stream_free(s, 503, "server shutting down\n");
    }
    uv_timer_stop(d->timer);
    uv_close((uv_handle_t *)d->timer, timer_closed);
}

void cc_hls_delivery_set_headers_hook(cc_hls_delivery_t *d, cc_hls_headers_fn fn, void *data)
{
    d->headers_fn = fn;
    d->headers_data = fn ? data : NULL;
}

void cc_hls_delivery_stats(const cc_hls_delivery_t *d, cc_hls_stats_t *out)
{
    *out = d->st;
}
