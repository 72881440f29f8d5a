/* The RTMP listener: libuv glue around cc_rtmp_session (one per TCP
 * connection).  Runs on the caller's loop thread.
 *
 *   cc_rtmp_config_t cfg;
 *   cc_rtmp_config_default(&cfg);
 *   cfg.port = 1935;
 *   cc_rtmp_server_t *srv;
 *   int rc = cc_rtmp_server_start(loop, &cfg, hub, auth, &srv);
 *   ...
 *   cc_rtmp_server_stop(srv);   // closes everything; srv is freed once the
 *                               // loop has run the close callbacks
 *
 * Every connection is closed, with a `rtmp.close` log line naming the reason,
 * when it breaks the protocol, has not published within
 * handshake_timeout_ms, sends nothing for idle_timeout_ms, or lets more than
 * write_queue_max bytes of our replies pile up.  hub and auth must outlive
 * the server. */
#ifndef CARTCAST_INGEST_RTMP_SERVER_H
#define CARTCAST_INGEST_RTMP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cartcast/hub.h"
#include "ingest/auth.h"
#include "ingest/rtmp/session.h"

typedef struct cc_rtmp_config {
    const char *bind;              /* "0.0.0.0"; an address with ':' binds IPv6 */
    int port;                      /* 1935; 0 picks a free port (see cc_rtmp_server_port) */
    uint32_t handshake_timeout_ms; /* 10000: from accept to a started publish */
    uint32_t idle_timeout_ms;      /* 30000: no byte received for this long */
    size_t write_queue_max;        /* 1 MiB of replies not yet written */
    uint32_t max_connections;      /* 1024; further connections are closed at once */
    cc_rtmp_session_config_t session;
} cc_rtmp_config_t;

void cc_rtmp_config_default(cc_rtmp_config_t *cfg);

typedef struct cc_rtmp_server cc_rtmp_server_t;

/* Binds and listens.  0 and *out, or a negative code (libuv's for bind and
 * listen errors, e.g. UV_EADDRINUSE); nothing is left open on failure. */
int cc_rtmp_server_start(uv_loop_t *loop, const cc_rtmp_config_t *cfg, cc_hub_t *hub, cc_auth_t *auth,
                         cc_rtmp_server_t **out);
/* Stops listening and closes every connection (their streams end).  The
 * server frees itself in the last close callback; do not use srv after this. */
void cc_rtmp_server_stop(cc_rtmp_server_t *srv);
/* The port actually bound. */
int cc_rtmp_server_port(const cc_rtmp_server_t *srv);

typedef struct cc_rtmp_server_stats {
    uint64_t connections_open;
    uint64_t connections_total; /* accepted since start */
    uint64_t publishing;        /* open connections with a live publish */
    uint64_t closed_error;      /* closed for a protocol error, timeout or overflow */
    uint64_t bytes_in;
} cc_rtmp_server_stats_t;

void cc_rtmp_server_stats(const cc_rtmp_server_t *srv, cc_rtmp_server_stats_t *out);
/* The three counters /metrics shows; any pointer may be NULL, srv may be NULL (all 0). */
void cc_rtmp_server_counters(const cc_rtmp_server_t *srv, uint64_t *open, uint64_t *total, uint64_t *closed_error);

#endif
