/* Sans-I/O RTMP server session.  See session.h and docs/rtmp.md. */
#include "ingest/rtmp/session.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "ingest/flv.h"
#include "ingest/rtmp/handshake.h"

#define TRACK_VIDEO 0
#define TRACK_AUDIO 1

/* Chunk stream ids we send on, as FMS / nginx-rtmp do. */
#define CSID_CONTROL 2
#define CSID_COMMAND 3
#define CSID_STATUS 5

/* The one message stream createStream hands out. */
#define PUBLISH_STREAM_ID 1

/* AMF values per command message: enough for OBS's onMetaData (~25). */
#define AMF_SLOTS 96
#define CMD_ARGS 8

#define KEY_BUF 512

struct cc_rtmp_session {
    cc_rtmp_session_config_t cfg;
    cc_hub_t *hub;
    cc_auth_t *auth;
    char peer[64];
    cc_rtmp_state_t state;
    int err;
    const char *reason;

    cc_rtmp_handshake_t *hs; /* freed once the handshake is done */
    cc_rtmp_chunk_reader_t rd;
    cc_dynbuf_t out;
    uint32_t out_chunk_size;

    uint64_t last_ack;
    uint32_t peer_window; /* the peer's Window Ack Size: ack every this many bytes; 0 = never */

    cc_stream_t *stream;
    char name[CC_STREAM_NAME_MAX + 1];

    /* Timestamps: RTMP's 32-bit ms extended to 64 bits and rebased to 0. */
    int have_ts;
    uint32_t last_raw;
    int64_t ext, base;
    int64_t last_dts[2];
    int has_track[2];
    int warned_unsupported[2];

    /* onMetaData, used where the sequence header does not tell */
    double md_width, md_height, md_fps;

    cc_rtmp_session_stats_t st;
};

void cc_rtmp_session_config_default(cc_rtmp_session_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cc_rtmp_chunk_limits_default(&cfg->chunk);
    cc_amf0_limits_default(&cfg->amf);
    cfg->out_chunk_size = 4096;
    cfg->window_ack_size = 2500000;
    cfg->peer_bandwidth = 2500000;
    cfg->out_limit = 256 * 1024;
    cfg->app = "live";
}

cc_rtmp_session_t *cc_rtmp_session_new(const cc_rtmp_session_config_t *cfg, cc_hub_t *hub, cc_auth_t *auth,
                                       const char *peer)
{
    cc_rtmp_session_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (cfg)
        s->cfg = *cfg;
    else
        cc_rtmp_session_config_default(&s->cfg);
    if (!s->cfg.app)
        s->cfg.app = "live";
    if (s->cfg.out_chunk_size < 128 || s->cfg.out_chunk_size > 65536)
        s->cfg.out_chunk_size = 4096;
    s->hub = hub;
    s->auth = auth;
    snprintf(s->peer, sizeof(s->peer), "%s", peer ? peer : "-");
    s->hs = malloc(sizeof(*s->hs));
    if (!s->hs) {
        free(s);
        return NULL;
    }
    /* S1/S2 filler only needs to vary, not to be secret. */
    cc_rtmp_handshake_init(s->hs, cc_now_us() ^ (uint64_t)(uintptr_t)s, (uint32_t)cc_mono_ms());
    cc_rtmp_chunk_reader_init(&s->rd, &s->cfg.chunk);
    cc_dynbuf_init(&s->out, s->cfg.out_limit);
    s->out_chunk_size = CC_RTMP_DEFAULT_CHUNK_SIZE;
    s->state = CC_RTMP_STATE_HANDSHAKE;
    s->reason = "";
    return s;
}

static void end_stream(cc_rtmp_session_t *s, const char *why)
{
    if (!s->stream)
        return;
    cc_log_info("rtmp.unpublish", "peer=%s stream=%s reason=%s frames=%llu", s->peer, s->name, why,
                (unsigned long long)s->st.frames);
    cc_stream_end(s->stream);
    s->stream = NULL;
    if (s->state == CC_RTMP_STATE_PUBLISHING)
        s->state = CC_RTMP_STATE_CONNECTED;
}

