/* The HTTP server shared by every daemon (origin, edge, overlay, orders):
 * libwebsockets on the caller's libuv loop (foreign loop), HTTP/1.1, and
 * HTTP/2 when TLS is configured.
 *
 * Routes are matched by method and path prefix, first match wins.  A handler
 * either answers at once with cc_http_respond*() or holds the request (returns
 * CC_HTTP_HELD) and answers later from any loop callback; if the client goes
 * away first, the on_close callback registered with cc_http_req_on_close()
 * runs and the request must not be used after it.  Held requests cost no
 * thread and no buffer beyond the request itself. */
#ifndef CARTCAST_HTTP_H
#define CARTCAST_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cartcast/buf.h"

#define CC_HTTP_HELD 1

typedef struct cc_http_server cc_http_server_t;
typedef struct cc_http_req cc_http_req_t;

typedef int (*cc_http_handler_t)(cc_http_req_t *req, void *data);

typedef struct cc_http_route {
    const char *method; /* "GET", "POST", ... ; NULL = any */
    const char *prefix; /* "/healthz" matches exactly or as "/healthz/..." ; a trailing '/' matches anything under it */
    cc_http_handler_t handler;
    void *data;
} cc_http_route_t;

typedef struct cc_http_config {
    const char *bind; /* NULL or "0.0.0.0" = every address */
    int port;
    const char *tls_cert, *tls_key; /* both set: HTTPS with HTTP/2 (ALPN) */
    const cc_http_route_t *routes;
    size_t nroutes;
    const char *server_name; /* for logs */
    /* Threads sharing the send()s when many held HTTP/1.1 requests are
     * answered at once (a new part for 1,000 viewers), the loop's included:
     * 0 = one per online CPU, at most 8; 1 = the loop alone (each answer
     * written as soon as it is given).  See docs/http.md. */
    unsigned fanout_threads;
} cc_http_config_t;

typedef struct cc_http_header {
    const char *name;
    const char *value;
} cc_http_header_t;

/* Starts listening; 0 or a negative code (the port is taken, bad TLS files...). */
int cc_http_server_start(uv_loop_t *loop, const cc_http_config_t *cfg, cc_http_server_t **out);
/* Stops listening and closes every connection; held requests get their on_close.
 * Call it from a loop callback that is not an HTTP handler (a signal or timer
 * callback), then keep running the loop: lws finishes freeing its context
 * from libuv close callbacks (see docs/http.md). */
void cc_http_server_stop(cc_http_server_t *srv);
/* The port actually listened on (useful with port 0 = any free port). */
int cc_http_server_port(const cc_http_server_t *srv);

const char *cc_http_req_method(const cc_http_req_t *req);
const char *cc_http_req_path(const cc_http_req_t *req); /* decoded path, no query */
/* A query parameter's value, NULL when absent. */
const char *cc_http_req_query(const cc_http_req_t *req, const char *name);
/* A request header (lower-case name), NULL when absent. */
const char *cc_http_req_header(const cc_http_req_t *req, const char *name);
/* The request body (POST/PUT), capped by the server. */
cc_iov_t cc_http_req_body(const cc_http_req_t *req);
/* "ip:port" of the client. */
const char *cc_http_req_peer(const cc_http_req_t *req);

void cc_http_req_on_close(cc_http_req_t *req, void (*cb)(cc_http_req_t *req, void *data), void *data);

/* Answer with body (a reference is taken; body may be NULL for an empty body). */
int cc_http_respond(cc_http_req_t *req, int status, const char *content_type, cc_buf_t *body,
                    const cc_http_header_t *headers, size_t nheaders);
/* A prepared answer: status, content type, headers and body fixed once, then
 * given to any number of requests.  Plain HTTP/1.1 held requests given the
 * same answer in one turn of the loop share one header block (one build for
 * a thousand viewers held for the same part: docs/http.md).  The whole body
 * is sent (no byte ranges: RFC 9110 lets a server ignore Range).  Refcounted
 * like cc_buf_t, on the loop thread only. */
typedef struct cc_http_answer cc_http_answer_t;
/* 0 and *out (refcount 1; a reference to body is taken), or CC_EINVAL (a bad
 * status or header), CC_ETOOBIG (headers too long), CC_ENOMEM. */
int cc_http_answer_new(int status, const char *content_type, cc_buf_t *body, const cc_http_header_t *headers,
                       size_t nheaders, cc_http_answer_t **out);
cc_http_answer_t *cc_http_answer_ref(cc_http_answer_t *a);
void cc_http_answer_unref(cc_http_answer_t *a);
/* Answer req with a (a reference is taken); req may be gone when it returns. */
int cc_http_respond_prepared(cc_http_req_t *req, cc_http_answer_t *a);

/* Convenience: copies text. */
int cc_http_respond_text(cc_http_req_t *req, int status, const char *content_type, const char *text);

#endif
