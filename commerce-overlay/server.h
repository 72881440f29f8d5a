/* The overlay's network side: ONE libwebsockets context on the caller's libuv
 * loop (foreign loop) serving both the operator's HTTP (REST, pages, metrics)
 * and the viewers' WebSockets on the same port.
 *
 * Why not edge/http.c: its lws protocol table is static and HTTP-only; a
 * WebSocket upgrade needs a protocol on the same vhost.  The HTTP part here is
 * smaller (no HTTP/2, no held requests, no ranges): REST answers and files.
 *
 * Ownership:
 *  - An HTTP request (ov_http_t) is handed to on_http once its body is in.
 *    It MUST be answered exactly once, now or later from any loop callback,
 *    with ov_http_respond*(); if the client left meanwhile the answer is
 *    dropped and the request freed all the same.  Never touch it afterwards.
 *  - A WebSocket (ov_conn_t) exists from on_ws_open to on_ws_close; after
 *    on_ws_close it is gone.  ov_conn_send() takes a reference on the message
 *    (one cc_buf_t for every viewer of a broadcast; nothing is copied per
 *    viewer until the write itself).
 *  - Each connection's send queue is bounded (messages and bytes); a message
 *    that does not fit drops the queue and closes the connection with 4008
 *    ("slow client"); if the close frame cannot be written within 10 s the
 *    socket is cut.
 * Single-threaded: everything runs on the loop thread, except the send()s of
 * a big broadcast, which ov_server_broadcast() spreads over worker threads
 * while the loop thread waits for them (no lws or libuv call off the loop). */
#ifndef CARTCAST_OVERLAY_SERVER_H
#define CARTCAST_OVERLAY_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cartcast/buf.h"

/* WebSocket close codes (RFC 6455 7.4; 4000-4999 are ours). */
#define OV_CLOSE_NORMAL 1000
#define OV_CLOSE_GOING_AWAY 1001
#define OV_CLOSE_UNSUPPORTED 1003 /* binary frames */
#define OV_CLOSE_POLICY 1008
#define OV_CLOSE_TOO_BIG 1009
#define OV_CLOSE_INTERNAL 1011
#define OV_CLOSE_TRY_LATER 1013   /* too many connections (per address or in all) */
#define OV_CLOSE_NOT_FOUND 4404   /* stream never announced by the origin */
#define OV_CLOSE_SLOW 4008        /* send queue overflowed: client too slow */

typedef struct ov_server ov_server_t;
typedef struct ov_http ov_http_t;
typedef struct ov_conn ov_conn_t;

typedef struct ov_server_callbacks {
    void (*on_http)(ov_http_t *req, void *data);
    /* A WebSocket on path (the request path, e.g. "/v1/streams/shop/ws") was
     * accepted; query: the raw query string ("" when none).  Return 0 to keep
     * it, or a close code (the connection is then closed with it). */
    int (*on_ws_open)(ov_conn_t *c, const char *path, const char *query, void *data);
    void (*on_ws_message)(ov_conn_t *c, const char *msg, size_t len, void *data);
    void (*on_ws_close)(ov_conn_t *c, void *data);
    void *data;
} ov_server_callbacks_t;

typedef struct ov_server_config {
    const char *bind; /* IP address; NULL or "0.0.0.0" = all */
    int port;         /* 0 = any free port */
    size_t max_message;       /* largest viewer message (bytes): more closes with 1009 */
    size_t send_queue_msgs;   /* per connection, messages waiting (1..1024) */
    size_t send_queue_bytes;  /* per connection, bytes waiting */
    uint32_t max_conns;       /* WebSockets in all */
    uint32_t max_conns_per_addr;
    uint16_t ping_interval_s; /* idle this long -> PING; no traffic for 2x -> hang up */
    size_t max_body;          /* HTTP request body cap (413 above) */
    int sndbuf;               /* SO_SNDBUF of each WebSocket (bytes), 0 = the kernel's autotuning.
                                 Bounds what the kernel holds for a slow viewer, so the
                                 per-connection queue (and 4008) is what decides. */
    unsigned fanout_threads;  /* threads sharing a big broadcast's send()s, the loop's included
                                 (0 = one per online CPU, at most 8; 1 = the loop alone) */
} ov_server_config_t;

