/* The overlay's HTTP + WebSocket server on one lws context (see server.h).
 *
 * Ownership, in one place:
 *  - lws per-session data (pss) is a union: an HTTP request slot or a
 *    WebSocket connection (ov_conn_t lives in the pss itself: no allocation
 *    per idle viewer beyond lws's own).
 *  - ov_http_t is heap-allocated per request; the pss points at it and it
 *    points back at the wsi; whichever side goes first unlinks the other.
 *  - A WebSocket's send queue is a ring of cc_buf_t references allocated
 *    when the first message waits and freed when the queue drains, so an idle
 *    viewer costs no queue memory.
 *  - The lws callback reaches the server through the pss (conn->srv,
 *    req->srv), which ov_server_stop() clears before destroying the context:
 *    lws still calls back during its teardown, after the server is freed.
 * lws + libuv teardown rules: docs/http.md (gotchas 1, 2, 4). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "cartcast/err.h"
#include "cartcast/fanout.h"
#include "cartcast/log.h"
#include "server.h"
#include "edge/lws_loop.h"

#define HDR_MAX 4096            /* request line + headers */
#define RESP_CHUNK (64 * 1024)  /* one lws_write of a response body */
#define ADDR_BUCKETS 1024
#define RX_PIECE 1024           /* lws rx buffer per connection; longer messages are reassembled */
#define FANOUT_MIN_SLICE 256    /* viewers per thread below which a broadcast stays on the loop */
#define TX_PACKET_MAX (256 * 1024) /* largest single send() lws makes of a frame */

typedef struct addr_count {
    struct addr_count *next;
    uint32_t n;
    char ip[48];
} addr_count_t;

struct ov_server {
    uv_loop_t *loop;
    struct lws_context *ctx;
    ov_server_config_t cfg;
    ov_server_callbacks_t cb;
    int port;
    ov_conn_t *conns; /* every open WebSocket, for stop */
    ov_http_t *reqs;  /* every live request, for stop */
    addr_count_t *addrs[ADDR_BUCKETS];
    uint8_t *scratch; /* LWS_PRE + the largest message written so far */
    size_t scratch_len;
    cc_fanout_t *fanout; /* NULL: broadcasts stay on the loop thread */
    /* ov_server_broadcast()'s working arrays, kept between broadcasts */
    cc_sendset_t bc_sends; /* the viewers written directly (owner: the ov_conn_t) */
    uint8_t *bc_frame;    /* the WebSocket frame: header + payload */
    size_t bc_frame_cap;
    ov_server_stats_t st;
};

struct ov_http {
    ov_server_t *srv;
    struct lws *wsi;
    ov_http_t *prev, *next;
    const char *method;
    bool answered, headers_sent, body_phase;
    int status;
    char *resp;        /* extra headers text then the body */
    size_t resp_hdr_len, resp_len, sent;
    char type[64];
    cc_dynbuf_t body;
    char peer[48];
    char auth[256];
    char idem[72];
    char *query;
    char path[];
};

struct ov_conn {
    ov_server_t *srv; /* NULL once the server stopped (or before open) */
    struct lws *wsi;
    ov_conn_t *prev, *next;
    void *data;
    cc_buf_t **q; /* ring, srv->cfg.send_queue_msgs slots; NULL when empty */
    uint32_t qhead, qlen;
    size_t qbytes;
    cc_dynbuf_t *rx; /* a message arriving in pieces */
    addr_count_t *addr;
    int close_code;
    bool opened; /* on_ws_open ran and accepted: on_ws_close owed */
    char close_reason[124];
    char peer[48];
};

enum { PSS_NONE, PSS_HTTP, PSS_WS };
typedef struct pss {
    int kind;
    union {
        ov_http_t *req;
        ov_conn_t conn;
    } u;
} pss_t;

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

/* lws walks this during the teardown, after the server is freed: static. */
static const struct lws_protocols protocols[] = {
    /* tx_packet_size: without it lws 4.1 caps each send() at rx_buffer_size
     * (1 KiB here) and sends the rest of a frame 1 KiB per writable round
     * through the loop: a 20 KB chat batch to 5,000 viewers took ~20 rounds
     * of 5,000 POLLOUT events (docs/chat.md).  One send() per frame now; the
     * kernel takes what fits and lws buffers the rest as before. */
    {"cartcast-overlay", callback, sizeof(pss_t), RX_PIECE, 0, NULL, TX_PACKET_MAX},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};
