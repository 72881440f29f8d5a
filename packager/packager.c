/* Hub frames -> CMAF parts -> cc_llhls_t.  See packager.h for the rules. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "packager/fmp4.h"
#include "packager/packager.h"
#include "packager/record.h"

/* A part holds at most this many frames per track: 200 ms of 240 fps video,
 * or of 96 kHz AAC, is far below it.  Past it the part is closed early. */
#define PART_FRAMES_MAX 256
/* Audio waiting for the video part it belongs to: a few seconds' worth. */
#define AUDIO_PENDING_MAX 512
#define FRAGMENT_MAX (32u << 20)
#define VIDEO_TIMESCALE 90000

typedef struct held_frame {
    int64_t t_ms;   /* on the stream's continuous media timeline */
    int64_t cts_ms; /* pts - dts */
    uint32_t dur_ms;
    bool key;
    cc_buf_t *buf;
    const uint8_t *data;
    uint32_t len;
} held_frame_t;

typedef struct frame_queue {
    held_frame_t *items;
    size_t n, cap;
} frame_queue_t;

typedef struct pkg_stream pkg_stream_t;

struct cc_packager {
    uv_loop_t *loop;
    cc_hub_t *hub;
    cc_packager_config_t cfg;
    cc_hub_listener_t listener;
    pkg_stream_t *streams;
};

struct pkg_stream {
    cc_packager_t *p;
    pkg_stream_t *next;
    char name[CC_STREAM_NAME_MAX + 1];
    cc_llhls_t *hls;
    cc_subscriber_t sub;
    cc_stream_t *live; /* NULL while no publisher */
    uv_timer_t timer;  /* grace, then linger */
    bool ended;
    cc_packager_stats_t stats;
    cc_record_t *rec;

    /* The current publish. */
    bool begun;           /* init written, packaging */
    int vtrack, atrack;   /* hub track indices, -1 when absent */
    cc_track_t vt, at;    /* the configurations the init was written for */
    int64_t pub_base_dts; /* the publish's first packaged DTS (its first keyframe) */
    int64_t pub_base_t;   /* ... and where that sits on the continuous timeline */
    uint64_t pub_wall_ms; /* wall clock when that keyframe arrived: PDT = pub_wall_ms + (t - pub_base_t) */
    double avg_frame_ms;
    uint32_t part_target_ms; /* PART-TARGET as advertised: a whole number of frames, see make_hls() */

    /* Continuous timeline across publishes: the next publish starts here. */
    int64_t timeline_end_t;

    held_frame_t last_video; /* waits for the next video frame to know its duration */
    bool has_last_video;
    frame_queue_t part_video, audio;
    int64_t part_start_t;
    uint32_t part_dur_ms;
    bool part_new_segment, part_independent;
    uint32_t seg_dur_ms;
    uint32_t fragment_seq;
    uint64_t audio_next_ts; /* in the audio timescale; keeps AAC sample-exact across parts */
    bool audio_ts_valid;

    /* The open segment: where it starts, its PDT and the init it maps. */
    int64_t seg_start_t, seg_pdt_ms;
    cc_buf_t *init, *seg_init;

    /* Bandwidth of the variant, measured over finished segments. */
    uint64_t seg_bytes, peak_bps, total_bytes;
    uint64_t total_ms;
};

static void stream_free_cb(uv_handle_t *h);
static void arm_grace(pkg_stream_t *s);

void cc_packager_config_default(cc_packager_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cc_llhls_config_default(&cfg->hls);
    cfg->grace_ms = 10000;
    cfg->linger_ms = 60000;
}

/* ---- frame queues: bounded, each entry holds a buffer reference ---- */

static int queue_push(frame_queue_t *q, const held_frame_t *f, size_t max)
{
    if (q->n == max)
        return CC_ELIMIT;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        held_frame_t *items = realloc(q->items, cap * sizeof(*items));
        if (items == NULL)
            return CC_ENOMEM;
        q->items = items;
        q->cap = cap;
    }
    q->items[q->n++] = *f;
    cc_buf_ref(f->buf);
    return 0;
}

/* Drops the first n entries. */
static void queue_shift(frame_queue_t *q, size_t n)
{
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        cc_buf_unref(q->items[i].buf);
    memmove(q->items, q->items + n, (q->n - n) * sizeof(*q->items));
    q->n -= n;
}