void ov_server_config_default(ov_server_config_t *cfg);

/* 0, UV_EADDRINUSE, CC_ECONFIG... */
int ov_server_start(uv_loop_t *loop, const ov_server_config_t *cfg, const ov_server_callbacks_t *cb,
                    ov_server_t **out);
/* Closes everything (on_ws_close runs for every connection, unanswered HTTP
 * requests are dropped); call from a loop callback that is not one of ours
 * and keep the loop running: lws finishes from close callbacks (docs/http.md). */
void ov_server_stop(ov_server_t *s);
int ov_server_port(const ov_server_t *s);

typedef struct ov_server_stats {
    uint64_t conns;           /* open WebSockets */
    uint64_t conns_total;
    uint64_t msgs_in, msgs_out, bytes_out;
    uint64_t dropped_slow;    /* closed with 4008 */
    uint64_t closed_too_big;  /* closed with 1009 */
    uint64_t refused_addr;    /* over the per-address cap */
    uint64_t refused_total;   /* over max_conns */
    uint64_t http_requests;
    uint64_t http_4xx, http_5xx;
} ov_server_stats_t;

void ov_server_get_stats(const ov_server_t *s, ov_server_stats_t *out);

/* ---- HTTP ---- */
const char *ov_http_method(const ov_http_t *r);  /* "GET", "POST", ... */
const char *ov_http_path(const ov_http_t *r);    /* decoded, no query */
const char *ov_http_query(const ov_http_t *r);   /* raw query string, "" when none */
const char *ov_http_authorization(const ov_http_t *r); /* "" when absent */
const char *ov_http_idempotency_key(const ov_http_t *r); /* "" when absent */
cc_iov_t ov_http_body(const ov_http_t *r);
const char *ov_http_peer(const ov_http_t *r);    /* IP address */
/* Copies body; extra_headers: "name: value\r\n..." or NULL. */
int ov_http_respond(ov_http_t *r, int status, const char *type, const void *body, size_t len,
                    const char *extra_headers);
int ov_http_respond_json(ov_http_t *r, int status, const char *json);
/* {"error": code, "message": message} */
int ov_http_respond_error(ov_http_t *r, int status, const char *code, const char *message);

/* ---- WebSocket ---- */
/* 0; CC_ELIMIT when the queue overflowed (the connection is being dropped
 * with 4008: later sends are ignored); CC_ESTATE once closing. */
int ov_conn_send(ov_conn_t *c, cc_buf_t *msg);
/* Sends msg to every connection of conns[0..n) (a cue or chat tick to a
 * room): the same as ov_conn_send() on each, but the WebSocket frame is built
 * once and, for every viewer with nothing queued, written with one send()
 * straight from the frame, the send()s shared out over the fan-out threads
 * (include/cartcast/fanout.h).  A viewer whose socket takes only part of the
 * frame has the rest buffered in lws (flushed before anything else on that
 * connection); one whose socket is full, or who already has messages waiting,
 * gets it through the queue as with ov_conn_send().  conns may hold
 * connections that are closing: they are skipped. */
void ov_server_broadcast(ov_server_t *s, ov_conn_t *const *conns, size_t n, cc_buf_t *msg);
/* Queues a close with code and a short reason (<= 120 bytes). */
void ov_conn_close(ov_conn_t *c, int code, const char *reason);
void ov_conn_set_data(ov_conn_t *c, void *data);
void *ov_conn_data(const ov_conn_t *c);
const char *ov_conn_peer(const ov_conn_t *c); /* IP address */

#endif
