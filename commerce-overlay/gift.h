/* Virtual gifts on the overlay (docs/gifts-and-shop.md).
 *
 *  - The gift catalog comes from the config (--gifts FILE.json): pure parser
 *    ov_gift_catalog_parse(), fuzzed (tests/fuzz/fuzz_gift.c).
 *  - A viewer's {"type":"gift",...} message: pure parser ov_gift_msg_parse().
 *  - ov_gifts_t runs them: one EVAL of lua/gift.lua per gift (debit, creator
 *    credit, record, leaderboard, events-stream entry in one atomic step),
 *    the ack to the sender, and, from the events stream that every overlay
 *    follows, the broadcast to the room and a leaderboard refresh (at most
 *    one per stream per OV_GIFT_TOP_TICK_MS, however many gifts).
 *
 * Ownership: the catalog is owned by its creator (main.c) and outlives the
 * ov_gifts_t that borrows it.  A "who" handed to ov_gifts_send() is held
 * (the host took a reference) until the host's release() runs, exactly once.
 * Single-threaded: the loop thread. */
#ifndef CARTCAST_OVERLAY_GIFT_H
#define CARTCAST_OVERLAY_GIFT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cartcast/buf.h"
#include "cartcast/redis.h"

#define OV_GIFT_FILE_MAX (256 * 1024) /* the catalog file */
#define OV_GIFTS_MAX 64               /* gifts in the catalog */
#define OV_GIFT_ID_MAX 32             /* [A-Za-z0-9._-] */
#define OV_GIFT_NAME_MAX 60           /* bytes of UTF-8 text */
#define OV_GIFT_PRICE_MAX 1000000     /* coins per gift */
#define OV_GIFT_TOP_N 10              /* leaderboard entries shown */
#define OV_GIFT_TOP_TICK_MS 250       /* leaderboard refresh (and broadcast) per stream at most this often */

typedef struct ov_gift_def {
    char id[OV_GIFT_ID_MAX + 1];
    char name[OV_GIFT_NAME_MAX + 1];
    int64_t price;  /* coins */
    char *image;    /* URL or a /static/ path; owned */
} ov_gift_def_t;

typedef struct ov_gift_catalog {
    ov_gift_def_t *gifts;
    size_t n;
    int creator_share_pct; /* 0-100: the creator's part of each gift, rounded down */
    char *json;            /* [{"id","name","price","image"}...] as sent to viewers; owned */
} ov_gift_catalog_t;

/* {"creator_share_pct": 70, "gifts": [{"id": "rose", "name": "Rose", "price": 10,
 *  "image": "/static/gift-rose.svg"}, ...]}.  0 and *out (free with
 * ov_gift_catalog_free), or CC_EINVAL with a reason naming the field, or
 * CC_ETOOBIG over OV_GIFT_FILE_MAX.  Unknown fields are errors. */
int ov_gift_catalog_parse(const char *text, size_t len, ov_gift_catalog_t *out, char *err, size_t errlen);
/* Reads and parses a file (the reason names the file). */
int ov_gift_catalog_load(const char *path, ov_gift_catalog_t *out, char *err, size_t errlen);
void ov_gift_catalog_free(ov_gift_catalog_t *c);
const ov_gift_def_t *ov_gift_find(const ov_gift_catalog_t *c, const char *id);

/* A viewer's gift message:
 *   {"type":"gift","gift":"rose","idempotency_key":"k1","req":"g1"}
 * idempotency_key and req: 1-64 of [A-Za-z0-9._:@-] (req optional). */
typedef struct ov_gift_msg {
    char gift[OV_GIFT_ID_MAX + 1];
    char idem[65];
    char req[65];
} ov_gift_msg_t;

/* 1: not a gift message (valid JSON object whose "type" is not "gift", or
 * not JSON at all: the caller's own parser answers it); 0 and *out; CC_EINVAL
 * with a reason (and out->req when it was readable). */
int ov_gift_msg_parse(const char *msg, size_t len, ov_gift_msg_t *out, char *err, size_t errlen);

/* ---- the running part ---- */

typedef struct ov_gifts_host {
    /* to the gift's sender, if still connected */
    void (*reply)(void *who, cc_buf_t *msg);
    /* the sender's reference is no longer needed */
    void (*release)(void *who);
    /* to every viewer of stream on this overlay; returns how many got it (0: none here) */
    size_t (*broadcast)(void *host, const char *stream, cc_buf_t *msg);
    /* to every connection of viewer (its signed id) on this overlay */
    void (*to_viewer)(void *host, const char *viewer, cc_buf_t *msg);
    void *host;
} ov_gifts_host_t;

typedef struct ov_gifts ov_gifts_t;

typedef struct ov_gifts_stats {
    uint64_t sent, duplicates, insufficient, rejected, failed, broadcasts, leaderboards;
} ov_gifts_stats_t;

/* cmd: where the app keeps its command connection (read at each use; NULL
 * once stopped).  catalog may have no gifts (every gift is then unknown). */
int ov_gifts_new(uv_loop_t *loop, const ov_gift_catalog_t *catalog, cc_redis_t *const *cmd, const ov_gifts_host_t *host,
                 const char *node, int idem_ttl_s, ov_gifts_t **out);
/* Handles a parsed gift from viewer (its signed id) on stream, crediting
 * creator.  who is released exactly once (possibly before this returns). */
void ov_gifts_send(ov_gifts_t *g, void *who, const char *viewer, const char *stream, const char *creator,
                   const ov_gift_msg_t *m);
/* A viewer joined stream (after its hello): sends it {"type":"gifts", catalog,
 * balance, top}.  who is released exactly once. */
void ov_gifts_join(ov_gifts_t *g, void *who, const char *viewer, const char *stream);
/* An entry of the events stream (field/value array).  1 when it was ours: a
 * gift (broadcast to its room here) or a coin credit (the new balance to the
 * viewer's connections here); 0 otherwise. */
int ov_gifts_on_event(ov_gifts_t *g, const redisReply *fv);
void ov_gifts_get_stats(const ov_gifts_t *g, ov_gifts_stats_t *out);
/* Stops the timer (keep running the loop), then ov_gifts_free. */
void ov_gifts_stop(ov_gifts_t *g);
void ov_gifts_free(ov_gifts_t *g);

/* Keys (docs/gifts-and-shop.md) */
#define OV_K_COINS "cc:{orders}:coins"
#define OV_K_GIFTS_TOTAL "cc:{orders}:gifts:total"
#define OV_K_EARNINGS "cc:{orders}:earnings:creator:" /* + creator */
#define OV_K_GIFTS_TOP "cc:{orders}:gifts:top:"       /* + stream */

#endif