static void queue_free(frame_queue_t *q)
{
    queue_shift(q, q->n);
    free(q->items);
    q->items = NULL;
    q->cap = 0;
}

/* ---- parts ---- */

static uint64_t audio_ts_of(const pkg_stream_t *s, int64_t t_ms)
{
    return t_ms <= 0 ? 0 : (uint64_t)t_ms * s->at.sample_rate / 1000u;
}

/* segment_ms > 0: a segment of that length and s->seg_bytes just finished.
 * provisional_bps: the rate to advertise while no segment has been measured. */
static void update_variant(pkg_stream_t *s, uint32_t segment_ms, uint64_t provisional_bps);

/* The segment msn has just been closed by the playlist (a new one started,
 * or the stream ended): measure it and record it. */
static void segment_closed(pkg_stream_t *s, uint64_t msn, uint32_t duration_ms)
{
    s->stats.segments++;
    update_variant(s, duration_ms, 0);
    if (s->rec) {
        cc_buf_t *seg = cc_llhls_get_segment(s->hls, msn);
        cc_record_segment(s->rec, seg, msn, duration_ms, s->seg_pdt_ms, s->seg_init);
        cc_buf_unref(seg);
    }
}

/* Writes the open part (its video frames and the audio up to its end) as one
 * fragment and hands it to the playlist.  final: the publish is over, so every
 * pending audio frame goes in. */
static void close_part(pkg_stream_t *s, bool final)
{
    if (s->part_video.n == 0 && !(final && s->audio.n > 0 && s->vtrack < 0))
        return;
    int64_t part_end_t = s->part_start_t + s->part_dur_ms;

    cc_fmp4_sample_t vs[PART_FRAMES_MAX], as[PART_FRAMES_MAX];
    cc_fmp4_run_t runs[2];
    size_t nruns = 0, nv = s->part_video.n, na = 0;
    for (size_t i = 0; i < nv; i++) {
        const held_frame_t *f = &s->part_video.items[i];
        vs[i] = (cc_fmp4_sample_t){.duration = f->dur_ms * (VIDEO_TIMESCALE / 1000),
                                   .cts_offset = (int32_t)(f->cts_ms * (VIDEO_TIMESCALE / 1000)),
                                   .keyframe = f->key, .data = f->data, .size = f->len};
    }
    if (nv > 0)
        runs[nruns++] = (cc_fmp4_run_t){.track_id = 1,
                                        .base_dts = (uint64_t)s->part_video.items[0].t_ms * (VIDEO_TIMESCALE / 1000),
                                        .samples = vs, .nsamples = nv};
    if (s->atrack >= 0) {
        while (na < s->audio.n && na < PART_FRAMES_MAX && (final || s->audio.items[na].t_ms < part_end_t))
            na++;
        if (na > 0) {
            /* AAC frames are 1024 samples whatever the millisecond timestamps say;
             * follow the sender's clock only when it drifts by more than 100 ms. */
            uint64_t ideal = audio_ts_of(s, s->audio.items[0].t_ms);
            uint64_t slack = s->at.sample_rate / 10;
            if (!s->audio_ts_valid || (ideal > s->audio_next_ts + slack) || (ideal + slack < s->audio_next_ts))
                s->audio_next_ts = ideal;
            s->audio_ts_valid = true;
            uint32_t frame_samples = s->at.codec == CC_CODEC_AAC ? 1024 : 0;
            for (size_t i = 0; i < na; i++) {
                const held_frame_t *f = &s->audio.items[i];
                uint32_t d = frame_samples;
                if (d == 0) /* no fixed frame size: use the timestamps */
                    d = (uint32_t)(i + 1 < na ? audio_ts_of(s, s->audio.items[i + 1].t_ms) - audio_ts_of(s, f->t_ms)
                                              : (uint32_t)(s->at.sample_rate / 50));
                as[i] = (cc_fmp4_sample_t){.duration = d, .keyframe = true, .data = f->data, .size = f->len};
            }
            runs[nruns++] = (cc_fmp4_run_t){.track_id = 2, .base_dts = s->audio_next_ts, .samples = as, .nsamples = na};
            for (size_t i = 0; i < na; i++)
                s->audio_next_ts += as[i].duration;
        }
    }

    cc_dynbuf_t d;
    cc_dynbuf_init(&d, FRAGMENT_MAX);
    int r = cc_fmp4_write_fragment(++s->fragment_seq, runs, nruns, &d);
    cc_buf_t *part = r == 0 ? cc_dynbuf_take(&d) : NULL;
    cc_dynbuf_free(&d);
    if (part == NULL) {
        cc_log_error("packager.part", "stream=%s error=%s", s->name, cc_strerror(r < 0 ? r : CC_ENOMEM));
    } else {
        int64_t pdt_ms = (int64_t)s->pub_wall_ms + (s->part_start_t - s->pub_base_t);
        bool new_segment = s->part_new_segment;
        cc_llhls_edge_t edge;
        cc_llhls_live_edge(s->hls, &edge);
        double dur = nv > 0 ? (double)s->part_dur_ms : (double)na * 1024 * 1000 / s->at.sample_rate;
        r = cc_llhls_add_part(s->hls, part, dur, s->part_independent, new_segment, pdt_ms);
        if (r < 0) {
            cc_log_error("packager.part", "stream=%s error=%s", s->name, cc_strerror(r));
        } else {
            s->stats.parts++;
            s->stats.bytes += part->len;
            if (new_segment) {
                if (edge.has_part)
                    segment_closed(s, edge.msn, (uint32_t)(s->part_start_t - s->seg_start_t));
                s->seg_start_t = s->part_start_t;
                s->seg_pdt_ms = pdt_ms;
                cc_buf_unref(s->seg_init);
                s->seg_init = cc_buf_ref(s->init);
            }
            s->seg_bytes += part->len;
            /* Until the first segment is measured, advertise the open segment's rate
             * so far rather than nothing (players pick their first variant by it). */
            if (s->peak_bps == 0 && part_end_t > s->seg_start_t)
                update_variant(s, 0, s->seg_bytes * 8000u / (uint64_t)(part_end_t - s->seg_start_t));
        }
        cc_buf_unref(part);
    }
    queue_shift(&s->part_video, nv);
    queue_shift(&s->audio, na);
    s->part_start_t = part_end_t;
    s->part_dur_ms = 0;
    s->part_new_segment = false;
    s->part_independent = false;
}