void cc_rtmp_session_free(cc_rtmp_session_t *s)
{
    if (!s)
        return;
    end_stream(s, "closed");
    free(s->hs);
    cc_rtmp_chunk_reader_free(&s->rd);
    cc_dynbuf_free(&s->out);
    free(s);
}

static int fail(cc_rtmp_session_t *s, int err, const char *reason)
{
    if (s->err == 0) {
        s->err = err;
        s->reason = reason;
        s->state = CC_RTMP_STATE_FAILED;
    }
    return s->err;
}

/* ---- output ---- */

static int send_msg(cc_rtmp_session_t *s, uint32_t csid, uint8_t type, uint32_t stream_id, const uint8_t *body,
                    uint32_t len)
{
    int rc = cc_rtmp_chunk_write(&s->out, s->out_chunk_size, csid, type, stream_id, 0, body, len);
    return rc < 0 ? fail(s, rc, "output_full") : 0;
}

static int send_u32(cc_rtmp_session_t *s, uint8_t type, uint32_t v)
{
    uint8_t b[4];
    cc_wr32(b, v);
    return send_msg(s, CSID_CONTROL, type, 0, b, 4);
}

static int send_user_control(cc_rtmp_session_t *s, uint16_t event, uint32_t v)
{
    uint8_t b[6];
    cc_wr16(b, event);
    cc_wr32(b + 2, v);
    return send_msg(s, CSID_CONTROL, CC_RTMP_MSG_USER_CONTROL, 0, b, 6);
}

/* AMF bodies are built in a small bounded buffer, then chunked into out. */
typedef struct reply {
    cc_dynbuf_t buf;
    cc_amf0_writer_t w;
} reply_t;

static void reply_begin(reply_t *r, const char *name, double txid)
{
    cc_dynbuf_init(&r->buf, 4096);
    r->w.out = &r->buf;
    r->w.err = 0;
    cc_amf0_put_string(&r->w, name);
    cc_amf0_put_number(&r->w, txid);
}

static int reply_send(cc_rtmp_session_t *s, reply_t *r, uint32_t csid, uint32_t stream_id)
{
    int rc = r->w.err ? fail(s, r->w.err, "reply_too_big")
                      : send_msg(s, csid, CC_RTMP_MSG_COMMAND_AMF0, stream_id, r->buf.data, (uint32_t)r->buf.len);
    cc_dynbuf_free(&r->buf);
    return rc;
}

static void put_kv_str(cc_amf0_writer_t *w, const char *k, const char *v)
{
    cc_amf0_put_key(w, k);
    cc_amf0_put_string(w, v);
}

static void put_kv_num(cc_amf0_writer_t *w, const char *k, double v)
{
    cc_amf0_put_key(w, k);
    cc_amf0_put_number(w, v);
}

/* onStatus(0, null, {level, code, description[, details]}) on the publish stream. */
static int send_status(cc_rtmp_session_t *s, uint32_t stream_id, const char *level, const char *code,
                       const char *desc, const char *details)
{
    reply_t r;
    reply_begin(&r, "onStatus", 0);
    cc_amf0_put_null(&r.w);
    cc_amf0_put_object_start(&r.w);
    put_kv_str(&r.w, "level", level);
    put_kv_str(&r.w, "code", code);
    put_kv_str(&r.w, "description", desc);
    if (details)
        put_kv_str(&r.w, "details", details);
    cc_amf0_put_object_end(&r.w);
    return reply_send(s, &r, CSID_STATUS, stream_id);
}

/* _result(txid, null, undefined): the plain acknowledgement of a command. */
static int send_result_empty(cc_rtmp_session_t *s, double txid)
{
    reply_t r;
    reply_begin(&r, "_result", txid);
    cc_amf0_put_null(&r.w);
    cc_amf0_put_undefined(&r.w);
    return reply_send(s, &r, CSID_COMMAND, 0);
}

/* ---- commands ---- */

