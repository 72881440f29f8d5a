/* cartcast-overlay's application: operator REST, viewer WebSockets and the
 * Redis fan-out between them (docs/overlay.md).  Runs on one libuv loop with
 * the server of server.h and two Redis connections (include/cartcast/redis.h):
 * "cmd" for commands and "block" for the one blocking XREAD that follows
 * every watched stream's cue stream, the stock stream and the order events. */
#ifndef CARTCAST_OVERLAY_OVERLAY_H
#define CARTCAST_OVERLAY_OVERLAY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cartcast/redis.h"
#include "chat.h"
#include "server.h"

typedef struct ov_token {
    char *token;     /* the secret the operator sends as "Authorization: Bearer TOKEN" */
    char **streams;  /* stream names it may control */
    size_t nstreams;
    int all;         /* "*": every stream */
    int moderator;   /* --moderator-token: chat moderation only, no cues (docs/chat.md) */
} ov_token_t;

/* "TOKEN=STREAM[,STREAM...]" (STREAM "*" = all).  0, or CC_EINVAL with a reason
 * in err that never contains the token.  Free with ov_token_free. */
int ov_token_parse(const char *spec, ov_token_t *out, char *err, size_t errlen);
void ov_token_free(ov_token_t *t);

typedef struct ov_app_config {
    cc_redis_url_t redis;
    const ov_token_t *tokens;
    size_t ntokens;
    const char *viewer_secret; /* HMAC key for viewer identities */
    size_t viewer_secret_len;
    const char *node;          /* this instance, in every buy ("node" field) */
    int max_qty;               /* per buy (a cue's product.max_qty may lower it) */
    int buy_rate;              /* buys per viewer per window ... */
    int buy_window_ms;         /* ... counted in Redis, shared by every overlay */
    int msg_rate;              /* messages per connection per 10 s before "rate_limited" answers */
    int live_stale_ms;         /* live edge older than this = not live (409) */
    int max_active_cues;       /* per stream */
    int stream_maxlen;         /* MAXLEN ~ of the per-stream cue streams */
    int idem_ttl_s;            /* idempotency keys of cue creation */
    int cue_grace_ms;          /* a cue stays buyable this long after its end (viewers are behind live) */
    int block_ms;              /* XREAD BLOCK */
    const char *origin_url;    /* playback base the pages use, e.g. http://HOST:8080 */
    const char *web_root;      /* commerce-overlay/web */
    const char *hlsjs;         /* node_modules/hls.js/dist/hls.min.js */
    ov_chat_config_t chat;     /* chat and moderation (chat.h, docs/chat.md) */
    const struct ov_gift_catalog *gift_catalog; /* --gifts (gift.h); NULL: no gifts.  Borrowed */
} ov_app_config_t;

typedef struct ov_app ov_app_t;

/* Connects to Redis (in the background: a down Redis is not an error). */
int ov_app_new(uv_loop_t *loop, const ov_app_config_t *cfg, ov_app_t **out);
/* The callbacks to give ov_server_start(); data is the app. */
void ov_app_server_callbacks(ov_app_t *app, ov_server_callbacks_t *cb);
void ov_app_set_server(ov_app_t *app, ov_server_t *srv);
/* Stops timers and Redis (pending REST requests get 503); the server must be
 * stopped first.  Keep running the loop afterwards, then ov_app_free. */
void ov_app_stop(ov_app_t *app);
void ov_app_free(ov_app_t *app);

#endif
