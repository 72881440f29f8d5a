/* Asynchronous HTTP/1.1 GET client on libuv (see http_client.h).
 *
 * Ownership:
 *  - the client owns its origins (a list, freed with the client);
 *  - an origin owns its connections (a list) and its queue of waiting requests;
 *  - a connection serves one request at a time (conn->req) and is freed in
 *    the close callbacks of its two handles (the socket and its timer);
 *  - a request is freed right after its callback ran, or when cancelled.
 * The client itself is freed once it is being freed and no handle or name
 * lookup of it is still open (c->live). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "edge/http_client.h"
#include "edge/http_resp.h"

#define READ_BUF 65536

typedef struct conn conn_t;

struct cc_httpc_req {
    cc_httpc_req_t *prev, *next; /* the origin's queue while waiting */
    cc_httpc_origin_t *o;
    conn_t *conn;
    char *wire; /* the request's bytes */
    size_t wire_len;
    uint32_t timeout_ms;
    size_t max_body;
    cc_httpc_cb cb;
    void *data;
    bool retried;
    bool failed; /* on the client's deferred-failure list, err set */
    int err;
};

enum conn_state { C_CONNECTING, C_IDLE, C_BUSY, C_CLOSING };

struct conn {
    conn_t *prev, *next;
    cc_httpc_origin_t *o;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    enum conn_state state;
    int closing; /* handles still to close */
    bool reused; /* has answered a request before */
    cc_httpc_req_t *req;
    bool writing; /* a uv_write is pending: k->write and k->wbuf are libuv's */
    char *wbuf; /* the bytes being written: the connection's own copy, so that a
                   request finished or cancelled early never frees them under libuv */
    /* the response being read */
    uint64_t got;
    bool head_done;
    cc_dynbuf_t head;
    cc_http_resp_t resp;
    cc_http_body_t body;
    cc_buf_t *fixed; /* Content-Length bodies are read straight into their buffer */
    size_t fixed_off;
    cc_dynbuf_t grow; /* other bodies */
};

struct cc_httpc_origin {
    cc_httpc_origin_t *next;
    cc_httpc_t *c;
    char *url, *host_hdr, *node, *prefix;
    char port[8];
    struct sockaddr_storage addr;
    bool have_addr;
    uv_getaddrinfo_t *resolving;
    conn_t *conns;
    uint32_t nconns;
    cc_httpc_req_t *qhead, *qtail;
    uint32_t nqueued;
};

struct cc_httpc {
    uv_loop_t *loop;
    cc_httpc_config_t cfg;
    cc_httpc_origin_t *origins;
    bool freeing;
    uint32_t live; /* connections, name lookups and the defer timer not closed yet */
    /* Requests that failed inside cc_httpc_get (or in a pump it started): their
     * callbacks run from this timer, never from the call itself. */
    uv_timer_t defer;
    cc_httpc_req_t *fhead, *ftail;
    cc_httpc_stats_t st;
    char rbuf[READ_BUF]; /* one read at a time on the loop thread */
};

void cc_httpc_config_default(cc_httpc_config_t *cfg)
{
    cfg->connect_timeout_ms = 2000;
    cfg->idle_timeout_ms = 15000;
    cfg->max_conns = 64;
    cfg->max_queued = 4096;
    cfg->max_head = 16384;
}

int cc_httpc_new(uv_loop_t *loop, const cc_httpc_config_t *cfg, cc_httpc_t **out)
{
    *out = NULL;
    if (loop == NULL || cfg == NULL || cfg->max_conns == 0 || cfg->max_head < 64)
        return CC_EINVAL;
    cc_httpc_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CC_ENOMEM;
    c->loop = loop;
    c->cfg = *cfg;
    uv_timer_init(loop, &c->defer);
    c->defer.data = c;
    c->live = 1;
    *out = c;
    return 0;
}

