/* Live chat and its moderation on the overlay's viewer WebSockets
 * (docs/chat.md).  The glue half: Redis, the review hook, batching; the pure
 * half (validation, normalisation, term matching) is moderation.h.
 *
 *  - ov_chat_t: one per overlay process.  Its own blocking Redis connection
 *    follows every room's chat stream (cc:{stream:NAME}:chat) with one XREAD;
 *    commands go through the overlay's "cmd" connection.
 *  - ov_chat_room_t: one per watched video stream, created and freed by the
 *    overlay with its stream (refcounted inside: a reply that comes after the
 *    free finds it gone).
 *  - ov_chat_member_t: embedded in the overlay's per-connection state.
 *
 * The overlay (the host) stays the owner of connections: chat reaches them
 * only through ov_chat_host_t, and holds a connection (conn_hold/release)
 * while a Redis reply or a review-hook answer is pending for it.
 * Single-threaded: everything runs on the loop thread. */
#ifndef CARTCAST_OVERLAY_CHAT_H
#define CARTCAST_OVERLAY_CHAT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cartcast/buf.h"
#include "cartcast/redis.h"
#include "moderation.h"
#include "server.h"

#define OV_CLOSE_BANNED 4003 /* the viewer is banned from this stream's chat and stream */

typedef struct ov_chat_config {
    int max_chars;          /* per message, code points (1..OV_CHAT_TEXT_MAX_CHARS); default 300 */
    int rate;               /* chat messages per viewer connection per 10 s; default 10 */
    int history;            /* messages in hello (0..200); default 50 */
    int tick_ms;            /* batching tick; 0 = one frame per message; default 100 */
    int stream_maxlen;      /* MAXLEN ~ of each chat stream; default 10000 */
    int modlog_maxlen;      /* MAXLEN ~ of each moderation log; default 100000 */
    int held_max;           /* held messages / open questions per stream; default 1000 */
    const char *review_url; /* http://HOST[:PORT]/PATH, or NULL: no hook */
    int review_timeout_ms;  /* default 200 */
    int review_fallback_deny; /* when the hook does not answer in time: 0 allow (default), 1 deny */
    int block_ms;           /* XREAD BLOCK of the chat reader */
} ov_chat_config_t;

void ov_chat_config_default(ov_chat_config_t *cfg);

/* A REST caller after the host's token check. */
typedef struct ov_chat_caller {
    const char *token;  /* the bearer token (never logged: only its SHA-256 prefix is) */
    int moderator;      /* 1: a moderator token, 0: an operator token */
} ov_chat_caller_t;

typedef struct ov_chat_host {
    /* to every viewer of the room that got hello */
    void (*broadcast)(void *room_ctx, cc_buf_t *msg);
    /* close every connection of viewer in the room */
    void (*close_viewer)(void *room_ctx, const char *viewer, int code, const char *reason);
    /* the room's chat state is loaded: viewers waiting for hello may get it */
    void (*room_ready)(void *room_ctx);
    void (*conn_hold)(void *conn_ctx);
    void (*conn_release)(void *conn_ctx);
    ov_conn_t *(*conn_get)(void *conn_ctx); /* NULL once the connection closed */
    /* the host's 401/403 answer, or 0 with *caller filled */
    int (*auth)(void *data, ov_http_t *req, const char *stream, ov_chat_caller_t *caller);
    void *data;
} ov_chat_host_t;

typedef struct ov_chat ov_chat_t;
typedef struct ov_chat_room ov_chat_room_t;

typedef struct ov_chat_member {
    void *conn_ctx;
    const char *viewer; /* the connection's identity (the host's string, lives as long as the member) */
    char name[OV_CHAT_NAME_MAX_BYTES + 1];
    double tokens;
    int64_t tokens_at;
    int64_t last_sent_ms;
} ov_chat_member_t;

/* cmd: the host's command connection (it must outlive ov_chat_stop). */
int ov_chat_new(uv_loop_t *loop, const ov_chat_config_t *cfg, const cc_redis_url_t *redis, cc_redis_t *cmd,
                const ov_chat_host_t *host, ov_chat_t **out);
/* Stops the reader, the tick and the hook; pending callbacks still come (with
 * errors) until the host frees cmd.  Then ov_chat_free after the rooms. */
void ov_chat_stop(ov_chat_t *chat);
void ov_chat_free(ov_chat_t *chat);
/* The host's cmd connection is (again) up: load what waits. */
void ov_chat_redis_ready(ov_chat_t *chat);

ov_chat_room_t *ov_chat_room_new(ov_chat_t *chat, const char *stream, void *room_ctx);
void ov_chat_room_free(ov_chat_room_t *room);
int ov_chat_room_ready(const ov_chat_room_t *room);

/* A display name from the WebSocket query (?name=...), or "viewer-XXXX". */
void ov_chat_member_init(ov_chat_member_t *m, void *conn_ctx, const char *viewer, const char *query);
int ov_chat_member_banned(const ov_chat_room_t *room, const ov_chat_member_t *m);
/* Appends ,"chat":{...} (name, history, pinned, settings, limits) for hello. */
int ov_chat_hello(ov_chat_room_t *room, const ov_chat_member_t *m, cc_dynbuf_t *out);
/* A viewer message: 1 when it was a chat message (answered here), 0 when not. */
int ov_chat_on_message(ov_chat_room_t *room, ov_chat_member_t *m, const char *msg, size_t len);
/* /v1/streams/NAME/chat... and /moderation/log: 1 when the route is ours
 * (the request is then answered), 0 otherwise. */
int ov_chat_http(ov_chat_t *chat, ov_http_t *req, const char *stream, const char *rest);
int ov_chat_metrics(ov_chat_t *chat, cc_dynbuf_t *d);

#endif
