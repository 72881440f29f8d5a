/* MPEG-TS through libavformat into hub tracks and frames.  See demux.h. */
#include "ingest/srt/demux.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>

#include "cartcast/err.h"
#include "cartcast/hub.h"
#include "cartcast/log.h"
#include "ingest/srt/es.h"

/* The AVIO buffer the demuxer reads from: room for ~49 SRT payloads, so the
 * read hook can receive straight into it (see server.c: conn_read). */
#define IOBUF_SIZE (64 * 1024)
/* libavformat's mpegts demuxer cuts a PES of unknown length into packets of
 * at most MAX_PES_PAYLOAD (200 KiB) bytes; a packet this close to the cap is
 * the head of a bigger access unit whose tail follows without a PTS. */
#define PES_SPLIT_AT (200 * 1024 - 188)
#define PS_MAX_LEN 4096
/* Until the audio track is known (when the PMT has one), frames wait at most
 * this long / this many, so that the packager starts with both tracks as it
 * does for RTMP, where both sequence headers come first. */
#define HOLD_MS 1500
#define HOLD_MAX 256
/* A DTS step larger than this (90 kHz) is a restarted clock, not media time. */
#define JUMP_MAX (10 * 90000)
#define RECORD_MAX (3 * CC_ES_PS_MAX * (PS_MAX_LEN + 3) + 64)

typedef struct ps_set {
    uint8_t n;
    uint16_t len[CC_ES_PS_MAX];
    uint8_t data[CC_ES_PS_MAX][PS_MAX_LEN];
} ps_set_t;

typedef struct demux {
    const cc_srt_demux_config_t *cfg;
    const cc_srt_demux_hooks_t *hooks;
    cc_srt_demux_stats_t *st;
    char *why;
    size_t whylen;
    int read_err; /* the hook's code when it aborted */

    AVFormatContext *fmt;
    int vstream, astream; /* AVStream indexes, -1 until chosen */
    cc_codec_t vcodec;
    uint64_t warned[2]; /* AVStream indexes (mod 64) already logged as ignored */

    ps_set_t ps[CC_ES_PS_TYPES];
    uint8_t record[RECORD_MAX];
    int record_len; /* the current avcC/hvcC; 0 when none yet */

    cc_adts_t adts; /* the configuration of the current audio track */
    int have_audio;

    int started;       /* first video keyframe seen */
    int64_t base;      /* its DTS on the unwrapped 90 kHz timeline */
    cc_es_unwrap_t unwrap;
    int64_t offset[2];   /* per track, added to the unwrapped time: absorbed clock jumps */
    int64_t last_ext[2]; /* per track, the previous packet's DTS with its offset */
    int have_last[2];
    int64_t last_dts[2];

    /* The start gate: closed while the PMT announces audio we have not seen. */
    int gate_open;
    cc_track_t held_vtrack; /* the video track, when it came while closed */
    cc_frame_t hold[HOLD_MAX];
    int nhold;

    /* A video access unit split by the demuxer (see PES_SPLIT_AT). */
    cc_dynbuf_t held;
    int64_t held_pts, held_dts;
} demux_t;

void cc_srt_demux_config_default(cc_srt_demux_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_frame = 8u << 20;
    cfg->max_probe_bytes = 4u << 20;
    cfg->log_name = NULL;
}

static const char *lname(const demux_t *d)
{
    return d->cfg->log_name ? d->cfg->log_name : "-";
}

