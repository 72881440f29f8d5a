/* A small asynchronous HTTP/1.1 client on libuv: how an edge pulls from its
 * origins (GET; POST for the overlay's chat review hook; whole bodies in memory).
 *
 *   cc_httpc_t *c;  cc_httpc_new(loop, &cfg, &c);
 *   cc_httpc_origin_t *o;  cc_httpc_origin_add(c, "http://10.0.0.5:8080", &o);
 *   cc_httpc_get(o, "/live/shop/media.m3u8?_HLS_msn=12&_HLS_part=3", 4000, 1 << 20, on_done, me, &req);
 *   static void on_done(void *me, int err, const cc_httpc_response_t *resp) { ... }
 *
 * - Per origin a pool of keep-alive connections (at most max_conns); requests
 *   beyond it wait in a bounded FIFO (max_queued, then CC_ELIMIT).  No
 *   pipelining: one request per connection at a time, so a held LL-HLS
 *   blocking request never delays a part fetch.
 * - Responses are read with the pure parser of edge/http_resp.h:
 *   Content-Length, chunked and close-delimited bodies, a cap on the head
 *   (max_head) and on each body (max_body: CC_ETOOBIG).
 * - Timeouts: connect_timeout_ms for the TCP connect, then the request's own
 *   timeout_ms from sending it to the last body byte (CC_ETIMEDOUT).  An idle
 *   connection closes after idle_timeout_ms, or when the server closes it; a
 *   request that meets a keep-alive connection the server has just closed is
 *   retried once on a new one.
 * - The callback runs exactly once for every request that cc_httpc_get
 *   accepted, unless it is cancelled first (cc_httpc_cancel, cc_httpc_free),
 *   and never before cc_httpc_get has returned (a connect that fails at once
 *   is reported from the next loop iteration); if cc_httpc_get fails, it
 *   never runs.  err is 0 when a response arrived,
 *   whatever its status; resp is NULL otherwise.  The body buffer is
 *   borrowed for the callback: take a reference to keep it.
 * - http:// only (an edge sits next to its origin; put TLS in front of the
 *   edge, not between edge and origin).  Host names are resolved with
 *   uv_getaddrinfo on the first connect and again after a connect failure.
 * One loop thread; do not call cc_httpc_free from one of its callbacks. */
#ifndef CARTCAST_EDGE_HTTP_CLIENT_H
#define CARTCAST_EDGE_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cartcast/buf.h"

typedef struct cc_httpc cc_httpc_t;
typedef struct cc_httpc_origin cc_httpc_origin_t;
typedef struct cc_httpc_req cc_httpc_req_t;

typedef struct cc_httpc_config {
    uint32_t connect_timeout_ms; /* 2000 */
    uint32_t idle_timeout_ms;    /* 15000 */
    uint32_t max_conns;          /* 64 per origin */
    uint32_t max_queued;         /* 4096 per origin */
    size_t max_head;             /* 16384: status line + header fields */
} cc_httpc_config_t;

void cc_httpc_config_default(cc_httpc_config_t *cfg);
int cc_httpc_new(uv_loop_t *loop, const cc_httpc_config_t *cfg, cc_httpc_t **out);
/* Cancels every request (no callback runs), closes every connection; the
 * memory goes once libuv has closed the handles (keep running the loop). */
void cc_httpc_free(cc_httpc_t *c);

/* "http://HOST[:PORT][/PREFIX]" (HOST: a name, an IPv4 address or [IPv6];
 * PORT 80 by default; PREFIX is put before every path).  CC_EINVAL for a
 * malformed URL, CC_EUNSUPPORTED for another scheme.  Lives as long as c. */
int cc_httpc_origin_add(cc_httpc_t *c, const char *url, cc_httpc_origin_t **out);
const char *cc_httpc_origin_url(const cc_httpc_origin_t *o);

typedef struct cc_httpc_response {
    int status;
    cc_buf_t *body;       /* never NULL (maybe empty); borrowed */
    int64_t age;          /* the Age header in seconds, -1 when absent */
    uint64_t wire_bytes;  /* bytes read for this response, head included */
} cc_httpc_response_t;

typedef void (*cc_httpc_cb)(void *data, int err, const cc_httpc_response_t *resp);

/* GET path (with its query; no CR, LF, space or control bytes).  timeout_ms
 * counts from the moment the request is written (time waiting for a free
 * connection does not count).  CC_EINVAL, CC_ELIMIT (queue full), CC_ENOMEM. */
int cc_httpc_get(cc_httpc_origin_t *o, const char *path, uint32_t timeout_ms, size_t max_body, cc_httpc_cb cb,
                 void *data, cc_httpc_req_t **out);
/* POST path with a body of len bytes (Content-Type content_type), otherwise
 * as cc_httpc_get.  A request that meets a keep-alive connection the server
 * has just closed is sent again once, as a GET is: only for receivers that
 * take a repeat (the overlay's chat review hook). */
int cc_httpc_post(cc_httpc_origin_t *o, const char *path, const char *content_type, const void *body, size_t len,
                  uint32_t timeout_ms, size_t max_body, cc_httpc_cb cb, void *data, cc_httpc_req_t **out);
/* The callback will not run; the connection it used (if any) is closed. */
void cc_httpc_cancel(cc_httpc_req_t *req);

typedef struct cc_httpc_stats {
    uint64_t requests;    /* accepted by cc_httpc_get */
    uint64_t responses;   /* callbacks with err 0 */
    uint64_t failures;    /* callbacks with an error */
    uint64_t connects;    /* TCP connections opened */
    uint64_t bytes_in;    /* response bytes read */
    uint64_t conns_open;  /* right now */
} cc_httpc_stats_t;

void cc_httpc_stats(const cc_httpc_t *c, cc_httpc_stats_t *out);

#endif
