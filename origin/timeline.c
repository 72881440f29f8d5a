/* The origin's timeline publisher and cue consumer (see timeline.h).
 *
 * Ownership: one tl_stream_t per stream name the hub has seen published; it
 * lives while the packager has a playlist for the name (looked up by name at
 * every tick, never kept: the packager frees playlists after their linger
 * time).  A stream with a Redis command in flight is kept until the reply
 * (its busy count), so callbacks never see freed memory. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "cue.h"
#include "origin/timeline.h"

#define TICK_MS 20           /* how often live edges are checked: parts are >= 100 ms apart */
#define BLOCK_MS 500

typedef struct cc_timeline cc_timeline_t;

typedef struct tl_stream {
    struct tl_stream *next;
    cc_timeline_t *t;
    char name[65];
    char k_live[96], k_cues[96], k_active[96];
    char last_id[48];
    cc_llhls_t *model;   /* the playlist the cues were loaded into (compared, never dereferenced when stale) */
    uint64_t part_seq;   /* last published */
    bool published, ended, announced, loaded, loading, gone, hset_busy, dirty;
    int busy;            /* commands in flight referencing this */
    int64_t start_pdt_ms;
} tl_stream_t;

struct cc_timeline {
    uv_loop_t *loop;
    cc_hub_t *hub;
    cc_packager_t *packager;
    cc_hub_listener_t listener;
    cc_redis_t *cmd, *blk;
    tl_stream_t *streams;
    uv_timer_t tick, retry, stop_timer;
    bool reading, stopping;
    int stop_pending;
    uint64_t edges, cues_added, cues_ended, cue_errors, redis_errors;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static tl_stream_t *find(cc_timeline_t *t, const char *name)
{
    for (tl_stream_t *s = t->streams; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static void on_publish(cc_hub_listener_t *l, cc_stream_t *st)
{
    cc_timeline_t *t = l->data;
    const char *name = cc_stream_name(st);
    tl_stream_t *s = find(t, name);
    if (s) {
        s->gone = false;
        return;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return;
    s->t = t;
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->k_live, sizeof(s->k_live), "cc:{stream:%s}:live", name);
    snprintf(s->k_cues, sizeof(s->k_cues), "cc:{stream:%s}:cues", name);
    snprintf(s->k_active, sizeof(s->k_active), "cc:{stream:%s}:active", name);
    snprintf(s->last_id, sizeof(s->last_id), "0-0");
    s->next = t->streams;
    t->streams = s;
}

/* Drops a command's hold on s; a stream whose playlist is gone is freed
 * with its last hold (never during teardown: stop frees what is left). */
static void stream_release(tl_stream_t *s)
{
    cc_timeline_t *t = s->t;
    if (--s->busy > 0 || !s->gone || t->stopping)
        return;
    for (tl_stream_t **pp = &t->streams; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    free(s);
}

/* ---- cues -> EXT-X-DATERANGE ----------------------------------------------------- */

static void add_cue(cc_timeline_t *t, tl_stream_t *s, cc_llhls_t *h, const char *json, size_t len)
{
    json_t *cue = json_loadb(json, len, 0, NULL);
    cc_llhls_daterange_t dr;
    cc_cue_dr_storage_t st;
    int rc = cue ? cc_cue_daterange(cue, &dr, &st) : CC_EINVAL;
    if (rc == 0)
        rc = cc_llhls_daterange_add(h, &dr);
    if (rc == 0) {
        t->cues_added++;
        cc_log_info("timeline.daterange", "stream=%s id=%s class=%s start_ms=%" PRId64, s->name, st.id, st.class_name,
                    dr.start_ms);
    } else if (rc != CC_EBUSY) { /* EBUSY: already there (loaded and read) */
        t->cue_errors++;
        cc_log_warn("timeline.daterange_failed", "stream=%s id=%s err=%s", s->name, st.id[0] ? st.id : "?",
                    cc_err_name(rc));
    }
    json_decref(cue);
}

static void end_cue(cc_timeline_t *t, tl_stream_t *s, cc_llhls_t *h, const char *id, int64_t end_ms)
{
    int rc = cc_llhls_daterange_end(h, id, end_ms);
    if (rc == 0)
        t->cues_ended++;
    else if (rc != CC_ENOENT) {
        t->cue_errors++;
        cc_log_warn("timeline.daterange_end_failed", "stream=%s id=%s err=%s", s->name, id, cc_err_name(rc));
    }
}


static void read_kick(cc_timeline_t *t);

static void on_retry(uv_timer_t *h) { read_kick(h->data); }

static void on_loaded(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    tl_stream_t *s = data;
    cc_timeline_t *t = s->t;
    s->loading = false;
    if (!t->stopping && !s->gone) {
        cc_llhls_t *h = cc_packager_find(t->packager, s->name);
        if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING) {
            t->redis_errors++;
            cc_log_warn("timeline.load_failed", "stream=%s err=\"%s\"", s->name, cc_redis_status_str(status, reply));
        } else if (h != NULL) {
            snprintf(s->last_id, sizeof(s->last_id), "%s", reply->element[0]->str);
            const redisReply *active = reply->element[1];
            for (size_t i = 0; active->type == REDIS_REPLY_ARRAY && i + 1 < active->elements; i += 2)
                add_cue(t, s, h, active->element[i + 1]->str, active->element[i + 1]->len);
            s->model = h;
            s->loaded = true;
            read_kick(t);
        }
    }
    stream_release(s);
}

/* Active cues and where the cue stream ends, in one atomic step, so that the
 * XREAD that follows misses nothing and repeats nothing (repeats would be
 * refused anyway: an ID is never reused). */
static void load(cc_timeline_t *t, tl_stream_t *s)
{
    static const char script[] = "local l = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)\n"
                                 "local id = '0-0'\n"
                                 "if #l > 0 then id = l[1][1] end\n"
                                 "return {id, redis.call('HGETALL', KEYS[2])}";
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, script);
    cc_redis_args_add(&a, "2");
    cc_redis_args_add(&a, s->k_cues);
    cc_redis_args_add(&a, s->k_active);
    if (cc_redis_send(t->cmd, &a, on_loaded, s) == 0) {
        s->loading = true;
        s->busy++;
    }
}

static const char *fstr(const redisReply *fv, const char *name, size_t *len)
{
    for (size_t i = 0; fv->type == REDIS_REPLY_ARRAY && i + 1 < fv->elements; i += 2) {
        if (fv->element[i]->type == REDIS_REPLY_STRING && strcmp(fv->element[i]->str, name) == 0 &&
            fv->element[i + 1]->type == REDIS_REPLY_STRING) {
            if (len)
                *len = fv->element[i + 1]->len;
            return fv->element[i + 1]->str;
        }
    }
    return NULL;
}

static void on_read(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    cc_timeline_t *t = data;
    t->reading = false;
    if (t->stopping)
        return;
    if (status < 0) {
        if (status != CC_ECLOSED)
            t->redis_errors++;
        uv_timer_start(&t->retry, on_retry, 200, 0);
        return;
    }
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        const redisReply *sr = reply->element[i];
        if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 || sr->element[0]->type != REDIS_REPLY_STRING)
            continue;
        tl_stream_t *s = NULL;
        for (tl_stream_t *x = t->streams; x; x = x->next)
            if (strcmp(x->k_cues, sr->element[0]->str) == 0)
                s = x;
        if (s == NULL || s->gone)
            continue;
        cc_llhls_t *h = cc_packager_find(t->packager, s->name);
        const redisReply *entries = sr->element[1];
        for (size_t k = 0; entries->type == REDIS_REPLY_ARRAY && k < entries->elements; k++) {
            const redisReply *e = entries->element[k];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
                continue;
            snprintf(s->last_id, sizeof(s->last_id), "%s", e->element[0]->str);
            if (h == NULL || h != s->model)
                continue; /* the playlist changed: the tick reloads */
            const char *op = fstr(e->element[1], "op", NULL), *id = fstr(e->element[1], "id", NULL);
            size_t jl = 0;
            const char *cue = fstr(e->element[1], "cue", &jl), *end = fstr(e->element[1], "end_pdt_ms", NULL);
            if (op && strcmp(op, "create") == 0 && cue)
                add_cue(t, s, h, cue, jl);
            else if (op && strcmp(op, "end") == 0 && id && end)
                end_cue(t, s, h, id, strtoll(end, NULL, 10));
        }
    }
    read_kick(t);
}