static void update_variant(pkg_stream_t *s, uint32_t segment_ms, uint64_t provisional_bps)
{
    if (segment_ms > 0) {
        uint64_t bps = s->seg_bytes * 8000u / segment_ms;
        if (bps > s->peak_bps)
            s->peak_bps = bps;
        s->total_bytes += s->seg_bytes;
        s->total_ms += segment_ms;
        s->seg_bytes = 0;
    }
    cc_llhls_variant_t v;
    memset(&v, 0, sizeof(v));
    /* Recompute the static fields too: cheap, and keeps one place that fills them. */
    char vc[64] = "", ac[64] = "";
    if (s->vtrack >= 0)
        cc_track_codecs_string(&s->vt, vc, sizeof(vc));
    if (s->atrack >= 0)
        cc_track_codecs_string(&s->at, ac, sizeof(ac));
    snprintf(v.codecs, sizeof(v.codecs), "%s%s%s", vc, vc[0] && ac[0] ? "," : "", ac);
    v.width = s->vt.width;
    v.height = s->vt.height;
    v.frame_rate = s->vt.frame_rate > 0 ? s->vt.frame_rate : (s->avg_frame_ms > 0 ? 1000.0 / s->avg_frame_ms : 0);
    v.bandwidth = s->peak_bps ? s->peak_bps : provisional_bps;
    v.average_bandwidth = s->total_ms ? s->total_bytes * 8000u / s->total_ms : v.bandwidth;
    cc_llhls_set_variant(s->hls, &v);
}

/* ---- publish start: the init section ---- */

/* The playlist state is made at the first publish that packages, when the
 * frame rate is known: PART-TARGET becomes a whole number of frames (plus 1 ms
 * for millisecond timestamp rounding), so that parts of 29.97 fps video
 * (6 frames = 200.2 ms) neither exceed PART-TARGET nor fall under 85% of it.
 * TARGETDURATION and PART-TARGET never change afterwards. */
