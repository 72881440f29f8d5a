/* The creator side of issue 9 on the overlay's HTTP port (docs/gifts-and-shop.md):
 *   /v1/creators/ID/products[/SKU]  catalog REST (operator token for stream ID)
 *   /v1/creators/ID/earnings        sales + gifts of creator ID (operator token)
 *   /v1/shop/ID, /v1/shop/ID/buy    the shop page's data and buys (public, viewer token)
 *   /v1/viewers/VIEWER/coins        credit / read coins (admin token, scope "*")
 * A creator's id is its stream name: creator "anna" streams as "anna"
 * (the default attribution of every cue), so the shop's live badge reads
 * cc:{stream:anna}:live.  Single-threaded: the loop thread. */
#ifndef CARTCAST_OVERLAY_SHOP_H
#define CARTCAST_OVERLAY_SHOP_H

#include <uv.h>

#include "cartcast/redis.h"
#include "overlay.h"
#include "server.h"

#define OV_SHOP_BUY_WAIT_MS 10000 /* a shop buy waits this long for the order service's answer, then 202 */
#define OV_SHOP_PENDING_MAX 4096  /* shop buys waiting for an answer on this overlay (more: 503) */

typedef struct ov_shop ov_shop_t;

/* authorize: may the request's token control stream ("*": admin only)?
 * It answers 401/403 itself and returns 0 when not.  cmd, cfg: the app's
 * (borrowed, read at each use). */
int ov_shop_new(uv_loop_t *loop, cc_redis_t *const *cmd, const ov_app_config_t *cfg,
                int (*authorize)(void *host, ov_http_t *req, const char *stream), void *host, ov_shop_t **out);
/* 1 when req was one of the routes above (it is answered, now or later), 0 otherwise. */
int ov_shop_http(ov_shop_t *s, ov_http_t *req);
/* Every entry of the events stream: answers the shop buy it decides, if held here. */
void ov_shop_on_event(ov_shop_t *s, const redisReply *fv);
/* Answers the held buys (202) and stops the timer; keep running the loop, then free. */
void ov_shop_stop(ov_shop_t *s);
void ov_shop_free(ov_shop_t *s);

#endif
