/* The HTTP server of every cartcast daemon: libwebsockets 4.1 on the caller's
 * libuv loop (foreign loop), HTTP/1.1 keep-alive, HTTP/2 over TLS (ALPN).
 *
 * Ownership, in one place:
 *  - A cc_http_req_t is created when lws has parsed a request's headers and
 *    freed when its response is fully handed to lws, when the connection
 *    closes, or when the server stops.  The per-wsi user data (struct conn)
 *    only points at it; whichever end comes first unlinks both sides.
 *  - A held request keeps no lws header table (we detach it) and no send
 *    buffer: only the cc_http_req_t (about 200 bytes plus path and query).
 *  - Response bodies are referenced, never copied whole: each write copies
 *    one chunk into the server's tx buffer with LWS_PRE headroom (after the
 *    header block for the first one), because lws writes its framing in
 *    front of the payload and the shared cc_buf_t must stay untouched for
 *    the other viewers.
 * See docs/http.md for the behaviour and the lws + libuv gotchas. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "cartcast/err.h"
#include "cartcast/fanout.h"
#include "cartcast/http.h"
#include "edge/http_range.h"
#include "edge/lws_loop.h"
#include "cartcast/log.h"

#define HTTP_BODY_MAX (64 * 1024)     /* request body cap: larger gets 413 */
#define HTTP_HEADER_MAX 8192          /* request line + headers (lws ah data) */
#define HTTP_RESP_HDR_MAX 2048        /* caller's extra response headers */
#define HTTP_RESP_HDRS_MAX 16         /* ... and how many of them a ranged answer can carry */
#define HTTP_CHUNK_H1 (64 * 1024)     /* one lws_write on HTTP/1.1 */
#define HTTP_CHUNK_H2 16384           /* HTTP/2 default SETTINGS_MAX_FRAME_SIZE */
#define HTTP_BURST 4                  /* HTTP/1.1 chunks per writable callback at most (write_more) */
#define HTTP_KEEPALIVE_SECS 15
#define HTTP_SWEEP_MS 1000            /* how often held HTTP/1 sockets are checked */

enum req_state {
    REQ_BODY,    /* headers seen, waiting for the request body */
    REQ_HANDLER, /* the route handler is running */
    REQ_HELD,    /* the handler returned CC_HTTP_HELD */
    REQ_HEADERS, /* answered: response headers to write when writable */
    REQ_SENDING, /* headers written, body chunks to write */
    REQ_DRAIN,   /* all written; waiting for lws to flush what it buffered */
    REQ_CLOSING, /* on_close is running */
    REQ_SENT,    /* held HTTP/1.1 answer written at once; finish() comes in done_idle */
    REQ_STAGED,  /* held HTTP/1.1 answer built, on the done list: done_run() sends it (flush_staged) */
};

#define FANOUT_MIN_SLICE 64    /* staged answers per thread below which fewer threads take part */
#define ANSWER_BLOCKS_MAX 4    /* header blocks an answer keeps, one per kind of HTTP/1.1 connection */

/* What an answer is (status, content type, headers, body), fixed once made,
 * so that many requests can be given the same one (cc_http_respond_prepared).
 * Plain HTTP/1.1 requests staged with it share the header block built for
 * the first of them with the same connection kind (head_kind()): a thousand
 * viewers held for the same part cost one header build, not a thousand. */
struct cc_http_answer {
    unsigned refs;
    int status;
    cc_buf_t *body;
    size_t off, len; /* the slice of body to send: all of it, or one byte range */
    struct {
        uint8_t kind;    /* head_kind() of the connections it is for; 0: free */
        cc_buf_t *block; /* the status line and headers, as lws wrote them */
    } blocks[ANSWER_BLOCKS_MAX];
    size_t hdrs_len;
    char hdrs[]; /* content-type\0 then name\0value\0 pairs */
};

typedef struct hdr_cache {
    struct hdr_cache *next;
    const char *value;
    char name[]; /* name\0value\0 */
} hdr_cache_t;

struct cc_http_server {
    uv_loop_t *loop;
    struct lws_context *ctx;
    uv_timer_t *sweep; /* its own allocation: freed in its close callback */
    uv_idle_t *done_idle; /* runs finish() for the REQ_SENT requests (own allocation too) */
    cc_http_req_t *done_head, *done_tail;
    uint8_t *tx; /* LWS_PRE + HTTP_CHUNK_H1 bytes: what one lws_write sends (see write_first) */
    cc_fanout_t *fanout; /* NULL: held answers are written one by one as they are given */
    /* flush_staged()'s working arrays, kept between flushes */
    cc_sendset_t staged;
    cc_http_route_t *routes;
    size_t nroutes;
    cc_http_req_t *reqs; /* every live request, so that stop can end them */
    size_t nreqs;
    struct conn *idle_head, *idle_tail; /* idle HTTP/1.1 keep-alive connections, oldest first */
    int port;
    bool tls; /* then every connection is TLS */
    char name[32];
};

struct cc_http_req {
    cc_http_server_t *srv;
    struct lws *wsi;
    cc_http_req_t *prev, *next;
    cc_http_req_t *done_prev, *done_next; /* on srv's done list while REQ_SENT */
    uint8_t state;
    uint8_t conn_kind; /* held plain HTTP/1.1: what lws writes for this connection (conn_kind()); 0 unknown */
    bool h2, head, close_after, ah_detached, rx_off;
    bool in_handler; /* the route handler is running (dispatch) */
    const char *method; /* static string */
    /* response */
    cc_http_answer_t *ans; /* the answer given (a reference) */
    int status;            /* = ans->status */
    cc_buf_t *resp;        /* = ans->body (borrowed from the answer) */
    size_t resp_off, resp_len; /* = ans->off, ans->len */
    size_t sent;
    cc_buf_t *wire;   /* REQ_STAGED: the status line and headers (maybe shared with other requests) */
    size_t wire_body; /* REQ_STAGED: body bytes sent after them */
    /* request */
    cc_dynbuf_t body;
    hdr_cache_t *hdrs;
    void (*on_close)(cc_http_req_t *req, void *data);
    void *on_close_data;
    char *query; /* "name=value\0" fragments, query_len bytes, decoded by lws */
    size_t query_len;
    char peer[56];
    char path[]; /* path\0 then the query fragments */
};

/* lws per-wsi user data: one per HTTP/1 connection, one per HTTP/2 stream.
 * lws frees it and allocates a fresh (zeroed) one at every HTTP/1.1
 * transaction end (lws_http_transaction_completed rebinds the protocol). */
struct conn {
    cc_http_req_t *req;
    /* While an HTTP/1.1 keep-alive connection waits for its next request it
     * is on its server's idle list (srv non-NULL): see idle_add(). */
    cc_http_server_t *srv;
    struct conn *idle_prev, *idle_next;
    struct lws *wsi;
    uint64_t idle_since; /* uv_now() ms */
};

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

/* lws keeps a pointer to the protocols array and walks it while a foreign
 * loop finishes destroying the context, after cc_http_server_stop() has freed
 * the server: so it must be static, not part of the server. */
/* tx_packet_size: lws 4.1 otherwise caps one send at ~4 KiB and copies the rest
 * of each 64 KiB chunk into a per-connection buffer (measured: 28 sends per
 * 120 KB part, and a tenth of nginx's part throughput; with 64 KiB, 0.7x). */