static int on_connect(cc_rtmp_session_t *s, double txid, const cc_amf0_value_t *cmdobj)
{
    if (s->state != CC_RTMP_STATE_WAIT_CONNECT)
        return fail(s, CC_ESTATE, "connect_twice");
    char app[128];
    const cc_amf0_value_t *appv = cc_amf0_get(cmdobj, "app");
    if (cc_amf0_str_copy(appv, app, sizeof(app)) < 0)
        app[0] = '\0';
    /* "live?token=..." and "live/" both name the app "live". */
    char *q = strchr(app, '?');
    if (q)
        *q = '\0';
    size_t n = strlen(app);
    while (n > 0 && app[n - 1] == '/')
        app[--n] = '\0';
    if (strcmp(app, s->cfg.app) != 0) {
        reply_t r;
        reply_begin(&r, "_error", txid);
        cc_amf0_put_null(&r.w);
        cc_amf0_put_object_start(&r.w);
        put_kv_str(&r.w, "level", "error");
        put_kv_str(&r.w, "code", "NetConnection.Connect.Rejected");
        put_kv_str(&r.w, "description", "Unknown application: publish to rtmp://HOST:1935/live");
        cc_amf0_put_object_end(&r.w);
        reply_send(s, &r, CSID_COMMAND, 0);
        if (s->hub)
            cc_hub_count_rejected(s->hub, "bad_app");
        return fail(s, CC_ENOENT, "bad_app");
    }
    double enc = cc_amf0_num(cc_amf0_get(cmdobj, "objectEncoding"), 0);
    int rc;
    if ((rc = send_u32(s, CC_RTMP_MSG_WINDOW_ACK_SIZE, s->cfg.window_ack_size)) < 0)
        return rc;
    uint8_t bw[5];
    cc_wr32(bw, s->cfg.peer_bandwidth);
    bw[4] = 2; /* dynamic */
    if ((rc = send_msg(s, CSID_CONTROL, CC_RTMP_MSG_SET_PEER_BANDWIDTH, 0, bw, 5)) < 0)
        return rc;
    if ((rc = send_u32(s, CC_RTMP_MSG_SET_CHUNK_SIZE, s->cfg.out_chunk_size)) < 0)
        return rc;
    s->out_chunk_size = s->cfg.out_chunk_size;
    reply_t r;
    reply_begin(&r, "_result", txid);
    cc_amf0_put_object_start(&r.w);
    put_kv_str(&r.w, "fmsVer", "FMS/3,0,1,123");
    put_kv_num(&r.w, "capabilities", 31);
    cc_amf0_put_object_end(&r.w);
    cc_amf0_put_object_start(&r.w);
    put_kv_str(&r.w, "level", "status");
    put_kv_str(&r.w, "code", "NetConnection.Connect.Success");
    put_kv_str(&r.w, "description", "Connection succeeded.");
    put_kv_num(&r.w, "objectEncoding", enc);
    cc_amf0_put_object_end(&r.w);
    if ((rc = reply_send(s, &r, CSID_COMMAND, 0)) < 0)
        return rc;
    s->state = CC_RTMP_STATE_CONNECTED;
    return 0;
}

static void reset_timeline(cc_rtmp_session_t *s)
{
    s->have_ts = 0;
    s->ext = s->base = 0;
    s->last_dts[0] = s->last_dts[1] = 0;
    s->has_track[0] = s->has_track[1] = 0;
    s->md_width = s->md_height = s->md_fps = 0;
}

