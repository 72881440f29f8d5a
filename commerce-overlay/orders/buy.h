/* The pure half of cartcast-orders: the buy message the overlay appends to the
 * orders stream, validated field by field; the per-buy result the buy script
 * returns; money arithmetic.  No I/O, no allocation: unit-tested and fuzzed
 * (tests/unit/test_orders_buy.c, tests/fuzz/fuzz_orders_buy.c).
 * The schemas are in docs/redis-schema.md. */
#ifndef CARTCAST_ORDERS_BUY_H
#define CARTCAST_ORDERS_BUY_H

#include <stddef.h>
#include <stdint.h>

#include "cartcast/buf.h"

#define CC_BUY_ID_MAX 128   /* idem, viewer, creator, cue, node, req */
#define CC_BUY_SKU_MAX 64   /* [A-Za-z0-9._-] */
#define CC_BUY_STREAM_MAX 64 /* [A-Za-z0-9_-], the origin's stream names */
#define CC_BUY_QTY_MAX 1000
#define CC_BUY_PRICE_MAX 1000000000000LL /* minor units */
#define CC_BUY_FIELDS_MAX 64 /* field/value pairs in one entry */

typedef struct cc_buy {
    char idem[CC_BUY_ID_MAX + 1];
    char viewer[CC_BUY_ID_MAX + 1];
    char sku[CC_BUY_SKU_MAX + 1];
    char currency[4];
    char stream[CC_BUY_STREAM_MAX + 1];
    char creator[CC_BUY_ID_MAX + 1];
    char cue[CC_BUY_ID_MAX + 1];
    char node[CC_BUY_ID_MAX + 1]; /* optional: overlay instance, echoed in the event */
    char req[CC_BUY_ID_MAX + 1];  /* optional: client request id, echoed */
    int64_t qty, price, ts;       /* price in minor units; ts in ms since the epoch */
} cc_buy_t;

/* fv holds 2*n views: field, value, field, value...  Fills every field that
 * is present and well-formed (so that an invalid buy's event can still say
 * who and what), then returns 0 when the buy is valid, or CC_EINVAL with a
 * reason such as "qty: must be an integer 1-1000, got '0'" (the field name
 * first).  Unknown fields are ignored; a repeated known field is invalid. */
int cc_buy_parse(const cc_iov_t *fv, size_t nfv, cc_buy_t *out, char *reason, size_t reasonlen);

/* Statuses of an order event. */
#define CC_BUY_CONFIRMED "confirmed"
#define CC_BUY_SOLD_OUT "sold_out"
#define CC_BUY_LIMIT "limit_reached"
#define CC_BUY_INVALID "invalid"
#define CC_BUY_FAILED "failed"

/* One result of the buy script: "NEW\tstatus\torder\treason\tstock\tversion\tentry\tqty". */
typedef struct cc_buy_result {
    int is_new;      /* 1: decided by this call; 0: from the idempotency key */
    cc_iov_t status; /* views into the reply */
    cc_iov_t order;
    cc_iov_t reason;
    int64_t stock; /* units left after this buy (-1: unknown SKU) */
    int64_t version;
    cc_iov_t entry; /* the stream entry that created the result */
    int64_t qty;    /* qty recorded with the result */
} cc_buy_result_t;

/* 0 or CC_EPROTO. */
int cc_buy_result_parse(const char *s, size_t n, cc_buy_result_t *out);

/* amount * bp / 10000, rounded down, without overflow for amount <= 2^62. */
int64_t cc_buy_commission(int64_t amount, int bp);
/* "12.5" -> 1250 basis points; 0 or CC_EINVAL (0-100, at most two decimals). */
int cc_buy_parse_pct(const char *s, int *bp);

#endif