static const struct lws_protocols http_protocols[] = {
    {"http", http_callback, sizeof(struct conn), 0, 0, NULL, HTTP_CHUNK_H1},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- logging ----------------------------------------------------------- */

static void lws_log_to_cc(int level, const char *line)
{
    char msg[512], q[600];
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (n >= sizeof(msg))
        n = sizeof(msg) - 1;
    memcpy(msg, line, n);
    msg[n] = '\0';
    cc_log(level & LLL_ERR ? CC_LOG_ERROR : CC_LOG_WARN, "http.lws", "msg=%s", cc_log_quote(q, sizeof(q), msg));
}

/* ---- request lifetime --------------------------------------------------- */

static void done_unlink(cc_http_req_t *req)
{
    cc_http_server_t *srv = req->srv;
    if (req->done_prev)
        req->done_prev->done_next = req->done_next;
    else
        srv->done_head = req->done_next;
    if (req->done_next)
        req->done_next->done_prev = req->done_prev;
    else
        srv->done_tail = req->done_prev;
    req->done_prev = req->done_next = NULL;
}

static void req_free(cc_http_req_t *req)
{
    cc_http_server_t *srv = req->srv;
    if (req->prev)
        req->prev->next = req->next;
    else
        srv->reqs = req->next;
    if (req->next)
        req->next->prev = req->prev;
    srv->nreqs--;
    if (req->done_prev || srv->done_head == req)
        done_unlink(req); /* answered but not finished: the connection closed or the server stops */
    for (hdr_cache_t *h = req->hdrs, *n; h; h = n) {
        n = h->next;
        free(h);
    }
    cc_dynbuf_free(&req->body);
    cc_http_answer_unref(req->ans);
    cc_buf_unref(req->wire);
    free(req);
}

/* The connection went away (or the server stops) before the response was
 * handed over: tell the owner of a held request, then forget it. */
static void req_abort(cc_http_req_t *req)
{
    bool held = req->state == REQ_HELD;
    req->state = REQ_CLOSING;
    if (held && req->on_close)
        req->on_close(req, req->on_close_data);
    if (held)
        cc_log_debug("http.held_closed", "server=%s path=%s", req->srv->name, req->path);
    req_free(req);
}

static struct conn *req_conn(cc_http_req_t *req)
{
    return req->wsi ? lws_wsi_user(req->wsi) : NULL;
}

/* Closes wsi from outside its callbacks.  LWS_TO_KILL_ASYNC only puts the
 * close on lws's timer list, and lws 4.1's libuv glue looks at that list when
 * its uv timer fires for the earliest entry it knew of, or after an I/O event
 * (lws_uv_idle): with nothing else going on the close came ~15 s late
 * (measured).  lws_cancel_service() wakes lws (its event pipe), whose idle
 * pass then closes it in the next loop iteration. */
static void kill_async(cc_http_server_t *srv, struct lws *wsi, enum pending_timeout why)
{
    lws_set_timeout(wsi, why, LWS_TO_KILL_ASYNC);
    lws_cancel_service(srv->ctx);
}

/* ---- idle keep-alive connections ------------------------------------------ */

/* lws_http_transaction_completed() arms lws's keep-alive idle timeout with
 * lws_set_timeout(), which inserts into a list of all pending timeouts sorted
 * by deadline, walking it from the earliest (lws_dll2_add_sorted).  Every new
 * keep-alive deadline is the latest, so each answer walks every connection
 * answered before it: O(N^2) per fan-out of N held requests (27-30 % of the
 * origin's samples at 10,000 held).  lws 4.1 has no way to skip it
 * (keepalive_timeout 0 at context creation means lws's default of 5 s), so we
 * cancel that timeout right after (an O(1) unlink; the list then stays short
 * and the next insert is cheap too) and keep the idle connections ourselves
 * in a FIFO, which is sorted by construction; the 1 s sweep closes those idle
 * for HTTP_KEEPALIVE_SECS. */
static void idle_remove(struct conn *c)
{
    cc_http_server_t *srv = c ? c->srv : NULL;
    if (srv == NULL)
        return;
    if (c->idle_prev)
        c->idle_prev->idle_next = c->idle_next;
    else
        srv->idle_head = c->idle_next;
    if (c->idle_next)
        c->idle_next->idle_prev = c->idle_prev;
    else
        srv->idle_tail = c->idle_prev;
    c->idle_prev = c->idle_next = NULL;
    c->srv = NULL;
}

/* wsi has just completed an HTTP/1.1 transaction and stays open. */
static void idle_add(cc_http_server_t *srv, struct lws *wsi)
{
    struct conn *c = lws_wsi_user(wsi); /* the fresh one lws bound for the next request */
    if (c == NULL || c->srv != NULL || c->req != NULL)
        return;
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    c->srv = srv;
    c->wsi = wsi;
    c->idle_since = uv_now(srv->loop);
    c->idle_next = NULL;
    c->idle_prev = srv->idle_tail;
    if (srv->idle_tail)
        srv->idle_tail->idle_next = c;
    else
        srv->idle_head = c;
    srv->idle_tail = c;
}

static void idle_reap(cc_http_server_t *srv)
{
    uint64_t now = uv_now(srv->loop);
    while (srv->idle_head && now - srv->idle_head->idle_since >= HTTP_KEEPALIVE_SECS * 1000ull) {
        struct conn *c = srv->idle_head;
        struct lws *wsi = c->wsi;
        idle_remove(c);
        kill_async(srv, wsi, PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE);
    }
}

/* ---- small helpers ------------------------------------------------------ */

static const char *method_name(const char *m, size_t n)
{
    static const char *const known[] = {"GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE", "CONNECT", "HEAD"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strlen(known[i]) == n && memcmp(known[i], m, n) == 0)
            return known[i];
    return NULL;
}

/* "/healthz" matches "/healthz" and "/healthz/..."; "/live/" anything under it. */
static bool prefix_match(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    if (strncmp(prefix, path, n) != 0)
        return false;
    if (n > 0 && prefix[n - 1] == '/')
        return true;
    return path[n] == '\0' || path[n] == '/';
}

static bool method_match(const cc_http_route_t *r, const char *method)
{
    if (r->method == NULL || strcmp(r->method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

/* Methods accepted on path, for Allow and Access-Control-Allow-Methods. */
static void allowed_methods(const cc_http_server_t *srv, const char *path, char *out, size_t outlen)
{
    static const char *const all[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    bool on[7] = {false};
    for (size_t i = 0; i < srv->nroutes; i++) {
        const cc_http_route_t *r = &srv->routes[i];
        if (!prefix_match(r->prefix, path))
            continue;
        for (size_t k = 0; k < 7; k++)
            if (method_match(r, all[k]))
                on[k] = true;
    }
    on[6] = true;
    out[0] = '\0';
    size_t used = 0;
    for (size_t k = 0; k < 7; k++) {
        if (!on[k])
            continue;
        int n = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", all[k]);
        if (n < 0 || (size_t)n >= outlen - used)
            break;
        used += (size_t)n;
    }
}

static bool header_text_ok(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

static void send_now(cc_http_req_t *req);
static void send_direct(cc_http_req_t *req);
static int stage(cc_http_req_t *req);

/* What lws writes for this HTTP/1.x connection that another might not: the
 * protocol version on the status line (lws answers in the request's).  Found
 * by asking lws for a status line into a scratch buffer, once, when the
 * request is parked: 1 (HTTP/1.0) or 3 (HTTP/1.1); 0 if lws wrote something
 * unexpected (then the answer is built for this request alone).  lws writes
 * no Connection header when the length is known, and the response code it
 * notes on the way is noted again by the real header block. */
static uint8_t conn_kind(struct lws *wsi)
{
    uint8_t buf[LWS_PRE + 256];
    uint8_t *start = buf + LWS_PRE, *p = start;
    if (lws_add_http_header_status(wsi, 200, &p, buf + sizeof(buf)))
        return 0;
    size_t n = (size_t)(p - start);
    if (n >= 9 && memcmp(start, "HTTP/1.1 ", 9) == 0)
        return 3;
    if (n >= 9 && memcmp(start, "HTTP/1.0 ", 9) == 0)
        return 1;
    return 0;
}

/* A new answer (refcount 1) sending body[off, off + len); NULL with *err. */
static cc_http_answer_t *answer_new(int status, const char *type, cc_buf_t *body, size_t off, size_t len,
                                    const cc_http_header_t *headers, size_t nheaders, int *err)
{
    *err = CC_EINVAL;
    if (status < 100 || status > 999 || (nheaders > 0 && headers == NULL) || (type && !header_text_ok(type)))
        return NULL;
    if (body && (off > body->len || len > body->len - off))
        return NULL;
    size_t need = (type ? strlen(type) : 0) + 1;
    for (size_t i = 0; i < nheaders; i++) {
        const char *n = headers[i].name, *v = headers[i].value;
        if (n == NULL || v == NULL || n[0] == '\0' || !header_text_ok(v) || strpbrk(n, ": \t\r\n"))
            return NULL;
        need += strlen(n) + strlen(v) + 2;
    }
    *err = CC_ETOOBIG;
    if (need > HTTP_RESP_HDR_MAX)
        return NULL;
    *err = CC_ENOMEM;
    cc_http_answer_t *a = calloc(1, sizeof(*a) + need);
    if (a == NULL)
        return NULL;
    a->refs = 1;
    a->status = status;
    a->body = cc_buf_ref(body);
    a->off = body ? off : 0;
    a->len = body ? len : 0;
    char *p = a->hdrs;
    p += sprintf(p, "%s", type ? type : "") + 1;
    for (size_t i = 0; i < nheaders; i++) {
        /* HTTP/2 requires lower-case field names; HTTP/1 does not care. */
        for (const char *c = headers[i].name; *c; c++)
            *p++ = (char)tolower((unsigned char)*c);
        *p++ = '\0';
        p += sprintf(p, "%s", headers[i].value) + 1;
    }
    a->hdrs_len = (size_t)(p - a->hdrs);
    return a;
}

/* Gives req the answer a (a reference is taken), without the state check. */
static void give(cc_http_req_t *req, cc_http_answer_t *a)
{
    cc_http_answer_unref(req->ans);
    req->ans = cc_http_answer_ref(a);
    req->resp = a->body; /* (the answer holds it) */
    req->resp_off = a->off;
    req->resp_len = a->len;
    req->status = a->status;
    bool held = req->state == REQ_HELD;
    req->state = REQ_HEADERS;
    /* A held plain HTTP/1.1 request is written at once (send_now), or, with
     * fan-out threads, staged and written with the others answered in the
     * same turn of the loop (flush_staged); every other answer waits for
     * lws's writable callback. */
    bool plain_h1 = !req->h2 && req->wsi && !req->srv->tls;
    if (held && plain_h1) {
        if (req->srv->fanout == NULL || stage(req) < 0)
            send_now(req);
    } else if (!(req->in_handler && plain_h1)) {
        lws_callback_on_writable(req->wsi);
    } /* else dispatch() sends it when the handler returns */
}

/* Answer without the state check; sends body[off, off + len). */
static int respond_slice(cc_http_req_t *req, int status, const char *type, cc_buf_t *body, size_t off, size_t len,
                         const cc_http_header_t *headers, size_t nheaders)
{
    int err;
    cc_http_answer_t *a = answer_new(status, type, body, off, len, headers, nheaders, &err);
    if (a == NULL)
        return err;
    give(req, a);
    cc_http_answer_unref(a);
    return 0;
}

/* Answer without the state check, for the server's own replies (404, 413 ...). */
static int respond_any(cc_http_req_t *req, int status, const char *type, cc_buf_t *body,
                       const cc_http_header_t *headers, size_t nheaders)
{
    return respond_slice(req, status, type, body, 0, body ? body->len : 0, headers, nheaders);
}

static void respond_error(cc_http_req_t *req, int status, const char *text, const cc_http_header_t *hdrs, size_t n)
{
    cc_buf_t *b = cc_buf_from(text, strlen(text));
    if (b == NULL || respond_any(req, status, "text/plain; charset=utf-8", b, hdrs, n) < 0) {
        /* No memory for even this: drop the connection rather than hang. */
        req->close_after = true;
        respond_any(req, status, NULL, NULL, NULL, 0);
    }
    cc_buf_unref(b);
}

/* ---- request dispatch ---------------------------------------------------- */

static void preflight(cc_http_req_t *req)
{
    char methods[96];
    allowed_methods(req->srv, req->path, methods, sizeof(methods));
    const char *want = cc_http_req_header(req, "access-control-request-headers");
    cc_http_header_t h[3] = {
        {"Access-Control-Allow-Methods", methods},
        {"Access-Control-Allow-Headers", want && strlen(want) < 512 ? want : "content-type, authorization"},
        {"Access-Control-Max-Age", "86400"},
    };
    if (respond_any(req, 204, NULL, NULL, h, 3) < 0)
        respond_error(req, 500, "internal error\n", NULL, 0);
}

static void dispatch(cc_http_req_t *req)
{
    cc_http_server_t *srv = req->srv;
    const cc_http_route_t *route = NULL;
    bool path_known = false;
    for (size_t i = 0; i < srv->nroutes && route == NULL; i++) {
        if (!prefix_match(srv->routes[i].prefix, req->path))
            continue;
        path_known = true;
        if (method_match(&srv->routes[i], req->method))
            route = &srv->routes[i];
    }
    if (route == NULL) {
        if (path_known && strcmp(req->method, "OPTIONS") == 0) {
            preflight(req);
        } else if (path_known) {
            char methods[96];
            allowed_methods(srv, req->path, methods, sizeof(methods));
            cc_http_header_t allow = {"Allow", methods};
            respond_error(req, 405, "method not allowed\n", &allow, 1);
        } else {
            respond_error(req, 404, "not found\n", NULL, 0);
        }
        return;
    }

    req->state = REQ_HANDLER;
    req->in_handler = true;
    int r = route->handler(req, route->data);
    req->in_handler = false;
    if (req->state == REQ_HEADERS && !req->h2 && !srv->tls) {
        /* Answered by the handler on plain HTTP/1.1: written now, from lws's
         * HTTP callback (as lws_return_http_status() does), not from a
         * writable callback one loop iteration later: that saves the
         * iteration and the epoll_ctl()s of asking for POLLOUT and dropping
         * it again, per request.  After the handler, so that a write error
         * (which frees the request) cannot pull it from under the handler. */
        send_direct(req);
        return;
    }
    if (req->state != REQ_HANDLER)
        return; /* answered */
    if (r == CC_HTTP_HELD) {
        req->state = REQ_HELD;
        /* The header table (max_http_header_data bytes) is the big part of a
         * parked request: give it back to lws.  Headers the handler already
         * read stay cached in the request. */
        lws_http_headers_detach(req->wsi);
        req->ah_detached = true;
        /* lws arms a 5 s timeout on an open transaction; a held request is
         * bounded by its owner (LL-HLS blocking reload has its own cap). */
        lws_set_timeout(req->wsi, NO_PENDING_TIMEOUT, 0);
        /* HTTP/2: also keep the network connection's idle timeout
         * (keepalive_timeout) from killing it while a stream is parked;
         * lws's SSE helper does exactly that for a stream. */
        if (req->h2)
            lws_http_mark_sse(req->wsi);
        /* HTTP/1.1: lws does not read during a transaction, but leaves
         * POLLIN on: a client that hangs up (or pipelines) while held made
         * the level-triggered epoll report the socket at every iteration,
         * i.e. the loop spun at 100 % CPU until the 1 s sweep closed it
         * (measured: ~28,000 epoll_wait in that second).  So stop reading
         * while held (the sweep's poll(2) still sees the hang-up), and
         * start again when the answer is complete (finish).  Not over TLS:
         * a held HTTPS/1.1 answer then never left (tests/integration). */
        if (!req->h2 && !srv->tls && lws_rx_flow_control(req->wsi, 0) == 0)
            req->rx_off = true;
        if (!req->h2 && !srv->tls && srv->fanout)
            req->conn_kind = conn_kind(req->wsi);
        return;
    }
    cc_log_error("http.handler", "server=%s method=%s path=%s err=%s msg=\"handler returned without answering\"",
                 srv->name, req->method, req->path, r < 0 ? cc_err_name(r) : "none");
    respond_error(req, 500, "internal error\n", NULL, 0);
}

static int on_request(cc_http_server_t *srv, struct lws *wsi, struct conn *c, const char *uri, size_t urilen)
{
    if (c->req) /* cannot happen: lws parses the next request only after the last one ended */
        req_abort(c->req);

    char *uri_ptr;
    int uri_len;
    const char *method;
    int m = lws_http_get_uri_and_method(wsi, &uri_ptr, &uri_len);
    bool h2 = lws_get_network_wsi(wsi) != wsi;
    if (m == LWSHUMETH_COLON_PATH) {
        char mb[16];
        int n = lws_hdr_copy(wsi, mb, sizeof(mb), WSI_TOKEN_HTTP_COLON_METHOD);
        method = n > 0 ? method_name(mb, (size_t)n) : NULL;
    } else {
        static const char *const names[] = {"GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE", "CONNECT", "HEAD"};
        method = m >= 0 && m < (int)(sizeof(names) / sizeof(names[0])) ? names[m] : NULL;
    }
    if (method == NULL)
        return -1; /* lws only hands us the methods above; anything else is garbage */

    /* Query fragments, already split on '&' and %-decoded by lws; the whole
     * request fits in the header table, so a buffer of its size holds them. */
    char qbuf[HTTP_HEADER_MAX + 16];
    size_t qlen = 0;
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, qbuf + qlen, (int)(sizeof(qbuf) - qlen), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        qlen += (size_t)n + 1;
    }

    cc_http_req_t *req = calloc(1, sizeof(*req) + urilen + 1 + qlen);
    if (req == NULL)
        return -1;
    req->srv = srv;
    req->wsi = wsi;
    req->method = method;
    req->h2 = h2;
    req->head = strcmp(method, "HEAD") == 0;
    memcpy(req->path, uri, urilen);
    req->path[urilen] = '\0';
    req->query = req->path + urilen + 1;
    memcpy(req->query, qbuf, qlen);
    req->query_len = qlen;
    cc_dynbuf_init(&req->body, HTTP_BODY_MAX);
    req->next = srv->reqs;
    if (srv->reqs)
        srv->reqs->prev = req;
    srv->reqs = req;
    srv->nreqs++;
    c->req = req;

    char cl[24];
    int cll = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
    bool has_cl = cll > 0;
    unsigned long long clen = has_cl ? strtoull(cl, NULL, 10) : 0;
    if (clen > HTTP_BODY_MAX) {
        /* Answer at once instead of reading what we would refuse; on
         * HTTP/1.1 the unread body makes the connection unusable after. */
        req->close_after = !h2;
        respond_error(req, 413, "request body too large\n", NULL, 0);
        return 0;
    }
    if (!h2 && !has_cl && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        /* lws 4.1 does not de-chunk request bodies. */
        req->close_after = true;
        respond_error(req, 411, "length required\n", NULL, 0);
        return 0;
    }
    bool body_method = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    /* HTTP/2 may send a body without content-length: lws ends it with
     * BODY_COMPLETION at END_STREAM. */
    if (clen > 0 || (h2 && !has_cl && body_method)) {
        req->state = REQ_BODY;
        return 0;
    }
    dispatch(req);
    return 0;
}

static int on_body(struct conn *c, const void *in, size_t len)
{
    cc_http_req_t *req = c->req;
    if (req == NULL || req->state != REQ_BODY)
        return 0; /* a refused body still streaming in */
    int r = cc_dynbuf_append(&req->body, in, len);
    if (r == CC_ETOOBIG) {
        req->close_after = !req->h2;
        respond_error(req, 413, "request body too large\n", NULL, 0);
    } else if (r < 0) {
        req->close_after = !req->h2;
        respond_error(req, 500, "internal error\n", NULL, 0);
    }
    return 0;
}

static int on_body_done(struct conn *c)
{
    cc_http_req_t *req = c->req;
    if (req != NULL && req->state == REQ_BODY)
        dispatch(req);
    return 0;
}

/* ---- writing ------------------------------------------------------------- */

/* The response is fully handed to lws: forget the request and let lws wait
 * for the next one on this connection (or close it).  0, or -1: close the
 * connection. */
static int finish(struct lws *wsi, struct conn *c)
{
    cc_http_req_t *req = c->req;
    /* HTTP/2: ending a stream while lws still buffers part of its last DATA
     * frame (on the network connection) loses that tail (seen with 4.1.6:
     * 12 KB short of 5 MB), so wait until lws has flushed it and calls us
     * writable again.  HTTP/1.1 needs no such check, and no poll(2) per
     * answer: lws_http_transaction_completed() itself defers the end of the
     * transaction while the connection has buffered output
     * (deferred_transaction_completed), and a close flushes it first
     * (LRS_FLUSHING_BEFORE_CLOSE). */
    if (req->h2 && req->state != REQ_DRAIN && lws_send_pipe_choked(wsi)) {
        req->state = REQ_DRAIN;
        lws_callback_on_writable(wsi);
        return 0;
    }
    bool close_after = req->close_after, h2 = req->h2;
    cc_http_server_t *srv = req->srv;
    if (req->rx_off && !close_after)
        lws_rx_flow_control(wsi, 1);
    if (cc_log_get_level() <= CC_LOG_DEBUG) {
        char q[256];
        cc_log_debug("http.request", "server=%s method=%s path=%s status=%d bytes=%zu h2=%d", req->srv->name,
                     req->method, cc_log_quote(q, sizeof(q), req->path), req->status, req->sent, req->h2);
    }
    c->req = NULL;
    req_free(req);
    if (close_after)
        return -1;
    bool buffered = !h2 && lws_partial_buffered(wsi);
    if (lws_http_transaction_completed(wsi))
        return -1;
    /* (c is stale from here: lws rebound the protocol.)  Unless lws deferred
     * the completion (then it arms its own keep-alive timeout later), take
     * the idle connection off lws's sorted timeout list: see idle_add. */
    if (!h2 && !buffered)
        idle_add(srv, wsi);
    return 0;
}

/* Writes the status line and headers and, on HTTP/1.1, as much of the body
 * as fits in one tx packet after them, in a single lws_write: on HTTP/1.1
 * LWS_WRITE_HTTP_HEADERS is a raw write (lws's own lws_return_http_status()
 * appends its body the same way), so a small answer is one send(2) and one
 * writable callback instead of two.  HTTP/2 needs a HEADERS frame then DATA
 * frames, one lws_write per writable callback.  1: all sent; 0: body chunks
 * left (state REQ_SENDING); -1: error. */
/* The status line and headers of req's answer into [p, end), for HTTP/1.1
 * or HTTP/2 (lws formats them for the connection); the end of what was
 * written, NULL when it does not fit.  *body_len: the body bytes that follow. */
/* The body bytes that follow the header block: none for HEAD, 1xx and 204. */
static size_t body_to_send(const cc_http_req_t *req)
{
    bool no_length = req->status < 200 || req->status == 204;
    return req->resp && !req->head && !no_length ? req->resp_len : 0;
}

static uint8_t *build_head(struct lws *wsi, cc_http_req_t *req, uint8_t *p, uint8_t *end, size_t *body_len)
{
    size_t blen = req->resp ? req->resp_len : 0;
    const char *type = req->ans->hdrs;
    /* RFC 9110: no Content-Length on 1xx/204; every other answer has one. */
    bool no_length = req->status < 200 || req->status == 204;

    if (!no_length && !req->close_after) {
        /* Sets Content-Length and the HTTP/1.1 keep-alive bookkeeping. */
        if (lws_add_http_common_headers(wsi, (unsigned)req->status, type[0] ? type : NULL, blen, &p, end))
            return NULL;
    } else {
        if (lws_add_http_header_status(wsi, (unsigned)req->status, &p, end))
            return NULL;
        if (type[0] && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const uint8_t *)type,
                                                    (int)strlen(type), &p, end))
            return NULL;
        if (!no_length && lws_add_http_header_content_length(wsi, blen, &p, end))
            return NULL;
        if (req->close_after && !req->h2 &&
            lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const uint8_t *)"close", 5, &p, end))
            return NULL;
    }
    if (lws_add_http_header_by_name(wsi, (const uint8_t *)"access-control-allow-origin:", (const uint8_t *)"*", 1,
                                    &p, end))
        return NULL;
    const char *h = type + strlen(type) + 1, *hend = req->ans->hdrs + req->ans->hdrs_len;
    while (h < hend) {
        const char *v = h + strlen(h) + 1;
        char name[256];
        int n = snprintf(name, sizeof(name), "%s:", h);
        if (n < 0 || (size_t)n >= sizeof(name) ||
            lws_add_http_header_by_name(wsi, (const uint8_t *)name, (const uint8_t *)v, (int)strlen(v), &p, end))
            return NULL;
        h = v + strlen(v) + 1;
    }
    if (lws_finalize_http_header(wsi, &p, end))
        return NULL;
    *body_len = body_to_send(req);
    return p;
}

static int write_first(struct lws *wsi, cc_http_req_t *req)
{
    /* the server's buffer, not the stack: 64 KiB frames cost stack probes */
    uint8_t *start = req->srv->tx + LWS_PRE;
    /* the header block keeps its own limit, whatever the body leaves */
    size_t blen = 0;
    uint8_t *p = build_head(wsi, req, start, start + HTTP_RESP_HDR_MAX + 1024 - 1, &blen);
    if (p == NULL)
        return -1;
    bool body = blen > 0;
    size_t n = 0;
    if (body && !req->h2) {
        n = HTTP_CHUNK_H1 - (size_t)(p - start);
        if (n > blen)
            n = blen;
        memcpy(p, req->resp->data + req->resp_off, n);
    }
    int flags = LWS_WRITE_HTTP_HEADERS | (body ? 0 : LWS_WRITE_H2_STREAM_END);
    if (lws_write(wsi, start, (size_t)(p - start) + n, (enum lws_write_protocol)flags) < 0)
        return -1;
    req->sent = n;
    if (!body || req->sent == req->resp_len)
        return 1;
    req->state = REQ_SENDING;
    return 0;
}

/* Writes the next body chunk: 1 all sent, 0 more to send, -1 error. */
static int write_chunk(struct lws *wsi, cc_http_req_t *req)
{
    size_t chunk = req->resp_len - req->sent;
    size_t max = req->h2 ? HTTP_CHUNK_H2 : HTTP_CHUNK_H1;
    if (chunk > max)
        chunk = max;
    if (req->h2) {
        /* Stay inside the peer's flow-control window; lws asks again when a
         * WINDOW_UPDATE arrives. */
        lws_fileofs_t allow = lws_get_peer_write_allowance(wsi);
        if (allow == 0)
            return 0;
        if (allow > 0 && (size_t)allow < chunk)
            chunk = (size_t)allow;
    }
    uint8_t *buf = req->srv->tx;
    memcpy(buf + LWS_PRE, req->resp->data + req->resp_off + req->sent, chunk);
    bool last = req->sent + chunk == req->resp_len;
    if (lws_write(wsi, buf + LWS_PRE, chunk, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
        return -1;
    req->sent += chunk;
    return last;
}

/* After a first write that left body to send (r == 0), HTTP/1.1 goes on
 * writing while the socket takes everything (lws_partial_buffered() false:
 * lws copied nothing into buflist_out), up to HTTP_BURST chunks so that one
 * big body does not hold the loop, instead of one chunk per writable
 * callback (each one a loop iteration and four epoll_ctl): a 120 KB part is
 * two send(2)s in one callback.  When the socket is full lws keeps the tail
 * of the last chunk (at most one chunk per connection, as before) and we
 * wait for POLLOUT.  HTTP/2 stays at one frame per callback. */
static int write_more(struct lws *wsi, cc_http_req_t *req, int r)
{
    for (int n = 1; r == 0 && !req->h2 && n < HTTP_BURST && !lws_partial_buffered(wsi); n++)
        r = write_chunk(wsi, req);
    return r;
}

/* The first writable callback of an answer. */
static int write_headers(struct lws *wsi, struct conn *c)
{
    int r = write_more(wsi, c->req, write_first(wsi, c->req));
    if (r < 0)
        return -1;
    if (r > 0)
        return finish(wsi, c);
    lws_callback_on_writable(wsi);
    return 0;
}

/* The next writable callbacks. */
static int write_body(struct lws *wsi, struct conn *c)
{
    int r = write_more(wsi, c->req, write_chunk(wsi, c->req));
    if (r < 0)
        return -1;
    if (r > 0)
        return finish(wsi, c);
    lws_callback_on_writable(wsi);
    return 0;
}

/* A held plain HTTP/1.1 request is answered from outside lws's callbacks
 * (a packager event, a timer), on a connection that has been idle since its
 * request came in: write it now instead of asking for a writable callback.
 * That saves a loop iteration and four epoll_ctl per answer (lws's libuv
 * glue turns every poll-mask change into uv_poll_stop + uv_poll_start, i.e.
 * EPOLL_CTL_DEL at once and EPOLL_CTL_ADD at the next iteration).  lws
 * writes to the socket directly and keeps what the socket does not take in
 * the connection's buflist_out, flushed on POLLOUT, exactly as from a
 * callback.  What a callback would do by returning -1 (close) is done with
 * kill_async().  Not for HTTP/2 (streams share the connection's
 * framing and flow control) nor TLS (kept on lws's usual path).
 *
 * The end of the transaction (finish: lws_http_transaction_completed, which
 * rebinds the protocol, re-arms timeouts and asks for POLLOUT, i.e. one more
 * epoll_ctl) is not needed for the bytes to leave, so it is batched: the
 * answered requests go on a list that an idle handle finishes at the start
 * of the next loop iteration.  A fan-out of N held requests is then N
 * header builds and N send(2)s back to back, and the last viewer is not
 * waiting for the bookkeeping of the N-1 before it. */
static void flush_staged(cc_http_server_t *srv);

static void done_run(uv_idle_t *idle)
{
    cc_http_server_t *srv = idle->data;
    uv_idle_stop(idle);
    flush_staged(srv); /* staged answers go out first, then every sent one is finished */
    while (srv->done_head) {
        cc_http_req_t *req = srv->done_head;
        if (req->state == REQ_STAGED) {
            /* answered while finishing (a pipelined request): the next run sends it */
            uv_idle_start(srv->done_idle, done_run);
            break;
        }
        done_unlink(req);
        struct lws *wsi = req->wsi;
        struct conn *c = req_conn(req);
        if (c == NULL || c->req != req) { /* cannot happen: closes unlink first */
            req_free(req);
            continue;
        }
        if (finish(wsi, c) < 0)
            kill_async(srv, wsi, PENDING_TIMEOUT_USER_OK);
    }
}

static void done_append(cc_http_server_t *srv, cc_http_req_t *req)
{
    req->done_next = NULL;
    req->done_prev = srv->done_tail;
    if (srv->done_tail)
        srv->done_tail->done_next = req;
    else
        srv->done_head = req;
    srv->done_tail = req;
    if (!uv_is_active((uv_handle_t *)srv->done_idle))
        uv_idle_start(srv->done_idle, done_run);
}

/* ---- many held answers at once, over the fan-out threads ------------------ *
 *
 * A new part answers every viewer held for it: 1,000 answers in one turn of
 * the loop, each a send(2) of a few KB whose cost is ~75 % the kernel's TCP
 * path (on loopback it also runs the receiver's half).  One after another
 * on the loop thread the last viewer waits for all the others.  So with
 * fan-out threads (include/cartcast/fanout.h) an answer given to a held
 * HTTP/1.1 request is only built here (status line and headers, by lws, on
 * the loop thread) and put on the done list as REQ_STAGED; done_run() then
 * sends every staged answer with one sendmsg(2) each (headers + the shared
 * body, no copy), shared out over the threads while the loop thread waits,
 * and settles the results on the loop thread:
 *  - all sent: REQ_SENT, finished in the same done_run();
 *  - part of it or nothing (the socket is full): what is left of the
 *    headers goes to lws (LWS_WRITE_HTTP_HEADERS, a raw write it buffers
 *    and flushes first on POLLOUT), the body continues from the writable
 *    callback exactly as a long answer does (REQ_SENDING, write_chunk);
 *  - an error (the client left): freed and the connection killed, as in
 *    send_now().
 * The worker threads only call sendmsg(2) on their own slice of sockets and
 * write their own slice of the results; lws and libuv stay on the loop. */
static int stage(cc_http_req_t *req)
{
    cc_http_server_t *srv = req->srv;
    struct conn *c = lws_wsi_user(req->wsi);
    if (c == NULL || c->req != req || srv->done_idle == NULL)
        return CC_ESTATE;
    cc_http_answer_t *a = req->ans;
    /* Connections of the same kind get the same bytes for the same answer. */
    uint8_t kind = req->conn_kind ? (uint8_t)(req->conn_kind | req->head << 4 | req->close_after << 5) : 0;
    cc_buf_t *block = NULL;
    size_t slot = ANSWER_BLOCKS_MAX;
    for (size_t i = 0; kind && i < ANSWER_BLOCKS_MAX && block == NULL; i++) {
        if (a->blocks[i].kind == kind)
            block = a->blocks[i].block;
        else if (a->blocks[i].kind == 0 && slot == ANSWER_BLOCKS_MAX)
            slot = i;
    }
    if (block) {
        cc_buf_ref(block);
    } else {
        uint8_t *start = srv->tx + LWS_PRE;
        size_t body = 0;
        uint8_t *p = build_head(req->wsi, req, start, start + HTTP_RESP_HDR_MAX + 1024 - 1, &body);
        if (p == NULL)
            return CC_ETOOBIG;
        /* kept at its size (~300 bytes for a playlist answer) */
        block = cc_buf_from(start, (size_t)(p - start));
        if (block == NULL)
            return CC_ENOMEM;
        if (kind && slot < ANSWER_BLOCKS_MAX) {
            a->blocks[slot].kind = kind;
            a->blocks[slot].block = cc_buf_ref(block);
        }
    }
    cc_buf_unref(req->wire);
    req->wire = block;
    req->wire_body = body_to_send(req);
    req->state = REQ_STAGED;
    done_append(srv, req);
    return 0;
}

/* A staged answer's one sendmsg(2): the header block, then the body from the
 * shared buffer. */
static void staged_send(cc_http_req_t *req, cc_send_t *item)
{
    item->owner = req;
    item->fd = lws_get_socket_fd(req->wsi);
    item->iov[0] = (struct iovec){req->wire->data, req->wire->len};
    item->iovcnt = 1;
    if (req->wire_body)
        item->iov[item->iovcnt++] = (struct iovec){req->resp->data + req->resp_off, req->wire_body};
}

/* The client has gone (EPIPE, ECONNRESET): it was answered, so no on_close. */
static void staged_failed(cc_http_server_t *srv, cc_http_req_t *req)
{
    struct lws *wsi = req->wsi;
    struct conn *c = lws_wsi_user(wsi);
    cc_log_debug("http.send_failed", "server=%s path=%s", srv->name, req->path);
    if (c && c->req == req)
        c->req = NULL;
    req_free(req); /* (unlinks it from the done list) */
    kill_async(srv, wsi, PENDING_TIMEOUT_USER_OK);
}

static void settle_staged(cc_http_server_t *srv, cc_http_req_t *req, ssize_t r)
{
    size_t hl = req->wire->len, bl = req->wire_body;
    if (r == (ssize_t)(hl + bl)) {
        req->sent = bl;
        req->state = REQ_SENT;
        cc_buf_unref(req->wire);
        req->wire = NULL;
        return;
    }
    if (r < 0 && r != -EAGAIN && r != -EWOULDBLOCK && r != -EINTR) {
        staged_failed(srv, req);
        return;
    }
    size_t got = r > 0 ? (size_t)r : 0;
    if (got < hl) {
        /* lws_send_pipe_choked() clears lws's back-to-back-write guard (an
         * earlier write in this turn may have set it); its answer is known. */
        uint8_t *rest = srv->tx + LWS_PRE; /* lws may write framing before it: not the shared block */
        memcpy(rest, req->wire->data + got, hl - got);
        if (lws_send_pipe_choked(req->wsi) < 0 || lws_write(req->wsi, rest, hl - got, LWS_WRITE_HTTP_HEADERS) < 0) {
            staged_failed(srv, req);
            return;
        }
        req->sent = 0;
    } else {
        req->sent = got - hl;
    }
    cc_buf_unref(req->wire);
    req->wire = NULL;
    if (req->sent == bl) {
        req->state = REQ_SENT; /* the rest of the headers is lws's to flush */
        return;
    }
    /* body left: the writable callbacks send it, then finish() */
    done_unlink(req);
    req->state = REQ_SENDING;
    lws_callback_on_writable(req->wsi);
}

static void flush_staged(cc_http_server_t *srv)
{
    cc_sendset_t *set = &srv->staged;
    cc_sendset_clear(set);
    for (cc_http_req_t *r = srv->done_head, *next; r; r = next) {
        next = r->done_next;
        if (r->state != REQ_STAGED)
            continue;
        cc_send_t *item = cc_sendset_add(set);
        if (item == NULL) {
            /* out of memory: this one the old way */
            done_unlink(r);
            cc_buf_unref(r->wire);
            r->wire = NULL;
            r->state = REQ_HEADERS;
            send_now(r);
            continue;
        }
        staged_send(r, item);
    }
    cc_sendset_run(srv->fanout, set, FANOUT_MIN_SLICE);
    for (size_t i = 0; i < set->n; i++)
        settle_staged(srv, set->sends[i].owner, set->sends[i].result);
}

/* Sends req's answer (REQ_HEADERS) with one sendmsg(2): the header block and
 * the whole body straight from the shared buffer, no copy into the tx buffer
 * and no 64 KiB chunking (a 120 KB part is one syscall).  It goes through
 * the staged path so that what the socket does not take is settled the same
 * way (settle_staged: the rest of the headers to lws, the body from the
 * writable callbacks).  Only when lws holds no output for the connection
 * (it never does at the start of an answer: a transaction ends only once
 * lws has flushed; checked anyway), else lws's own writes (send_now). */
static void send_direct(cc_http_req_t *req)
{
    if (lws_partial_buffered(req->wsi) || stage(req) < 0) {
        send_now(req);
        return;
    }
    /* now on the done list as REQ_STAGED: settle it at once */
    cc_send_t item;
    staged_send(req, &item);
    cc_send_one(&item);
    settle_staged(req->srv, req, item.result);
}

static void send_now(cc_http_req_t *req)
{
    struct lws *wsi = req->wsi;
    struct conn *c = lws_wsi_user(wsi);
    cc_http_server_t *srv = req->srv;
    if (c == NULL || c->req != req || srv->done_idle == NULL) { /* cannot happen; the usual path */
        lws_callback_on_writable(wsi);
        return;
    }
    int r = write_more(wsi, req, write_first(wsi, req));
    if (r == 0) { /* body chunks left: the writable callbacks send them */
        lws_callback_on_writable(wsi);
        return;
    }
    if (r > 0) {
        req->state = REQ_SENT;
        done_append(srv, req);
        return;
    }
    /* the client has gone (EPIPE, ECONNRESET): it was answered, so no on_close */
    cc_log_debug("http.send_failed", "server=%s path=%s", srv->name, req->path);
    c->req = NULL;
    req_free(req);
    kill_async(srv, wsi, PENDING_TIMEOUT_USER_OK);
}

/* ---- the lws callback ---------------------------------------------------- */

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (c == NULL || in == NULL)
            return -1;
        idle_remove(c);
        return on_request(lws_context_user(lws_get_context(wsi)), wsi, c, in, len);
    case LWS_CALLBACK_HTTP_BODY:
        return c ? on_body(c, in, len) : 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return c ? on_body_done(c) : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (c == NULL || c->req == NULL)
            return 0;
        if (c->req->state == REQ_HEADERS)
            return write_headers(wsi, c);
        if (c->req->state == REQ_SENDING)
            return write_body(wsi, c);
        if (c->req->state == REQ_DRAIN)
            return finish(wsi, c);
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        /* Either may come first when a connection or an HTTP/2 stream dies;
         * the server may already be gone (stop frees every request first,
         * so c->req is NULL then, and c->srv too): touch only the request. */
        idle_remove(c);
        if (c && c->req) {
            cc_http_req_t *req = c->req;
            c->req = NULL;
            req->wsi = NULL;
            req_abort(req);
        }
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        idle_remove(c); /* (normally done by the close callbacks above) */
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- noticing clients that leave while held ------------------------------ */

/* lws 4.1 stops reading an HTTP/1 connection while a transaction is open (so
 * that a pipelined request waits its turn), which also means it never sees
 * the EOF of a client that gave up on a held request.  So once a second we
 * ask the kernel, for all held HTTP/1 sockets in one poll(2), whether the
 * peer hung up, and have lws close those: their on_close runs from there.
 * HTTP/2 needs none of this: lws keeps reading the network connection and
 * sees RST_STREAM and EOF itself. */
static void sweep_held(uv_timer_t *t)
{
    cc_http_server_t *srv = t->data;
    idle_reap(srv);
    size_t n = 0;
    for (cc_http_req_t *r = srv->reqs; r; r = r->next)
        n += r->state == REQ_HELD && !r->h2 && r->wsi;
    if (n == 0)
        return;
    struct pollfd *pf = malloc(n * (sizeof(*pf) + sizeof(cc_http_req_t *)));
    if (pf == NULL)
        return;
    cc_http_req_t **held = (cc_http_req_t **)(pf + n);
    size_t i = 0;
    for (cc_http_req_t *r = srv->reqs; r && i < n; r = r->next) {
        if (r->state != REQ_HELD || r->h2 || r->wsi == NULL)
            continue;
        pf[i].fd = lws_get_socket_fd(r->wsi);
        pf[i].events = POLLRDHUP;
        pf[i].revents = 0;
        held[i++] = r;
    }
    if (poll(pf, (nfds_t)i, 0) > 0) {
        for (size_t k = 0; k < i; k++)
            if (pf[k].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
                kill_async(srv, held[k]->wsi, PENDING_TIMEOUT_USER_OK);
    }
    free(pf);
}

static void sweep_closed(uv_handle_t *h) { free(h); }

/* ---- finishing lws's teardown ------------------------------------------------ */

/* ---- public API ----------------------------------------------------------- */


/* 0 when path looks like a PEM file.  lws's own failure on a bad file goes
 * through the trap described at lws_create_context() below (and leaks), so
 * the obvious mistakes are caught here first. */
static int check_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, "-----BEGIN ") ? 0 : CC_ECONFIG;
}

int cc_http_server_start(uv_loop_t *loop, const cc_http_config_t *cfg, cc_http_server_t **out)
{
    if (loop == NULL || cfg == NULL || out == NULL || cfg->port < 0 || cfg->port > 65535 ||
        (cfg->nroutes > 0 && cfg->routes == NULL) || (!cfg->tls_cert != !cfg->tls_key))
        return CC_EINVAL;
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (cfg->routes[i].prefix == NULL || cfg->routes[i].prefix[0] != '/' || cfg->routes[i].handler == NULL)
            return CC_EINVAL;
    if (cfg->tls_cert) {
        int e = check_pem(cfg->tls_cert);
        if (e == 0)
            e = check_pem(cfg->tls_key);
        if (e < 0) {
            cc_log_error("http.tls", "server=%s msg=\"cannot read a PEM TLS certificate and key\" err=%s",
                         cfg->server_name ? cfg->server_name : "http", cc_err_name(e));
            return e;
        }
    }

    /* Find a taken port before lws does: its failure path is unsafe (below). */
    int r = cfg->port ? cc__lws_probe_bind(cfg->bind, cfg->port) : 0;
    if (r < 0) {
        cc_log_error("http.start", "server=%s bind=%s port=%d err=%s msg=\"cannot listen\"",
                     cfg->server_name ? cfg->server_name : "http", cfg->bind ? cfg->bind : "*", cfg->port,
                     cc_err_name(r));
        return r;
    }

    cc_http_server_t *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return CC_ENOMEM;
    if (cfg->nroutes > 0) {
        srv->routes = malloc(cfg->nroutes * sizeof(*srv->routes));
        if (srv->routes == NULL) {
            free(srv);
            return CC_ENOMEM;
        }
        memcpy(srv->routes, cfg->routes, cfg->nroutes * sizeof(*srv->routes));
    }
    srv->nroutes = cfg->nroutes;
    srv->tls = cfg->tls_cert != NULL;
    srv->tx = malloc(LWS_PRE + HTTP_CHUNK_H1);
    if (srv->tx == NULL) {
        free(srv->routes);
        free(srv);
        return CC_ENOMEM;
    }
    srv->loop = loop;
    snprintf(srv->name, sizeof(srv->name), "%s", cfg->server_name ? cfg->server_name : "http");

    /* Process-wide in lws; every server sets the same thing. */
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_cc);

    void *loops[1] = {loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = cfg->port;
    if (cfg->bind && strcmp(cfg->bind, "0.0.0.0") != 0 && strcmp(cfg->bind, "::") != 0)
        info.iface = cfg->bind;
    info.protocols = http_protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = loops; /* read during create only */
    info.user = srv;
    info.server_string = "cartcast";
    info.max_http_header_data = HTTP_HEADER_MAX;
    info.keepalive_timeout = HTTP_KEEPALIVE_SECS;
    if (cfg->tls_cert) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
        info.alpn = "h2,http/1.1";
    }
    srv->ctx = lws_create_context(&info);
    /* lws 4.1.6 with a foreign loop returns a context even when its vhost
     * failed (port taken after our probe, a certificate that does not
     * parse).  It has already begun destroying that context itself and
     * finishes on the next loop iteration; calling lws_context_destroy()
     * again crashes in a uv close callback, so leave it alone.  (That
     * teardown also close()s the dead listen fd a second time, which can hit
     * an unrelated fd reused meanwhile: one more reason to probe first.) */
    struct lws_vhost *vh = srv->ctx ? lws_get_vhost_by_name(srv->ctx, "default") : NULL;
    if (vh == NULL) {
        r = cfg->port ? cc__lws_probe_bind(cfg->bind, cfg->port) : 0;
        if (r == 0)
            r = CC_ECONFIG;
        cc_log_error("http.start", "server=%s port=%d err=%s msg=\"libwebsockets refused the configuration\"",
                     srv->name, cfg->port, cc_err_name(r));
        free(srv->routes);
        free(srv->tx);
        free(srv);
        return r;
    }
    srv->port = lws_get_vhost_listen_port(vh);
    /* Fan-out threads for many held answers at once (flush_staged); plain
     * HTTP/1.1 only, so a TLS server has none. */
    unsigned threads = cc_fanout_pick_threads(cfg->fanout_threads);
    if (threads > 1 && !srv->tls && (r = cc_fanout_create(threads, &srv->fanout)) < 0)
        cc_log_warn("http.fanout", "server=%s threads=%u err=%s msg=\"held answers stay on the loop thread\"",
                    srv->name, threads, cc_err_name(r));
    srv->sweep = malloc(sizeof(*srv->sweep));
    if (srv->sweep) {
        uv_timer_init(loop, srv->sweep);
        srv->sweep->data = srv;
    }
    srv->done_idle = malloc(sizeof(*srv->done_idle));
    if (srv->done_idle) {
        uv_idle_init(loop, srv->done_idle);
        srv->done_idle->data = srv;
    }
    if (srv->sweep == NULL || srv->done_idle == NULL) {
        cc_http_server_stop(srv);
        return CC_ENOMEM;
    }
    uv_timer_start(srv->sweep, sweep_held, HTTP_SWEEP_MS, HTTP_SWEEP_MS);
    uv_unref((uv_handle_t *)srv->sweep); /* never the reason the loop stays alive */
    cc_log_info("http.listen", "server=%s port=%d tls=%s", srv->name, srv->port, cfg->tls_cert ? "h2,http/1.1" : "off");
    *out = srv;
    return 0;
}

int cc_http_server_port(const cc_http_server_t *srv)
{
    return srv ? srv->port : CC_EINVAL;
}

void cc_http_server_stop(cc_http_server_t *srv)
{
    if (srv == NULL)
        return;
    /* End our requests first, while the server is whole: held ones get
     * their on_close here, so nothing of ours runs during lws's teardown. */
    while (srv->reqs) {
        cc_http_req_t *req = srv->reqs;
        struct conn *c = req_conn(req);
        if (c && c->req == req)
            c->req = NULL;
        req_abort(req);
    }
    /* lws closes the idle connections during its teardown, after srv is gone. */
    while (srv->idle_head)
        idle_remove(srv->idle_head);
    /* With a foreign loop this only starts the teardown (see edge/lws_loop.c): the
     * caller's loop must keep running (uv_run) until it is done. */
    if (srv->sweep)
        uv_close((uv_handle_t *)srv->sweep, sweep_closed);
    if (srv->done_idle) /* the done list is empty: stopping freed every request */
        uv_close((uv_handle_t *)srv->done_idle, sweep_closed);
    if (cc__lws_context_destroy(srv->loop, srv->ctx) < 0)
        cc_log_error("http.stop", "server=%s msg=\"out of memory: the lws context leaks\"", srv->name);
    cc_log_info("http.stop", "server=%s port=%d", srv->name, srv->port);
    free(srv->routes);
    free(srv->tx);
    cc_fanout_destroy(srv->fanout);
    cc_sendset_free(&srv->staged);
    free(srv);
}

const char *cc_http_req_method(const cc_http_req_t *req) { return req->method; }
const char *cc_http_req_path(const cc_http_req_t *req) { return req->path; }

const char *cc_http_req_query(const cc_http_req_t *req, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *p = req->query, *end = req->query + req->query_len; p < end; p += strlen(p) + 1) {
        if (strncmp(p, name, nlen) != 0)
            continue;
        if (p[nlen] == '=')
            return p + nlen + 1;
        if (p[nlen] == '\0')
            return p + nlen; /* "?flag" : present, empty */
    }
    return NULL;
}