static int make_hls(pkg_stream_t *s)
{
    cc_llhls_config_t cfg = s->p->cfg.hls;
    double fps = s->vtrack >= 0 ? s->vt.frame_rate : 0;
    if (fps >= 1 && fps <= 240) {
        double frame_ms = 1000.0 / fps;
        double frames = floor(cfg.part_target_ms / frame_ms + 0.5);
        if (frames < 1)
            frames = 1;
        cfg.part_target_ms = (uint32_t)ceil(frames * frame_ms + 1.0);
    }
    s->part_target_ms = cfg.part_target_ms;
    s->hls = cc_llhls_new(&cfg);
    return s->hls ? 0 : CC_ENOMEM;
}

static int begin_publish(pkg_stream_t *s, const cc_frame_t *first_key)
{
    if (s->hls == NULL && make_hls(s) < 0)
        return CC_ENOMEM;
    cc_fmp4_track_t tracks[2];
    size_t n = 0;
    if (s->vtrack >= 0)
        tracks[n++] = (cc_fmp4_track_t){.track_id = 1, .timescale = VIDEO_TIMESCALE, .track = &s->vt};
    if (s->atrack >= 0)
        tracks[n++] = (cc_fmp4_track_t){.track_id = 2, .timescale = s->at.sample_rate, .track = &s->at};
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 1u << 20);
    int r = cc_fmp4_write_init(tracks, n, &d);
    cc_buf_t *init = r == 0 ? cc_dynbuf_take(&d) : NULL;
    cc_dynbuf_free(&d);
    if (init == NULL) {
        cc_log_error("packager.init", "stream=%s error=%s", s->name, cc_strerror(r < 0 ? r : CC_ENOMEM));
        return r < 0 ? r : CC_ENOMEM;
    }
    cc_llhls_variant_t v;
    memset(&v, 0, sizeof(v));
    r = cc_llhls_begin(s->hls, init, &v);
    if (r < 0) {
        cc_buf_unref(init);
        return r;
    }
    cc_buf_unref(s->init);
    s->init = init;
    s->seg_dur_ms = 0;
    s->seg_bytes = 0;
    update_variant(s, 0, 0);
    s->begun = true;
    s->ended = false;
    s->pub_base_dts = first_key->dts;
    s->pub_base_t = s->timeline_end_t;
    s->pub_wall_ms = first_key->arrival_us / 1000u;
    s->part_start_t = s->pub_base_t;
    s->part_dur_ms = 0;
    s->part_new_segment = true;
    s->part_independent = true;
    s->audio_ts_valid = false;
    s->stats.publishes++;
    cc_log_info("packager.begin", "stream=%s publish=%u video=%s audio=%s", s->name, s->stats.publishes,
                s->vtrack >= 0 ? cc_codec_name(s->vt.codec) : "none",
                s->atrack >= 0 ? cc_codec_name(s->at.codec) : "none");
    return 0;
}

/* The publish is over (or its codecs changed): flush what is held. */
static void finish_publish(pkg_stream_t *s)
{
    if (!s->begun)
        return;
    if (s->has_last_video) {
        held_frame_t *f = &s->last_video;
        f->dur_ms = s->avg_frame_ms > 0 ? (uint32_t)lrint(s->avg_frame_ms) : 33;
        if (s->part_dur_ms + f->dur_ms > s->part_target_ms)
            close_part(s, false);
        queue_push(&s->part_video, f, PART_FRAMES_MAX);
        s->part_dur_ms += f->dur_ms;
        s->seg_dur_ms += f->dur_ms;
        cc_buf_unref(f->buf);
        s->has_last_video = false;
    }
    close_part(s, true);
    s->timeline_end_t = s->part_start_t;
    queue_shift(&s->audio, s->audio.n);
    s->begun = false;
}

/* ---- hub hooks ---- */

static void on_track(cc_subscriber_t *sub, cc_stream_t *st, int index)
{
    pkg_stream_t *s = sub->data;
    const cc_track_t *t = cc_stream_track(st, index);
    cc_track_t *mine = t->kind == CC_MEDIA_VIDEO ? &s->vt : &s->at;
    int *slot = t->kind == CC_MEDIA_VIDEO ? &s->vtrack : &s->atrack;
    bool same = *slot == index && mine->config && t->config && mine->config->len == t->config->len &&
                memcmp(mine->config->data, t->config->data, t->config->len) == 0 && mine->codec == t->codec;
    if (same)
        return;
    if (s->begun) {
        /* New codec configuration mid-publish: a new init section and a discontinuity. */
        cc_log_info("packager.reconfigure", "stream=%s track=%d", s->name, index);
        finish_publish(s);
    }
    cc_track_clear(mine);
    cc_track_copy(mine, t);
    *slot = index;
}