static void read_kick(cc_timeline_t *t)
{
    if (t->stopping || t->reading || !cc_redis_ready(t->blk))
        return;
    /* One blocking read over the cue streams of every stream with a loaded
     * timeline, however many. */
    size_t n = 0;
    for (tl_stream_t *s = t->streams; s; s = s->next)
        n += s->loaded && !s->gone;
    if (n == 0)
        return; /* the next load kicks again */
    const char **keys = malloc(n * sizeof(*keys));
    const char **ids = malloc(n * sizeof(*ids));
    int rc = CC_ENOMEM;
    if (keys && ids) {
        size_t k = 0;
        for (tl_stream_t *s = t->streams; s; s = s->next) {
            if (s->loaded && !s->gone) {
                keys[k] = s->k_cues;
                ids[k++] = s->last_id;
            }
        }
        rc = cc_redis_xread(t->blk, 0, BLOCK_MS, k, keys, ids, on_read, t);
    }
    free(keys);
    free(ids);
    if (rc == 0)
        t->reading = true;
    else
        uv_timer_start(&t->retry, on_retry, 200, 0);
}

/* ---- live edges -> Redis --------------------------------------------------------- */

static void on_hset(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    tl_stream_t *s = data;
    s->hset_busy = false;
    if (status < 0 && status != UV_ECANCELED) {
        s->t->redis_errors++;
        s->dirty = true; /* publish again at the next tick */
    }
    stream_release(s);
}

