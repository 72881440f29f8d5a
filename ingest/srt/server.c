/* The SRT listener: libsrt threads on one side, the libuv loop and the hub on
 * the other, a bounded event queue between them.  See server.h and docs/srt.md. */
#include "ingest/srt/server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syslog.h>

#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <srt/access_control.h>
#include <srt/srt.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "ingest/srt/demux.h"
#include "ingest/srt/streamid.h"

/* A publisher thread wakes at least this often to check for stop, idle and stats. */
#define RECV_TIMEOUT_MS 100
#define STATS_EVERY_MS 1000
/* How often the loop refreshes the list of live names the listen callback checks. */
#define SNAPSHOT_EVERY_MS 250
#define POP_BATCH 64
#define RECV_BUF 1500 /* one SRT payload (live mode: at most 1456 bytes) */
/* A publisher thread collects its tracks and frames and hands them to the loop
 * in one go when no more SRT data is ready (or at these caps): one lock and
 * one uv_async_send per burst instead of per frame. */
#define PEND_MAX 32
#define PEND_MAX_MS 20
/* Timer slack of libsrt's threads (the port's receive thread and every TSBPD
 * thread).  TSBPD sleeps until the next packet's play time and wakes once per
 * distinct time, ~55 times a second per 3 Mb/s stream; with 2 ms of slack the
 * kernel may end each sleep up to 2 ms late to merge it with another wakeup,
 * so packets that fall due within 2 ms leave together and the publisher
 * thread wakes once for them.  Bound: a packet reaches the demuxer at most
 * 2 ms after its play time (the configured receiver latency + 2 ms).  Only
 * timed sleeps stretch: a datagram or a signal still wakes a thread at once. */
#define LIBSRT_TIMER_SLACK_NS 2000000ul

typedef struct conn conn_t;

typedef enum { EV_PUBLISH, EV_TRACK, EV_FRAME, EV_STATS, EV_END, EV_REJECT } ev_type_t;

typedef struct ev {
    ev_type_t type;
    int index;
    conn_t *c;
    union {
        cc_track_t track;   /* EV_TRACK: owns track.config */
        cc_frame_t frame;   /* EV_FRAME: owns one reference to frame.buf */
        cc_srt_stats_t stats;
        const char *reason; /* EV_REJECT: a static string */
    } u;
} ev_t;

typedef struct name_entry {
    char name[CC_STREAM_NAME_MAX + 1];
} name_entry_t;

typedef struct passphrase_entry {
    char name[CC_STREAM_NAME_MAX + 1];
    char pass[80];
} passphrase_entry_t;

struct cc_srt_server {
    uv_loop_t *loop;
    uv_async_t async;
    uv_timer_t timer;
    int handles;
    cc_hub_t *hub;
    cc_auth_t *auth;
    cc_srt_config_t cfg;
    char bind[64];
    char passphrase[80];
    passphrase_entry_t *pass;
    size_t npass;

    SRTSOCKET lsn;
    int port;
    uv_thread_t acceptor;
    int acceptor_started;
    atomic_int stopping;
    int stopped; /* loop side: cc_srt_server_stop ran */

    /* mu guards conns, the live-name snapshot and the counters below. */
    uv_mutex_t mu;
    conn_t *conns;
    name_entry_t *live; /* names live in the hub, refreshed by the loop */
    size_t nlive, live_cap;
    uint64_t open, total, rejected, closed_error;

    /* The queue: a ring of cap events. */
    uv_mutex_t qmu;
    uv_cond_t qroom;
    ev_t *q;
    size_t qcap, qhead, qcount;
};

struct conn {
    cc_srt_server_t *srv;
    SRTSOCKET sock;
    uv_thread_t thread;
    char name[CC_STREAM_NAME_MAX + 1];
    char peer[64];
    atomic_int abort; /* set by the loop: the hub refused the publish */
    conn_t *prev, *next;

    /* publisher thread */
    uint64_t connected_ms, last_data_ms, last_stats_ms;
    int have_video;
    uint8_t rbuf[RECV_BUF];
    size_t rlen, roff;
    ev_t pend[PEND_MAX]; /* events not yet queued (they own their buffers) */
    size_t npend;
    uint64_t pend_ms;    /* when the oldest of them was made */
    uint64_t retrans_total;
    const char *reason; /* why the thread ended; a static string */
    int read_code;      /* what conn_read returned when it stopped the demuxer */
    int error;          /* ended by an error, not by the publisher closing */
    char detail[256];
    cc_srt_demux_stats_t dstats;

    /* loop thread */
    cc_stream_t *stream;
    cc_srt_stats_t stats; /* the hub's publisher-data slot points here */
    uint64_t frames;
    int joined;
};

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* ---- configuration -------------------------------------------------------- */

void cc_srt_config_default(cc_srt_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->bind = "0.0.0.0";
    cfg->port = 9000;
    cfg->latency_ms = 120;
    cfg->idle_timeout_ms = 10000;
    cfg->media_timeout_ms = 10000;
    cfg->max_connections = 64;
    cfg->queue_max = 4096;
}

static int pass_ok(const char *p)
{
    size_t n = strlen(p);
    return n >= 10 && n <= 79;
}