/* Read by lws for the context's life: static too (one server per process). */
static lws_retry_bo_t retry_policy;

void ov_server_config_default(ov_server_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = 8090;
    cfg->max_message = 4096;
    cfg->send_queue_msgs = 64;
    cfg->send_queue_bytes = 1u << 20;
    cfg->max_conns = 20000;
    cfg->max_conns_per_addr = 200;
    cfg->ping_interval_s = 20;
    cfg->max_body = 16384;
}

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
    cc_log(level & LLL_ERR ? CC_LOG_ERROR : CC_LOG_WARN, "overlay.lws", "msg=%s", cc_log_quote(q, sizeof(q), msg));
}

/* ---- per-address counts -------------------------------------------------- */

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static addr_count_t *addr_get(ov_server_t *s, const char *ip)
{
    uint32_t b = hash_str(ip) % ADDR_BUCKETS;
    for (addr_count_t *a = s->addrs[b]; a; a = a->next)
        if (strcmp(a->ip, ip) == 0)
            return a;
    addr_count_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    snprintf(a->ip, sizeof(a->ip), "%s", ip);
    a->next = s->addrs[b];
    s->addrs[b] = a;
    return a;
}

static void addr_put(ov_server_t *s, addr_count_t *a)
{
    if (a == NULL || --a->n > 0)
        return;
    addr_count_t **pp = &s->addrs[hash_str(a->ip) % ADDR_BUCKETS];
    while (*pp != a)
        pp = &(*pp)->next;
    *pp = a->next;
    free(a);
}

/* ---- HTTP ------------------------------------------------------------------ */

static void req_unlink_free(ov_http_t *r)
{
    if (r->srv) {
        if (r->prev)
            r->prev->next = r->next;
        else
            r->srv->reqs = r->next;
        if (r->next)
            r->next->prev = r->prev;
    }
    cc_dynbuf_free(&r->body);
    free(r->resp);
    free(r);
}

static const char *method_of(struct lws *wsi)
{
    static const char *const names[] = {"GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE", "CONNECT", "HEAD"};
    char *uri;
    int ulen;
    int m = lws_http_get_uri_and_method(wsi, &uri, &ulen);
    return m >= 0 && m < (int)(sizeof(names) / sizeof(names[0])) ? names[m] : NULL;
}

static void copy_query(struct lws *wsi, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; used + 2 < cap; i++) {
        char frag[512];
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        int w = snprintf(out + used, cap - used, "%s%s", used ? "&" : "", frag);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
}

static void dispatch(ov_http_t *r)
{
    r->srv->st.http_requests++;
    r->srv->cb.on_http(r, r->srv->cb.data);
}

