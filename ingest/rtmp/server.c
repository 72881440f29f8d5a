/* libuv glue for the RTMP ingest.  See server.h. */
#include "ingest/rtmp/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/log.h"

/* One read buffer for the whole server: the session consumes every byte
 * synchronously inside the read callback, so no connection needs its own
 * and an idle one costs none. */
#define READ_BUF 65536
#define SWEEP_MS 1000
/* How long a closing connection may wait for its last replies to drain. */
#define LINGER_MS 2000

typedef struct conn conn_t;

struct cc_rtmp_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep;
    cc_rtmp_config_t cfg;
    cc_hub_t *hub;
    cc_auth_t *auth;
    conn_t *conns;
    int handles; /* listener + timer + connections not yet closed */
    int stopping;
    int port;
    cc_rtmp_server_stats_t stats;
    uint8_t rbuf[READ_BUF];
};

struct conn {
    uv_tcp_t tcp;
    cc_rtmp_server_t *srv;
    cc_rtmp_session_t *sess;
    conn_t *prev, *next;
    uint64_t accepted_ms, last_read_ms, closing_ms;
    size_t queued; /* bytes handed to uv_write, not yet written */
    uint8_t closing, close_after_flush, published, counted_publishing;
    char peer[56];
};

typedef struct wreq {
    uv_write_t req;
    conn_t *c;
    cc_buf_t *buf;
} wreq_t;

void cc_rtmp_config_default(cc_rtmp_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->bind = "0.0.0.0";
    cfg->port = 1935;
    cfg->handshake_timeout_ms = 10000;
    cfg->idle_timeout_ms = 30000;
    cfg->write_queue_max = 1024 * 1024;
    cfg->max_connections = 1024;
    cc_rtmp_session_config_default(&cfg->session);
}

static void maybe_free_server(cc_rtmp_server_t *srv)
{
    if (srv->stopping && srv->handles == 0)
        free(srv);
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    cc_rtmp_server_t *srv = c->srv;
    if (c->counted_publishing)
        srv->stats.publishing--;
    cc_rtmp_session_free(c->sess); /* ends the stream in the hub */
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->stats.connections_open--;
    free(c);
    srv->handles--;
    maybe_free_server(srv);
}

static void hard_close(conn_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* Starts closing c.  With flush, replies already queued (an error status
 * for the peer) are written first, for at most LINGER_MS. */
static void conn_close(conn_t *c, int error, const char *reason, int flush)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->closing_ms = uv_now(c->srv->loop);
    uv_read_stop((uv_stream_t *)&c->tcp);
    const char *name = c->sess ? cc_rtmp_session_stream_name(c->sess) : "-";
    if (error) {
        c->srv->stats.closed_error++;
        cc_log_warn("rtmp.close", "peer=%s stream=%s reason=%s", c->peer, name, reason);
    } else {
        cc_log_info("rtmp.close", "peer=%s stream=%s reason=%s", c->peer, name, reason);
    }
    if (flush && c->queued > 0)
        c->close_after_flush = 1;
    else
        hard_close(c);
}

static void on_write(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    conn_t *c = w->c;
    c->queued -= w->buf->len;
    cc_buf_unref(w->buf);
    free(w);
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (status < 0)
        conn_close(c, 1, "write_error", 0);
    else if (c->close_after_flush && c->queued == 0)
        hard_close(c);
}

static void flush_output(conn_t *c)
{
    cc_buf_t *b = cc_rtmp_session_take_output(c->sess);
    if (!b)
        return;
    if (c->queued + b->len > c->srv->cfg.write_queue_max) {
        cc_buf_unref(b);
        conn_close(c, 1, "write_queue_full", 0);
        return;
    }
    wreq_t *w = malloc(sizeof(*w));
    if (!w) {
        cc_buf_unref(b);
        conn_close(c, 1, "out_of_memory", 0);
        return;
    }
    w->c = c;
    w->buf = b;
    uv_buf_t ub = uv_buf_init((char *)b->data, (unsigned)b->len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, on_write);
    if (rc < 0) {
        cc_buf_unref(b);
        free(w);
        conn_close(c, 1, "write_error", 0);
        return;
    }
    c->queued += b->len;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    *buf = uv_buf_init((char *)c->srv->rbuf, READ_BUF);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = stream->data;
    if (c->closing)
        return;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread == UV_EOF)
            conn_close(c, 0, "eof", 0);
        else
            conn_close(c, 1, uv_err_name((int)nread), 0);
        return;
    }
    c->last_read_ms = uv_now(c->srv->loop);
    c->srv->stats.bytes_in += (uint64_t)nread;
    int rc = cc_rtmp_session_feed(c->sess, (const uint8_t *)buf->base, (size_t)nread);
    int publishing = cc_rtmp_session_state(c->sess) == CC_RTMP_STATE_PUBLISHING;
    if (publishing)
        c->published = 1;
    if (publishing != c->counted_publishing) {
        c->counted_publishing = (uint8_t)publishing;
        if (publishing)
            c->srv->stats.publishing++;
        else
            c->srv->stats.publishing--;
    }
    flush_output(c);
    if (rc < 0 && !c->closing) {
        char reason[96];
        snprintf(reason, sizeof(reason), "%s", cc_rtmp_session_reason(c->sess));
        conn_close(c, 1, reason[0] ? reason : cc_err_name(rc), 1);
    }
}