int cc_srt_config_check(const cc_srt_config_t *cfg, char *err, size_t errlen)
{
#define BAD(...) do { if (err && errlen) snprintf(err, errlen, __VA_ARGS__); return CC_ECONFIG; } while (0)
    if (!cfg)
        BAD("no configuration");
    if (cfg->port < 0 || cfg->port > 65535)
        BAD("SRT port must be 0..65535");
    if (!cfg->bind || strlen(cfg->bind) >= 64)
        BAD("SRT bind address is missing or too long");
    if (cfg->latency_ms > 60000)
        BAD("SRT latency must be at most 60000 ms");
    if (cfg->passphrase && cfg->passphrase[0] && !pass_ok(cfg->passphrase))
        BAD("the SRT passphrase must be 10 to 79 characters");
    if (cfg->pbkeylen != 0 && cfg->pbkeylen != 16 && cfg->pbkeylen != 24 && cfg->pbkeylen != 32)
        BAD("the SRT key length must be 16, 24 or 32");
    for (size_t i = 0; i < cfg->nstream_passphrases; i++) {
        const char *e = cfg->stream_passphrases[i];
        const char *eq = e ? strchr(e, '=') : NULL;
        char name[CC_STREAM_NAME_MAX + 1];
        size_t nlen = eq ? (size_t)(eq - e) : 0;
        if (!eq || nlen == 0 || nlen > CC_STREAM_NAME_MAX)
            BAD("SRT stream passphrase #%zu is not NAME=PASSPHRASE", i + 1);
        memcpy(name, e, nlen);
        name[nlen] = '\0';
        if (cc_stream_name_check(name) < 0 || !pass_ok(eq + 1))
            BAD("SRT stream passphrase #%zu needs a stream NAME and a passphrase of 10 to 79 characters", i + 1);
    }
    if (cfg->max_connections == 0 || cfg->queue_max < 16)
        BAD("SRT max connections must be > 0 and the queue at least 16");
    return 0;
#undef BAD
}

/* The passphrase a publisher of name must use ("" for none). */
static const char *passphrase_for(const cc_srt_server_t *srv, const char *name)
{
    for (size_t i = 0; i < srv->npass; i++)
        if (strcmp(srv->pass[i].name, name) == 0)
            return srv->pass[i].pass;
    return srv->passphrase;
}

/* ---- the queue ------------------------------------------------------------ */

static void ev_release(ev_t *e)
{
    if (e->type == EV_TRACK)
        cc_track_clear(&e->u.track);
    else if (e->type == EV_FRAME)
        cc_buf_unref(e->u.frame.buf);
}

/* Appends e.  With wait, blocks while the queue is full (backpressure)
 * until there is room, the server stops, or (abortable) the loop asked this
 * connection to stop.  On failure the caller still owns e's resources. */
static int q_push(cc_srt_server_t *srv, const ev_t *e, int wait, int abortable)
{
    uv_mutex_lock(&srv->qmu);
    while (srv->qcount == srv->qcap) {
        if (!wait || atomic_load(&srv->stopping) || (abortable && e->c && atomic_load(&e->c->abort))) {
            uv_mutex_unlock(&srv->qmu);
            return CC_ELIMIT;
        }
        uv_cond_timedwait(&srv->qroom, &srv->qmu, (uint64_t)RECV_TIMEOUT_MS * 1000000u);
    }
    srv->q[(srv->qhead + srv->qcount) % srv->qcap] = *e;
    srv->qcount++;
    uv_mutex_unlock(&srv->qmu);
    uv_async_send(&srv->async); /* libuv coalesces: one wakeup per loop turn */
    return 0;
}

/* Appends n events of one connection c in order, like q_push (with wait, abortable).
 * Returns how many were queued; the caller still owns the rest. */
static size_t q_push_many(cc_srt_server_t *srv, conn_t *c, const ev_t *e, size_t n)
{
    size_t done = 0, kicked = 0;
    uv_mutex_lock(&srv->qmu);
    while (done < n) {
        while (srv->qcount == srv->qcap) {
            if (atomic_load(&srv->stopping) || atomic_load(&c->abort))
                goto out;
            if (done > kicked) { /* let the loop start on what is queued while we wait */
                kicked = done;
                uv_mutex_unlock(&srv->qmu);
                uv_async_send(&srv->async);
                uv_mutex_lock(&srv->qmu);
                continue;
            }
            uv_cond_timedwait(&srv->qroom, &srv->qmu, (uint64_t)RECV_TIMEOUT_MS * 1000000u);
        }
        while (done < n && srv->qcount < srv->qcap) {
            srv->q[(srv->qhead + srv->qcount) % srv->qcap] = e[done++];
            srv->qcount++;
        }
    }
out:
    uv_mutex_unlock(&srv->qmu);
    if (done)
        uv_async_send(&srv->async);
    return done;
}

static size_t q_pop(cc_srt_server_t *srv, ev_t *out, size_t max)
{
    uv_mutex_lock(&srv->qmu);
    size_t n = 0;
    while (n < max && srv->qcount > 0) {
        out[n++] = srv->q[srv->qhead];
        srv->qhead = (srv->qhead + 1) % srv->qcap;
        srv->qcount--;
    }
    if (n)
        uv_cond_broadcast(&srv->qroom);
    uv_mutex_unlock(&srv->qmu);
    return n;
}

/* ---- logging bridges ------------------------------------------------------ */

/* The handshake libsrt's receiver thread let through the listen callback last.
 * libsrt checks the passphrase after the callback, on the same thread, and
 * only logs when it refuses; this lets that refusal be told with the peer
 * and the stream name, like every other srt.reject. */
static __thread struct {
    cc_srt_server_t *srv;
    uint64_t ms;
    char peer[64];
    char name[CC_STREAM_NAME_MAX + 1];
} last_hs;

static int reject_count(cc_srt_server_t *srv, const char *reason);

/* 1 when message is libsrt refusing last_hs over encryption (logged here). */
static int passphrase_refusal(const char *area, const char *message)
{
    if (!last_hs.srv || !area || strcmp(area, "interpretSrtHandshake") != 0 || mono_ms() - last_hs.ms > 2000)
        return 0;
    const char *reason;
    int code;
    if (strstr(message, "KMREQ")) {
        reason = "bad_passphrase";
        code = SRT_REJ_BADSECRET;
    } else if (strstr(message, "Agent declares encryption")) {
        reason = "passphrase_required";
        code = SRT_REJ_UNSECURE;
    } else if (strstr(message, "Peer declares encryption")) {
        reason = "unexpected_encryption";
        code = SRT_REJ_UNSECURE;
    } else {
        return 0;
    }
    reject_count(last_hs.srv, reason);
    cc_log_warn("srt.reject", "peer=%s stream=%s reason=%s code=%d", last_hs.peer, last_hs.name, reason, code);
    last_hs.srv = NULL;
    return 1;
}