static int on_http(ov_server_t *s, struct lws *wsi, pss_t *p, const char *uri, size_t urilen)
{
    const char *method = method_of(wsi);
    if (method == NULL)
        return -1;
    char query[1024];
    copy_query(wsi, query, sizeof(query));
    size_t qlen = strlen(query);
    ov_http_t *r = calloc(1, sizeof(*r) + urilen + 1 + qlen + 1);
    if (r == NULL)
        return -1;
    r->srv = s;
    r->wsi = wsi;
    r->method = method;
    memcpy(r->path, uri, urilen);
    r->path[urilen] = '\0';
    r->query = r->path + urilen + 1;
    memcpy(r->query, query, qlen + 1);
    cc_dynbuf_init(&r->body, s->cfg.max_body);
    lws_get_peer_simple(wsi, r->peer, sizeof(r->peer));
    if (lws_hdr_copy(wsi, r->auth, sizeof(r->auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        r->auth[0] = '\0';
    if (lws_hdr_custom_copy(wsi, r->idem, sizeof(r->idem), "idempotency-key:", 16) < 0)
        r->idem[0] = '\0';
    r->next = s->reqs;
    if (s->reqs)
        s->reqs->prev = r;
    s->reqs = r;
    p->kind = PSS_HTTP;
    p->u.req = r;

    char cl[24];
    int n = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
    unsigned long long clen = n > 0 ? strtoull(cl, NULL, 10) : 0;
    if (clen > s->cfg.max_body) {
        ov_http_respond_error(r, 413, "too_large", "request body too large");
        return 0;
    }
    if (clen > 0) {
        r->body_phase = true;
        return 0;
    }
    if (n <= 0 && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        ov_http_respond_error(r, 411, "length_required", "send a Content-Length (chunked bodies are not read)");
        return 0;
    }
    dispatch(r);
    return 0;
}

static int write_http(struct lws *wsi, pss_t *p)
{
    ov_http_t *r = p->u.req;
    if (r->srv == NULL)
        return -1; /* the server stopped */
    if (!r->headers_sent) {
        uint8_t buf[LWS_PRE + 2048];
        uint8_t *start = buf + LWS_PRE, *ptr = start, *end = buf + sizeof(buf) - 1;
        if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->type[0] ? r->type : NULL, r->resp_len, &ptr,
                                        end) ||
            lws_add_http_header_by_name(wsi, (const uint8_t *)"access-control-allow-origin:", (const uint8_t *)"*", 1,
                                        &ptr, end) ||
            lws_add_http_header_by_name(wsi, (const uint8_t *)"cache-control:", (const uint8_t *)"no-store", 8, &ptr,
                                        end))
            return -1;
        /* extra headers: "name: value\r\n" lines */
        const char *h = r->resp, *hend = r->resp + r->resp_hdr_len;
        while (h < hend) {
            const char *eol = memchr(h, '\n', (size_t)(hend - h));
            const char *colon = memchr(h, ':', (size_t)(hend - h));
            if (eol == NULL || colon == NULL || colon > eol)
                break;
            char name[64];
            size_t nl = (size_t)(colon - h);
            if (nl + 2 > sizeof(name))
                break;
            memcpy(name, h, nl);
            name[nl] = ':';
            name[nl + 1] = '\0';
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(eol - v);
            if (vl > 0 && v[vl - 1] == '\r')
                vl--;
            if (lws_add_http_header_by_name(wsi, (const uint8_t *)name, (const uint8_t *)v, (int)vl, &ptr, end))
                return -1;
            h = eol + 1;
        }
        if (lws_finalize_http_header(wsi, &ptr, end))
            return -1;
        int body = r->resp_len > 0 && strcmp(r->method, "HEAD") != 0;
        if (lws_write(wsi, start, (size_t)(ptr - start), LWS_WRITE_HTTP_HEADERS) < 0)
            return -1;
        r->headers_sent = true;
        if (!body)
            goto done;
        lws_callback_on_writable(wsi);
        return 0;
    }
    {
        size_t chunk = r->resp_len - r->sent;
        if (chunk > RESP_CHUNK)
            chunk = RESP_CHUNK;
        uint8_t *buf = malloc(LWS_PRE + chunk);
        if (buf == NULL)
            return -1;
        memcpy(buf + LWS_PRE, r->resp + r->resp_hdr_len + r->sent, chunk);
        bool last = r->sent + chunk == r->resp_len;
        int w = lws_write(wsi, buf + LWS_PRE, chunk, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
        free(buf);
        if (w < 0)
            return -1;
        r->sent += chunk;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
done:
    if (r->status >= 500)
        r->srv->st.http_5xx++;
    else if (r->status >= 400)
        r->srv->st.http_4xx++;
    if (cc_log_get_level() <= CC_LOG_DEBUG) {
        char q[256];
        cc_log_debug("overlay.http", "method=%s path=%s status=%d bytes=%zu", r->method,
                     cc_log_quote(q, sizeof(q), r->path), r->status, r->resp_len);
    }
    p->u.req = NULL;
    p->kind = PSS_NONE;
    req_unlink_free(r);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- WebSocket --------------------------------------------------------------- */

static void conn_drop_queue(ov_conn_t *c)
{
    if (c->q) {
        size_t cap = c->srv ? c->srv->cfg.send_queue_msgs : 0;
        for (uint32_t i = 0; i < c->qlen && cap; i++)
            cc_buf_unref(c->q[(c->qhead + i) % cap]);
        free(c->q);
    }
    c->q = NULL;
    c->qhead = c->qlen = 0;
    c->qbytes = 0;
}

static void conn_release(ov_conn_t *c)
{
    ov_server_t *s = c->srv;
    if (s == NULL)
        return;
    if (c->opened && s->cb.on_ws_close)
        s->cb.on_ws_close(c, s->cb.data);
    c->opened = false;
    conn_drop_queue(c);
    if (c->rx) {
        cc_dynbuf_free(c->rx);
        free(c->rx);
        c->rx = NULL;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    addr_put(s, c->addr);
    c->addr = NULL;
    s->st.conns--;
    c->srv = NULL;
}

static void conn_start_close(ov_conn_t *c, int code, const char *reason)
{
    if (c->close_code)
        return;
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason ? reason : "");
    conn_drop_queue(c);
    if (c->wsi) {
        /* The close frame goes out when the socket takes it; a client that
         * never reads is cut after 10 s. */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 10);
        lws_callback_on_writable(c->wsi);
    }
}

static int on_established(ov_server_t *s, struct lws *wsi, pss_t *p)
{
    memset(p, 0, sizeof(*p));
    p->kind = PSS_WS;
    ov_conn_t *c = &p->u.conn;
    c->wsi = wsi;
    c->srv = s;
    lws_get_peer_simple(wsi, c->peer, sizeof(c->peer));
    if (s->cfg.sndbuf > 0) {
        int fd = lws_get_socket_fd(wsi);
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s->cfg.sndbuf, sizeof(s->cfg.sndbuf));
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->st.conns++;
    s->st.conns_total++;
    c->addr = addr_get(s, c->peer);
    if (c->addr)
        c->addr->n++;
    if (s->st.conns > s->cfg.max_conns) {
        s->st.refused_total++;
        conn_start_close(c, OV_CLOSE_TRY_LATER, "server full");
        return 0;
    }
    if (c->addr == NULL || c->addr->n > s->cfg.max_conns_per_addr) {
        s->st.refused_addr++;
        conn_start_close(c, OV_CLOSE_TRY_LATER, "too many connections from this address");
        return 0;
    }
    char path[256], query[1024];
    if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
        path[0] = '\0';
    copy_query(wsi, query, sizeof(query));
    c->opened = true;
    int code = s->cb.on_ws_open(c, path, query, s->cb.data);
    if (code != 0) {
        c->opened = false;
        conn_start_close(c, code, code == OV_CLOSE_NOT_FOUND ? "unknown stream" : "refused");
    }
    return 0;
}

static int deliver(ov_conn_t *c, const char *msg, size_t len)
{
    ov_server_t *s = c->srv;
    s->st.msgs_in++;
    if (c->opened && !c->close_code)
        s->cb.on_ws_message(c, msg, len, s->cb.data);
    return 0;
}

static int on_receive(struct lws *wsi, ov_conn_t *c, const char *in, size_t len)
{
    ov_server_t *s = c->srv;
    if (s == NULL || c->close_code)
        return 0;
    if (lws_frame_is_binary(wsi)) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, (unsigned char *)"text messages only", 18);
        return -1;
    }
    size_t remaining = lws_remaining_packet_payload(wsi);
    bool complete = lws_is_final_fragment(wsi) && remaining == 0;
    size_t have = c->rx ? c->rx->len : 0;
    if (have + len + remaining > s->cfg.max_message) {
        s->st.closed_too_big++;
        char why[64];
        int n = snprintf(why, sizeof(why), "message larger than %zu bytes", s->cfg.max_message);
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why, (size_t)n);
        return -1;
    }
    if (complete && c->rx == NULL)
        return deliver(c, in, len);
    if (c->rx == NULL) {
        c->rx = malloc(sizeof(*c->rx));
        if (c->rx == NULL)
            return -1;
        cc_dynbuf_init(c->rx, s->cfg.max_message);
    }
    if (cc_dynbuf_append(c->rx, in, len) < 0)
        return -1;
    if (!complete)
        return 0;
    int r = deliver(c, (const char *)c->rx->data, c->rx->len);
    if (c->rx) {
        cc_dynbuf_free(c->rx);
        free(c->rx);
        c->rx = NULL;
    }
    return r;
}

