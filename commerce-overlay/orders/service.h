/* cartcast-orders, the service: a consumer of the orders stream (Redis
 * consumer group), one atomic Lua step per batch of buys of one SKU, one
 * atomic publish + XACK step, crash recovery with XAUTOCLAIM, dead letters,
 * safe trimming, creator/stream attribution.  docs/orders.md describes it,
 * docs/redis-schema.md every key it touches. */
#ifndef CARTCAST_ORDERS_SERVICE_H
#define CARTCAST_ORDERS_SERVICE_H

#include <stdint.h>
#include <uv.h>

#include "cartcast/buf.h"
#include "cartcast/http.h"
#include "cartcast/redis.h"

/* Key names (docs/redis-schema.md).  Everything the publish step touches is
 * in the hash slot {orders}; everything a buy touches in {sku:SKU}. */
#define CC_ORDERS_K_BUYS "cc:{orders}:buys"
#define CC_ORDERS_K_EVENTS "cc:{orders}:events"
#define CC_ORDERS_K_STOCK "cc:{orders}:stock"
#define CC_ORDERS_K_DEAD "cc:{orders}:dead"
#define CC_ORDERS_K_TOTAL "cc:{orders}:sales:total"
#define CC_ORDERS_K_CREATORS "cc:{orders}:sales:creators"
#define CC_ORDERS_K_STREAMS "cc:{orders}:sales:streams"
#define CC_ORDERS_K_CREATOR "cc:{orders}:sales:creator:" /* + creator id */
#define CC_ORDERS_K_STREAM "cc:{orders}:sales:stream:"   /* + stream name */
#define CC_ORDERS_K_FAILURE "cc:{orders}:failure:"       /* + entry id */
#define CC_ORDERS_GROUP "orders"

enum { CC_ORDERS_LUA_BUY, CC_ORDERS_LUA_PUBLISH, CC_ORDERS_LUA_DEAD, CC_ORDERS_LUA_TRIM, CC_ORDERS_LUA_STOCK_SET,
       CC_ORDERS_LUA_N };
/* The scripts' sources (commerce-overlay/orders/lua/NAME.lua, embedded at build time). */
extern const char *const cc_orders_lua[CC_ORDERS_LUA_N];
extern const char *const cc_orders_lua_name[CC_ORDERS_LUA_N];

typedef struct cc_orders_config {
    const char *consumer;         /* consumer name in the group (unique per instance) */
    uint32_t claim_idle_ms;       /* reclaim pending entries idle this long (XAUTOCLAIM) */
    uint32_t max_deliveries;      /* an entry delivered more often goes to the dead letters */
    int commission_bp;            /* basis points: 1000 = 10% */
    uint32_t default_limit;       /* units per viewer per SKU when the SKU sets none; 0 = none */
    uint32_t idem_ttl_s;          /* how long a buy's result answers its retries */
    uint32_t orders_ttl_s;        /* a SKU's order records expire this long after its last order; 0 = never */
    uint32_t batch;               /* XREADGROUP COUNT */
    uint32_t max_inflight;        /* buys being processed at once by this instance */
    uint32_t block_ms;            /* XREADGROUP BLOCK */
    uint32_t trim_interval_ms;    /* 0 = never trim */
    uint32_t buys_keep_ms;        /* acknowledged buys kept this long, for inspection */
    uint32_t events_keep_ms;      /* events kept this long (and while a group on them needs them) */
    uint32_t stock_maxlen;        /* stock-change stream length (MAXLEN ~) */
    uint32_t command_timeout_ms;  /* Redis per-command timeout */
} cc_orders_config_t;

void cc_orders_config_default(cc_orders_config_t *c);

typedef struct cc_orders cc_orders_t;

/* Starts both Redis connections and the loops; never fails on a Redis that is
 * down (it retries).  0 or CC_ENOMEM / CC_EINVAL. */
int cc_orders_start(uv_loop_t *loop, const cc_redis_url_t *url, const cc_orders_config_t *cfg, cc_orders_t **out);
/* Stops reading, lets the buys in flight finish (at most ~2 s; what is left
 * stays pending in the group for another instance), then frees everything
 * from loop callbacks: keep running the loop. */
void cc_orders_stop(cc_orders_t *o);

/* 1 when both connections are ready and the scripts and group are set up;
 * else 0 with the reason in why. */
int cc_orders_healthy(const cc_orders_t *o, char *why, size_t len);
int cc_orders_render_metrics(cc_orders_t *o, cc_dynbuf_t *out);
/* GET /v1/creators/ID/sales and /v1/streams/NAME/sales (route handlers). */
int cc_orders_handle_creator_sales(cc_http_req_t *req, void *data);
int cc_orders_handle_stream_sales(cc_http_req_t *req, void *data);

#endif