static void format_peer(const uv_tcp_t *tcp, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    snprintf(out, outlen, "-");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof(ip));
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof(ip));
        snprintf(out, outlen, "%s:%u", ip, ntohs(a->sin_port));
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    cc_rtmp_server_t *srv = listener->data;
    if (status < 0) {
        cc_log_warn("rtmp.accept", "error=%s", uv_err_name(status));
        return;
    }
    conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        return; /* the connection stays in the backlog; we retry on the next one */
    c->srv = srv;
    snprintf(c->peer, sizeof(c->peer), "-");
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    srv->handles++;
    srv->stats.connections_open++;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c, 1, "accept_failed", 0);
        return;
    }
    srv->stats.connections_total++;
    format_peer(&c->tcp, c->peer, sizeof(c->peer));
    c->accepted_ms = c->last_read_ms = uv_now(srv->loop);
    if (srv->stats.connections_open > srv->cfg.max_connections) {
        conn_close(c, 1, "too_many_connections", 0);
        return;
    }
    c->sess = cc_rtmp_session_new(&srv->cfg.session, srv->hub, srv->auth, c->peer);
    if (!c->sess) {
        conn_close(c, 1, "out_of_memory", 0);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0)
        conn_close(c, 1, uv_err_name(rc), 0);
}

static void on_sweep(uv_timer_t *t)
{
    cc_rtmp_server_t *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    for (conn_t *c = srv->conns, *next; c; c = next) {
        next = c->next; /* closing only schedules uv_close: the list is intact */
        if (c->closing) {
            if (now - c->closing_ms > LINGER_MS)
                hard_close(c);
        } else if (!c->published && now - c->accepted_ms > srv->cfg.handshake_timeout_ms) {
            conn_close(c, 1, "handshake_timeout", 0);
        } else if (now - c->last_read_ms > srv->cfg.idle_timeout_ms) {
            conn_close(c, 1, "idle_timeout", 0);
        }
    }
}

static void on_server_handle_closed(uv_handle_t *h)
{
    cc_rtmp_server_t *srv = h->data;
    srv->handles--;
    maybe_free_server(srv);
}

int cc_rtmp_server_start(uv_loop_t *loop, const cc_rtmp_config_t *cfg, cc_hub_t *hub, cc_auth_t *auth,
                         cc_rtmp_server_t **out)
{
    *out = NULL;
    if (!loop || !cfg || !hub || !auth || cfg->port < 0 || cfg->port > 65535)
        return CC_EINVAL;
    cc_rtmp_server_t *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return CC_ENOMEM;
    srv->loop = loop;
    srv->cfg = *cfg;
    if (!srv->cfg.bind)
        srv->cfg.bind = "0.0.0.0";
    srv->hub = hub;
    srv->auth = auth;

    struct sockaddr_storage addr;
    int rc;
    if (strchr(srv->cfg.bind, ':'))
        rc = uv_ip6_addr(srv->cfg.bind, cfg->port, (struct sockaddr_in6 *)&addr);
    else
        rc = uv_ip4_addr(srv->cfg.bind, cfg->port, (struct sockaddr_in *)&addr);
    if (rc < 0) {
        free(srv);
        return rc;
    }
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    srv->handles++;
    rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection);
    if (rc < 0) {
        /* Free in the close callback, as for every handle. */
        srv->stopping = 1;
        uv_close((uv_handle_t *)&srv->listener, on_server_handle_closed);
        return rc;
    }
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen);
    srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    uv_timer_init(loop, &srv->sweep);
    srv->sweep.data = srv;
    srv->handles++;
    /* Timeouts are enforced to within a quarter of the shortest one. */
    uint64_t every = SWEEP_MS;
    if (srv->cfg.handshake_timeout_ms / 4 < every)
        every = srv->cfg.handshake_timeout_ms / 4;
    if (srv->cfg.idle_timeout_ms / 4 < every)
        every = srv->cfg.idle_timeout_ms / 4;
    if (every < 10)
        every = 10;
    uv_timer_start(&srv->sweep, on_sweep, every, every);
    uv_unref((uv_handle_t *)&srv->sweep); /* the sweep alone must not keep a loop alive */
    cc_log_info("rtmp.listen", "bind=%s port=%d", srv->cfg.bind, srv->port);
    *out = srv;
    return 0;
}

void cc_rtmp_server_stop(cc_rtmp_server_t *srv)
{
    if (!srv || srv->stopping)
        return;
    srv->stopping = 1;
    uv_close((uv_handle_t *)&srv->listener, on_server_handle_closed);
    uv_close((uv_handle_t *)&srv->sweep, on_server_handle_closed);
    for (conn_t *c = srv->conns; c; c = c->next) {
        if (!c->closing)
            conn_close(c, 0, "server_stop", 0);
        else
            hard_close(c);
    }
}

int cc_rtmp_server_port(const cc_rtmp_server_t *srv) { return srv->port; }

void cc_rtmp_server_stats(const cc_rtmp_server_t *srv, cc_rtmp_server_stats_t *out) { *out = srv->stats; }

void cc_rtmp_server_counters(const cc_rtmp_server_t *srv, uint64_t *open, uint64_t *total, uint64_t *closed_error)
{
    cc_rtmp_server_stats_t st = {0};
    if (srv)
        st = srv->stats;
    if (open)
        *open = st.connections_open;
    if (total)
        *total = st.connections_total;
    if (closed_error)
        *closed_error = st.closed_error;
}