static int publish(cc_timeline_t *t, tl_stream_t *s, const cc_llhls_edge_t *e, bool live)
{
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "HSET");
    cc_redis_args_add(&a, s->k_live);
    if (e) {
        cc_redis_args_add(&a, "pdt_ms");
        cc_redis_args_addi(&a, e->pdt_end_ms);
        cc_redis_args_add(&a, "media_ms");
        cc_redis_args_addi(&a, e->pdt_end_ms - s->start_pdt_ms);
        cc_redis_args_add(&a, "start_pdt_ms");
        cc_redis_args_addi(&a, s->start_pdt_ms);
        cc_redis_args_add(&a, "msn");
        cc_redis_args_addi(&a, (long long)e->msn);
        cc_redis_args_add(&a, "part");
        cc_redis_args_addi(&a, e->part);
        cc_redis_args_add(&a, "part_seq");
        cc_redis_args_addi(&a, (long long)e->part_seq);
    }
    cc_redis_args_add(&a, "updated_ms");
    cc_redis_args_addi(&a, now_ms());
    cc_redis_args_add(&a, "live");
    cc_redis_args_add(&a, live ? "1" : "0");
    int rc = cc_redis_send(t->cmd, &a, on_hset, s);
    if (rc < 0)
        return rc;
    s->busy++;
    s->hset_busy = true;
    if (!s->announced) {
        /* the overlay's GET /v1/streams lists announced streams */
        if (cc_redis_command(t->cmd, NULL, NULL, "SADD cc:streams %s", s->name) >= 0)
            s->announced = true;
    }
    return 0;
}

static void on_tick(uv_timer_t *h)
{
    cc_timeline_t *t = h->data;
    if (!cc_redis_ready(t->cmd))
        return;
    for (tl_stream_t *s = t->streams, *next; s; s = next) {
        next = s->next;
        if (s->gone)
            continue;
        cc_llhls_t *m = cc_packager_find(t->packager, s->name);
        if (m == NULL && !s->published && cc_hub_find(t->hub, s->name) != NULL)
            continue; /* published, but the packager has no playlist yet (first keyframe) */
        if (m == NULL) {
            /* the playlist was freed (linger over), or never made: forget it */
            if (s->published && !s->hset_busy)
                publish(t, s, NULL, false);
            s->gone = true;
            s->busy++;
            stream_release(s);
            continue;
        }
        if (m != s->model && !s->loading) {
            /* a new playlist for the name: load the active cues into it */
            s->loaded = false;
            s->model = NULL;
            load(t, s);
        }
        cc_llhls_edge_t e;
        cc_llhls_live_edge(m, &e);
        bool ended = cc_llhls_ended(m);
        if (!e.has_part || s->hset_busy)
            continue;
        if (!s->published || s->start_pdt_ms <= 0 || e.part_seq < s->part_seq)
            s->start_pdt_ms = e.pdt_end_ms; /* first part seen: media time counts from here */
        if (s->published && e.part_seq == s->part_seq && ended == s->ended && !s->dirty)
            continue;
        if (publish(t, s, &e, !ended) == 0) {
            s->published = true;
            s->part_seq = e.part_seq;
            s->ended = ended;
            s->dirty = false;
            t->edges++;
        }
    }
}

static void on_ready(cc_redis_t *r, void *data)
{
    cc_timeline_t *t = data;
    if (r == t->blk) {
        t->reading = false;
        read_kick(t);
    } else {
        for (tl_stream_t *s = t->streams; s; s = s->next) {
            s->dirty = true; /* a restarted Redis gets every edge again */
            s->announced = false;
        }
    }
}

static void on_down(cc_redis_t *r, int err, const char *why, void *data)
{
    cc_timeline_t *t = data;
    cc_log_warn("timeline.redis_down", "conn=%s err=%s why=\"%s\"", cc_redis_name(r), cc_err_name(err), why);
    if (r == t->blk)
        t->reading = false;
}

