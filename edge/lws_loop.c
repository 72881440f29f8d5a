/* libwebsockets on a foreign libuv loop: pieces every lws context of
 * cartcast needs (the HTTP server in edge/http.c, the overlay's server). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cartcast/err.h"
#include "edge/lws_loop.h"

/* With a foreign libuv loop, lws 4.1.6 destroys a context in two calls:
 * the first closes its uv handles and returns; a second one, made after all
 * their close callbacks ran, frees the context and unloads the evlib_uv
 * plugin.  Made too early, that second call leaves close callbacks pointing
 * into the unloaded plugin (SEGV); never made, the context leaks.  This idle
 * handle waits for an iteration in which no handle of the loop is still
 * closing, then makes it.  (An idle handle, not a check handle: an active
 * idle handle makes the loop poll with a zero timeout instead of sleeping.) */
typedef struct reaper {
    uv_idle_t idle;
    struct lws_context *ctx;
} reaper_t;

static void reap_walk(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        *(bool *)arg = true;
}

static void reap_closed(uv_handle_t *h) { free(h->data); }

static void reap_idle(uv_idle_t *idle)
{
    reaper_t *rp = idle->data;
    bool closing = false;
    uv_walk(idle->loop, reap_walk, &closing);
    if (closing)
        return;
    lws_context_destroy(rp->ctx);
    uv_close((uv_handle_t *)idle, reap_closed);
}

int cc__lws_context_destroy(uv_loop_t *loop, struct lws_context *ctx)
{
    lws_context_destroy(ctx); /* first stage: closes lws's uv handles */
    reaper_t *rp = malloc(sizeof(*rp));
    if (rp == NULL)
        return CC_ENOMEM; /* the context leaks rather than crash */
    rp->ctx = ctx;
    uv_idle_init(loop, &rp->idle);
    rp->idle.data = rp;
    uv_idle_start(&rp->idle, reap_idle);
    return 0;
}

/* lws_create_context() says only "failed": find out whether the port is the
 * reason, so that the daemon can print something useful. */
int cc__lws_probe_bind(const char *bind_addr, int port)
{
    struct sockaddr_in6 a6 = {0};
    struct sockaddr_in a4 = {0};
    struct sockaddr *sa;
    socklen_t salen;
    int fam;
    if (bind_addr && inet_pton(AF_INET6, bind_addr, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a6, salen = sizeof(a6), fam = AF_INET6;
    } else {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        if (bind_addr && inet_pton(AF_INET, bind_addr, &a4.sin_addr) != 1)
            return CC_ECONFIG; /* not an address (lws would take an interface name) */
        sa = (struct sockaddr *)&a4, salen = sizeof(a4), fam = AF_INET;
    }
    int fd = socket(fam, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int r = bind(fd, sa, salen) < 0 ? -errno : 0;
    close(fd);
    return r;
}