static int on_publish(cc_rtmp_session_t *s, uint32_t msid, const cc_amf0_value_t *namev)
{
    if (s->state == CC_RTMP_STATE_PUBLISHING)
        return fail(s, CC_ESTATE, "publish_twice");
    /* The publish name is the stream key: it goes to auth and nowhere else. */
    char key[KEY_BUF];
    const char *name = NULL;
    int rc = cc_amf0_str_copy(namev, key, sizeof(key));
    if (rc == 0) {
        char *q = strchr(key, '?'); /* OBS and ffmpeg users append ?params */
        if (q)
            *q = '\0';
        rc = cc_auth_lookup(s->auth, key, &name);
    }
    memset(key, 0, sizeof(key));
    if (rc < 0 || !name) {
        if (s->hub)
            cc_hub_count_rejected(s->hub, "bad_key");
        send_status(s, msid, "error", "NetStream.Publish.Denied", "Publish denied: unknown stream key", NULL);
        return fail(s, CC_EAUTH, "bad_key");
    }
    snprintf(s->name, sizeof(s->name), "%s", name);
    cc_stream_t *st = NULL;
    rc = s->hub ? cc_hub_publish(s->hub, s->name, "rtmp", s->peer, &st) : CC_EINVAL;
    if (rc == CC_EBUSY) {
        cc_hub_count_rejected(s->hub, "busy");
        char desc[128];
        snprintf(desc, sizeof(desc), "Stream %s is already being published", s->name);
        send_status(s, msid, "error", "NetStream.Publish.BadName", desc, NULL);
        return fail(s, CC_EBUSY, "busy");
    }
    if (rc < 0) {
        send_status(s, msid, "error", "NetStream.Publish.Denied", "Publish failed", NULL);
        return fail(s, rc, "hub_publish_failed");
    }
    s->stream = st;
    s->state = CC_RTMP_STATE_PUBLISHING;
    reset_timeline(s);
    cc_log_info("rtmp.publish", "peer=%s stream=%s", s->peer, s->name);
    if ((rc = send_user_control(s, 0 /* StreamBegin */, msid)) < 0)
        return rc;
    char desc[128];
    snprintf(desc, sizeof(desc), "%s is now published.", s->name);
    return send_status(s, msid, "status", "NetStream.Publish.Start", desc, s->name);
}

static int on_command(cc_rtmp_session_t *s, const cc_rtmp_msg_t *msg, const uint8_t *p, size_t len)
{
    cc_amf0_value_t slots[AMF_SLOTS];
    cc_amf0_arena_t a;
    cc_amf0_arena_init(&a, slots, AMF_SLOTS, &s->cfg.amf);
    cc_amf0_value_t *v[CMD_ARGS];
    size_t n;
    int rc = cc_amf0_decode_all(&a, p, len, v, CMD_ARGS, &n);
    if (rc < 0)
        return fail(s, rc == CC_EAGAIN ? CC_EPROTO : rc, "bad_amf_command");
    if (n < 2 || !cc_amf0_is_string(v[0]))
        return fail(s, CC_EPROTO, "bad_amf_command");
    double txid = cc_amf0_num(v[1], 0);
    const cc_amf0_value_t *cmdobj = n > 2 ? v[2] : NULL;
    const cc_amf0_value_t *arg1 = n > 3 ? v[3] : NULL;

    if (cc_amf0_str_eq(v[0], "connect"))
        return on_connect(s, txid, cmdobj);
    if (s->state == CC_RTMP_STATE_WAIT_CONNECT)
        return fail(s, CC_ESTATE, "command_before_connect");
    if (cc_amf0_str_eq(v[0], "releaseStream"))
        return send_result_empty(s, txid);
    if (cc_amf0_str_eq(v[0], "FCPublish")) {
        /* Deliberately no stream name in the description: it is the key. */
        reply_t r;
        reply_begin(&r, "onFCPublish", 0);
        cc_amf0_put_null(&r.w);
        cc_amf0_put_object_start(&r.w);
        put_kv_str(&r.w, "code", "NetStream.Publish.Start");
        put_kv_str(&r.w, "description", "FCPublish");
        cc_amf0_put_object_end(&r.w);
        if ((rc = reply_send(s, &r, CSID_COMMAND, 0)) < 0)
            return rc;
        return send_result_empty(s, txid);
    }
    if (cc_amf0_str_eq(v[0], "createStream")) {
        reply_t r;
        reply_begin(&r, "_result", txid);
        cc_amf0_put_null(&r.w);
        cc_amf0_put_number(&r.w, PUBLISH_STREAM_ID);
        return reply_send(s, &r, CSID_COMMAND, 0);
    }
    if (cc_amf0_str_eq(v[0], "publish"))
        return on_publish(s, msg->stream_id, arg1);
    if (cc_amf0_str_eq(v[0], "FCUnpublish")) {
        end_stream(s, "fcunpublish");
        reply_t r;
        reply_begin(&r, "onFCUnpublish", 0);
        cc_amf0_put_null(&r.w);
        cc_amf0_put_object_start(&r.w);
        put_kv_str(&r.w, "code", "NetStream.Unpublish.Success");
        put_kv_str(&r.w, "description", "FCUnpublish");
        cc_amf0_put_object_end(&r.w);
        if ((rc = reply_send(s, &r, CSID_COMMAND, 0)) < 0)
            return rc;
        return send_result_empty(s, txid);
    }
    if (cc_amf0_str_eq(v[0], "deleteStream") || cc_amf0_str_eq(v[0], "closeStream")) {
        end_stream(s, "deletestream");
        return 0;
    }
    if (cc_amf0_str_eq(v[0], "play") || cc_amf0_str_eq(v[0], "play2")) {
        send_status(s, msg->stream_id, "error", "NetStream.Play.Failed",
                    "This server takes publishers only; watch over HLS", NULL);
        return fail(s, CC_EUNSUPPORTED, "play_not_supported");
    }
    /* _checkbw, getStreamLength, ...: nothing a publisher waits for. */
    char name[32];
    cc_amf0_str_copy(v[0], name, sizeof(name));
    cc_log_debug("rtmp.command", "peer=%s ignored=%s", s->peer, name[0] ? name : "(long)");
    return 0;
}