static void srt_log_bridge(void *opaque, int level, const char *file, int line, const char *area, const char *message)
{
    char q[512];
    size_t n = strlen(message);
    char msg[480];
    if (n >= sizeof(msg))
        n = sizeof(msg) - 1;
    memcpy(msg, message, n);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    msg[n] = '\0';
    if (level <= LOG_ERR && passphrase_refusal(area, msg))
        level = LOG_DEBUG; /* told as srt.reject already */
    cc_log(level <= LOG_ERR ? CC_LOG_WARN : CC_LOG_DEBUG, "srt.lib", "area=%s msg=%s", area ? area : "-",
           cc_log_quote(q, sizeof(q), msg));
}

static void av_log_bridge(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > AV_LOG_WARNING || cc_log_get_level() > CC_LOG_DEBUG)
        return;
    char line[400], q[480];
    int prefix = 0;
    av_log_format_line2(NULL, level, fmt, vl, line, sizeof(line), &prefix);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
        line[--n] = '\0';
    const char *name = "-";
    const AVClass *cls = avcl ? *(const AVClass **)avcl : NULL;
    if (cls && cls->class_name && strcmp(cls->class_name, "AVFormatContext") == 0 && ((AVFormatContext *)avcl)->opaque)
        name = ((AVFormatContext *)avcl)->opaque;
    cc_log(CC_LOG_DEBUG, "srt.demux", "stream=%s msg=%s", name, cc_log_quote(q, sizeof(q), line));
}

static void format_addr(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    snprintf(out, outlen, "-");
    if (!sa)
        return;
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(a, ip, sizeof(ip));
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        uv_ip4_name(a, ip, sizeof(ip));
        snprintf(out, outlen, "%s:%u", ip, ntohs(a->sin_port));
    }
}

/* ---- access control (libsrt's thread) ------------------------------------- */