static int find_token(const char *name, size_t nlen)
{
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        const unsigned char *s = lws_token_to_string((enum lws_token_indexes)t);
        if (s && strncasecmp((const char *)s, name, nlen) == 0 && s[nlen] == ':' && s[nlen + 1] == '\0')
            return t;
    }
    return -1;
}

const char *cc_http_req_header(const cc_http_req_t *req_c, const char *name)
{
    cc_http_req_t *req = (cc_http_req_t *)req_c; /* the cache is not visible state */
    for (hdr_cache_t *h = req->hdrs; h; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    if (req->ah_detached || req->wsi == NULL || req->state >= REQ_HEADERS)
        return NULL;

    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > 200)
        return NULL;
    int tok = find_token(name, nlen);
    if (tok < 0 && req->h2 && strcasecmp(name, "host") == 0)
        tok = WSI_TOKEN_HTTP_COLON_AUTHORITY;
    if (tok == WSI_TOKEN_HOST && req->h2 && lws_hdr_total_length(req->wsi, WSI_TOKEN_HOST) <= 0)
        tok = WSI_TOKEN_HTTP_COLON_AUTHORITY;
    char cname[208];
    snprintf(cname, sizeof(cname), "%s:", name);
    for (char *s = cname; *s; s++)
        *s = (char)tolower((unsigned char)*s);
    int vlen = tok >= 0 ? lws_hdr_total_length(req->wsi, (enum lws_token_indexes)tok)
                        : lws_hdr_custom_length(req->wsi, cname, (int)nlen + 1);
    if (vlen <= 0)
        return NULL;
    hdr_cache_t *h = malloc(sizeof(*h) + nlen + 1 + (size_t)vlen + 1);
    if (h == NULL)
        return NULL;
    memcpy(h->name, name, nlen + 1);
    char *v = h->name + nlen + 1;
    int n = tok >= 0 ? lws_hdr_copy(req->wsi, v, vlen + 1, (enum lws_token_indexes)tok)
                     : lws_hdr_custom_copy(req->wsi, v, vlen + 1, cname, (int)nlen + 1);
    if (n < 0) {
        free(h);
        return NULL;
    }
    h->value = v;
    h->next = req->hdrs;
    req->hdrs = h;
    return v;
}