/* ---- metadata ---- */

static void apply_metadata(cc_rtmp_session_t *s, cc_track_t *t)
{
    if (t->width == 0 && s->md_width > 0 && s->md_width < 65536)
        t->width = (uint32_t)s->md_width;
    if (t->height == 0 && s->md_height > 0 && s->md_height < 65536)
        t->height = (uint32_t)s->md_height;
    if (t->frame_rate == 0 && s->md_fps > 0 && s->md_fps < 1000)
        t->frame_rate = s->md_fps;
}

static void on_data(cc_rtmp_session_t *s, const uint8_t *p, size_t len)
{
    cc_amf0_value_t slots[AMF_SLOTS];
    cc_amf0_arena_t a;
    cc_amf0_arena_init(&a, slots, AMF_SLOTS, &s->cfg.amf);
    cc_amf0_value_t *v[3];
    size_t n;
    /* Metadata is advisory: a value we cannot decode costs the metadata,
     * not the connection. */
    if (cc_amf0_decode_all(&a, p, len, v, 3, &n) < 0 || n == 0)
        return;
    size_t i = 0;
    if (cc_amf0_str_eq(v[0], "@setDataFrame"))
        i = 1;
    if (i + 1 >= n || !cc_amf0_str_eq(v[i], "onMetaData"))
        return;
    const cc_amf0_value_t *md = v[i + 1];
    double w = cc_amf0_num(cc_amf0_get(md, "width"), 0);
    double h = cc_amf0_num(cc_amf0_get(md, "height"), 0);
    double fps = cc_amf0_num(cc_amf0_get(md, "framerate"), 0);
    if (fps == 0)
        fps = cc_amf0_num(cc_amf0_get(md, "videoframerate"), 0);
    s->md_width = isfinite(w) ? w : 0;
    s->md_height = isfinite(h) ? h : 0;
    s->md_fps = isfinite(fps) ? fps : 0;
    if (s->stream && s->has_track[TRACK_VIDEO]) {
        const cc_track_t *cur = cc_stream_track(s->stream, TRACK_VIDEO);
        if (cur) {
            cc_track_t t;
            cc_track_copy(&t, cur);
            cc_track_t before = t;
            apply_metadata(s, &t);
            if (t.width != before.width || t.height != before.height || t.frame_rate != before.frame_rate)
                cc_stream_set_track(s->stream, TRACK_VIDEO, &t);
            cc_track_clear(&t);
        }
    }
}

/* ---- media ---- */