/* Frames msg and hands it to lws (copied: lws writes the frame header in
 * front of the payload, and the same buffer goes to every other viewer). */
static int write_msg(ov_server_t *s, struct lws *wsi, const cc_buf_t *m)
{
    if (s->scratch_len < m->len) {
        uint8_t *n = realloc(s->scratch, LWS_PRE + m->len);
        if (n == NULL)
            return -1;
        s->scratch = n;
        s->scratch_len = m->len;
    }
    memcpy(s->scratch + LWS_PRE, m->data, m->len);
    if (lws_write(wsi, s->scratch + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
        return -1;
    s->st.msgs_out++;
    s->st.bytes_out += m->len;
    return 0;
}

/* Writes queued messages while the socket takes them (at least one: the
 * caller saw it writable).  As much as possible at once, not one message per
 * writable callback: with one, a viewer that fell behind once stayed in the
 * writable path for good (each broadcast queued a message, each loop
 * iteration sent one), and with thousands of such viewers every broadcast
 * cost each of them two uv_poll_start()s (an epoll DEL + ADD each) and a
 * callback: found with 5,000 chat viewers at 10 frames a second
 * (docs/chat.md).  0, or -1 when a write failed. */
static int drain(ov_server_t *s, ov_conn_t *c)
{
    size_t cap = s->cfg.send_queue_msgs;
    do {
        cc_buf_t *m = c->q[c->qhead];
        c->qhead = (uint32_t)((c->qhead + 1) % cap);
        c->qlen--;
        c->qbytes -= m->len;
        int w = write_msg(s, c->wsi, m);
        cc_buf_unref(m);
        if (w < 0)
            return -1;
    } while (c->qlen > 0 && !lws_send_pipe_choked(c->wsi));
    if (c->qlen == 0) {
        free(c->q);
        c->q = NULL;
        c->qhead = 0;
    }
    return 0;
}

static int on_writeable(struct lws *wsi, ov_conn_t *c)
{
    ov_server_t *s = c->srv;
    if (s == NULL)
        return -1;
    if (c->close_code) {
        /* The close frame is written here, not left to lws_close_reason():
         * with the libuv event lib, lws 4.1.6 kills the socket in the same
         * call that queues its own close frame ("uv repeat test"), so the
         * peer only saw 1006. */
        uint8_t frame[LWS_PRE + 2 + sizeof(c->close_reason)];
        size_t rl = strlen(c->close_reason);
        frame[LWS_PRE] = (uint8_t)(c->close_code >> 8);
        frame[LWS_PRE + 1] = (uint8_t)c->close_code;
        memcpy(frame + LWS_PRE + 2, c->close_reason, rl);
        lws_write(wsi, frame + LWS_PRE, 2 + rl, (enum lws_write_protocol)4 /* LWS_WRITE_CLOSE: internal in 4.1 */);
        return -1;
    }
    if (c->qlen == 0)
        return 0;
    if (drain(s, c) < 0)
        return -1;
    if (c->qlen > 0)
        lws_callback_on_writable(wsi);
    return 0;
}

/* Puts msg at the end of c's queue (written from the writable callback). */
static int conn_enqueue(ov_conn_t *c, cc_buf_t *msg)
{
    ov_server_t *s = c->srv;
    size_t cap = s->cfg.send_queue_msgs;
    if (c->qlen + 1 > cap || c->qbytes + msg->len > s->cfg.send_queue_bytes) {
        s->st.dropped_slow++;
        cc_log_info("overlay.slow_client", "peer=%s queued=%u bytes=%zu", c->peer, c->qlen, c->qbytes);
        conn_start_close(c, OV_CLOSE_SLOW, "slow client: send queue full");
        return CC_ELIMIT;
    }
    if (c->q == NULL) {
        c->q = malloc(cap * sizeof(*c->q));
        if (c->q == NULL)
            return CC_ENOMEM;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qlen) % cap] = cc_buf_ref(msg);
    c->qlen++;
    c->qbytes += msg->len;
    if (c->qlen == 1)
        lws_callback_on_writable(c->wsi);
    return 0;
}

int ov_conn_send(ov_conn_t *c, cc_buf_t *msg)
{
    ov_server_t *s = c->srv;
    if (s == NULL || c->close_code || c->wsi == NULL)
        return CC_ESTATE;
    /* Fast path: nothing queued and the socket takes more: write now.  A
     * broadcast to 10,000 viewers then costs one send() each, instead of two
     * epoll_ctl() (POLLOUT on, off), a loop iteration and lws's writable
     * dispatch.  lws_send_pipe_choked() says 1 while lws still holds part of
     * an earlier frame (a partial send), so frames never interleave. */
    bool writable = !lws_send_pipe_choked(c->wsi);
    if (writable && c->qlen > 0) {
        /* a backlog the socket takes now: send it here, in order, rather
         * than waiting for the writable callback (see drain()) */
        if (drain(s, c) < 0) {
            conn_start_close(c, OV_CLOSE_INTERNAL, "write failed");
            return CC_ECLOSED;
        }
        writable = c->qlen == 0 && !lws_send_pipe_choked(c->wsi);
    }
    if (writable && c->qlen == 0) {
        if (write_msg(s, c->wsi, msg) == 0)
            return 0;
        /* never lose a message silently: the viewer reconnects and gets a hello */
        conn_start_close(c, OV_CLOSE_INTERNAL, "write failed");
        return CC_ECLOSED;
    }
    return conn_enqueue(c, msg);
}

/* ---- broadcast ---------------------------------------------------------------- */

/* A server-to-client text frame (RFC 6455 5.2: FIN, opcode 1, no mask) of
 * msg into s->bc_frame; its length, or 0 when out of memory. */
static size_t build_text_frame(ov_server_t *s, const cc_buf_t *msg)
{
    size_t need = 10 + msg->len;
    if (s->bc_frame_cap < need) {
        uint8_t *n = realloc(s->bc_frame, need);
        if (n == NULL)
            return 0;
        s->bc_frame = n;
        s->bc_frame_cap = need;
    }
    uint8_t *f = s->bc_frame;
    size_t h = 0, len = msg->len;
    f[h++] = 0x81;
    if (len < 126) {
        f[h++] = (uint8_t)len;
    } else if (len < 65536) {
        f[h++] = 126;
        f[h++] = (uint8_t)(len >> 8);
        f[h++] = (uint8_t)len;
    } else {
        f[h++] = 127;
        for (int i = 7; i >= 0; i--)
            f[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(f + h, msg->data, len);
    return h + len;
}

/* After a direct send: the frame went out whole, in part, or not at all. */
static void finish_direct_send(ov_server_t *s, ov_conn_t *c, cc_buf_t *msg, size_t frame_len, ssize_t sent)
{
    if (sent == (ssize_t)frame_len) {
        s->st.msgs_out++;
        s->st.bytes_out += msg->len;
        return;
    }
    if (sent == -EAGAIN || sent == -EWOULDBLOCK || sent == -EINTR) {
        /* Nothing written: the socket is full, so the queue takes it. */
        conn_enqueue(c, msg);
        return;
    }
    if (sent > 0) {
        /* Part of the frame is on the wire: lws must send the rest before
         * anything else on this socket (its pings and pongs included), which
         * it does with data given as LWS_WRITE_RAW (buffered when the socket
         * is full, flushed first on POLLOUT).  lws_send_pipe_choked() is
         * called for its side effect: it clears lws's back-to-back-write
         * guard, which an earlier write in this loop turn may have set. */
        size_t rest = frame_len - (size_t)sent;
        if (s->scratch_len < rest) {
            uint8_t *n = realloc(s->scratch, LWS_PRE + rest);
            if (n == NULL) {
                conn_start_close(c, OV_CLOSE_INTERNAL, "out of memory");
                return;
            }
            s->scratch = n;
            s->scratch_len = rest;
        }
        memcpy(s->scratch + LWS_PRE, s->bc_frame + sent, rest);
        if (lws_send_pipe_choked(c->wsi) < 0) /* never: it answers 0 or 1 */
            return;
        if (lws_write(c->wsi, s->scratch + LWS_PRE, rest, LWS_WRITE_RAW) == (int)rest) {
            s->st.msgs_out++;
            s->st.bytes_out += msg->len;
            return;
        }
    }
    /* never lose a message silently: the viewer reconnects and gets a hello */
    conn_start_close(c, OV_CLOSE_INTERNAL, "write failed");
}

void ov_server_broadcast(ov_server_t *s, ov_conn_t *const *conns, size_t n, cc_buf_t *msg)
{
    size_t frame_len = 0;
    if (n == 0 || (frame_len = build_text_frame(s, msg)) == 0) {
        for (size_t i = 0; i < n; i++)
            ov_conn_send(conns[i], msg);
        return;
    }
    /* Viewers with nothing waiting (ours or lws's) get the frame directly;
     * the others keep their order through the queue. */
    cc_sendset_t *set = &s->bc_sends;
    cc_sendset_clear(set);
    for (size_t i = 0; i < n; i++) {
        ov_conn_t *c = conns[i];
        if (c->srv != s || c->close_code || c->wsi == NULL)
            continue;
        if (c->qlen > 0 || lws_partial_buffered(c->wsi)) {
            /* behind: drain what the socket takes now, then queue (keeps order) */
            ov_conn_send(c, msg);
            continue;
        }
        cc_send_t *item = cc_sendset_add(set);
        if (item == NULL) { /* out of memory: this one through its queue */
            ov_conn_send(c, msg);
            continue;
        }
        *item = (cc_send_t){.owner = c, .fd = lws_get_socket_fd(c->wsi), .iovcnt = 1,
                            .iov = {{s->bc_frame, frame_len}}};
    }
    cc_sendset_run(s->fanout, set, FANOUT_MIN_SLICE);
    for (size_t i = 0; i < set->n; i++)
        finish_direct_send(s, set->sends[i].owner, msg, frame_len, set->sends[i].result);
}

void ov_conn_close(ov_conn_t *c, int code, const char *reason)
{
    if (c->srv)
        conn_start_close(c, code, reason);
}

void ov_conn_set_data(ov_conn_t *c, void *data) { c->data = data; }
void *ov_conn_data(const ov_conn_t *c) { return c->data; }
const char *ov_conn_peer(const ov_conn_t *c) { return c->peer; }

/* ---- the lws callback ---------------------------------------------------------- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    pss_t *p = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (p == NULL || in == NULL)
            return -1;
        return on_http(lws_context_user(lws_get_context(wsi)), wsi, p, in, strlen(in));
    case LWS_CALLBACK_HTTP_BODY:
        if (p && p->kind == PSS_HTTP && p->u.req && p->u.req->body_phase && !p->u.req->answered) {
            if (cc_dynbuf_append(&p->u.req->body, in, len) < 0)
                ov_http_respond_error(p->u.req, 413, "too_large", "request body too large");
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (p && p->kind == PSS_HTTP && p->u.req && p->u.req->body_phase && !p->u.req->answered) {
            p->u.req->body_phase = false;
            dispatch(p->u.req);
        }
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (p && p->kind == PSS_HTTP && p->u.req && p->u.req->answered)
            return write_http(wsi, p);
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (p && p->kind == PSS_HTTP && p->u.req) {
            ov_http_t *r = p->u.req;
            p->u.req = NULL;
            p->kind = PSS_NONE;
            r->wsi = NULL;
            if (r->answered || r->srv == NULL)
                req_unlink_free(r);
            /* else: the owner answers later; ov_http_respond frees it then. */
        }
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char path[256];
        if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
            return 1;
        size_t n = strlen(path);
        return strncmp(path, "/v1/streams/", 12) != 0 || n < 16 || strcmp(path + n - 3, "/ws") != 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(lws_context_user(lws_get_context(wsi)), wsi, p);
    case LWS_CALLBACK_RECEIVE:
        if (p == NULL || p->kind != PSS_WS)
            return -1;
        return on_receive(wsi, &p->u.conn, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (p == NULL || p->kind != PSS_WS)
            return 0;
        return on_writeable(wsi, &p->u.conn);
    case LWS_CALLBACK_CLOSED:
        if (p && p->kind == PSS_WS) {
            p->u.conn.wsi = NULL;
            conn_release(&p->u.conn);
            p->kind = PSS_NONE;
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- HTTP answers ------------------------------------------------------------- */

const char *ov_http_method(const ov_http_t *r) { return r->method; }
const char *ov_http_path(const ov_http_t *r) { return r->path; }
const char *ov_http_query(const ov_http_t *r) { return r->query; }
const char *ov_http_authorization(const ov_http_t *r) { return r->auth; }
const char *ov_http_idempotency_key(const ov_http_t *r) { return r->idem; }
cc_iov_t ov_http_body(const ov_http_t *r) { return cc_iov(r->body.data, r->body.len); }
const char *ov_http_peer(const ov_http_t *r) { return r->peer; }

int ov_http_respond(ov_http_t *r, int status, const char *type, const void *body, size_t len,
                    const char *extra_headers)
{
    if (r->answered)
        return CC_ESTATE;
    r->answered = true;
    if (r->wsi == NULL || r->srv == NULL) { /* the client left, or the server stopped */
        req_unlink_free(r);
        return 0;
    }
    size_t hl = extra_headers ? strlen(extra_headers) : 0;
    r->resp = malloc(hl + len + 1);
    if (r->resp == NULL) {
        len = 0;
        hl = 0;
        status = 500;
        type = NULL;
    } else {
        if (hl)
            memcpy(r->resp, extra_headers, hl);
        if (len)
            memcpy(r->resp + hl, body, len);
    }
    r->resp_hdr_len = hl;
    r->resp_len = len;
    r->status = status;
    snprintf(r->type, sizeof(r->type), "%s", type ? type : "");
    lws_callback_on_writable(r->wsi);
    return 0;
}

int ov_http_respond_json(ov_http_t *r, int status, const char *json)
{
    return ov_http_respond(r, status, "application/json", json, strlen(json), NULL);
}

int ov_http_respond_error(ov_http_t *r, int status, const char *code, const char *message)
{
    json_t *o = json_pack("{s:s,s:s}", "error", code, "message", message);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    int rc = ov_http_respond(r, status, "application/json", s ? s : "{}", s ? strlen(s) : 2, NULL);
    free(s);
    return rc;
}

/* Teardown and the bind probe: edge/lws_loop.c (docs/http.md gotcha 1). */

int ov_server_start(uv_loop_t *loop, const ov_server_config_t *cfg, const ov_server_callbacks_t *cb,
                    ov_server_t **out)
{
    if (cfg->send_queue_msgs < 1 || cfg->send_queue_msgs > 1024 || cfg->max_message < 16 || cb->on_http == NULL ||
        cb->on_ws_open == NULL || cb->on_ws_message == NULL)
        return CC_EINVAL;
    int r = cfg->port ? cc__lws_probe_bind(cfg->bind, cfg->port) : 0;
    if (r < 0)
        return r;
    ov_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return CC_ENOMEM;
    s->loop = loop;
    s->cfg = *cfg;
    s->cb = *cb;
    unsigned threads = cc_fanout_pick_threads(cfg->fanout_threads);
    if (threads > 1 && (r = cc_fanout_create(threads, &s->fanout)) < 0) {
        free(s);
        return r;
    }
    lws_set_log_level(getenv("CC_LWS_DEBUG") ? 0x7ff : LLL_ERR | LLL_WARN, lws_log_to_cc);
    retry_policy.secs_since_valid_ping = cfg->ping_interval_s;
    retry_policy.secs_since_valid_hangup = (uint16_t)(cfg->ping_interval_s * 2 + 5);

    void *loops[1] = {loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = cfg->port;
    if (cfg->bind && strcmp(cfg->bind, "0.0.0.0") != 0)
        info.iface = cfg->bind;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
    info.foreign_loops = loops;
    info.user = s;
    info.server_string = "cartcast-overlay";
    info.max_http_header_data = HDR_MAX;
    info.max_http_header_pool = 256;
    info.keepalive_timeout = 15;
    info.timeout_secs = 10;
    info.retry_and_idle_policy = &retry_policy;
    s->ctx = lws_create_context(&info);
    struct lws_vhost *vh = s->ctx ? lws_get_vhost_by_name(s->ctx, "default") : NULL;
    if (vh == NULL) {
        cc_fanout_destroy(s->fanout);
        free(s);
        return CC_ECONFIG;
    }
    s->port = lws_get_vhost_listen_port(vh);
    *out = s;
    return 0;
}

int ov_server_port(const ov_server_t *s) { return s->port; }

void ov_server_get_stats(const ov_server_t *s, ov_server_stats_t *out) { *out = s->st; }

void ov_server_stop(ov_server_t *s)
{
    if (s == NULL)
        return;
    /* Our side first, while the server is whole: the app hears every close,
     * queued buffers go, and lws's later callbacks find srv == NULL. */
    while (s->conns) {
        ov_conn_t *c = s->conns;
        conn_release(c);
    }
    while (s->reqs) {
        ov_http_t *r = s->reqs;
        s->reqs = r->next;
        if (r->next)
            r->next->prev = NULL;
        r->srv = NULL;
        r->prev = r->next = NULL;
        if (r->answered) {
            /* Still writing: the pss owns it until CLOSED_HTTP. */
            continue;
        }
        /* Unanswered: its owner (a Redis callback) answers later and frees it.
         * Detach it from the wsi so CLOSED_HTTP leaves it alone. */
        if (r->wsi) {
            pss_t *p = lws_wsi_user(r->wsi);
            if (p && p->kind == PSS_HTTP && p->u.req == r) {
                p->u.req = NULL;
                p->kind = PSS_NONE;
            }
            r->wsi = NULL;
        }
    }
    for (size_t b = 0; b < ADDR_BUCKETS; b++) {
        for (addr_count_t *a = s->addrs[b], *n; a; a = n) {
            n = a->next;
            free(a);
        }
    }
    cc__lws_context_destroy(s->loop, s->ctx);
    cc_fanout_destroy(s->fanout);
    free(s->scratch);
    cc_sendset_free(&s->bc_sends);
    free(s->bc_frame);
    free(s);
}