static int failf(demux_t *d, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(demux_t *d, int rc, const char *fmt, ...)
{
    if (d->why && d->whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->why, d->whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int avio_read_cb(void *opaque, uint8_t *buf, int size)
{
    demux_t *d = opaque;
    if (d->read_err)
        return AVERROR_EXIT;
    if (d->cfg->max_probe_bytes && d->vstream < 0 && d->st->bytes > d->cfg->max_probe_bytes) {
        d->read_err = CC_EUNSUPPORTED;
        failf(d, 0, "no H.264 or HEVC video found in the first %zu bytes (is it MPEG-TS?)", d->cfg->max_probe_bytes);
        return AVERROR_EXIT;
    }
    int n = d->hooks->read(d->hooks->opaque, buf, size > 0 ? (size_t)size : 0);
    if (n > 0) {
        d->st->bytes += (uint64_t)n;
        return n;
    }
    if (n == 0 || n == CC_ECLOSED)
        return AVERROR_EOF;
    d->read_err = n;
    return AVERROR_EXIT;
}

/* ---- tracks ------------------------------------------------------------- */

static int hook_track(demux_t *d, int index, cc_track_t *t)
{
    int rc = d->hooks->on_track(d->hooks->opaque, index, t);
    if (rc < 0)
        d->read_err = rc;
    return rc;
}

static int hook_frame(demux_t *d, cc_frame_t *f)
{
    d->st->frames++;
    int rc = d->hooks->on_frame(d->hooks->opaque, f);
    if (rc < 0)
        d->read_err = rc;
    return rc;
}

/* Opens the start gate: the held video track, then (audio) the audio track,
 * then the held frames in their order. */
static int open_gate(demux_t *d, cc_track_t *audio)
{
    int rc = 0;
    d->gate_open = 1;
    if (d->held_vtrack.config)
        rc = hook_track(d, CC_SRT_TRACK_VIDEO, &d->held_vtrack); /* the hook owns it now, even on failure */
    memset(&d->held_vtrack, 0, sizeof(d->held_vtrack));
    if (audio) {
        if (rc == 0)
            rc = hook_track(d, CC_SRT_TRACK_AUDIO, audio);
        else
            cc_track_clear(audio);
    }
    int i = 0;
    for (; rc == 0 && i < d->nhold; i++)
        rc = hook_frame(d, &d->hold[i]);
    for (; i < d->nhold; i++)
        cc_buf_unref(d->hold[i].buf);
    d->nhold = 0;
    return rc;
}

static void drop_gate(demux_t *d)
{
    cc_track_clear(&d->held_vtrack);
    for (int i = 0; i < d->nhold; i++)
        cc_buf_unref(d->hold[i].buf);
    d->nhold = 0;
}

static int emit_track(demux_t *d, int index, cc_track_t *t)
{
    if (d->gate_open)
        return hook_track(d, index, t);
    if (index == CC_SRT_TRACK_AUDIO)
        return open_gate(d, t);
    cc_track_clear(&d->held_vtrack); /* a newer video configuration replaces the held one */
    d->held_vtrack = *t;
    memset(t, 0, sizeof(*t));
    return 0;
}

/* Takes the parameter sets of one access unit: types it carries replace the
 * stored ones.  Returns 1 when anything changed. */
static int update_ps(demux_t *d, const cc_es_au_t *au)
{
    int changed = 0;
    for (int t = 0; t < CC_ES_PS_TYPES; t++) {
        if (au->nps[t] == 0)
            continue;
        ps_set_t *s = &d->ps[t];
        int same = s->n == au->nps[t];
        for (int i = 0; same && i < au->nps[t]; i++)
            same = s->len[i] == au->ps[t][i].len && memcmp(s->data[i], au->ps[t][i].base, s->len[i]) == 0;
        if (same)
            continue;
        uint8_t n = 0;
        for (int i = 0; i < au->nps[t]; i++) {
            if (au->ps[t][i].len > PS_MAX_LEN)
                continue; /* no real parameter set is this long */
            memcpy(s->data[n], au->ps[t][i].base, au->ps[t][i].len);
            s->len[n] = (uint16_t)au->ps[t][i].len;
            n++;
        }
        s->n = n;
        changed = 1;
    }
    return changed;
}

static int rebuild_video_config(demux_t *d)
{
    cc_iov_t v[CC_ES_PS_TYPES][CC_ES_PS_MAX];
    for (int t = 0; t < CC_ES_PS_TYPES; t++)
        for (int i = 0; i < d->ps[t].n; i++)
            v[t][i] = cc_iov(d->ps[t].data[i], d->ps[t].len[i]);
    uint8_t rec[RECORD_MAX];
    int n;
    if (d->vcodec == CC_CODEC_H264) {
        if (!d->ps[CC_ES_SPS].n || !d->ps[CC_ES_PPS].n)
            return 0;
        n = cc_es_avcc_build(v[CC_ES_SPS], d->ps[CC_ES_SPS].n, v[CC_ES_PPS], d->ps[CC_ES_PPS].n, rec, sizeof(rec));
    } else {
        if (!d->ps[CC_ES_VPS].n || !d->ps[CC_ES_SPS].n || !d->ps[CC_ES_PPS].n)
            return 0;
        n = cc_es_hvcc_build(v[CC_ES_VPS], d->ps[CC_ES_VPS].n, v[CC_ES_SPS], d->ps[CC_ES_SPS].n, v[CC_ES_PPS],
                             d->ps[CC_ES_PPS].n, rec, sizeof(rec));
    }
    if (n < 0) {
        cc_log_warn("srt.bad_config", "stream=%s codec=%s error=%s", lname(d), cc_codec_name(d->vcodec), cc_err_name(n));
        return 0;
    }
    if (n == d->record_len && memcmp(rec, d->record, (size_t)n) == 0)
        return 0;
    cc_video_info_t vi;
    if (cc_video_config_parse(d->vcodec, rec, (uint32_t)n, &vi) < 0) {
        cc_log_warn("srt.bad_config", "stream=%s codec=%s error=record", lname(d), cc_codec_name(d->vcodec));
        return 0;
    }
    memcpy(d->record, rec, (size_t)n);
    d->record_len = n;
    cc_track_t t;
    memset(&t, 0, sizeof(t));
    t.kind = CC_MEDIA_VIDEO;
    t.codec = d->vcodec;
    t.timescale = 1000;
    t.width = vi.width;
    t.height = vi.height;
    t.frame_rate = vi.frame_rate;
    t.config = cc_buf_from(rec, (size_t)n);
    if (!t.config)
        return d->read_err = CC_ENOMEM;
    cc_log_info("srt.track", "stream=%s track=video codec=%s width=%u height=%u", lname(d), cc_codec_name(d->vcodec),
                vi.width, vi.height);
    return emit_track(d, CC_SRT_TRACK_VIDEO, &t);
}

/* ---- timeline ----------------------------------------------------------- */

static int64_t to_ms(const demux_t *d, int64_t t90)
{
    return (t90 - d->base) / 90; /* t90 >= base: the caller drops anything earlier */
}

static int emit_frame(demux_t *d, int track, int64_t dts90, int64_t pts90, int key, cc_buf_t *buf)
{
    if (!d->started || dts90 < d->base) {
        cc_buf_unref(buf);
        d->st->skipped++;
        return 0;
    }
    int64_t dts = to_ms(d, dts90);
    int64_t pts = pts90 >= d->base ? to_ms(d, pts90) : dts;
    if (dts < d->last_dts[track]) {
        d->st->dts_fixed++;
        dts = d->last_dts[track];
    }
    if (pts < dts)
        pts = dts;
    d->last_dts[track] = dts;
    cc_frame_t f;
    memset(&f, 0, sizeof(f));
    f.track = track;
    f.dts = dts;
    f.pts = pts;
    f.keyframe = key;
    f.buf = buf;
    f.data = buf->data;
    f.len = (uint32_t)buf->len;
    f.arrival_us = cc_now_us();
    if (d->gate_open)
        return hook_frame(d, &f);
    d->hold[d->nhold++] = f;
    if (d->nhold == HOLD_MAX || f.dts - d->hold[0].dts >= HOLD_MS) {
        cc_log_warn("srt.no_audio", "stream=%s msg=\"the PMT lists AAC audio but none arrived: starting without it\"",
                    lname(d));
        return open_gate(d, NULL);
    }
    return 0;
}

/* The unwrapped DTS and PTS of a packet; 0 when it has no timestamp. */
/* The unwrapped DTS and PTS of a packet of track; 0 when it has no timestamp.
 * A jump of more than JUMP_MAX against the track's previous DTS (an encoder
 * that restarted its clock without reconnecting) is absorbed into the track's
 * offset, so its timeline goes on one frame later instead of jumping. */
static int packet_times(demux_t *d, const AVPacket *pkt, int track, int64_t *dts, int64_t *pts)
{
    int64_t p = pkt->pts, t = pkt->dts;
    if (t == AV_NOPTS_VALUE)
        t = p;
    if (t == AV_NOPTS_VALUE)
        return 0;
    if (p == AV_NOPTS_VALUE)
        p = t;
    int64_t ext = cc_es_unwrap(&d->unwrap, t) + d->offset[track];
    if (d->have_last[track]) {
        int64_t jump = ext - d->last_ext[track];
        if (jump > JUMP_MAX || jump < -JUMP_MAX) {
            int other = !track;
            int64_t with_other = ext - d->offset[track] + d->offset[other];
            int64_t j2 = with_other - d->last_ext[track];
            if (d->offset[other] != d->offset[track] && j2 <= JUMP_MAX && j2 >= -JUMP_MAX) {
                /* the other track has been through this jump: take its shift, keeping A/V sync */
                d->offset[track] = d->offset[other];
                ext = with_other;
            } else {
                int64_t step = track == CC_SRT_TRACK_VIDEO ? 3000 : 1920; /* about one frame */
                d->offset[track] -= jump - step;
                ext -= jump - step;
            }
            cc_log_warn("srt.discontinuity", "stream=%s track=%s jump_ms=%lld", lname(d),
                        track == CC_SRT_TRACK_VIDEO ? "video" : "audio", (long long)(jump / 90));
        }
    }
    d->have_last[track] = 1;
    d->last_ext[track] = ext;
    *dts = ext;
    *pts = ext + cc_es_ts_diff(t, p);
    return 1;
}

/* ---- video -------------------------------------------------------------- */

static int video_au(demux_t *d, const uint8_t *p, size_t len, int64_t dts, int64_t pts)
{
    cc_es_au_t au;
    if (len > d->cfg->max_frame || cc_es_video_scan(d->vcodec, p, len, &au) < 0) {
        d->st->skipped++;
        return 0;
    }
    if (update_ps(d, &au)) {
        int rc = rebuild_video_config(d);
        if (rc < 0)
            return rc;
    }
    if (d->record_len == 0 || au.out_len == 0 || (!d->started && !au.keyframe)) {
        d->st->skipped++;
        return 0;
    }
    if (!d->started) {
        d->started = 1;
        d->base = dts;
    }
    cc_buf_t *b = cc_buf_new(au.out_len);
    if (!b)
        return d->read_err = CC_ENOMEM;
    if (cc_es_video_write(d->vcodec, p, len, b->data, b->len) != (int)au.out_len) {
        cc_buf_unref(b); /* cannot happen: write follows scan */
        d->st->skipped++;
        return 0;
    }
    return emit_frame(d, CC_SRT_TRACK_VIDEO, dts, pts, au.keyframe, b);
}

static int flush_held(demux_t *d)
{
    if (d->held.len == 0)
        return 0;
    int rc = video_au(d, d->held.data, d->held.len, d->held_dts, d->held_pts);
    cc_dynbuf_reset(&d->held);
    return rc;
}

static int video_packet(demux_t *d, const AVPacket *pkt)
{
    int64_t dts = 0, pts = 0;
    if (pkt->pts == AV_NOPTS_VALUE && pkt->dts == AV_NOPTS_VALUE) {
        /* The tail of an access unit the demuxer cut at its PES cap. */
        if (d->held.len && cc_dynbuf_append(&d->held, pkt->data, (size_t)pkt->size) == 0)
            return 0;
        cc_dynbuf_reset(&d->held);
        d->st->skipped++;
        return 0;
    }
    int rc = flush_held(d);
    if (rc < 0)
        return rc;
    packet_times(d, pkt, CC_SRT_TRACK_VIDEO, &dts, &pts);
    if (pkt->size >= PES_SPLIT_AT) {
        if (cc_dynbuf_append(&d->held, pkt->data, (size_t)pkt->size) == 0) {
            d->held_dts = dts;
            d->held_pts = pts;
            return 0;
        }
        cc_dynbuf_reset(&d->held);
    }
    return video_au(d, pkt->data, (size_t)pkt->size, dts, pts);
}

/* ---- audio -------------------------------------------------------------- */

static int audio_packet(demux_t *d, const AVPacket *pkt)
{
    int64_t dts, pts;
    if (!packet_times(d, pkt, CC_SRT_TRACK_AUDIO, &dts, &pts)) {
        d->st->skipped++;
        return 0;
    }
    const uint8_t *p = pkt->data;
    size_t left = (size_t)pkt->size;
    for (int64_t i = 0; left > 0; i++) {
        cc_adts_t h;
        int rc = cc_es_adts_parse(p, left, &h);
        if (rc < 0) {
            if (rc == CC_EUNSUPPORTED && !(d->warned[1] & 1)) {
                d->warned[1] |= 1;
                cc_log_warn("srt.unsupported", "stream=%s kind=audio msg=\"ADTS with a PCE or several raw blocks\"",
                            lname(d));
            }
            d->st->skipped++;
            return 0; /* the rest of this PES cannot be framed */
        }
        if (!d->have_audio || h.object_type != d->adts.object_type || h.sf_index != d->adts.sf_index ||
            h.channel_config != d->adts.channel_config) {
            uint8_t asc[2];
            cc_es_adts_asc(&h, asc);
            cc_track_t t;
            memset(&t, 0, sizeof(t));
            t.kind = CC_MEDIA_AUDIO;
            t.codec = CC_CODEC_AAC;
            t.timescale = 1000;
            if (cc_aac_asc_parse(asc, 2, &t.sample_rate, &t.channels) < 0) {
                d->st->skipped++;
                return 0;
            }
            t.config = cc_buf_from(asc, 2);
            if (!t.config)
                return d->read_err = CC_ENOMEM;
            d->adts = h;
            d->have_audio = 1;
            cc_log_info("srt.track", "stream=%s track=audio codec=aac sample_rate=%u channels=%u", lname(d),
                        t.sample_rate, t.channels);
            if ((rc = emit_track(d, CC_SRT_TRACK_AUDIO, &t)) < 0)
                return rc;
        }
        /* Each ADTS frame holds 1024 samples. */
        int64_t off = (i * 1024 * 90000 + h.sample_rate / 2) / h.sample_rate;
        cc_buf_t *b = cc_buf_from(p + h.header_len, h.frame_len - h.header_len);
        if (!b)
            return d->read_err = CC_ENOMEM;
        if ((rc = emit_frame(d, CC_SRT_TRACK_AUDIO, dts + off, pts + off, 1, b)) < 0)
            return rc;
        p += h.frame_len;
        left -= h.frame_len;
    }
    return 0;
}

/* ---- streams ------------------------------------------------------------ */

static void warn_ignored(demux_t *d, const AVStream *s)
{
    uint64_t bit = UINT64_C(1) << (s->index & 63);
    if (d->warned[0] & bit)
        return;
    d->warned[0] |= bit;
    cc_log_info("srt.ignored", "stream=%s pid=%d codec=%s", lname(d), s->id, avcodec_get_name(s->codecpar->codec_id));
}

/* Picks the video and audio streams once the PMT has created them. */
static int choose_streams(demux_t *d)
{
    if (d->vstream >= 0 || d->fmt->nb_streams == 0)
        return 0;
    for (unsigned i = 0; i < d->fmt->nb_streams; i++) {
        enum AVCodecID id = d->fmt->streams[i]->codecpar->codec_id;
        if (d->vstream < 0 && (id == AV_CODEC_ID_H264 || id == AV_CODEC_ID_HEVC)) {
            d->vstream = (int)i;
            d->vcodec = id == AV_CODEC_ID_H264 ? CC_CODEC_H264 : CC_CODEC_HEVC;
        } else if (d->astream < 0 && id == AV_CODEC_ID_AAC) {
            d->astream = (int)i;
        }
    }
    d->gate_open = d->astream < 0;
    if (d->vstream >= 0)
        return 0;
    char list[256] = "";
    size_t n = 0;
    for (unsigned i = 0; i < d->fmt->nb_streams && n < sizeof(list) - 1; i++) {
        int w = snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
                         avcodec_get_name(d->fmt->streams[i]->codecpar->codec_id));
        if (w < 0)
            break;
        n += (size_t)w;
    }
    return failf(d, CC_EUNSUPPORTED, "no H.264 or HEVC video in the MPEG-TS program (it has: %s)", list);
}

static int run(demux_t *d, AVPacket *pkt)
{
    for (;;) {
        int r = av_read_frame(d->fmt, pkt);
        if (r == AVERROR(EAGAIN) && !d->read_err)
            continue; /* the mpegts demuxer changed its packet size guess: read on */
        if (r < 0) {
            if (d->read_err)
                return d->read_err;
            if (r == AVERROR_EOF) {
                int rc = flush_held(d);
                if (rc == 0 && !d->gate_open)
                    rc = open_gate(d, NULL);
                if (rc < 0)
                    return rc;
                if (d->vstream < 0)
                    return failf(d, CC_EUNSUPPORTED, "the stream ended before any H.264 or HEVC video");
                return 0;
            }
            char e[AV_ERROR_MAX_STRING_SIZE];
            av_strerror(r, e, sizeof(e));
            return failf(d, CC_EPROTO, "MPEG-TS demuxer: %s", e);
        }
        int rc = choose_streams(d);
        if (rc == 0) {
            if (pkt->stream_index == d->vstream)
                rc = video_packet(d, pkt);
            else if (pkt->stream_index == d->astream)
                rc = audio_packet(d, pkt);
            else if (pkt->stream_index >= 0 && (unsigned)pkt->stream_index < d->fmt->nb_streams)
                warn_ignored(d, d->fmt->streams[pkt->stream_index]);
        }
        av_packet_unref(pkt);
        if (rc < 0)
            return d->read_err ? d->read_err : rc;
    }
}

int cc_srt_demux_run(const cc_srt_demux_config_t *cfg, const cc_srt_demux_hooks_t *hooks,
                     cc_srt_demux_stats_t *stats, char *why, size_t whylen)
{
    cc_srt_demux_config_t defcfg;
    cc_srt_demux_stats_t scratch;
    if (!cfg) {
        cc_srt_demux_config_default(&defcfg);
        cfg = &defcfg;
    }
    if (!stats)
        stats = &scratch;
    memset(stats, 0, sizeof(*stats));
    if (why && whylen)
        why[0] = '\0';
    if (!hooks || !hooks->read || !hooks->on_track || !hooks->on_frame)
        return CC_EINVAL;

    demux_t *d = calloc(1, sizeof(*d));
    if (!d)
        return CC_ENOMEM;
    d->cfg = cfg;
    d->hooks = hooks;
    d->st = stats;
    d->why = why;
    d->whylen = whylen;
    d->vstream = d->astream = -1;
    cc_dynbuf_init(&d->held, cfg->max_frame);

    int rc = CC_ENOMEM;
    AVPacket *pkt = av_packet_alloc();
    uint8_t *iobuf = av_malloc(IOBUF_SIZE);
    AVIOContext *pb = iobuf ? avio_alloc_context(iobuf, IOBUF_SIZE, 0, d, avio_read_cb, NULL, NULL) : NULL;
    d->fmt = avformat_alloc_context();
    if (!pkt || !pb || !d->fmt) {
        if (!pb)
            av_free(iobuf);
        avformat_free_context(d->fmt);
        d->fmt = NULL;
        goto out;
    }
    pb->seekable = 0;
    d->fmt->pb = pb;
    /* NOPARSE: whole PES packets, as the encoder cut them, with no parser
     * holding a frame back; es.c finds the keyframes and parameter sets.
     * NOFILLIN: timestamps exactly as the PES header has them. */
    d->fmt->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_NOPARSE | AVFMT_FLAG_NOFILLIN;
    d->fmt->opaque = (void *)cfg->log_name;
    int r = avformat_open_input(&d->fmt, NULL, av_find_input_format("mpegts"), NULL);
    if (r < 0) {
        d->fmt = NULL; /* freed by avformat_open_input */
        if (d->read_err)
            rc = d->read_err;
        else if (r == AVERROR_EOF)
            rc = failf(d, CC_EPROTO, "the stream ended before any MPEG-TS data");
        else
            rc = failf(d, CC_EPROTO, "not an MPEG-TS stream (no 0x47 sync byte every 188 bytes)");
        goto out;
    }
    rc = run(d, pkt);
out:
    if (d->fmt)
        avformat_close_input(&d->fmt);
    if (pb) {
        av_freep(&pb->buffer);
        avio_context_free(&pb);
    }
    av_packet_free(&pkt);
    cc_dynbuf_free(&d->held);
    drop_gate(d);
    if (rc == 0 && d->read_err)
        rc = d->read_err;
    free(d);
    return rc;
}
