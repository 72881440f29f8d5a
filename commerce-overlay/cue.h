/* The cue codec: the pure half of cartcast-overlay and of the origin's
 * timeline consumer.  No I/O and no clock: unit-tested (tests/unit/
 * test_overlay_cue.c) and fuzzed (tests/fuzz/fuzz_overlay_cue.c,
 * fuzz_overlay_viewer.c).  The schemas are in docs/overlay.md.
 *
 *  - cc_cue_validate(): an operator's POST /v1/streams/NAME/cues body ->
 *    a normalised cue (only known fields, defaults filled) or field-level
 *    errors ("product.price: must be an integer number of minor units ...").
 *  - cc_cue_daterange(): a stored cue -> the EXT-X-DATERANGE the origin writes.
 *  - cc_viewer_parse(): one WebSocket text message from a viewer -> buy,
 *    vote or ping, checked field by field.
 *
 * Every input is capped before it is parsed (CC_CUE_BODY_MAX,
 * CC_VIEWER_MSG_MAX); jansson does the JSON syntax (with its own depth
 * limit), this module everything after it. */
#ifndef CARTCAST_OVERLAY_CUE_H
#define CARTCAST_OVERLAY_CUE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "packager/llhls.h"

#define CC_CUE_BODY_MAX 16384      /* REST request body */
#define CC_CUE_ID_MAX 64           /* "c" + 20 hex digits is what the overlay makes */
#define CC_CUE_SKU_MAX 64          /* [A-Za-z0-9._-], as the order service takes them */
#define CC_CUE_TITLE_MAX 200       /* bytes of UTF-8 */
#define CC_CUE_URL_MAX 2048
#define CC_CUE_POLL_OPTIONS_MAX 6
#define CC_CUE_OPTION_MAX 80
#define CC_CUE_DURATION_MAX 86400000 /* ms: one day */
#define CC_CUE_PRICE_MAX 1000000000000LL
#define CC_CUE_ERRORS_MAX 16
#define CC_VIEWER_MSG_MAX 4096     /* default cap of a viewer's message (config may lower it) */
#define CC_VIEWER_QTY_MAX 1000     /* absolute cap; the overlay's --max-qty is lower */
#define CC_VIEWER_ID_MAX 64        /* idempotency keys, request ids */

typedef enum {
    CC_CUE_PRODUCT,    /* a product card (with a buy button) */
    CC_CUE_BUY_BUTTON, /* a bare buy button for a product */
    CC_CUE_POLL,
    CC_CUE_COUNTDOWN,  /* a flash-sale countdown, optionally for a SKU */
    CC_CUE_KIND_N
} cc_cue_kind_t;

/* "product", "buy_button", "poll", "countdown"; NULL when out of range. */
const char *cc_cue_kind_name(cc_cue_kind_t k);
/* 0 and *out, or CC_EINVAL. */
int cc_cue_kind_parse(const char *s, cc_cue_kind_t *out);

typedef struct cc_cue_error {
    char field[48];    /* "product.price", "poll.options[2]", "" for the body itself */
    char message[160];
} cc_cue_error_t;

typedef struct cc_cue_errors {
    size_t n; /* at most CC_CUE_ERRORS_MAX are kept; more set truncated */
    int truncated;
    cc_cue_error_t e[CC_CUE_ERRORS_MAX];
} cc_cue_errors_t;

/* A validated create request. */
typedef struct cc_cue_req {
    cc_cue_kind_t kind;
    int64_t pdt_ms;      /* explicit START (program date-time, ms), -1 = "now" */
    int64_t media_ms;    /* explicit media time since the stream's first part, -1 = none */
    int64_t duration_ms; /* -1 = open until ended */
    const char *sku;     /* points into *body_out; NULL for polls and countdowns without one */
    json_t *body;        /* normalised: {"kind", "product"|"poll"|"countdown", ...}; caller json_decref()s */
} cc_cue_req_t;

/* Validates a create request of len bytes.  0 with out filled, or CC_EINVAL
 * with errs filled (one entry per bad field, in document order; a body that
 * is not JSON gives one error with field ""), or CC_ETOOBIG over
 * CC_CUE_BODY_MAX.  Unknown fields are errors (they catch typos). */
int cc_cue_validate(const char *body, size_t len, cc_cue_req_t *out, cc_cue_errors_t *errs);