static void maybe_free_client(cc_httpc_t *c)
{
    if (!c->freeing || c->live > 0)
        return;
    for (cc_httpc_origin_t *o = c->origins, *n; o; o = n) {
        n = o->next;
        free(o->url);
        free(o->host_hdr);
        free(o->node);
        free(o->prefix);
        free(o);
    }
    free(c);
}

/* ---- origins ---- */

int cc_httpc_origin_add(cc_httpc_t *c, const char *url, cc_httpc_origin_t **out)
{
    *out = NULL;
    if (url == NULL)
        return CC_EINVAL;
    if (strncmp(url, "http://", 7) != 0)
        return strstr(url, "://") ? CC_EUNSUPPORTED : CC_EINVAL;
    const char *h = url + 7, *hend, *p;
    char node[256];
    if (*h == '[') {
        hend = strchr(h, ']');
        if (hend == NULL || hend - h - 1 <= 0 || (size_t)(hend - h - 1) >= sizeof(node))
            return CC_EINVAL;
        memcpy(node, h + 1, (size_t)(hend - h - 1));
        node[hend - h - 1] = '\0';
        p = hend + 1;
    } else {
        hend = h + strcspn(h, ":/");
        if (hend == h || (size_t)(hend - h) >= sizeof(node))
            return CC_EINVAL;
        memcpy(node, h, (size_t)(hend - h));
        node[hend - h] = '\0';
        for (const char *s = node; *s; s++)
            if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
                  *s == '-' || *s == '_'))
                return CC_EINVAL;
        p = hend;
    }
    long port = 80;
    if (*p == ':') {
        char *e;
        port = strtol(p + 1, &e, 10);
        if (e == p + 1 || port < 1 || port > 65535 || (*e != '\0' && *e != '/'))
            return CC_EINVAL;
        p = e;
    }
    if (*p != '\0' && *p != '/')
        return CC_EINVAL;
    size_t plen = strlen(p);
    while (plen > 0 && p[plen - 1] == '/')
        plen--; /* "http://h:1/" and "http://h:1" are the same origin */
    for (size_t i = 0; i < plen; i++)
        if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f || p[i] == '?' || p[i] == '#')
            return CC_EINVAL;

    cc_httpc_origin_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return CC_ENOMEM;
    o->c = c;
    o->url = strdup(url);
    o->node = strdup(node);
    o->prefix = strndup(p, plen);
    size_t hl = strlen(node) + 16;
    o->host_hdr = malloc(hl);
    if (o->url == NULL || o->node == NULL || o->prefix == NULL || o->host_hdr == NULL) {
        free(o->url);
        free(o->node);
        free(o->prefix);
        free(o->host_hdr);
        free(o);
        return CC_ENOMEM;
    }
    bool v6 = strchr(node, ':') != NULL;
    if (port == 80)
        snprintf(o->host_hdr, hl, v6 ? "[%s]" : "%s", node);
    else
        snprintf(o->host_hdr, hl, v6 ? "[%s]:%ld" : "%s:%ld", node, port);
    snprintf(o->port, sizeof(o->port), "%ld", port);
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    if (uv_ip4_addr(node, (int)port, &a4) == 0) {
        memcpy(&o->addr, &a4, sizeof(a4));
        o->have_addr = true;
    } else if (uv_ip6_addr(node, (int)port, &a6) == 0) {
        memcpy(&o->addr, &a6, sizeof(a6));
        o->have_addr = true;
    }
    o->next = c->origins;
    c->origins = o;
    *out = o;
    return 0;
}

const char *cc_httpc_origin_url(const cc_httpc_origin_t *o) { return o->url; }

static bool numeric_host(const cc_httpc_origin_t *o)
{
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    return uv_ip4_addr(o->node, 1, &a4) == 0 || uv_ip6_addr(o->node, 1, &a6) == 0;
}

/* ---- queue ---- */

static void queue_push(cc_httpc_origin_t *o, cc_httpc_req_t *r, bool front)
{
    r->prev = r->next = NULL;
    if (front) {
        r->next = o->qhead;
        if (o->qhead)
            o->qhead->prev = r;
        else
            o->qtail = r;
        o->qhead = r;
    } else {
        r->prev = o->qtail;
        if (o->qtail)
            o->qtail->next = r;
        else
            o->qhead = r;
        o->qtail = r;
    }
    o->nqueued++;
}