static int64_t media_time(cc_rtmp_session_t *s, uint32_t ts)
{
    if (!s->have_ts) {
        s->have_ts = 1;
        s->ext = s->base = ts;
    } else {
        /* Signed difference: a 32-bit wrap (every ~49.7 days) moves forward,
         * audio slightly behind video moves back a little. */
        s->ext += (int32_t)(ts - s->last_raw);
    }
    s->last_raw = ts;
    int64_t t = s->ext - s->base;
    return t < 0 ? 0 : t;
}

static void on_media(cc_rtmp_session_t *s, const cc_rtmp_msg_t *msg)
{
    if (s->state != CC_RTMP_STATE_PUBLISHING || !s->stream)
        return;
    int video = msg->type == CC_RTMP_MSG_VIDEO;
    int idx = video ? TRACK_VIDEO : TRACK_AUDIO;
    cc_flv_packet_t pkt;
    const cc_buf_t *b = msg->body;
    if (b->len == 0) /* ffmpeg may send empty tags; nothing in them */
        return;
    int rc = video ? cc_flv_parse_video(b->data, (uint32_t)b->len, &pkt) : cc_flv_parse_audio(b->data, (uint32_t)b->len, &pkt);
    if (rc < 0) {
        s->st.skipped++;
        if (rc == CC_EUNSUPPORTED && !s->warned_unsupported[idx]) {
            s->warned_unsupported[idx] = 1;
            cc_log_warn("rtmp.unsupported", "peer=%s stream=%s kind=%s first_byte=%u", s->peer, s->name,
                        video ? "video" : "audio", b->data[0]);
        }
        return;
    }
    int64_t dts = media_time(s, msg->timestamp);
    if (pkt.kind == CC_FLV_CONFIG) {
        cc_track_t t;
        if (cc_flv_track_from_config(&pkt, &t) < 0) {
            s->st.skipped++;
            cc_log_warn("rtmp.bad_config", "peer=%s stream=%s kind=%s", s->peer, s->name, video ? "video" : "audio");
            return;
        }
        if (video)
            apply_metadata(s, &t);
        cc_stream_set_track(s->stream, idx, &t);
        cc_track_clear(&t);
        s->has_track[idx] = 1;
        return;
    }
    if (pkt.kind != CC_FLV_FRAME)
        return;
    if (!s->has_track[idx]) {
        s->st.skipped++; /* a frame before its sequence header cannot be decoded */
        return;
    }
    if (dts < s->last_dts[idx])
        dts = s->last_dts[idx];
    s->last_dts[idx] = dts;
    cc_frame_t f;
    memset(&f, 0, sizeof(f));
    f.track = idx;
    f.dts = dts;
    f.pts = dts + pkt.cts;
    f.keyframe = pkt.keyframe;
    f.buf = msg->body; /* zero-copy: the payload lives in the reassembled message */
    f.data = pkt.data;
    f.len = pkt.len;
    f.arrival_us = cc_now_us();
    if (cc_stream_push(s->stream, &f) == 0)
        s->st.frames++;
}

/* ---- dispatch ---- */