/* {"error":"validation","message":"...","fields":[{"field":..,"message":..}]} as text; caller free()s. */
char *cc_cue_errors_json(const cc_cue_errors_t *errs);
/* Adds one field-level error (past CC_CUE_ERRORS_MAX: sets truncated).  Shared
 * with the other body parsers that answer in this error format (catalog.c). */
void cc_cue_add_err(cc_cue_errors_t *e, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Adds "unknown field" for every key of obj not in allowed (NULL-terminated);
 * the field is prefix.key, the key cut to 32 bytes with control characters
 * and quotes shown as '?'. */
void cc_cue_no_unknown(const json_t *obj, const char *prefix, const char *const *allowed, cc_cue_errors_t *errs);

/* A cue id the overlay makes: "c" + 16 lower-case hex digits.  0 / CC_EINVAL. */
int cc_cue_id_check(const char *s, size_t n);
/* A stream name as the origin takes it: [A-Za-z0-9._-]{1,64}, not starting with '.'. */
int cc_cue_stream_name_check(const char *s, size_t n);
/* SKU: [A-Za-z0-9._-]{1,64}. */
int cc_cue_sku_check(const char *s, size_t n);
/* Ids from clients (idempotency keys, request ids): [A-Za-z0-9._:@-]{1,64}. */
int cc_cue_token_check(const char *s, size_t n);
/* Shared with gift.c and catalog.c: 1-max bytes of text without control
 * characters / an http(s) URL of <= CC_CUE_URL_MAX printable ASCII without
 * quotes, brackets or backslashes.  0 or CC_EINVAL. */
int cc_cue_text_check(const char *s, size_t n, size_t max);
int cc_cue_url_check(const char *s, size_t n);

/* ---- EXT-X-DATERANGE ---------------------------------------------------- */

typedef struct cc_cue_dr_storage {
    char id[CC_CUE_ID_MAX + 1];
    char class_name[48];
    char sku[CC_CUE_SKU_MAX + 1];
    char kind[16];
    char card[1025]; /* X-CARD: the card's JSON, percent-encoded (no '"', '%' or controls) */
} cc_cue_dr_storage_t;

/* From a stored cue object ({"id","kind","pdt_ms","duration_ms"?,"product"...}),
 * fills dr (pointing into st): ID, CLASS com.cartcast.<kind>, START-DATE,
 * DURATION when the cue has one, X-KIND, X-SKU (when it has one) and X-CARD.
 * X-CARD is the card's JSON with '%', '"' and bytes below 0x20 as %XX
 * (decodeURIComponent gives the JSON back); the image URL and then the title
 * are left out or shortened when it would exceed 1024 bytes.  0 or CC_EINVAL. */
int cc_cue_daterange(const json_t *cue, cc_llhls_daterange_t *dr, cc_cue_dr_storage_t *st);

/* ---- viewer messages ---------------------------------------------------- */

typedef enum { CC_VIEWER_BUY, CC_VIEWER_VOTE, CC_VIEWER_PING } cc_viewer_type_t;

typedef struct cc_viewer_msg {
    cc_viewer_type_t type;
    char req[CC_VIEWER_ID_MAX + 1];  /* optional client request id, echoed in the answer ("" when absent) */
    char cue_id[CC_CUE_ID_MAX + 1];  /* buy: the cue; vote: the poll (its cue id) */
    char sku[CC_CUE_SKU_MAX + 1];    /* buy */
    char idem[CC_VIEWER_ID_MAX + 1]; /* buy: idempotency key */
    int64_t qty;                     /* buy: 1..CC_VIEWER_QTY_MAX */
    int option;                      /* vote: 0..CC_CUE_POLL_OPTIONS_MAX-1 */
} cc_viewer_msg_t;

/* Parses one message of len bytes:
 *   {"type":"buy","cue_id":"c…","sku":"…","qty":1,"idempotency_key":"…","req":"…"}
 *   {"type":"vote","poll_id":"c…","option":0,"req":"…"}
 *   {"type":"ping","req":"…"}
 * 0, or CC_EINVAL with a reason ("qty: must be an integer 1-1000") in err
 * (and out->req set when it was readable, so the error can be correlated),
 * CC_ETOOBIG over max (<= CC_VIEWER_MSG_MAX). */
int cc_viewer_parse(const char *msg, size_t len, size_t max, cc_viewer_msg_t *out, char *err, size_t errlen);

#endif
