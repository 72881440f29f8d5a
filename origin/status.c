#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cartcast/err.h"
#include "ingest/srt/server.h"
#include "origin/status.h"

static const char *track_label(const cc_track_t *t)
{
    return t->kind == CC_MEDIA_VIDEO ? "video" : "audio";
}

int cc_origin_render_metrics(cc_hub_t *hub, const cc_origin_counters_t *c, cc_packager_t *packager,
                             const cc_hls_stats_t *hls, cc_dynbuf_t *out)
{
    int r = 0;
#define EMIT(...) do { if ((r = cc_dynbuf_appendf(out, __VA_ARGS__)) < 0) return r; } while (0)
    EMIT("# HELP cartcast_up 1 while the origin runs.\n# TYPE cartcast_up gauge\ncartcast_up 1\n");
    EMIT("# HELP cartcast_streams_live Streams with a publisher.\n# TYPE cartcast_streams_live gauge\n"
         "cartcast_streams_live %zu\n", cc_hub_count(hub));
    EMIT("# HELP cartcast_rtmp_connections Open RTMP connections.\n# TYPE cartcast_rtmp_connections gauge\n"
         "cartcast_rtmp_connections %llu\n", (unsigned long long)c->rtmp_connections_open);
    EMIT("# HELP cartcast_rtmp_connections_total RTMP connections accepted.\n"
         "# TYPE cartcast_rtmp_connections_total counter\ncartcast_rtmp_connections_total %llu\n",
         (unsigned long long)c->rtmp_connections_total);
    EMIT("# HELP cartcast_rtmp_errors_total RTMP connections closed for a protocol error, a cap or a timeout.\n"
         "# TYPE cartcast_rtmp_errors_total counter\ncartcast_rtmp_errors_total %llu\n",
         (unsigned long long)c->rtmp_closed_by_error);

    EMIT("# HELP cartcast_publish_rejected_total Refused publishes by reason.\n"
         "# TYPE cartcast_publish_rejected_total counter\n");
    uint64_t n;
    const char *reason;
    for (size_t i = 0; (reason = cc_hub_rejected(hub, i, &n)) != NULL; i++)
        EMIT("cartcast_publish_rejected_total{reason=\"%s\"} %llu\n", reason, (unsigned long long)n);

    EMIT("# HELP cartcast_stream_publishers Publishers per live stream (0 or 1).\n"
         "# TYPE cartcast_stream_publishers gauge\n");
    for (cc_stream_t *st = NULL; (st = cc_hub_next(hub, st)) != NULL;)
        EMIT("cartcast_stream_publishers{stream=\"%s\",protocol=\"%s\"} 1\n", cc_stream_name(st),
             cc_stream_protocol(st));
    EMIT("# HELP cartcast_stream_bitrate_bps Received bits per second over the last seconds.\n"
         "# TYPE cartcast_stream_bitrate_bps gauge\n");
    for (cc_stream_t *st = NULL; (st = cc_hub_next(hub, st)) != NULL;)
        EMIT("cartcast_stream_bitrate_bps{stream=\"%s\"} %llu\n", cc_stream_name(st),
             (unsigned long long)cc_stream_bitrate(st));
    EMIT("# HELP cartcast_stream_frames_total Frames received per track.\n"
         "# TYPE cartcast_stream_frames_total counter\n");
    for (cc_stream_t *st = NULL; (st = cc_hub_next(hub, st)) != NULL;)
        for (int i = 0; i < CC_MAX_TRACKS; i++) {
            const cc_track_t *t = cc_stream_track(st, i);
            if (t != NULL)
                EMIT("cartcast_stream_frames_total{stream=\"%s\",track=\"%s\"} %llu\n", cc_stream_name(st),
                     track_label(t), (unsigned long long)cc_stream_track_stats(st, i)->frames);
        }
    EMIT("# HELP cartcast_stream_bytes_total Payload bytes received per track.\n"
         "# TYPE cartcast_stream_bytes_total counter\n");
    for (cc_stream_t *st = NULL; (st = cc_hub_next(hub, st)) != NULL;)
        for (int i = 0; i < CC_MAX_TRACKS; i++) {
            const cc_track_t *t = cc_stream_track(st, i);
            if (t != NULL)
                EMIT("cartcast_stream_bytes_total{stream=\"%s\",track=\"%s\"} %llu\n", cc_stream_name(st),
                     track_label(t), (unsigned long long)cc_stream_track_stats(st, i)->bytes);
        }
    /* SRT link statistics, sampled every second by the SRT module. */
    static const struct { const char *name, *type, *help; } srt_metrics[] = {
        {"rtt_ms", "gauge", "Smoothed SRT round-trip time"},
        {"recv_rate_mbps", "gauge", "SRT receive rate over the last second"},
        {"packets_lost_total", "counter", "SRT packets detected missing"},
        {"packets_retransmitted_total", "counter", "SRT packets received again after a loss"},
        {"packets_dropped_total", "counter", "SRT packets that came too late to play"},
    };
    for (size_t k = 0; k < sizeof(srt_metrics) / sizeof(srt_metrics[0]); k++) {
        EMIT("# HELP cartcast_srt_%s %s.\n# TYPE cartcast_srt_%s %s\n", srt_metrics[k].name, srt_metrics[k].help,
             srt_metrics[k].name, srt_metrics[k].type);
        for (cc_stream_t *st = NULL; (st = cc_hub_next(hub, st)) != NULL;) {
            const cc_srt_stats_t *ss = strcmp(cc_stream_protocol(st), "srt") == 0 ? cc_stream_publisher_data(st) : NULL;
            if (ss == NULL || ss->updated_us == 0)
                continue;
            double v = k == 0 ? ss->rtt_ms : k == 1 ? ss->recv_rate_mbps : k == 2 ? (double)ss->packets_lost
                     : k == 3 ? (double)ss->packets_retransmitted : (double)ss->packets_dropped;
            EMIT("cartcast_srt_%s{stream=\"%s\"} %.3f\n", srt_metrics[k].name, cc_stream_name(st), v);
        }
    }
    if (packager != NULL) {
        static const char *const names[] = {"parts", "segments", "bytes", "frames_dropped"};
        static const char *const help[] = {"LL-HLS parts written", "LL-HLS segments completed",
                                           "LL-HLS bytes packaged", "Frames not packaged (before the first keyframe, or over a cap)"};
        for (int k = 0; k < 4; k++) {
            EMIT("# HELP cartcast_hls_%s_total %s.\n# TYPE cartcast_hls_%s_total counter\n", names[k], help[k], names[k]);
            for (cc_stream_t *st = NULL; (st = cc_hub_next(hub, st)) != NULL;) {
                cc_packager_stats_t ps;
                if (cc_packager_stats(packager, cc_stream_name(st), &ps) < 0)
                    continue;
                uint64_t v = k == 0 ? ps.parts : k == 1 ? ps.segments : k == 2 ? ps.bytes : ps.frames_dropped;
                EMIT("cartcast_hls_%s_total{stream=\"%s\"} %llu\n", names[k], cc_stream_name(st), (unsigned long long)v);
            }
        }
    }
    if (hls != NULL) {
        EMIT("# HELP cartcast_hls_held_requests Blocking playlist and part requests held right now.\n"
             "# TYPE cartcast_hls_held_requests gauge\ncartcast_hls_held_requests %llu\n",
             (unsigned long long)hls->held_now);
        EMIT("# HELP cartcast_hls_held_total Requests ever held, by outcome.\n# TYPE cartcast_hls_held_total counter\n"
             "cartcast_hls_held_total{outcome=\"answered\"} %llu\ncartcast_hls_held_total{outcome=\"timeout\"} %llu\n",
             (unsigned long long)hls->held_answered, (unsigned long long)hls->held_timeouts);
        EMIT("# HELP cartcast_hls_errors_total LL-HLS requests answered with an error.\n"
             "# TYPE cartcast_hls_errors_total counter\ncartcast_hls_errors_total{status=\"400\"} %llu\n"
             "cartcast_hls_errors_total{status=\"404\"} %llu\n",
             (unsigned long long)hls->bad_requests, (unsigned long long)hls->not_found);
    }
#undef EMIT
    return 0;
}

