/* Shared by every libwebsockets context on a libuv loop (edge/http.c,
 * commerce-overlay/server.c).  Internal to cartcast: cc__ prefix. */
#ifndef CARTCAST_EDGE_LWS_LOOP_H
#define CARTCAST_EDGE_LWS_LOOP_H

#include <libwebsockets.h>
#include <uv.h>

/* Destroys ctx in the two stages lws 4.1.6 needs on a foreign loop: the
 * first now, the second from an idle handle once no handle of the loop is
 * closing.  The caller keeps running the loop.  CC_ENOMEM: the second stage
 * cannot be scheduled and the context leaks. */
int cc__lws_context_destroy(uv_loop_t *loop, struct lws_context *ctx);

/* Binds and closes a socket on bind_addr:port (IPv4 or IPv6 literal; NULL =
 * any): 0, a negative errno such as -EADDRINUSE, or CC_ECONFIG for a bind
 * address that is not an IP address.  lws_create_context() only says
 * "failed"; this says why. */
int cc__lws_probe_bind(const char *bind_addr, int port);

#endif