int cc_timeline_start(uv_loop_t *loop, cc_hub_t *hub, cc_packager_t *packager, const cc_redis_url_t *url,
                      cc_timeline_t **out)
{
    if (loop == NULL || hub == NULL || packager == NULL || url == NULL)
        return CC_EINVAL;
    cc_timeline_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return CC_ENOMEM;
    t->loop = loop;
    t->hub = hub;
    t->packager = packager;
    cc_redis_config_t rc;
    cc_redis_config_default(&rc);
    rc.url = *url;
    rc.client_name = "cartcast-origin";
    rc.on_ready = on_ready;
    rc.on_down = on_down;
    rc.data = t;
    rc.name = "cmd";
    int r = cc_redis_new(loop, &rc, &t->cmd);
    if (r == 0) {
        rc.name = "block";
        rc.ping_interval_ms = 0; /* the XREAD in flight is its own watchdog */
        r = cc_redis_new(loop, &rc, &t->blk);
    }
    if (r < 0) {
        cc_redis_free(t->cmd);
        free(t);
        return r;
    }
    t->listener.on_publish = on_publish;
    t->listener.data = t;
    cc_hub_add_listener(hub, &t->listener);
    uv_timer_init(loop, &t->tick);
    uv_timer_init(loop, &t->retry);
    uv_timer_init(loop, &t->stop_timer);
    t->tick.data = t->retry.data = t->stop_timer.data = t;
    uv_timer_start(&t->tick, on_tick, TICK_MS, TICK_MS);
    *out = t;
    return 0;
}

/* ---- stopping ---------------------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
    cc_timeline_t *t = h->data;
    if (--t->stop_pending == 0)
        free(t);
}

static void finish_stop(cc_timeline_t *t)
{
    cc_redis_free(t->blk); /* pending callbacks run now, with UV_ECANCELED */
    cc_redis_free(t->cmd);
    t->blk = t->cmd = NULL;
    while (t->streams) {
        tl_stream_t *s = t->streams;
        t->streams = s->next;
        free(s);
    }
    t->stop_pending = 3;
    uv_close((uv_handle_t *)&t->tick, on_timer_closed);
    uv_close((uv_handle_t *)&t->retry, on_timer_closed);
    uv_close((uv_handle_t *)&t->stop_timer, on_timer_closed);
}

static void on_stop_timer(uv_timer_t *h) { finish_stop(h->data); }

static void on_final_hset(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    tl_stream_t *s = data;
    cc_timeline_t *t = s->t;
    s->busy--;
    if (status == UV_ECANCELED)
        return; /* finish_stop is already running */
    if (--t->stop_pending == 0) {
        uv_timer_stop(&t->stop_timer);
        finish_stop(t);
    }
}

void cc_timeline_stop(cc_timeline_t *t)
{
    if (t == NULL || t->stopping)
        return;
    t->stopping = true;
    cc_hub_remove_listener(t->hub, &t->listener);
    uv_timer_stop(&t->tick);
    uv_timer_stop(&t->retry);
    /* Tell the overlays the streams are no longer live (a restart of the
     * origin would otherwise leave live=1 until --live-stale-ms passes). */
    t->stop_pending = 0;
    for (tl_stream_t *s = t->streams; s; s = s->next) {
        if (!s->published || !cc_redis_ready(t->cmd))
            continue;
        if (cc_redis_command(t->cmd, on_final_hset, s, "HSET %s live 0 updated_ms %lld", s->k_live,
                             (long long)now_ms()) == 0) {
            s->busy++;
            t->stop_pending++;
        }
    }
    if (t->stop_pending == 0) {
        finish_stop(t);
        return;
    }
    uv_timer_start(&t->stop_timer, on_stop_timer, 300, 0);
}

int cc_timeline_render_metrics(const cc_timeline_t *t, cc_dynbuf_t *out)
{
    int rc = cc_dynbuf_appendf(
        out,
        "# HELP cartcast_timeline_edges_total live edges published to Redis\n"
        "# TYPE cartcast_timeline_edges_total counter\ncartcast_timeline_edges_total %llu\n"
        "# HELP cartcast_timeline_dateranges_total cues written into playlists as EXT-X-DATERANGE\n"
        "# TYPE cartcast_timeline_dateranges_total counter\ncartcast_timeline_dateranges_total %llu\n"
        "# HELP cartcast_timeline_daterange_ends_total cues ended in playlists\n"
        "# TYPE cartcast_timeline_daterange_ends_total counter\ncartcast_timeline_daterange_ends_total %llu\n"
        "# HELP cartcast_timeline_cue_errors_total cues the playlist refused\n"
        "# TYPE cartcast_timeline_cue_errors_total counter\ncartcast_timeline_cue_errors_total %llu\n"
        "# HELP cartcast_timeline_redis_errors_total Redis commands that failed\n"
        "# TYPE cartcast_timeline_redis_errors_total counter\ncartcast_timeline_redis_errors_total %llu\n",
        (unsigned long long)t->edges, (unsigned long long)t->cues_added, (unsigned long long)t->cues_ended,
        (unsigned long long)t->cue_errors, (unsigned long long)t->redis_errors);
    if (rc < 0 || t->cmd == NULL)
        return rc;
    cc_redis_t *clients[2] = {t->cmd, t->blk};
    return cc_redis_render_metrics(clients, 2, "cartcast_timeline_redis", out);
}