/* Called with srv->mu held. */
static int name_is_live(const cc_srt_server_t *srv, const char *name)
{
    for (const conn_t *c = srv->conns; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return 1;
    for (size_t i = 0; i < srv->nlive; i++)
        if (strcmp(srv->live[i].name, name) == 0)
            return 1;
    return 0;
}

/* Counts a refusal: here, and in the hub's per-reason counters on the loop. */
static int reject_count(cc_srt_server_t *srv, const char *reason)
{
    uv_mutex_lock(&srv->mu);
    srv->rejected++;
    uv_mutex_unlock(&srv->mu);
    ev_t e;
    memset(&e, 0, sizeof(e));
    e.type = EV_REJECT;
    e.u.reason = reason;
    q_push(srv, &e, 0, 0); /* a full queue loses the count, never blocks libsrt */
    return -1;
}

static int reject(cc_srt_server_t *srv, SRTSOCKET ns, int code, const char *reason, const char *peer, const char *name,
                  const char *detail)
{
    srt_setrejectreason(ns, code);
    reject_count(srv, reason);
    cc_log_warn("srt.reject", "peer=%s stream=%s reason=%s code=%d%s%s", peer, name ? name : "-", reason, code,
                detail ? " " : "", detail ? detail : "");
    return -1;
}

/* Maps a streamid to a stream name; the key never leaves this function. */
static int streamid_to_name(const cc_srt_server_t *srv, const char *sid, const char **name, cc_srt_mode_t *mode)
{
    cc_srt_streamid_t id;
    size_t len = sid ? strnlen(sid, CC_SRT_STREAMID_MAX + 1) : 0;
    int rc = cc_srt_streamid_parse(sid ? sid : "", len, &id);
    *mode = id.mode;
    if (rc == 0)
        rc = cc_auth_lookup(srv->auth, id.key, name);
    memset(&id, 0, sizeof(id));
    return rc;
}

static int listen_cb(void *opaque, SRTSOCKET ns, int hsversion, const struct sockaddr *peeraddr, const char *streamid)
{
    cc_srt_server_t *srv = opaque;
    char peer[64];
    format_addr(peeraddr, peer, sizeof(peer));
    if (atomic_load(&srv->stopping))
        return reject(srv, ns, SRT_REJX_DOWN, "shutting_down", peer, NULL, NULL);
    if (hsversion < 5 || !streamid || !streamid[0])
        return reject(srv, ns, SRT_REJX_BAD_REQUEST, "bad_streamid", peer, NULL,
                      "msg=\"no streamid: use streamid=#!::r=live/KEY,m=publish\"");
    const char *name = NULL;
    cc_srt_mode_t mode;
    int rc = streamid_to_name(srv, streamid, &name, &mode);
    if (rc == CC_EUNSUPPORTED) {
        char d[64];
        snprintf(d, sizeof(d), "mode=%s", cc_srt_mode_name(mode));
        return reject(srv, ns, SRT_REJX_BAD_MODE, "bad_mode", peer, NULL, d);
    }
    if (rc == CC_EAUTH)
        return reject(srv, ns, SRT_REJX_FORBIDDEN, "bad_key", peer, NULL, NULL);
    if (rc < 0 || !name)
        return reject(srv, ns, SRT_REJX_BAD_REQUEST, "bad_streamid", peer, NULL, NULL);
    uv_mutex_lock(&srv->mu);
    int busy = name_is_live(srv, name);
    int full = srv->open >= srv->cfg.max_connections;
    uv_mutex_unlock(&srv->mu);
    if (busy)
        return reject(srv, ns, SRT_REJX_CONFLICT, "busy", peer, name, NULL);
    if (full)
        return reject(srv, ns, SRT_REJX_OVERLOAD, "too_many_connections", peer, name, NULL);
    const char *pass = passphrase_for(srv, name);
    if (pass != srv->passphrase) {
        /* A per-stream passphrase replaces the listener's for this caller. */
        if (srt_setsockflag(ns, SRTO_PASSPHRASE, pass, (int)strlen(pass)) < 0)
            return reject(srv, ns, SRT_REJX_ISE, "internal", peer, name, NULL);
        if (srv->cfg.pbkeylen)
            srt_setsockflag(ns, SRTO_PBKEYLEN, &srv->cfg.pbkeylen, sizeof(int));
    }
    cc_log_debug("srt.handshake", "peer=%s stream=%s encrypted=%d", peer, name, pass[0] != '\0');
    last_hs.srv = srv;
    last_hs.ms = mono_ms();
    snprintf(last_hs.peer, sizeof(last_hs.peer), "%s", peer);
    snprintf(last_hs.name, sizeof(last_hs.name), "%s", name);
    return 0;
}

/* ---- one publisher (its own thread) --------------------------------------- */

static void sample_stats(conn_t *c, int push)
{
    SRT_TRACEBSTATS p;
    memset(&p, 0, sizeof(p));
    if (srt_bstats(c->sock, &p, 1) < 0)
        return;
    if (p.pktRcvRetrans > 0)
        c->retrans_total += (uint64_t)p.pktRcvRetrans;
    ev_t e;
    memset(&e, 0, sizeof(e));
    e.type = EV_STATS;
    e.c = c;
    cc_srt_stats_t *s = &e.u.stats;
    s->rtt_ms = p.msRTT;
    s->recv_rate_mbps = p.mbpsRecvRate;
    s->bandwidth_mbps = p.mbpsBandwidth;
    s->latency_ms = p.msRcvTsbPdDelay > 0 ? (uint32_t)p.msRcvTsbPdDelay : 0;
    s->bytes_received = p.byteRecvTotal;
    s->packets_received = p.pktRecvTotal > 0 ? (uint64_t)p.pktRecvTotal : 0;
    s->packets_lost = p.pktRcvLossTotal > 0 ? (uint64_t)p.pktRcvLossTotal : 0;
    s->packets_retransmitted = c->retrans_total;
    s->packets_dropped = p.pktRcvDropTotal > 0 ? (uint64_t)p.pktRcvDropTotal : 0;
    s->updated_us = cc_now_us();
    if (push)
        q_push(c->srv, &e, 0, 0); /* stats are advisory: never wait for room */
}

/* Queues the connection's pending events (waiting for room).  On failure
 * (stopping, or the loop aborted c) releases what could not be queued. */
static int flush_pending(conn_t *c)
{
    if (c->npend == 0)
        return 0;
    size_t n = q_push_many(c->srv, c, c->pend, c->npend);
    for (size_t i = n; i < c->npend; i++)
        ev_release(&c->pend[i]);
    int rc = n == c->npend ? 0 : CC_ECLOSED;
    c->npend = 0;
    return rc;
}

/* Takes e (and what it owns) into the pending batch, flushing at the caps. */
static int add_pending(conn_t *c, const ev_t *e)
{
    if (c->npend == 0)
        c->pend_ms = mono_ms();
    c->pend[c->npend++] = *e;
    if (c->npend == PEND_MAX || mono_ms() - c->pend_ms >= PEND_MAX_MS)
        return flush_pending(c);
    return 0;
}

/* 1 when libsrt has a packet ready to read now (TSBPD time reached). */
static int data_ready(SRTSOCKET s)
{
    int32_t ev = 0;
    int len = sizeof(ev);
    return srt_getsockflag(s, SRTO_EVENT, &ev, &len) == 0 && (ev & (SRT_EPOLL_IN | SRT_EPOLL_ERR)) == SRT_EPOLL_IN;
}

/* The demuxer's read hook.  Receives straight into the demuxer's buffer when
 * a whole payload fits (its AVIO buffer is 64 KiB), through rbuf otherwise.
 * Before a read that would block, the pending tracks and frames go to the loop. */
static int conn_read(void *opaque, uint8_t *buf, size_t len)
{
    conn_t *c = opaque;
    cc_srt_server_t *srv = c->srv;
    for (;;) {
        if (c->roff < c->rlen) {
            size_t n = c->rlen - c->roff;
            if (n > len)
                n = len;
            memcpy(buf, c->rbuf + c->roff, n);
            c->roff += n;
            return (int)n;
        }
        if (atomic_load(&srv->stopping)) {
            c->reason = "shutdown";
            return c->read_code = CC_ECLOSED;
        }
        if (atomic_load(&c->abort)) {
            c->reason = "busy";
            c->error = 1;
            return c->read_code = CC_EBUSY;
        }
        uint64_t now = mono_ms();
        if (now - c->last_stats_ms >= STATS_EVERY_MS) {
            c->last_stats_ms = now;
            sample_stats(c, 1);
        }
        if (now - c->last_data_ms >= srv->cfg.idle_timeout_ms) {
            c->reason = "idle_timeout";
            c->error = 1;
            return c->read_code = CC_ETIMEDOUT;
        }
        if (!c->have_video && now - c->connected_ms >= srv->cfg.media_timeout_ms) {
            c->reason = "no_video";
            c->error = 1;
            snprintf(c->detail, sizeof(c->detail), "no H.264 or HEVC video track within %u ms",
                     srv->cfg.media_timeout_ms);
            return c->read_code = CC_ETIMEDOUT;
        }
        if (c->npend && !data_ready(c->sock) && flush_pending(c) < 0)
            continue; /* stopping or aborted: said at the top of the loop */
        int direct = len >= RECV_BUF;
        int n = srt_recvmsg(c->sock, direct ? (char *)buf : (char *)c->rbuf, direct ? (int)len : (int)sizeof(c->rbuf));
        if (n > 0) {
            c->last_data_ms = mono_ms();
            if (direct)
                return n;
            c->rlen = (size_t)n;
            c->roff = 0;
            continue;
        }
        int err = n == SRT_ERROR ? srt_getlasterror(NULL) : 0;
        if (err == SRT_ETIMEOUT || err == SRT_EASYNCRCV)
            continue; /* RECV_TIMEOUT_MS passed with nothing (SRTO_RCVTIMEO reports SRT_ETIMEOUT) */
        c->reason = "closed";
        if (err != 0 && err != SRT_ECONNLOST && err != SRT_ENOCONN && err != SRT_EINVSOCK)
            snprintf(c->detail, sizeof(c->detail), "%s", srt_getlasterror_str());
        return c->read_code = CC_ECLOSED;
    }
}

static int conn_on_track(void *opaque, int index, cc_track_t *track)
{
    conn_t *c = opaque;
    ev_t e;
    memset(&e, 0, sizeof(e));
    e.type = EV_TRACK;
    e.c = c;
    e.index = index;
    e.u.track = *track;
    int video = track->kind == CC_MEDIA_VIDEO;
    memset(track, 0, sizeof(*track)); /* the batch owns the config now, even on failure */
    if (add_pending(c, &e) < 0)
        return CC_ECLOSED;
    if (video)
        c->have_video = 1;
    return 0;
}

static int conn_on_frame(void *opaque, cc_frame_t *frame)
{
    conn_t *c = opaque;
    ev_t e;
    memset(&e, 0, sizeof(e));
    e.type = EV_FRAME;
    e.c = c;
    e.u.frame = *frame;
    return add_pending(c, &e) < 0 ? CC_ECLOSED : 0; /* the batch owns frame->buf, even on failure */
}

static void conn_main(void *arg)
{
    conn_t *c = arg;
    pthread_setname_np(pthread_self(), "srt-pub");
    cc_srt_server_t *srv = c->srv;
    c->connected_ms = c->last_data_ms = c->last_stats_ms = mono_ms();
    ev_t e;
    memset(&e, 0, sizeof(e));
    e.type = EV_PUBLISH;
    e.c = c;
    int rc = q_push(srv, &e, 1, 1);
    if (rc == 0) {
        cc_srt_demux_config_t dcfg;
        cc_srt_demux_config_default(&dcfg);
        dcfg.log_name = c->name;
        cc_srt_demux_hooks_t hooks = {conn_read, conn_on_track, conn_on_frame, c};
        char why[256] = "";
        rc = cc_srt_demux_run(&dcfg, &hooks, &c->dstats, why, sizeof(why));
        if (rc < 0 && (rc != c->read_code || !c->reason)) {
            /* The demuxer's own failure: it outranks "the publisher then closed". */
            c->error = 1;
            c->reason = rc == CC_EUNSUPPORTED ? "unsupported" : rc == CC_ENOMEM ? "out_of_memory" : "bad_input";
        } else if (!c->reason) {
            c->reason = "closed";
        }
        if (why[0] && (rc != c->read_code || !c->detail[0]))
            snprintf(c->detail, sizeof(c->detail), "%s", why); /* the demuxer's reason outranks the socket's */
        flush_pending(c); /* the last frames before END */
        sample_stats(c, 1);
    } else {
        c->reason = "shutdown";
    }
    srt_close(c->sock);
    c->sock = SRT_INVALID_SOCK;
    memset(&e, 0, sizeof(e));
    e.type = EV_END;
    e.c = c;
    q_push(srv, &e, 1, 0); /* fails only when stopping: stop then ends c itself */
}

/* ---- acceptor thread ------------------------------------------------------ */

/* Accepts one caller (blocking); returns its socket, or SRT_INVALID_SOCK when
 * srt_accept failed (errors in srt_getlasterror). */
static SRTSOCKET accept_one(cc_srt_server_t *srv)
{
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    SRTSOCKET s = srt_accept(srv->lsn, (struct sockaddr *)&ss, &sslen);
    if (s == SRT_INVALID_SOCK)
        return s;
    char peer[64];
    format_addr((struct sockaddr *)&ss, peer, sizeof(peer));
    /* The listen callback already checked this streamid; map it again rather
     * than keep keys or names between the two calls. */
    char sid[CC_SRT_STREAMID_MAX + 1];
    int sidlen = (int)sizeof(sid) - 1;
    const char *name = NULL;
    cc_srt_mode_t mode;
    memset(sid, 0, sizeof(sid));
    int rc = srt_getsockflag(s, SRTO_STREAMID, sid, &sidlen);
    if (rc == 0 && sidlen >= 0 && sidlen < (int)sizeof(sid))
        sid[sidlen] = '\0';
    rc = rc == 0 ? streamid_to_name(srv, sid, &name, &mode) : CC_EPROTO;
    memset(sid, 0, sizeof(sid));
    if (rc < 0 || !name) {
        cc_log_warn("srt.close", "peer=%s stream=- reason=bad_streamid", peer);
        srt_close(s);
        return s;
    }
    int timeo = RECV_TIMEOUT_MS;
    srt_setsockflag(s, SRTO_RCVTIMEO, &timeo, sizeof(timeo));
    conn_t *c = calloc(1, sizeof(*c));
    if (!c) {
        srt_close(s);
        return s;
    }
    c->srv = srv;
    c->sock = s;
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    uv_mutex_lock(&srv->mu);
    int busy = 0; /* among SRT publishers; the hub's own check covers RTMP */
    for (conn_t *o = srv->conns; o; o = o->next)
        if (strcmp(o->name, c->name) == 0)
            busy = 1;
    if (!busy) {
        c->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = c;
        srv->conns = c;
        srv->open++;
        srv->total++;
    }
    uv_mutex_unlock(&srv->mu);
    if (busy) {
        /* Two callers raced through the listen callback for one name. */
        cc_log_warn("srt.close", "peer=%s stream=%s reason=busy", peer, c->name);
        srt_close(s);
        free(c);
        return s;
    }
    cc_log_info("srt.accept", "peer=%s stream=%s", peer, c->name);
    if (uv_thread_create(&c->thread, conn_main, c) != 0) {
        uv_mutex_lock(&srv->mu);
        if (c->prev)
            c->prev->next = c->next;
        else
            srv->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        srv->open--;
        uv_mutex_unlock(&srv->mu);
        cc_log_error("srt.close", "peer=%s stream=%s reason=no_thread", peer, c->name);
        srt_close(s);
        free(c);
    }
    return s;
}

/* Blocks in srt_accept (the listener is blocking, SRTO_RCVSYN) and sleeps
 * until a caller is through the handshake: no timeout, no polling.  Stop
 * wakes it by closing the listener (libsrt then fails the accept).  Not
 * srt_epoll: libsrt's epoll wait re-checks every 10 ms whatever its timeout,
 * ~100 wakeups a second with no publisher at all. */
static void acceptor_main(void *arg)
{
    cc_srt_server_t *srv = arg;
    pthread_setname_np(pthread_self(), "srt-accept");
    while (!atomic_load(&srv->stopping)) {
        SRTSOCKET s = accept_one(srv);
        if (s != SRT_INVALID_SOCK || atomic_load(&srv->stopping))
            continue;
        int err = srt_getlasterror(NULL);
        if (err == SRT_EINVSOCK || err == SRT_ENOLISTEN || err == SRT_ESCLOSED)
            break; /* the listener is gone */
        uv_sleep(100); /* a transient failure: never spin */
    }
}

/* ---- the loop side -------------------------------------------------------- */

static void refresh_live(cc_srt_server_t *srv)
{
    size_t n = cc_hub_count(srv->hub);
    uv_mutex_lock(&srv->mu);
    if (n > srv->live_cap) {
        name_entry_t *p = realloc(srv->live, n * 2 * sizeof(*p));
        if (p) {
            srv->live = p;
            srv->live_cap = n * 2;
        }
    }
    size_t i = 0;
    for (cc_stream_t *st = cc_hub_next(srv->hub, NULL); st && i < srv->live_cap; st = cc_hub_next(srv->hub, st))
        snprintf(srv->live[i++].name, sizeof(srv->live[0].name), "%s", cc_stream_name(st));
    srv->nlive = i;
    uv_mutex_unlock(&srv->mu);
}

static void end_conn(cc_srt_server_t *srv, conn_t *c)
{
    if (c->stream) {
        cc_log_info("srt.unpublish", "peer=%s stream=%s reason=%s frames=%llu", c->peer, c->name,
                    c->reason ? c->reason : "closed", (unsigned long long)c->frames);
        cc_stream_end(c->stream);
        c->stream = NULL;
    }
    char q[300];
    /* libsrt's totals from the last sample (taken as the thread ended). */
    unsigned long long lost = c->stats.packets_lost, retrans = c->stats.packets_retransmitted,
                       dropped = c->stats.packets_dropped;
    if (c->error)
        cc_log_warn("srt.close", "peer=%s stream=%s reason=%s bytes=%llu lost=%llu retrans=%llu dropped=%llu%s%s",
                    c->peer, c->name, c->reason ? c->reason : "error", (unsigned long long)c->dstats.bytes, lost,
                    retrans, dropped, c->detail[0] ? " msg=" : "", c->detail[0] ? cc_log_quote(q, sizeof(q), c->detail) : "");
    else
        cc_log_info("srt.close", "peer=%s stream=%s reason=%s bytes=%llu lost=%llu retrans=%llu dropped=%llu", c->peer,
                    c->name, c->reason ? c->reason : "closed", (unsigned long long)c->dstats.bytes, lost, retrans,
                    dropped);
    if (!c->joined) {
        uv_thread_join(&c->thread); /* it pushed END as its last act */
        c->joined = 1;
    }
    uv_mutex_lock(&srv->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->open--;
    if (c->error)
        srv->closed_error++;
    uv_mutex_unlock(&srv->mu);
    free(c);
}

/* Returns 1 when the hub's set of streams changed. */
static int process(cc_srt_server_t *srv, ev_t *e)
{
    conn_t *c = e->c;
    switch (e->type) {
    case EV_PUBLISH: {
        if (srv->stopped)
            return 0;
        cc_stream_t *st = NULL;
        int rc = cc_hub_publish(srv->hub, c->name, "srt", c->peer, &st);
        if (rc < 0) {
            cc_hub_count_rejected(srv->hub, rc == CC_EBUSY ? "busy" : "publish_failed");
            cc_log_warn("srt.reject", "peer=%s stream=%s reason=%s code=%d", c->peer, c->name,
                        rc == CC_EBUSY ? "busy" : cc_err_name(rc), SRT_REJX_CONFLICT);
            atomic_store(&c->abort, 1);
            return 0;
        }
        c->stream = st;
        cc_stream_set_publisher_data(st, &c->stats);
        cc_log_info("srt.publish", "peer=%s stream=%s", c->peer, c->name);
        return 1;
    }
    case EV_TRACK:
        if (c->stream)
            cc_stream_set_track(c->stream, e->index, &e->u.track);
        cc_track_clear(&e->u.track);
        return 0;
    case EV_FRAME:
        if (c->stream && cc_stream_push(c->stream, &e->u.frame) == 0)
            c->frames++;
        cc_buf_unref(e->u.frame.buf);
        return 0;
    case EV_STATS:
        c->stats = e->u.stats;
        return 0;
    case EV_END:
        end_conn(srv, c);
        return 1;
    case EV_REJECT:
        cc_hub_count_rejected(srv->hub, e->u.reason);
        return 0;
    }
    return 0;
}

static void drain(cc_srt_server_t *srv)
{
    ev_t batch[POP_BATCH];
    int changed = 0;
    size_t n;
    while ((n = q_pop(srv, batch, POP_BATCH)) > 0)
        for (size_t i = 0; i < n; i++)
            changed |= process(srv, &batch[i]);
    if (changed && !srv->stopped)
        refresh_live(srv);
}

static void on_async(uv_async_t *h)
{
    drain(h->data);
}

static void on_timer(uv_timer_t *t)
{
    refresh_live(t->data);
}

static void free_server(cc_srt_server_t *srv)
{
    ev_t e;
    while (q_pop(srv, &e, 1) == 1)
        ev_release(&e);
    free(srv->q);
    free(srv->live);
    free(srv->pass);
    uv_mutex_destroy(&srv->mu);
    uv_mutex_destroy(&srv->qmu);
    uv_cond_destroy(&srv->qroom);
    free(srv);
}

static void on_handle_closed(uv_handle_t *h)
{
    cc_srt_server_t *srv = h->data;
    if (--srv->handles == 0)
        free_server(srv);
}

/* ---- start / stop --------------------------------------------------------- */

static int srt_users; /* srt_startup / srt_cleanup pairs, loop thread only */

static int listen_socket(cc_srt_server_t *srv)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int sslen;
    if (strchr(srv->bind, ':')) {
        if (uv_ip6_addr(srv->bind, srv->cfg.port, (struct sockaddr_in6 *)&ss) != 0)
            return CC_EINVAL;
        sslen = sizeof(struct sockaddr_in6);
    } else {
        if (uv_ip4_addr(srv->bind, srv->cfg.port, (struct sockaddr_in *)&ss) != 0)
            return CC_EINVAL;
        sslen = sizeof(struct sockaddr_in);
    }
    srv->lsn = srt_create_socket();
    if (srv->lsn == SRT_INVALID_SOCK)
        return CC_EPROTO;
    int yes = 1, latency = (int)srv->cfg.latency_ms;
    srt_setsockflag(srv->lsn, SRTO_RCVSYN, &yes, sizeof(yes));
    srt_setsockflag(srv->lsn, SRTO_RCVLATENCY, &latency, sizeof(latency));
    if (srv->passphrase[0] &&
        srt_setsockflag(srv->lsn, SRTO_PASSPHRASE, srv->passphrase, (int)strlen(srv->passphrase)) < 0)
        return CC_ECONFIG;
    if (srv->cfg.pbkeylen && srt_setsockflag(srv->lsn, SRTO_PBKEYLEN, &srv->cfg.pbkeylen, sizeof(int)) < 0)
        return CC_ECONFIG;
    /* srt_bind starts libsrt's receive thread for the port, and that thread
     * starts each connection's TSBPD thread: both inherit this thread's timer
     * slack, so it is raised for the call only (see LIBSRT_TIMER_SLACK_NS). */
    int slack_old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    int slack_set = slack_old >= 0 && prctl(PR_SET_TIMERSLACK, LIBSRT_TIMER_SLACK_NS, 0, 0, 0) == 0;
    int bound = srt_bind(srv->lsn, (struct sockaddr *)&ss, sslen);
    if (slack_set)
        prctl(PR_SET_TIMERSLACK, (unsigned long)slack_old, 0, 0, 0);
    if (bound == SRT_ERROR) {
        int sys = 0;
        int e = srt_getlasterror(&sys);
        cc_log_error("srt.listen", "bind=%s port=%d error=%s", srv->bind, srv->cfg.port, srt_getlasterror_str());
        return e == SRT_EDUPLISTEN || sys == EADDRINUSE ? UV_EADDRINUSE : CC_EPROTO;
    }
    if (srt_listen_callback(srv->lsn, listen_cb, srv) == SRT_ERROR || srt_listen(srv->lsn, 16) == SRT_ERROR) {
        cc_log_error("srt.listen", "bind=%s port=%d error=%s", srv->bind, srv->cfg.port, srt_getlasterror_str());
        return CC_EPROTO;
    }
    struct sockaddr_storage got;
    int gotlen = sizeof(got);
    srv->port = srv->cfg.port;
    if (srt_getsockname(srv->lsn, (struct sockaddr *)&got, &gotlen) == 0)
        srv->port = got.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
                                              : ntohs(((struct sockaddr_in *)&got)->sin_port);
    return 0;
}

int cc_srt_server_start(uv_loop_t *loop, const cc_srt_config_t *cfg, cc_hub_t *hub, cc_auth_t *auth,
                        cc_srt_server_t **out)
{
    if (out)
        *out = NULL;
    if (!loop || !cfg || !hub || !auth || !out)
        return CC_EINVAL;
    char err[160];
    if (cc_srt_config_check(cfg, err, sizeof(err)) < 0) {
        cc_log_error("srt.config", "msg=\"%s\"", err);
        return CC_ECONFIG;
    }
    cc_srt_server_t *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return CC_ENOMEM;
    srv->loop = loop;
    srv->hub = hub;
    srv->auth = auth;
    srv->cfg = *cfg;
    srv->lsn = SRT_INVALID_SOCK;
    snprintf(srv->bind, sizeof(srv->bind), "%s", cfg->bind);
    srv->cfg.bind = srv->bind;
    snprintf(srv->passphrase, sizeof(srv->passphrase), "%s", cfg->passphrase ? cfg->passphrase : "");
    srv->cfg.passphrase = srv->passphrase;
    srv->cfg.stream_passphrases = NULL;
    srv->cfg.nstream_passphrases = 0;
    srv->qcap = cfg->queue_max;
    srv->q = calloc(srv->qcap, sizeof(ev_t));
    srv->pass = cfg->nstream_passphrases ? calloc(cfg->nstream_passphrases, sizeof(*srv->pass)) : NULL;
    if (!srv->q || (cfg->nstream_passphrases && !srv->pass)) {
        free(srv->q);
        free(srv->pass);
        free(srv);
        return CC_ENOMEM;
    }
    for (size_t i = 0; i < cfg->nstream_passphrases; i++) {
        const char *e = cfg->stream_passphrases[i], *eq = strchr(e, '=');
        memcpy(srv->pass[i].name, e, (size_t)(eq - e));
        snprintf(srv->pass[i].pass, sizeof(srv->pass[i].pass), "%s", eq + 1);
    }
    srv->npass = cfg->nstream_passphrases;
    uv_mutex_init(&srv->mu);
    uv_mutex_init(&srv->qmu);
    uv_cond_init(&srv->qroom);

    if (srt_users++ == 0) {
        srt_startup();
        srt_setloghandler(NULL, srt_log_bridge);
        srt_setloglevel(LOG_ERR);
        av_log_set_callback(av_log_bridge);
    }
    /* The async handle exists before the listener: the listen callback may
     * queue a rejection count as soon as srt_listen returns. */
    uv_async_init(loop, &srv->async, on_async);
    srv->async.data = srv;
    uv_timer_init(loop, &srv->timer);
    srv->timer.data = srv;
    srv->handles = 2;
    int rc = listen_socket(srv);
    if (rc == 0 && uv_thread_create(&srv->acceptor, acceptor_main, srv) != 0)
        rc = CC_ENOMEM;
    if (rc < 0) {
        if (srv->lsn != SRT_INVALID_SOCK)
            srt_close(srv->lsn);
        if (--srt_users == 0) {
            srt_cleanup();
            av_log_set_callback(av_log_default_callback);
        }
        srv->stopped = 1;
        /* The handles free srv in their close callbacks, on the caller's loop. */
        uv_close((uv_handle_t *)&srv->async, on_handle_closed);
        uv_close((uv_handle_t *)&srv->timer, on_handle_closed);
        return rc;
    }
    srv->acceptor_started = 1;
    uv_timer_start(&srv->timer, on_timer, SNAPSHOT_EVERY_MS, SNAPSHOT_EVERY_MS);
    uv_unref((uv_handle_t *)&srv->timer); /* the async handle keeps the loop alive, not this */
    cc_log_info("srt.listen", "bind=%s port=%d latency_ms=%u encryption=%s stream_passphrases=%zu", srv->bind,
                srv->port, srv->cfg.latency_ms, srv->passphrase[0] ? "on" : "off", srv->npass);
    *out = srv;
    return 0;
}

void cc_srt_server_stop(cc_srt_server_t *srv)
{
    if (!srv || srv->stopped)
        return;
    srv->stopped = 1;
    atomic_store(&srv->stopping, 1);
    uv_mutex_lock(&srv->qmu);
    uv_cond_broadcast(&srv->qroom);
    uv_mutex_unlock(&srv->qmu);
    /* Closing the listener wakes the acceptor out of srt_accept; a caller it
     * accepted meanwhile is in conns before the join returns. */
    srt_close(srv->lsn);
    if (srv->acceptor_started)
        uv_thread_join(&srv->acceptor);
    /* Every publisher thread notices within RECV_TIMEOUT_MS and returns. */
    uv_mutex_lock(&srv->mu);
    conn_t *list = srv->conns;
    uv_mutex_unlock(&srv->mu);
    for (conn_t *c = list; c; c = c->next) {
        uv_thread_join(&c->thread);
        c->joined = 1;
    }
    drain(srv); /* END events free their connections */
    while (srv->conns)
        end_conn(srv, srv->conns); /* threads that could not queue their END */
    if (--srt_users == 0) {
        srt_cleanup();
        av_log_set_callback(av_log_default_callback);
    }
    cc_log_info("srt.stop", "port=%d", srv->port);
    uv_close((uv_handle_t *)&srv->async, on_handle_closed);
    uv_close((uv_handle_t *)&srv->timer, on_handle_closed);
}

int cc_srt_server_port(const cc_srt_server_t *srv)
{
    return srv ? srv->port : 0;
}

void cc_srt_server_stats_each(cc_srt_server_t *srv, void (*cb)(const char *name, const cc_srt_stats_t *stats, void *data),
                              void *data)
{
    if (!srv || !cb)
        return;
    /* conns changes only on the loop (end_conn) and in the acceptor (insert
     * at the head); holding mu keeps the walk safe against both. */
    uv_mutex_lock(&srv->mu);
    for (conn_t *c = srv->conns; c; c = c->next)
        if (c->stream)
            cb(c->name, &c->stats, data);
    uv_mutex_unlock(&srv->mu);
}

void cc_srt_server_counters(const cc_srt_server_t *srv, uint64_t *open, uint64_t *total, uint64_t *rejected,
                            uint64_t *closed_error)
{
    uint64_t o = 0, t = 0, r = 0, e = 0;
    if (srv) {
        uv_mutex_lock((uv_mutex_t *)&srv->mu);
        o = srv->open;
        t = srv->total;
        r = srv->rejected;
        e = srv->closed_error;
        uv_mutex_unlock((uv_mutex_t *)&srv->mu);
    }
    if (open)
        *open = o;
    if (total)
        *total = t;
    if (rejected)
        *rejected = r;
    if (closed_error)
        *closed_error = e;
}