static void queue_unlink(cc_httpc_origin_t *o, cc_httpc_req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        o->qhead = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        o->qtail = r->prev;
    r->prev = r->next = NULL;
    o->nqueued--;
}

static void req_free(cc_httpc_req_t *r)
{
    free(r->wire);
    free(r);
}

/* Runs the callback once and frees the request. */
static void req_finish(cc_httpc_req_t *r, int err, const cc_httpc_response_t *resp)
{
    cc_httpc_t *c = r->o->c;
    if (err == 0)
        c->st.responses++;
    else
        c->st.failures++;
    cc_httpc_cb cb = r->cb;
    void *data = r->data;
    req_free(r);
    cb(data, err, resp);
}

static void failed_unlink(cc_httpc_t *c, cc_httpc_req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->fhead = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        c->ftail = r->prev;
    r->failed = false;
}

static void on_defer(uv_timer_t *t)
{
    cc_httpc_t *c = t->data;
    while (c->fhead) {
        cc_httpc_req_t *r = c->fhead;
        failed_unlink(c, r);
        req_finish(r, r->err, NULL);
    }
}

/* Fails r from the next loop iteration (libuv's rule: a call that takes a
 * callback never runs it before returning). */
static void req_fail_later(cc_httpc_req_t *r, int err)
{
    cc_httpc_t *c = r->o->c;
    r->failed = true;
    r->err = err;
    r->conn = NULL;
    r->prev = c->ftail;
    r->next = NULL;
    if (c->ftail)
        c->ftail->next = r;
    else
        c->fhead = r;
    c->ftail = r;
    uv_timer_start(&c->defer, on_defer, 0, 0);
}

/* ---- connections ---- */

static void pump(cc_httpc_origin_t *o);

static void conn_reset_response(conn_t *k)
{
    k->got = 0;
    k->head_done = false;
    cc_dynbuf_reset(&k->head);
    cc_buf_unref(k->fixed);
    k->fixed = NULL;
    k->fixed_off = 0;
    cc_dynbuf_free(&k->grow);
}

static void conn_handle_closed(uv_handle_t *h)
{
    conn_t *k = h->data;
    if (--k->closing > 0)
        return;
    cc_httpc_t *c = k->o->c;
    cc_dynbuf_free(&k->head);
    cc_dynbuf_free(&k->grow);
    cc_buf_unref(k->fixed);
    free(k->wbuf);
    free(k);
    c->live--;
    maybe_free_client(c);
}

/* Closes k; its request (if any) must have been detached or finished first. */
static void conn_close(conn_t *k)
{
    if (k->state == C_CLOSING)
        return;
    cc_httpc_origin_t *o = k->o;
    k->state = C_CLOSING;
    if (k->prev)
        k->prev->next = k->next;
    else
        o->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    o->nconns--;
    o->c->st.conns_open--;
    k->closing = 2;
    uv_timer_stop(&k->timer);
    uv_close((uv_handle_t *)&k->timer, conn_handle_closed);
    uv_close((uv_handle_t *)&k->tcp, conn_handle_closed);
}

/* The request on k failed: close k, then tell the caller (or retry once on a
 * fresh connection when a reused one was closed under us). */
static void conn_fail(conn_t *k, int err)
{
    cc_httpc_req_t *r = k->req;
    cc_httpc_origin_t *o = k->o;
    k->req = NULL;
    bool retry = r && k->reused && k->got == 0 && !r->retried && (err == CC_ECLOSED || err == UV_ECONNRESET ||
                                                                  err == UV_EPIPE);
    conn_close(k);
    if (r == NULL)
        return;
    r->conn = NULL;
    if (retry) {
        r->retried = true;
        queue_push(o, r, true);
    } else {
        req_finish(r, err, NULL);
    }
    pump(o);
}