static json_t *track_json(const cc_track_t *t, const cc_track_stats_t *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(track_label(t)));
    json_object_set_new(o, "codec", json_string(cc_codec_name(t->codec)));
    json_object_set_new(o, "timescale", json_integer(t->timescale));
    if (t->kind == CC_MEDIA_VIDEO) {
        json_object_set_new(o, "width", json_integer(t->width));
        json_object_set_new(o, "height", json_integer(t->height));
        json_object_set_new(o, "frame_rate", t->frame_rate > 0 ? json_real(t->frame_rate) : json_null());
    } else {
        json_object_set_new(o, "sample_rate", json_integer(t->sample_rate));
        json_object_set_new(o, "channels", json_integer(t->channels));
    }
    json_object_set_new(o, "frames", json_integer((json_int_t)s->frames));
    json_object_set_new(o, "keyframes", json_integer((json_int_t)s->keyframes));
    json_object_set_new(o, "bytes", json_integer((json_int_t)s->bytes));
    json_object_set_new(o, "first_dts", json_integer(s->first_dts));
    json_object_set_new(o, "last_dts", json_integer(s->last_dts));
    json_object_set_new(o, "dts_backwards", json_integer((json_int_t)s->dts_backwards));
    return o;
}

int cc_origin_render_streams(cc_hub_t *hub, cc_packager_t *packager, cc_dynbuf_t *out)
{
    json_t *list = json_array();
    uint64_t now = cc_now_us();
    for (cc_stream_t *st = NULL; (st = cc_hub_next(hub, st)) != NULL;) {
        json_t *o = json_object();
        json_t *tracks = json_array();
        uint64_t frames = 0;
        for (int i = 0; i < CC_MAX_TRACKS; i++) {
            const cc_track_t *t = cc_stream_track(st, i);
            const cc_track_stats_t *s = cc_stream_track_stats(st, i);
            frames += s->frames;
            if (t != NULL)
                json_array_append_new(tracks, track_json(t, s));
        }
        json_object_set_new(o, "name", json_string(cc_stream_name(st)));
        json_object_set_new(o, "protocol", json_string(cc_stream_protocol(st)));
        json_object_set_new(o, "tracks", tracks);
        json_object_set_new(o, "frames", json_integer((json_int_t)frames));
        json_object_set_new(o, "bitrate_bps", json_integer((json_int_t)cc_stream_bitrate(st)));
        char playback[CC_STREAM_NAME_MAX + 32];
        snprintf(playback, sizeof(playback), "/live/%s/index.m3u8", cc_stream_name(st));
        json_object_set_new(o, "playback", json_string(playback));
        const cc_srt_stats_t *ss = strcmp(cc_stream_protocol(st), "srt") == 0 ? cc_stream_publisher_data(st) : NULL;
        if (ss != NULL && ss->updated_us != 0)
            json_object_set_new(
                o, "srt",
                json_pack("{s:f,s:f,s:f,s:i,s:I,s:I,s:I,s:I,s:I}", "rtt_ms", ss->rtt_ms, "recv_rate_mbps",
                          ss->recv_rate_mbps, "bandwidth_mbps", ss->bandwidth_mbps, "latency_ms", (int)ss->latency_ms,
                          "bytes_received", (json_int_t)ss->bytes_received, "packets_received",
                          (json_int_t)ss->packets_received, "packets_lost", (json_int_t)ss->packets_lost,
                          "packets_retransmitted", (json_int_t)ss->packets_retransmitted, "packets_dropped",
                          (json_int_t)ss->packets_dropped));
        cc_packager_stats_t ps;
        if (packager != NULL && cc_packager_stats(packager, cc_stream_name(st), &ps) == 0)
            json_object_set_new(o, "hls", json_pack("{s:I,s:I,s:I,s:I,s:i}", "parts", (json_int_t)ps.parts,
                                                    "segments", (json_int_t)ps.segments, "bytes",
                                                    (json_int_t)ps.bytes, "frames_dropped",
                                                    (json_int_t)ps.frames_dropped, "publishes", (int)ps.publishes));
        json_object_set_new(o, "uptime_s", json_real((double)((now - cc_stream_started_us(st)) / 1000u) / 1e3));
        json_array_append_new(list, o);
    }
    json_t *root = json_pack("{s:o}", "streams", list);
    char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (text == NULL)
        return CC_ENOMEM;
    int r = cc_dynbuf_append(out, text, strlen(text));
    free(text);
    return r;
}