static int on_message(cc_rtmp_session_t *s, const cc_rtmp_msg_t *msg)
{
    const cc_buf_t *b = msg->body;
    s->st.messages++;
    switch (msg->type) {
    case CC_RTMP_MSG_SET_CHUNK_SIZE:
    case CC_RTMP_MSG_ABORT:
    case CC_RTMP_MSG_ACK:
    case CC_RTMP_MSG_SET_PEER_BANDWIDTH:
        return 0; /* the chunk reader acted on the first two; we send too little to care about the rest */
    case CC_RTMP_MSG_WINDOW_ACK_SIZE:
        if (b->len < 4)
            return fail(s, CC_EPROTO, "short_window_ack_size");
        s->peer_window = cc_rd32(b->data);
        return 0;
    case CC_RTMP_MSG_USER_CONTROL:
        if (b->len < 2)
            return fail(s, CC_EPROTO, "short_user_control");
        if (cc_rd16(b->data) == 6 && b->len >= 6) /* PingRequest -> PingResponse, same timestamp */
            return send_user_control(s, 7, cc_rd32(b->data + 2));
        return 0;
    case CC_RTMP_MSG_AUDIO:
    case CC_RTMP_MSG_VIDEO:
        on_media(s, msg);
        return 0;
    case CC_RTMP_MSG_DATA_AMF0:
        on_data(s, b->data, b->len);
        return 0;
    case CC_RTMP_MSG_DATA_AMF3:
        if (b->len > 0)
            on_data(s, b->data + 1, b->len - 1);
        return 0;
    case CC_RTMP_MSG_COMMAND_AMF0:
        return on_command(s, msg, b->data, b->len);
    case CC_RTMP_MSG_COMMAND_AMF3:
        /* An AMF3 command message is AMF0 behind one format byte. */
        if (b->len == 0)
            return fail(s, CC_EPROTO, "bad_amf_command");
        return on_command(s, msg, b->data + 1, b->len - 1);
    default:
        return 0; /* aggregate, shared object, ...: not sent by publishers we serve */
    }
}

static int maybe_ack(cc_rtmp_session_t *s)
{
    if (s->peer_window == 0 || s->st.bytes_in - s->last_ack < s->peer_window)
        return 0;
    s->last_ack = s->st.bytes_in;
    s->st.acks_sent++;
    /* The sequence number is the byte count so far, wrapping at 32 bits. */
    return send_u32(s, CC_RTMP_MSG_ACK, (uint32_t)s->st.bytes_in);
}

int cc_rtmp_session_feed(cc_rtmp_session_t *s, const uint8_t *p, size_t len)
{
    if (s->err)
        return s->err;
    s->st.bytes_in += len;
    if (s->hs) {
        size_t used;
        int rc = cc_rtmp_handshake_feed(s->hs, p, len, &used, &s->out);
        if (rc == CC_EAGAIN)
            return 0;
        if (rc < 0)
            return fail(s, rc, rc == CC_EUNSUPPORTED ? "rtmpe_not_supported" : rc == CC_EPROTO ? "bad_handshake" : "output_full");
        free(s->hs);
        s->hs = NULL;
        s->state = CC_RTMP_STATE_WAIT_CONNECT;
        p += used;
        len -= used;
    }
    while (len > 0) {
        size_t used;
        cc_rtmp_msg_t msg;
        int rc = cc_rtmp_chunk_read(&s->rd, p, len, &used, &msg);
        p += used;
        len -= used;
        if (rc == CC_EAGAIN)
            break;
        if (rc < 0)
            return fail(s, rc, s->rd.reason);
        rc = on_message(s, &msg);
        cc_buf_unref(msg.body);
        if (rc < 0)
            return rc;
    }
    return maybe_ack(s);
}

cc_buf_t *cc_rtmp_session_take_output(cc_rtmp_session_t *s)
{
    if (s->out.len == 0)
        return NULL;
    cc_buf_t *b = cc_buf_from(s->out.data, s->out.len);
    if (b)
        cc_dynbuf_free(&s->out); /* an idle connection keeps no output buffer */
    return b;
}

size_t cc_rtmp_session_output_len(const cc_rtmp_session_t *s) { return s->out.len; }
cc_rtmp_state_t cc_rtmp_session_state(const cc_rtmp_session_t *s) { return s->state; }
const char *cc_rtmp_session_reason(const cc_rtmp_session_t *s) { return s->reason; }
const char *cc_rtmp_session_stream_name(const cc_rtmp_session_t *s) { return s->name[0] ? s->name : "-"; }
void cc_rtmp_session_stats(const cc_rtmp_session_t *s, cc_rtmp_session_stats_t *out) { *out = s->st; }

size_t cc_rtmp_session_memory(const cc_rtmp_session_t *s)
{
    size_t n = sizeof(*s) + s->out.alloc + (s->hs ? sizeof(*s->hs) : 0);
    n += s->rd.astreams * 48u; /* sizeof(cc_rtmp_cstream_t) is private to chunk.c; close enough */
    n += (size_t)s->rd.pending;
    return n;
}