static void on_idle_timeout(uv_timer_t *t)
{
    conn_t *k = t->data;
    conn_close(k);
}

static void on_req_timeout(uv_timer_t *t)
{
    conn_t *k = t->data;
    conn_fail(k, CC_ETIMEDOUT);
}

static void conn_idle(conn_t *k)
{
    k->state = C_IDLE;
    k->reused = true;
    conn_reset_response(k);
    uv_timer_start(&k->timer, on_idle_timeout, k->o->c->cfg.idle_timeout_ms, 0);
}

/* The whole response is in. */
static void conn_complete(conn_t *k, bool reusable)
{
    cc_httpc_req_t *r = k->req;
    cc_httpc_origin_t *o = k->o;
    cc_buf_t *body = k->fixed;
    k->fixed = NULL;
    if (body == NULL)
        body = cc_dynbuf_take(&k->grow);
    cc_httpc_response_t resp = {.status = k->resp.status, .body = body, .age = k->resp.age, .wire_bytes = k->got};
    k->req = NULL;
    r->conn = NULL;
    uv_timer_stop(&k->timer);
    if (reusable && !k->resp.conn_close)
        conn_idle(k);
    else
        conn_close(k);
    if (body == NULL) {
        req_finish(r, CC_ENOMEM, NULL);
    } else {
        req_finish(r, 0, &resp);
        cc_buf_unref(body);
    }
    pump(o);
}

/* Feeds body bytes; returns <0 on error, 1 when complete (with *used set), 0 for more. */
static int feed_body(conn_t *k, const uint8_t *in, size_t len, size_t *used)
{
    size_t off = 0;
    while (off < len && !k->body.done) {
        cc_iov_t data;
        int n = cc_http_body_parse(&k->body, in + off, len - off, &data);
        if (n < 0)
            return n;
        if (data.len > 0) {
            if (k->fixed) {
                if (k->fixed_off + data.len > k->fixed->len)
                    return CC_EPROTO;
                memcpy(k->fixed->data + k->fixed_off, data.base, data.len);
                k->fixed_off += data.len;
            } else {
                int r = cc_dynbuf_append(&k->grow, data.base, data.len);
                if (r < 0)
                    return r;
            }
        }
        if (n == 0)
            break;
        off += (size_t)n;
    }
    *used = off;
    return k->body.done ? 1 : 0;
}

/* Bytes of the response: head first (accumulated, capped, until complete),
 * then body. */
