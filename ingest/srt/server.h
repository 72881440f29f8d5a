/* The SRT listener: publishers send MPEG-TS over SRT (libsrt), the frames land
 * in the stream hub on the caller's loop thread, like RTMP's.
 *
 *   cc_srt_config_t cfg;
 *   cc_srt_config_default(&cfg);
 *   cfg.port = 9000;
 *   cc_srt_server_t *srv;
 *   int rc = cc_srt_server_start(loop, &cfg, hub, auth, &srv);
 *   ...
 *   cc_srt_server_stop(srv);   // joins every thread, ends every SRT stream;
 *                              // srv is freed once the loop runs the close callbacks
 *
 * Threads (docs/srt.md): libsrt sockets cannot be polled by libuv, so SRT runs
 * off the loop.  One acceptor thread waits on the listener with srt_epoll;
 * each publisher gets its own thread that reads its socket and runs the
 * MPEG-TS demuxer (libavformat pulls bytes with blocking reads).  Everything
 * they produce (publish, tracks, frames, stats, end) crosses to the loop
 * through one bounded queue and a uv_async_t, transferring the cc_buf_t
 * references; when the queue is full a publisher thread waits (backpressure
 * into libsrt's receive buffer), so memory stays bounded.
 *
 * Access control runs in libsrt's listen callback, before the handshake is
 * answered: the streamid (streamid.h) must name a known key, in publish mode,
 * for a name that is not live; otherwise the caller gets the SRT rejection
 * reason SRT_REJX_FORBIDDEN (1403), SRT_REJX_BAD_MODE (1405),
 * SRT_REJX_CONFLICT (1409), SRT_REJX_BAD_REQUEST (1400) or SRT_REJX_OVERLOAD
 * (1402), and the origin logs `srt.reject` with the reason, never the key.
 * hub and auth must outlive the server; auth must not change while it runs. */
#ifndef CARTCAST_INGEST_SRT_SERVER_H
#define CARTCAST_INGEST_SRT_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cartcast/hub.h"
#include "ingest/auth.h"

typedef struct cc_srt_config {
    const char *bind;          /* "0.0.0.0"; an address with ':' binds IPv6 */
    int port;                  /* 9000; 0 picks a free UDP port (see cc_srt_server_port) */
    uint32_t latency_ms;       /* 120: receiver latency (SRTO_RCVLATENCY) */
    const char *passphrase;    /* NULL/"": no encryption required; else 10..79 bytes (SRTO_PASSPHRASE) */
    int pbkeylen;              /* 0 (libsrt's default, AES-128) or 16, 24, 32 */
    /* Per-stream passphrases, "NAME=PASSPHRASE" each (the name, not the key:
     * the key is already secret).  They replace `passphrase` for that name. */
    const char *const *stream_passphrases;
    size_t nstream_passphrases;
    uint32_t idle_timeout_ms;  /* 10000: no media byte for this long ends the publish */
    uint32_t media_timeout_ms; /* 10000: connected this long without a video track ends it */
    uint32_t max_connections;  /* 64: one thread each; more are refused with SRT_REJX_OVERLOAD */
    size_t queue_max;          /* 4096 events between the SRT threads and the loop */
} cc_srt_config_t;

void cc_srt_config_default(cc_srt_config_t *cfg);
/* Checks a configuration before start: 0 or CC_ECONFIG with a message in err. */
int cc_srt_config_check(const cc_srt_config_t *cfg, char *err, size_t errlen);

typedef struct cc_srt_server cc_srt_server_t;

/* Binds and listens.  0 and *out, or a negative code: CC_ECONFIG for a bad
 * configuration, CC_EINVAL for a bad bind address, UV_EADDRINUSE when the
 * port is taken, CC_EPROTO for another libsrt failure (logged).  Nothing is
 * left open on failure (the two libuv handles close on the loop's next turn). */
int cc_srt_server_start(uv_loop_t *loop, const cc_srt_config_t *cfg, cc_hub_t *hub, cc_auth_t *auth,
                        cc_srt_server_t **out);
/* Refuses new callers, joins every thread (at most ~200 ms), ends every SRT
 * stream in the hub, closes the libuv handles; the server frees itself in
 * the last close callback, so keep the loop running.  NULL-safe. */
void cc_srt_server_stop(cc_srt_server_t *srv);
/* The UDP port actually bound. */
int cc_srt_server_port(const cc_srt_server_t *srv);

/* Per-publisher SRT statistics (libsrt's srt_bstats, refreshed every second
 * on the publisher's thread and copied on the loop).  For an SRT stream the
 * hub's publisher-data slot points at one of these:
 *     if (strcmp(cc_stream_protocol(st), "srt") == 0)
 *         const cc_srt_stats_t *s = cc_stream_publisher_data(st);   // may be NULL
 * valid until the stream ends; read it on the loop thread only. */
typedef struct cc_srt_stats {
    double rtt_ms;              /* smoothed round-trip time */
    double recv_rate_mbps;      /* receive rate over the last second */
    double bandwidth_mbps;      /* estimated link bandwidth */
    uint32_t latency_ms;        /* negotiated receiver (TSBPD) latency */
    uint64_t bytes_received;    /* totals since the connection started */
    uint64_t packets_received;
    uint64_t packets_lost;          /* detected missing (before any retransmission) */
    uint64_t packets_retransmitted; /* retransmitted packets received */
    uint64_t packets_dropped;       /* too late to play, never delivered */
    uint64_t updated_us;            /* wall clock of this sample; 0 before the first */
} cc_srt_stats_t;

/* Calls cb for every SRT publisher with a live stream (loop thread). */
void cc_srt_server_stats_each(cc_srt_server_t *srv, void (*cb)(const char *name, const cc_srt_stats_t *stats, void *data),
                              void *data);

/* Process-wide counters for /metrics; any pointer may be NULL, srv may be NULL (all 0).
 * open: connections with a thread; total: accepted since start; rejected: refused in
 * the listen callback; closed_error: ended by a demux error, a timeout or a refusal. */
void cc_srt_server_counters(const cc_srt_server_t *srv, uint64_t *open, uint64_t *total, uint64_t *rejected,
                            uint64_t *closed_error);

#endif