static void on_frame(cc_subscriber_t *sub, cc_stream_t *st, const cc_frame_t *f)
{
    pkg_stream_t *s = sub->data;
    bool is_video = f->track == s->vtrack;
    if (!is_video && f->track != s->atrack)
        return;
    if (!s->begun) {
        /* Start on a video keyframe (or on any audio frame for an audio-only stream). */
        bool can_start = is_video ? f->keyframe : s->vtrack < 0;
        if (!can_start || (s->atrack >= 0 && s->at.sample_rate == 0)) {
            s->stats.frames_dropped++;
            return;
        }
        if (begin_publish(s, f) < 0) {
            s->stats.frames_dropped++;
            return;
        }
    }
    int64_t t = s->pub_base_t + (f->dts - s->pub_base_dts);
    if (t < s->pub_base_t) { /* audio from before the first keyframe */
        s->stats.frames_dropped++;
        return;
    }
    held_frame_t h = {.t_ms = t, .cts_ms = f->pts - f->dts, .key = f->keyframe, .buf = f->buf, .data = f->data,
                      .len = f->len};
    if (!is_video) {
        if (queue_push(&s->audio, &h, AUDIO_PENDING_MAX) < 0)
            s->stats.frames_dropped++;
        if (s->vtrack < 0) { /* audio-only: parts by audio duration */
            s->part_dur_ms = (uint32_t)(t - s->part_start_t);
            if (s->part_dur_ms + 23 > s->part_target_ms)
                close_part(s, true);
        }
        return;
    }

    if (!s->has_last_video) {
        s->last_video = h;
        cc_buf_ref(h.buf);
        s->has_last_video = true;
        return;
    }
    held_frame_t *last = &s->last_video;
    int64_t d = t - last->t_ms;
    last->dur_ms = d > 0 ? (uint32_t)(d < 10000 ? d : 10000) : 1;
    s->avg_frame_ms = s->avg_frame_ms > 0 ? s->avg_frame_ms * 0.9 + last->dur_ms * 0.1 : last->dur_ms;
    const cc_llhls_config_t *hc = &s->p->cfg.hls;
    const uint32_t part_target = s->part_target_ms;

    /* The held frame would overflow the part: close the part before it. */
    if (s->part_video.n > 0 && s->part_dur_ms + last->dur_ms > part_target)
        close_part(s, false);
    if (queue_push(&s->part_video, last, PART_FRAMES_MAX) < 0) {
        close_part(s, false);
        queue_push(&s->part_video, last, PART_FRAMES_MAX);
    }
    s->part_dur_ms += last->dur_ms;
    s->seg_dur_ms += last->dur_ms;
    cc_buf_unref(last->buf);

    /* Now decide whether the new frame f starts a new part or segment. */
    bool seg_due_key = f->keyframe && s->seg_dur_ms + part_target / 2 >= hc->segment_target_ms;
    bool part_full = s->part_dur_ms + s->avg_frame_ms > part_target;
    if (seg_due_key || part_full) {
        bool new_segment = seg_due_key || s->seg_dur_ms >= hc->segment_target_ms;
        close_part(s, false);
        if (new_segment)
            s->seg_dur_ms = 0;
        s->part_new_segment = new_segment;
        s->part_independent = f->keyframe;
    }
    *last = h;
    cc_buf_ref(h.buf);
}

static void on_end(cc_subscriber_t *sub, cc_stream_t *st)
{
    pkg_stream_t *s = sub->data;
    finish_publish(s);
    s->live = NULL;
    s->vtrack = s->atrack = -1;
    cc_track_clear(&s->vt);
    cc_track_clear(&s->at);
    cc_log_info("packager.publisher_gone", "stream=%s grace_ms=%u", s->name, s->p->cfg.grace_ms);
    arm_grace(s);
}

/* ---- lifetime: grace -> ENDLIST -> linger -> free ---- */