static void conn_on_bytes(conn_t *k, const uint8_t *in, size_t len)
{
    cc_httpc_req_t *r = k->req;
    const size_t max_head = k->o->c->cfg.max_head;
    k->got += len;
    k->o->c->st.bytes_in += len;
    const uint8_t *p1 = NULL; /* body bytes that came with the head */
    size_t n1 = 0;
    while (!k->head_done) {
        size_t room = max_head - k->head.len, take = len < room ? len : room;
        if (cc_dynbuf_append(&k->head, in, take) < 0) {
            conn_fail(k, CC_ENOMEM);
            return;
        }
        in += take;
        len -= take;
        int n = cc_http_resp_parse_head(k->head.data, k->head.len, max_head, &k->resp);
        if (n == CC_EAGAIN && len == 0)
            return;
        if (n < 0) {
            conn_fail(k, n == CC_EAGAIN ? CC_ETOOBIG : n);
            return;
        }
        if (k->resp.status >= 100 && k->resp.status < 200) {
            if (k->resp.status == 101) {
                conn_fail(k, CC_EPROTO);
                return;
            }
            /* An interim answer (100 Continue ...): the real one follows. */
            memmove(k->head.data, k->head.data + n, k->head.len - (size_t)n);
            k->head.len -= (size_t)n;
            if (k->head.len == 0 && len == 0)
                return;
            continue;
        }
        int e = cc_http_body_init(&k->body, &k->resp, false, r->max_body);
        if (e < 0) {
            conn_fail(k, e);
            return;
        }
        if (k->body.mode == CC_HTTP_BODY_LENGTH) {
            k->fixed = cc_buf_new((size_t)k->resp.content_length);
            if (k->fixed == NULL) {
                conn_fail(k, CC_ENOMEM);
                return;
            }
        } else {
            cc_dynbuf_init(&k->grow, r->max_body);
        }
        k->head_done = true;
        /* The head's views stay valid: k->head is left alone until the response ends. */
        p1 = k->head.data + n;
        n1 = k->head.len - (size_t)n;
    }
    size_t used = 0;
    bool extra = false;
    int done = k->body.done ? 1 : 0;
    if (n1 > 0) {
        if (done == 0) {
            done = feed_body(k, p1, n1, &used);
            extra = done == 1 && used < n1;
        } else {
            extra = true;
        }
    }
    if (len > 0 && done >= 0) {
        if (done == 0) {
            done = feed_body(k, in, len, &used);
            extra = extra || (done == 1 && used < len);
        } else {
            extra = true;
        }
    }
    if (done < 0) {
        conn_fail(k, done);
        return;
    }
    /* No pipelining here: bytes after the body mean a confused server, drop the connection. */
    if (done == 1)
        conn_complete(k, !extra);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *k = h->data;
    buf->base = k->o->c->rbuf;
    buf->len = sizeof(k->o->c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn_t *k = s->data;
    if (k->state == C_CLOSING)
        return;
    if (n == 0)
        return;
    if (n < 0) {
        if (k->req == NULL) {
            conn_close(k); /* the server closed an idle connection */
            return;
        }
        if (n == UV_EOF && k->head_done && cc_http_body_eof(&k->body) == 0) {
            conn_complete(k, false);
            return;
        }
        conn_fail(k, n == UV_EOF ? CC_ECLOSED : (int)n);
        return;
    }
    if (k->req == NULL) {
        conn_close(k); /* bytes nobody asked for */
        return;
    }
    conn_on_bytes(k, (const uint8_t *)buf->base, (size_t)n);
}

static void on_written(uv_write_t *w, int status)
{
    conn_t *k = w->data;
    k->writing = false;
    if (status < 0 && status != UV_ECANCELED && k->state != C_CLOSING && k->req)
        conn_fail(k, status);
    else if (k->state == C_IDLE)
        pump(k->o); /* the connection is free for the next request now */
}

static void conn_send(conn_t *k, cc_httpc_req_t *r)
{
    k->req = r;
    r->conn = k;
    k->state = C_BUSY;
    conn_reset_response(k);
    uv_timer_start(&k->timer, on_req_timeout, r->timeout_ms, 0);
    free(k->wbuf); /* pump() only picks connections whose last write completed */
    k->wbuf = malloc(r->wire_len);
    if (k->wbuf == NULL) {
        k->req = NULL;
        conn_close(k);
        req_fail_later(r, CC_ENOMEM);
        return;
    }
    memcpy(k->wbuf, r->wire, r->wire_len);
    uv_buf_t b = uv_buf_init(k->wbuf, (unsigned)r->wire_len);
    int e = uv_write(&k->write, (uv_stream_t *)&k->tcp, &b, 1, on_written);
    if (e < 0) {
        k->req = NULL;
        conn_close(k);
        req_fail_later(r, e);
        return;
    }
    k->writing = true;
}

static void on_connect(uv_connect_t *cr, int status)
{
    conn_t *k = cr->data;
    if (status == UV_ECANCELED || k->state == C_CLOSING)
        return;
    cc_httpc_origin_t *o = k->o;
    if (status < 0) {
        if (!numeric_host(o))
            o->have_addr = false; /* look the name up again next time */
        conn_fail(k, status);
        return;
    }
    uv_tcp_nodelay(&k->tcp, 1);
    int e = uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
    if (e < 0) {
        conn_fail(k, e);
        return;
    }
    cc_httpc_req_t *r = k->req;
    uv_timer_stop(&k->timer);
    conn_send(k, r);
}

static void on_connect_timeout(uv_timer_t *t)
{
    conn_t *k = t->data;
    conn_fail(k, CC_ETIMEDOUT);
}

/* Opens a connection for r (taken off the queue by the caller). */
static int conn_open(cc_httpc_origin_t *o, cc_httpc_req_t *r)
{
    cc_httpc_t *c = o->c;
    conn_t *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return CC_ENOMEM;
    k->o = o;
    cc_dynbuf_init(&k->head, c->cfg.max_head);
    cc_dynbuf_init(&k->grow, 0);
    int e = uv_tcp_init(c->loop, &k->tcp);
    if (e < 0) {
        free(k);
        return e;
    }
    uv_timer_init(c->loop, &k->timer);
    k->tcp.data = k->timer.data = k->connect.data = k->write.data = k;
    k->next = o->conns;
    if (o->conns)
        o->conns->prev = k;
    o->conns = k;
    o->nconns++;
    c->live++;
    c->st.conns_open++;
    c->st.connects++;
    k->state = C_CONNECTING;
    k->req = r;
    r->conn = k;
    e = uv_tcp_connect(&k->connect, &k->tcp, (const struct sockaddr *)&o->addr, on_connect);
    if (e < 0) {
        k->req = NULL;
        r->conn = NULL;
        conn_close(k);
        return e;
    }
    uv_timer_start(&k->timer, on_connect_timeout, c->cfg.connect_timeout_ms, 0);
    return 0;
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    cc_httpc_origin_t *o = g->data;
    cc_httpc_t *c = o->c;
    o->resolving = NULL;
    free(g);
    c->live--;
    if (c->freeing) {
        uv_freeaddrinfo(res);
        maybe_free_client(c);
        return;
    }
    if (status == 0 && res) {
        memcpy(&o->addr, res->ai_addr, res->ai_addrlen);
        o->have_addr = true;
    }
    uv_freeaddrinfo(res);
    if (!o->have_addr) {
        /* Everything waiting fails: nobody to connect to. */
        cc_log_warn("edge.resolve", "origin=%s error=%s", o->url, cc_strerror(status < 0 ? status : CC_ENOENT));
        while (o->qhead) {
            cc_httpc_req_t *r = o->qhead;
            queue_unlink(o, r);
            req_finish(r, status < 0 ? status : CC_ENOENT, NULL);
        }
        return;
    }
    pump(o);
}

/* Starts what can start: idle connections first, then new ones. */
static void pump(cc_httpc_origin_t *o)
{
    cc_httpc_t *c = o->c;
    while (o->qhead && !c->freeing) {
        conn_t *idle = NULL;
        for (conn_t *k = o->conns; k; k = k->next)
            if (k->state == C_IDLE && !k->writing) {
                idle = k;
                break;
            }
        cc_httpc_req_t *r = o->qhead;
        if (idle) {
            queue_unlink(o, r);
            uv_timer_stop(&idle->timer);
            conn_send(idle, r);
            continue;
        }
        if (o->nconns >= c->cfg.max_conns)
            return;
        if (!o->have_addr) {
            if (o->resolving)
                return;
            uv_getaddrinfo_t *g = malloc(sizeof(*g));
            if (g == NULL)
                return;
            g->data = o;
            struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
            int e = uv_getaddrinfo(c->loop, g, on_resolved, o->node, o->port, &hints);
            if (e < 0) {
                free(g);
                queue_unlink(o, r);
                req_fail_later(r, e);
                continue;
            }
            o->resolving = g;
            c->live++;
            return;
        }
        queue_unlink(o, r);
        int e = conn_open(o, r);
        if (e < 0)
            req_fail_later(r, e);
    }
}

/* ---- requests ---- */

/* GET, or POST with a body (the overlay's chat review hook): the request's
 * bytes are built once here; everything after is the same. */
static int submit(cc_httpc_origin_t *o, const char *path, const char *ctype, const void *body, size_t blen,
                  uint32_t timeout_ms, size_t max_body, cc_httpc_cb cb, void *data, cc_httpc_req_t **out)
{
    if (out)
        *out = NULL;
    if (o == NULL || path == NULL || path[0] != '/' || cb == NULL || timeout_ms == 0 || o->c->freeing)
        return CC_EINVAL;
    for (const char *s = path; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return CC_EINVAL;
    for (const char *s = ctype; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return CC_EINVAL;
    cc_httpc_t *c = o->c;
    if (o->nqueued >= c->cfg.max_queued)
        return CC_ELIMIT;
    cc_httpc_req_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return CC_ENOMEM;
    size_t need = strlen(o->prefix) + strlen(path) + strlen(o->host_hdr) + (ctype ? strlen(ctype) : 0) + blen + 192;
    r->wire = malloc(need);
    if (r->wire == NULL) {
        free(r);
        return CC_ENOMEM;
    }
    int n;
    if (ctype == NULL) {
        n = snprintf(r->wire, need,
                     "GET %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: cartcast-edge\r\nAccept-Encoding: identity\r\n\r\n",
                     o->prefix, path, o->host_hdr);
    } else {
        n = snprintf(r->wire, need,
                     "POST %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: cartcast\r\nAccept-Encoding: identity\r\n"
                     "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                     o->prefix, path, o->host_hdr, ctype, blen);
        memcpy(r->wire + n, body, blen);
        n += (int)blen;
    }
    r->wire_len = (size_t)n;
    r->o = o;
    r->timeout_ms = timeout_ms;
    r->max_body = max_body;
    r->cb = cb;
    r->data = data;
    c->st.requests++;
    queue_push(o, r, false);
    if (out)
        *out = r;
    pump(o);
    return 0;
}

int cc_httpc_get(cc_httpc_origin_t *o, const char *path, uint32_t timeout_ms, size_t max_body, cc_httpc_cb cb,
                 void *data, cc_httpc_req_t **out)
{
    return submit(o, path, NULL, NULL, 0, timeout_ms, max_body, cb, data, out);
}

int cc_httpc_post(cc_httpc_origin_t *o, const char *path, const char *content_type, const void *body, size_t len,
                  uint32_t timeout_ms, size_t max_body, cc_httpc_cb cb, void *data, cc_httpc_req_t **out)
{
    if (content_type == NULL || (body == NULL && len > 0))
        return CC_EINVAL;
    return submit(o, path, content_type, body, len, timeout_ms, max_body, cb, data, out);
}

void cc_httpc_cancel(cc_httpc_req_t *r)
{
    if (r == NULL)
        return;
    cc_httpc_origin_t *o = r->o;
    if (r->failed) {
        failed_unlink(o->c, r);
    } else if (r->conn) {
        conn_t *k = r->conn;
        k->req = NULL;
        r->conn = NULL;
        conn_close(k);
    } else {
        queue_unlink(o, r);
    }
    req_free(r);
}

static void defer_closed(uv_handle_t *h)
{
    cc_httpc_t *c = h->data;
    c->live--;
    maybe_free_client(c);
}

void cc_httpc_free(cc_httpc_t *c)
{
    if (c == NULL)
        return;
    c->freeing = true;
    while (c->fhead) {
        cc_httpc_req_t *r = c->fhead;
        failed_unlink(c, r);
        req_free(r);
    }
    uv_timer_stop(&c->defer);
    uv_close((uv_handle_t *)&c->defer, defer_closed);
    for (cc_httpc_origin_t *o = c->origins; o; o = o->next) {
        while (o->qhead) {
            cc_httpc_req_t *r = o->qhead;
            queue_unlink(o, r);
            req_free(r);
        }
        while (o->conns) {
            conn_t *k = o->conns;
            if (k->req) {
                k->req->conn = NULL;
                req_free(k->req);
                k->req = NULL;
            }
            conn_close(k);
        }
        if (o->resolving)
            uv_cancel((uv_req_t *)o->resolving);
    }
    maybe_free_client(c);
}

void cc_httpc_stats(const cc_httpc_t *c, cc_httpc_stats_t *out) { *out = c->st; }