cc_iov_t cc_http_req_body(const cc_http_req_t *req) { return cc_iov(req->body.data, req->body.len); }

const char *cc_http_req_peer(const cc_http_req_t *req_c)
{
    cc_http_req_t *req = (cc_http_req_t *)req_c;
    if (req->peer[0] || req->wsi == NULL)
        return req->peer;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = lws_get_socket_fd(lws_get_network_wsi(req->wsi));
    char ip[INET6_ADDRSTRLEN];
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
        return req->peer;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        snprintf(req->peer, sizeof(req->peer), "%s:%u", ip, ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        /* A v4 client on the dual-stack listener shows as ::ffff:a.b.c.d. */
        if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip, '.'))
            snprintf(req->peer, sizeof(req->peer), "%s:%u", ip + 7, ntohs(a->sin6_port));
        else
            snprintf(req->peer, sizeof(req->peer), "[%s]:%u", ip, ntohs(a->sin6_port));
    }
    return req->peer;
}

void cc_http_req_on_close(cc_http_req_t *req, void (*cb)(cc_http_req_t *req, void *data), void *data)
{
    req->on_close = cb;
    req->on_close_data = data;
}

int cc_http_respond(cc_http_req_t *req, int status, const char *content_type, cc_buf_t *body,
                    const cc_http_header_t *headers, size_t nheaders)
{
    if (req == NULL || status < 100 || status > 999 || (nheaders > 0 && headers == NULL))
        return CC_EINVAL;
    if (req->state != REQ_HANDLER && req->state != REQ_HELD)
        return CC_ESTATE;
    /* Byte ranges (RFC 9110 14): only for a whole 200 answer with a body, and
     * only while the request headers are still readable (a held request has
     * given them back; it then gets the whole body, which RFC 9110 allows). */
    const char *range = status == 200 && body != NULL ? cc_http_req_header(req, "range") : NULL;
    if (range == NULL || nheaders > HTTP_RESP_HDRS_MAX)
        return respond_any(req, status, content_type, body, headers, nheaders);
    size_t start = 0, len = 0;
    int r = cc_http_range_parse(range, body->len, &start, &len);
    if (r == CC_ENOENT)
        return respond_any(req, status, content_type, body, headers, nheaders);
    cc_http_header_t h[HTTP_RESP_HDRS_MAX + 1];
    memcpy(h, headers, nheaders * sizeof(*h));
    char content_range[80];
    if (r < 0) {
        snprintf(content_range, sizeof(content_range), "bytes */%zu", body->len);
        h[nheaders] = (cc_http_header_t){"Content-Range", content_range};
        return respond_any(req, 416, NULL, NULL, h, nheaders + 1);
    }
    snprintf(content_range, sizeof(content_range), "bytes %zu-%zu/%zu", start, start + len - 1, body->len);
    h[nheaders] = (cc_http_header_t){"Content-Range", content_range};
    /* (req may be gone once this returns: a held request is sent at once) */
    return respond_slice(req, 206, content_type, body, start, len, h, nheaders + 1);
}