static void stream_destroy(pkg_stream_t *s)
{
    cc_packager_t *p = s->p;
    for (pkg_stream_t **pp = &p->streams; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    if (s->live)
        cc_stream_unsubscribe(s->live, &s->sub);
    if (s->has_last_video)
        cc_buf_unref(s->last_video.buf);
    queue_free(&s->part_video);
    queue_free(&s->audio);
    cc_track_clear(&s->vt);
    cc_track_clear(&s->at);
    cc_buf_unref(s->init);
    cc_buf_unref(s->seg_init);
    cc_record_free(s->rec);
    if (s->hls)
        cc_llhls_free(s->hls);
    uv_close((uv_handle_t *)&s->timer, stream_free_cb);
}

static void stream_free_cb(uv_handle_t *h)
{
    free(h->data);
}

static void on_linger_done(uv_timer_t *t)
{
    pkg_stream_t *s = t->data;
    cc_log_info("packager.free", "stream=%s", s->name);
    stream_destroy(s);
}

static void on_grace_done(uv_timer_t *t)
{
    pkg_stream_t *s = t->data;
    if (s->hls == NULL) { /* never packaged anything */
        stream_destroy(s);
        return;
    }
    cc_llhls_edge_t edge;
    cc_llhls_live_edge(s->hls, &edge);
    cc_llhls_end(s->hls); /* closes the open segment */
    if (edge.has_part && s->timeline_end_t > s->seg_start_t)
        segment_closed(s, edge.msn, (uint32_t)(s->timeline_end_t - s->seg_start_t));
    cc_record_end(s->rec);
    s->ended = true;
    cc_log_info("packager.endlist", "stream=%s linger_ms=%u", s->name, s->p->cfg.linger_ms);
    uv_timer_start(&s->timer, on_linger_done, s->p->cfg.linger_ms, 0);
}

static void arm_grace(pkg_stream_t *s)
{
    uv_timer_start(&s->timer, on_grace_done, s->p->cfg.grace_ms, 0);
}

static pkg_stream_t *find_stream(cc_packager_t *p, const char *name)
{
    for (pkg_stream_t *s = p->streams; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static void on_publish(cc_hub_listener_t *l, cc_stream_t *st)
{
    cc_packager_t *p = l->data;
    pkg_stream_t *s = find_stream(p, cc_stream_name(st));
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            cc_log_error("packager.publish", "stream=%s error=%s", cc_stream_name(st), cc_strerror(CC_ENOMEM));
            free(s);
            return;
        }
        s->p = p;
        snprintf(s->name, sizeof(s->name), "%s", cc_stream_name(st));
        uv_timer_init(p->loop, &s->timer);
        s->timer.data = s;
        if (p->cfg.record_dir)
            s->rec = cc_record_new(p->loop, p->cfg.record_dir, s->name);
        s->next = p->streams;
        p->streams = s;
    }
    uv_timer_stop(&s->timer);
    s->live = st;
    s->vtrack = s->atrack = -1;
    s->has_last_video = false;
    s->sub = (cc_subscriber_t){.on_track = on_track, .on_frame = on_frame, .on_end = on_end, .data = s};
    cc_stream_subscribe(st, &s->sub);
}

int cc_packager_new(uv_loop_t *loop, cc_hub_t *hub, const cc_packager_config_t *cfg, cc_packager_t **out)
{
    cc_packager_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return CC_ENOMEM;
    p->loop = loop;
    p->hub = hub;
    p->cfg = *cfg;
    p->listener.on_publish = on_publish;
    p->listener.data = p;
    cc_hub_add_listener(hub, &p->listener);
    *out = p;
    return 0;
}

void cc_packager_free(cc_packager_t *p)
{
    cc_hub_remove_listener(p->hub, &p->listener);
    while (p->streams)
        stream_destroy(p->streams);
    free(p);
}

cc_llhls_t *cc_packager_find(cc_packager_t *p, const char *name)
{
    pkg_stream_t *s = find_stream(p, name);
    return s ? s->hls : NULL;
}

int cc_packager_stats(cc_packager_t *p, const char *name, cc_packager_stats_t *out)
{
    pkg_stream_t *s = find_stream(p, name);
    if (s == NULL)
        return CC_ENOENT;
    *out = s->stats;
    return 0;
}