cc_http_answer_t *cc_http_answer_ref(cc_http_answer_t *a)
{
    if (a)
        a->refs++;
    return a;
}

void cc_http_answer_unref(cc_http_answer_t *a)
{
    if (a == NULL || --a->refs > 0)
        return;
    for (size_t i = 0; i < ANSWER_BLOCKS_MAX; i++)
        cc_buf_unref(a->blocks[i].block);
    cc_buf_unref(a->body);
    free(a);
}

int cc_http_answer_new(int status, const char *content_type, cc_buf_t *body, const cc_http_header_t *headers,
                       size_t nheaders, cc_http_answer_t **out)
{
    int err;
    *out = answer_new(status, content_type, body, 0, body ? body->len : 0, headers, nheaders, &err);
    return *out ? 0 : err;
}

int cc_http_respond_prepared(cc_http_req_t *req, cc_http_answer_t *a)
{
    if (req == NULL || a == NULL)
        return CC_EINVAL;
    if (req->state != REQ_HANDLER && req->state != REQ_HELD)
        return CC_ESTATE;
    give(req, a); /* (req may be gone once this returns: a held request is sent at once) */
    return 0;
}

int cc_http_respond_text(cc_http_req_t *req, int status, const char *content_type, const char *text)
{
    if (req == NULL || text == NULL)
        return CC_EINVAL;
    if (req->state != REQ_HANDLER && req->state != REQ_HELD)
        return CC_ESTATE;
    cc_buf_t *b = cc_buf_from(text, strlen(text));
    if (b == NULL)
        return CC_ENOMEM;
    int r = respond_any(req, status, content_type, b, NULL, 0);
    cc_buf_unref(b);
    return r;
}
