/* Catalog REST, the shop page's API and buys, coins and earnings (shop.h,
 * docs/gifts-and-shop.md).
 *
 * Ownership: a job_t per request waiting for Redis, freed by its last
 * callback, which always answers the request.  A shop buy that Redis took
 * becomes a pending_t (in s->pending) until the order service's event for its
 * entry arrives, OV_SHOP_BUY_WAIT_MS pass (202) or the shop stops (202). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "catalog.h"
#include "cue.h"
#include "gift.h"
#include "ident.h"
#include "lua.h"
#include "shop.h"

#define SHOP_STREAM "_shop" /* the "stream" of a shop buy: never a video stream name (those cannot start with _... by convention) */
#define K_CATALOG "cc:{catalog}:creator:" /* + creator */
#define K_OWNERS "cc:{catalog}:owners"

typedef struct pending {
    struct pending *next;
    ov_http_t *req;
    char entry[48];
    int64_t deadline;
} pending_t;

/* The order event of a shop buy can be read (blocking connection) before the
 * buy's own EVAL reply (command connection) when both land in one loop
 * iteration: events for this node's shop buys that match nothing pending
 * wait here for their buy, the newest EARLY_MAX of them. */
#define EARLY_MAX 64

struct ov_shop {
    uv_loop_t *loop;
    cc_redis_t *const *cmd;
    const ov_app_config_t *cfg;
    int (*authorize)(void *host, ov_http_t *req, const char *stream);
    void *host;
    uv_timer_t timer;
    pending_t *pending;
    size_t npending;
    bool stopping;
    uint64_t seq;
    struct {
        char entry[48];
        json_t *event;
    } early[EARLY_MAX];
    size_t early_next;
};

enum { J_LIST, J_GET, J_PUT, J_DELETE, J_SHOP, J_BUY, J_EARNINGS, J_COINS_GET, J_COINS_ADD };

typedef struct job {
    ov_shop_t *s;
    ov_http_t *req;
    int kind;
    bool create;
    char creator[65];
    char sku[CC_CUE_SKU_MAX + 1];
    char viewer[OV_VIEWER_ID_LEN + 1 + 64];
    char token[OV_VIEWER_TOKEN_LEN + 1];
    char idem[65];
    int64_t qty, stock, coins;
    json_t *product;   /* catalog write: the normalised product */
    json_t *acc;       /* gathering answers */
    json_t **slots;    /* shop: one per featured product */
    size_t nslots;
    int pending;
    int live;          /* shop: -1 unknown, 0, 1 */
    bool failed;
} job_t;

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void job_free(job_t *j)
{
    json_decref(j->product);
    json_decref(j->acc);
    for (size_t i = 0; i < j->nslots; i++)
        json_decref(j->slots[i]);
    free(j->slots);
    free(j);
}

/* Answers with o (stolen) and frees the job. */
static void finish(job_t *j, int status, json_t *o)
{
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (txt)
        ov_http_respond_json(j->req, status, txt);
    else
        ov_http_respond_error(j->req, 500, "internal", "out of memory");
    free(txt);
    job_free(j);
}

static void fail_redis(job_t *j, int status, const redisReply *reply)
{
    cc_log_warn("overlay.shop_redis", "creator=%s err=\"%s\"", j->creator, cc_redis_status_str(status, reply));
    ov_http_respond_error(j->req, 503, "redis_unavailable", cc_redis_status_str(status, reply));
    job_free(j);
}

static cc_redis_t *cmd_of(ov_shop_t *s) { return *s->cmd; }

/* Sends or answers 503 (and frees j) when the command cannot go out. */
static bool send_or_fail(job_t *j, const cc_redis_args_t *a, cc_redis_cb cb, void *data)
{
    cc_redis_t *cmd = cmd_of(j->s);
    int rc = cmd ? cc_redis_send(cmd, a, cb, data) : CC_ESTATE;
    if (rc < 0) {
        fail_redis(j, rc, NULL);
        return false;
    }
    return true;
}

static int validation_error(ov_http_t *req, const cc_cue_errors_t *errs)
{
    char *body = cc_cue_errors_json(errs);
    ov_http_respond_json(req, 400, body ? body : "{\"error\":\"validation\"}");
    free(body);
    return 1;
}

/* ---- catalog REST ------------------------------------------------------------------- */

static int cmp_sku(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    return strcmp(json_string_value(json_object_get(x, "sku")), json_string_value(json_object_get(y, "sku")));
}

/* HGETALL of a catalog -> products sorted by SKU (NULL on a reply that is not ours). */
static json_t *products_of(const redisReply *reply, bool featured_only, size_t max)
{
    if (reply->type != REDIS_REPLY_ARRAY)
        return NULL;
    size_t n = 0;
    json_t **all = calloc(reply->elements / 2 + 1, sizeof(*all));
    if (all == NULL)
        return NULL;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *v = reply->element[i + 1];
        json_t *p = v->type == REDIS_REPLY_STRING ? json_loadb(v->str, v->len, 0, NULL) : NULL;
        if (!json_is_string(json_object_get(p, "sku")) || (featured_only && !json_is_true(json_object_get(p, "featured")))) {
            json_decref(p);
            continue;
        }
        all[n++] = p;
    }
    qsort(all, n, sizeof(*all), cmp_sku);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (json_array_size(arr) < max)
            json_array_append(arr, all[i]);
        json_decref(all[i]);
    }
    free(all);
    return arr;
}

static void on_list(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    job_t *j = data;
    json_t *arr = status == 0 ? products_of(reply, false, OV_CATALOG_PRODUCTS_MAX) : NULL;
    if (arr == NULL) {
        fail_redis(j, status, reply);
        return;
    }
    finish(j, 200, json_pack("{s:s,s:o}", "creator", j->creator, "products", arr));
}

static void on_get(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    job_t *j = data;
    if (status < 0) {
        fail_redis(j, status, reply);
        return;
    }
    json_t *p = reply->type == REDIS_REPLY_STRING ? json_loadb(reply->str, reply->len, 0, NULL) : NULL;
    if (p == NULL) {
        ov_http_respond_error(j->req, 404, "unknown_product", "no such product in this creator's catalog");
        job_free(j);
        return;
    }
    finish(j, 200, p);
}

static void on_stock_announced(cc_redis_t *r, int status, redisReply *reply, void *data) {}

static void on_stock_set(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    job_t *j = data;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        fail_redis(j, status, reply);
        return;
    }
    /* every overlay follows the stock stream (docs/redis-schema.md: Stock changes) */
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "XADD");
    cc_redis_args_add(&a, "cc:{orders}:stock");
    cc_redis_args_add(&a, "MAXLEN");
    cc_redis_args_add(&a, "~");
    cc_redis_args_add(&a, "10000");
    cc_redis_args_add(&a, "*");
    cc_redis_args_add(&a, "sku");
    cc_redis_args_add(&a, j->sku);
    cc_redis_args_add(&a, "stock");
    cc_redis_args_addi(&a, cc_redis_reply_int(reply->element[0]));
    cc_redis_args_add(&a, "version");
    cc_redis_args_addi(&a, cc_redis_reply_int(reply->element[1]));
    cc_redis_args_add(&a, "source");
    cc_redis_args_add(&a, "admin");
    if (cmd_of(j->s))
        cc_redis_send(cmd_of(j->s), &a, on_stock_announced, NULL);
    json_t *o = json_deep_copy(j->product);
    json_object_set_new(o, "stock", json_integer(cc_redis_reply_int(reply->element[0])));
    finish(j, j->create ? 201 : 200, o);
}

static void on_catalog_write(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    job_t *j = data;
    if (status == CC_REDIS_EREPLY && reply && reply->str) {
        const char *e = reply->str;
        if (strncmp(e, "TAKEN", 5) == 0)
            ov_http_respond_error(j->req, 409, "sku_taken",
                                  "this SKU belongs to another creator's catalog (SKUs are global: one stock each)");
        else if (strncmp(e, "EXISTS ", 7) == 0)
            ov_http_respond_error(j->req, 409, "product_exists", "this SKU is already in the catalog: PUT to update it");
        else if (strncmp(e, "NOTFOUND ", 9) == 0)
            ov_http_respond_error(j->req, 404, "unknown_product", "no such product in this creator's catalog");
        else if (strncmp(e, "FULL ", 5) == 0)
            ov_http_respond_error(j->req, 409, "catalog_full", "a catalog holds at most 200 products");
        else {
            fail_redis(j, status, reply);
            return;
        }
        job_free(j);
        return;
    }
    if (status < 0 || reply->type != REDIS_REPLY_STRING) {
        fail_redis(j, status, reply);
        return;
    }
    if (j->kind == J_DELETE) {
        finish(j, 200, json_pack("{s:s,s:b}", "sku", j->sku, "deleted", 1));
        return;
    }
    if (j->stock < 0) {
        finish(j, j->create ? 201 : 200, json_incref(j->product));
        return;
    }
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_stock_set);
    cc_redis_args_add(&a, "1");
    cc_redis_args_addf(&a, "cc:{sku:%s}:stock", j->sku);
    cc_redis_args_addi(&a, j->stock);
    cc_redis_args_add(&a, "");
    cc_redis_args_add(&a, "set");
    send_or_fail(j, &a, on_stock_set, j);
}

static void catalog_write(job_t *j, const char *op)
{
    char *json = j->product ? json_dumps(j->product, JSON_COMPACT) : NULL;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_catalog);
    cc_redis_args_add(&a, "2");
    cc_redis_args_addf(&a, K_CATALOG "%s", j->creator);
    cc_redis_args_add(&a, K_OWNERS);
    cc_redis_args_add(&a, op);
    cc_redis_args_add(&a, j->sku);
    cc_redis_args_add(&a, j->creator);
    cc_redis_args_add(&a, json ? json : "");
    cc_redis_args_addi(&a, OV_CATALOG_PRODUCTS_MAX);
    send_or_fail(j, &a, on_catalog_write, j);
    free(json);
}

/* ---- the shop page's data ------------------------------------------------------------- */

typedef struct slot_ctx {
    job_t *j;
    size_t idx; /* SIZE_MAX: the live edge */
} slot_ctx_t;

static void shop_maybe_done(job_t *j)
{
    if (--j->pending > 0)
        return;
    if (j->failed) {
        ov_http_respond_error(j->req, 503, "redis_unavailable", "Redis did not answer");
        job_free(j);
        return;
    }
    json_t *products = json_array();
    for (size_t i = 0; i < j->nslots; i++)
        json_array_append(products, j->slots[i]);
    json_t *o = json_pack("{s:s,s:o,s:s,s:s}", "creator", j->creator, "products", products, "viewer", j->viewer,
                          "token", j->token);
    if (o && j->live == 1) {
        char watch[96];
        snprintf(watch, sizeof(watch), "/watch/%s", j->creator);
        json_object_set_new(o, "live", json_pack("{s:s,s:s}", "stream", j->creator, "watch", watch));
    } else if (o) {
        json_object_set_new(o, "live", json_null());
    }
    finish(j, 200, o);
}

static void on_shop_slot(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    slot_ctx_t *sc = data;
    job_t *j = sc->j;
    if (status < 0) {
        j->failed = true;
    } else if (sc->idx == SIZE_MAX) {
        /* HMGET live updated_ms: live while the origin says so and its edge is fresh */
        j->live = reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 && cc_redis_reply_int(reply->element[0]) == 1 &&
                  now_ms() - cc_redis_reply_int(reply->element[1]) <= j->s->cfg->live_stale_ms;
    } else {
        /* the order service's live stock; null when it keeps none for the SKU */
        json_object_set_new(j->slots[sc->idx], "stock",
                            reply->type == REDIS_REPLY_NIL ? json_null() : json_integer(cc_redis_reply_int(reply)));
    }
    free(sc);
    shop_maybe_done(j);
}

static bool shop_ask(job_t *j, size_t idx, const cc_redis_args_t *a)
{
    slot_ctx_t *sc = malloc(sizeof(*sc));
    cc_redis_t *cmd = cmd_of(j->s);
    if (sc == NULL || cmd == NULL) {
        free(sc);
        return false;
    }
    sc->j = j;
    sc->idx = idx;
    j->pending++;
    if (cc_redis_send(cmd, a, on_shop_slot, sc) < 0) {
        j->pending--;
        free(sc);
        return false;
    }
    return true;
}

static void on_shop_catalog(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    job_t *j = data;
    json_t *arr = status == 0 ? products_of(reply, true, OV_SHOP_FEATURED_MAX) : NULL;
    if (arr == NULL) {
        fail_redis(j, status, reply);
        return;
    }
    j->nslots = json_array_size(arr);
    j->slots = calloc(j->nslots + 1, sizeof(*j->slots));
    if (j->slots == NULL) {
        json_decref(arr);
        j->nslots = 0;
        fail_redis(j, CC_ENOMEM, NULL);
        return;
    }
    for (size_t i = 0; i < j->nslots; i++)
        j->slots[i] = json_incref(json_array_get(arr, i));
    json_decref(arr);
    j->pending = 1; /* held until every question went out */
    cc_redis_args_t a;
    for (size_t i = 0; i < j->nslots; i++) {
        cc_redis_args_init(&a);
        cc_redis_args_add(&a, "HGET");
        cc_redis_args_addf(&a, "cc:{sku:%s}:stock", json_string_value(json_object_get(j->slots[i], "sku")));
        cc_redis_args_add(&a, "avail");
        if (!shop_ask(j, i, &a))
            j->failed = true;
    }
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "HMGET");
    cc_redis_args_addf(&a, "cc:{stream:%s}:live", j->creator);
    cc_redis_args_add(&a, "live");
    cc_redis_args_add(&a, "updated_ms");
    if (!shop_ask(j, SIZE_MAX, &a))
        j->failed = true;
    shop_maybe_done(j);
}

/* ?viewer=TOKEN when it is ours, else a new identity. */
static int shop_identity(ov_shop_t *s, const char *query, job_t *j)
{
    const char *q = strstr(query, "viewer=");
    if (q && (q == query || q[-1] == '&')) {
        char tok[OV_VIEWER_TOKEN_LEN + 2];
        size_t tl = strcspn(q + 7, "&");
        if (tl < sizeof(tok)) {
            memcpy(tok, q + 7, tl);
            tok[tl] = '\0';
            if (ov_ident_check(s->cfg->viewer_secret, s->cfg->viewer_secret_len, tok, j->viewer) == 0) {
                memcpy(j->token, tok, OV_VIEWER_TOKEN_LEN + 1); /* checked: exactly this long */
                return 0;
            }
        }
    }
    return ov_ident_new(s->cfg->viewer_secret, s->cfg->viewer_secret_len, j->viewer, j->token);
}

/* ---- shop buys -------------------------------------------------------------------------- */

static void pending_answer(ov_shop_t *s, pending_t **pp, int status, json_t *o)
{
    pending_t *p = *pp;
    *pp = p->next;
    s->npending--;
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    ov_http_respond_json(p->req, status, txt ? txt : "{}");
    free(txt);
    free(p);
}

static const char *fstr(const redisReply *fv, const char *name)
{
    for (size_t i = 0; fv && fv->type == REDIS_REPLY_ARRAY && i + 1 < fv->elements; i += 2)
        if (fv->element[i]->type == REDIS_REPLY_STRING && strcmp(fv->element[i]->str, name) == 0)
            return fv->element[i + 1]->type == REDIS_REPLY_STRING ? fv->element[i + 1]->str : NULL;
    return NULL;
}

static json_t *event_json(const redisReply *fv)
{
    json_t *o = json_object();
    for (size_t i = 0; i + 1 < fv->elements; i += 2) {
        const redisReply *k = fv->element[i], *v = fv->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
            json_object_set_new(o, k->str, json_stringn(v->str, v->len));
    }
    return o;
}

void ov_shop_on_event(ov_shop_t *s, const redisReply *fv)
{
    const char *buy = fstr(fv, "buy"), *node = fstr(fv, "node"), *req = fstr(fv, "req");
    if (buy == NULL || s->stopping)
        return;
    for (pending_t **pp = &s->pending; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->entry, buy) == 0) {
            pending_answer(s, pp, 200, event_json(fv));
            return;
        }
    }
    if (node && req && strcmp(node, s->cfg->node) == 0 && strncmp(req, "shop-", 5) == 0 && strlen(buy) < 48) {
        size_t i = s->early_next++ % EARLY_MAX;
        json_decref(s->early[i].event);
        snprintf(s->early[i].entry, sizeof(s->early[i].entry), "%s", buy);
        s->early[i].event = event_json(fv);
    }
}

/* The event for entry if it came before its buy's reply (NULL otherwise); the caller owns it. */
static json_t *early_take(ov_shop_t *s, const char *entry)
{
    for (size_t i = 0; i < EARLY_MAX; i++) {
        if (s->early[i].event && strcmp(s->early[i].entry, entry) == 0) {
            json_t *o = s->early[i].event;
            s->early[i].event = NULL;
            return o;
        }
    }
    return NULL;
}

static void on_tick(uv_timer_t *t)
{
    ov_shop_t *s = t->data;
    int64_t now = now_ms();
    for (pending_t **pp = &s->pending; *pp;) {
        if ((*pp)->deadline > now) {
            pp = &(*pp)->next;
            continue;
        }
        pending_answer(s, pp, 202,
                       json_pack("{s:s,s:s,s:s}", "status", "accepted", "buy", (*pp)->entry, "message",
                                 "the order service has not answered yet: the order event will carry the result"));
    }
}

static void on_buy_appended(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    job_t *j = data;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        fail_redis(j, status, reply);
        return;
    }
    if (cc_redis_reply_int(reply->element[0]) != 1) {
        char extra[64];
        snprintf(extra, sizeof(extra), "retry-after: %" PRId64 "\r\n", (cc_redis_reply_int(reply->element[1]) + 999) / 1000);
        json_t *o = json_pack("{s:s,s:s,s:I}", "error", "rate_limited", "message", "too many buys: wait a moment",
                              "retry_after_ms", (json_int_t)cc_redis_reply_int(reply->element[1]));
        char *txt = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        ov_http_respond(j->req, 429, "application/json", txt, txt ? strlen(txt) : 0, extra);
        free(txt);
        job_free(j);
        return;
    }
    json_t *early = early_take(j->s, reply->element[1]->str);
    if (early) {
        finish(j, 200, early);
        return;
    }
    pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL || j->s->stopping) {
        free(p);
        finish(j, 202, json_pack("{s:s,s:s}", "status", "accepted", "buy", reply->element[1]->str));
        return;
    }
    p->req = j->req;
    snprintf(p->entry, sizeof(p->entry), "%s", reply->element[1]->str);
    p->deadline = now_ms() + OV_SHOP_BUY_WAIT_MS;
    p->next = j->s->pending;
    j->s->pending = p;
    j->s->npending++;
    job_free(j); /* the request now belongs to the pending entry */
}

static void on_buy_product(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    job_t *j = data;
    if (status < 0) {
        fail_redis(j, status, reply);
        return;
    }
    json_t *p = reply->type == REDIS_REPLY_STRING ? json_loadb(reply->str, reply->len, 0, NULL) : NULL;
    if (p == NULL) {
        ov_http_respond_error(j->req, 404, "unknown_product", "no such product in this creator's catalog");
        job_free(j);
        return;
    }
    json_t *checkout = json_object_get(p, "checkout_url");
    if (json_is_string(checkout)) {
        finish(j, 409, json_pack("{s:s,s:s,s:O}", "error", "external_checkout", "message",
                                 "this product is sold through its own checkout page", "checkout_url", checkout));
        json_decref(p);
        return;
    }
    int64_t max_qty = json_is_integer(json_object_get(p, "max_qty")) ? json_integer_value(json_object_get(p, "max_qty"))
                                                                       : j->s->cfg->max_qty;
    if (max_qty > j->s->cfg->max_qty)
        max_qty = j->s->cfg->max_qty;
    if (j->qty > max_qty) {
        char msg[96];
        snprintf(msg, sizeof(msg), "must be an integer 1-%" PRId64 " for this product", max_qty);
        finish(j, 400, json_pack("{s:s,s:s,s:[{s:s,s:s}]}", "error", "validation", "message", msg, "fields", "field",
                                 "qty", "message", msg));
        json_decref(p);
        return;
    }
    ov_shop_t *s = j->s;
    char req[32], cue[80];
    snprintf(req, sizeof(req), "shop-%" PRIu64, ++s->seq);
    snprintf(cue, sizeof(cue), "shop:%s", j->creator);
    /* the same step as an in-stream buy (lua/buy.lua): rate limit + XADD to the orders stream;
       price and currency from the catalog, never from the client */
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "EVAL");
    cc_redis_args_add(&a, ov_lua_buy);
    cc_redis_args_add(&a, "2");
    cc_redis_args_addf(&a, "cc:{orders}:rl:%s", j->viewer);
    cc_redis_args_add(&a, "cc:{orders}:buys");
    cc_redis_args_addi(&a, s->cfg->buy_rate);
    cc_redis_args_addi(&a, s->cfg->buy_window_ms);
    cc_redis_args_add(&a, "idem");
    cc_redis_args_add(&a, j->idem);
    cc_redis_args_add(&a, "viewer");
    cc_redis_args_add(&a, j->viewer);
    cc_redis_args_add(&a, "sku");
    cc_redis_args_add(&a, j->sku);
    cc_redis_args_add(&a, "qty");
    cc_redis_args_addi(&a, j->qty);
    cc_redis_args_add(&a, "price");
    cc_redis_args_addi(&a, json_integer_value(json_object_get(p, "price")));
    cc_redis_args_add(&a, "currency");
    cc_redis_args_add(&a, json_string_value(json_object_get(p, "currency")));
    cc_redis_args_add(&a, "stream");
    cc_redis_args_add(&a, SHOP_STREAM);
    cc_redis_args_add(&a, "creator");
    cc_redis_args_add(&a, j->creator);
    cc_redis_args_add(&a, "cue");
    cc_redis_args_add(&a, cue);
    cc_redis_args_add(&a, "ts");
    cc_redis_args_addi(&a, now_ms());
    cc_redis_args_add(&a, "node");
    cc_redis_args_add(&a, s->cfg->node);
    cc_redis_args_add(&a, "req");
    cc_redis_args_add(&a, req);
    if (s->npending >= OV_SHOP_PENDING_MAX) {
        ov_http_respond_error(j->req, 503, "busy", "too many shop buys waiting: try again");
        job_free(j);
    } else {
        send_or_fail(j, &a, on_buy_appended, j);
    }
    json_decref(p);
}

/* {"sku", "qty" (default 1), "idempotency_key", "viewer": TOKEN} (catalog.c parses it) */
static void shop_buy(ov_shop_t *s, ov_http_t *req, job_t *j)
{
    cc_iov_t body = ov_http_body(req);
    ov_shop_buy_req_t b;
    cc_cue_errors_t errs;
    if (ov_shop_buy_parse((const char *)body.base, body.len, &b, &errs) < 0) {
        validation_error(req, &errs);
        job_free(j);
        return;
    }
    snprintf(j->sku, sizeof(j->sku), "%s", b.sku);
    snprintf(j->idem, sizeof(j->idem), "%s", b.idem);
    j->qty = b.qty;
    if (b.token[0] == '\0' ||
        ov_ident_check(s->cfg->viewer_secret, s->cfg->viewer_secret_len, b.token, j->viewer) < 0) {
        ov_http_respond_error(req, 401, "invalid_viewer",
                              "viewer: send the token GET /v1/shop/CREATOR gave you (identities are signed)");
        job_free(j);
        return;
    }
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "HGET");
    cc_redis_args_addf(&a, K_CATALOG "%s", j->creator);
    cc_redis_args_add(&a, j->sku);
    send_or_fail(j, &a, on_buy_product, j);
}

/* ---- earnings and coins ---------------------------------------------------------------- */

static void on_earnings_part(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    slot_ctx_t *sc = data;
    job_t *j = sc->j;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY) {
        j->failed = true;
    } else if (sc->idx == 2) {
        /* ZREVRANGE ... WITHSCORES: the stream's top gifters */
        json_t *top = json_object_get(j->acc, "top");
        for (size_t i = 0; i + 1 < reply->elements; i += 2)
            if (reply->element[i]->type == REDIS_REPLY_STRING)
                json_array_append_new(top, json_pack("{s:s,s:I}", "viewer", reply->element[i]->str, "coins",
                                                     (json_int_t)cc_redis_reply_int(reply->element[i + 1])));
    } else {
        json_t *part = json_object_get(j->acc, sc->idx == 0 ? "sales" : "gifts");
        for (size_t i = 0; i + 1 < reply->elements; i += 2) {
            const char *k = reply->element[i]->str;
            json_int_t v = (json_int_t)cc_redis_reply_int(reply->element[i + 1]);
            if (k == NULL)
                continue;
            if (sc->idx == 0 && strncmp(k, "amount:", 7) == 0)
                json_object_set_new(json_object_get(part, "amount"), k + 7, json_integer(v));
            else if (sc->idx == 0 && strncmp(k, "commission:", 11) == 0)
                json_object_set_new(json_object_get(part, "commission"), k + 11, json_integer(v));
            else if (sc->idx == 0 && (strcmp(k, "orders") == 0 || strcmp(k, "units") == 0))
                json_object_set_new(part, k, json_integer(v));
            else if (sc->idx == 1 && strcmp(k, "gifts") == 0)
                json_object_set_new(part, "gifts", json_integer(v));
            else if (sc->idx == 1 && strcmp(k, "gift_coins") == 0)
                json_object_set_new(part, "coins", json_integer(v));
            else if (sc->idx == 1 && strcmp(k, "gift_earnings") == 0)
                json_object_set_new(part, "creator_coins", json_integer(v));
            else if (sc->idx == 1 && strcmp(k, "gift_platform") == 0)
                json_object_set_new(part, "platform_coins", json_integer(v));
        }
    }
    free(sc);
    if (--j->pending > 0)
        return;
    if (j->failed) {
        ov_http_respond_error(j->req, 503, "redis_unavailable", "Redis did not answer");
        job_free(j);
        return;
    }
    json_t *o = j->acc;
    j->acc = NULL;
    finish(j, 200, o);
}

static void earnings(job_t *j)
{
    j->acc = json_pack("{s:s,s:{s:i,s:i,s:{},s:{}},s:{s:i,s:i,s:i,s:i},s:[]}", "creator", j->creator, "sales", "orders",
                       0, "units", 0, "amount", "commission", "gifts", "gifts", 0, "coins", 0, "creator_coins", 0,
                       "platform_coins", 0, "top");
    const char *fmt[3] = {"HGETALL cc:{orders}:sales:creator:%s", "HGETALL " OV_K_EARNINGS "%s",
                          "ZREVRANGE " OV_K_GIFTS_TOP "%s 0 9 WITHSCORES"}; /* the creator's stream has its name */
    for (size_t i = 0; i < 3; i++) {
        slot_ctx_t *sc = malloc(sizeof(*sc));
        cc_redis_t *cmd = cmd_of(j->s);
        if (sc == NULL || cmd == NULL) {
            free(sc);
            j->failed = true;
            continue;
        }
        sc->j = j;
        sc->idx = i;
        j->pending++;
        if (cc_redis_command(cmd, on_earnings_part, sc, fmt[i], j->creator) < 0) {
            j->pending--;
            free(sc);
            j->failed = true;
        }
    }
    if (j->pending == 0)
        fail_redis(j, CC_ESTATE, NULL);
    /* with one question out and the other failed, the last answer reports 503 */
}

static void on_coins(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    job_t *j = data;
    if (status == CC_REDIS_EREPLY && reply && reply->str && strncmp(reply->str, "NEGATIVE", 8) == 0) {
        ov_http_respond_error(j->req, 409, "insufficient_coins", reply->str + 9);
        job_free(j);
        return;
    }
    if (status < 0 || (reply->type != REDIS_REPLY_INTEGER && reply->type != REDIS_REPLY_STRING &&
                       reply->type != REDIS_REPLY_NIL)) {
        fail_redis(j, status, reply);
        return;
    }
    int64_t bal = reply->type == REDIS_REPLY_NIL ? 0 : cc_redis_reply_int(reply);
    finish(j, 200, json_pack("{s:s,s:I}", "viewer", j->viewer, "balance", (json_int_t)bal));
}

/* ---- routing ---------------------------------------------------------------------------- */

/* "/PREFIX/NAME[/TAIL]": copies NAME (checked with check) and points *tail at "/TAIL" or "". */
static bool split(const char *path, const char *prefix, char *name, size_t cap, int (*check)(const char *, size_t),
                  const char **tail)
{
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl) != 0)
        return false;
    const char *n = path + pl, *slash = strchr(n, '/');
    size_t len = slash ? (size_t)(slash - n) : strlen(n);
    if (len == 0 || len >= cap || check(n, len) < 0)
        return false;
    memcpy(name, n, len);
    name[len] = '\0';
    *tail = n + len;
    return true;
}

static int stream_check(const char *s, size_t n) { return cc_cue_stream_name_check(s, n); }
static int token_check(const char *s, size_t n) { return cc_cue_token_check(s, n); }

int ov_shop_http(ov_shop_t *s, ov_http_t *req)
{
    const char *m = ov_http_method(req), *path = ov_http_path(req), *tail;
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0, post = strcmp(m, "POST") == 0;
    bool put = strcmp(m, "PUT") == 0, del = strcmp(m, "DELETE") == 0;
    char name[129];
    int kind = -1;
    char sku[CC_CUE_SKU_MAX + 1] = "";
    if (split(path, "/v1/creators/", name, 65, stream_check, &tail)) {
        if (strcmp(tail, "/products") == 0)
            kind = get ? J_LIST : post ? J_PUT : -2;
        else if (strncmp(tail, "/products/", 10) == 0 && cc_cue_sku_check(tail + 10, strlen(tail + 10)) == 0) {
            snprintf(sku, sizeof(sku), "%s", tail + 10);
            kind = get ? J_GET : put ? J_PUT : del ? J_DELETE : -2;
        } else if (strcmp(tail, "/earnings") == 0)
            kind = get ? J_EARNINGS : -2;
        else
            return 0;
    } else if (split(path, "/v1/shop/", name, 65, stream_check, &tail)) {
        if (tail[0] == '\0')
            kind = get ? J_SHOP : -2;
        else if (strcmp(tail, "/buy") == 0)
            kind = post ? J_BUY : -2;
        else
            return 0;
    } else if (split(path, "/v1/viewers/", name, sizeof(name), token_check, &tail)) {
        if (strcmp(tail, "/coins") != 0)
            return 0;
        kind = get ? J_COINS_GET : post ? J_COINS_ADD : -2;
    } else {
        return 0;
    }
    if (kind == -2) {
        ov_http_respond_error(req, 405, "method_not_allowed", "method not allowed here");
        return 1;
    }
    bool is_public = kind == J_SHOP || kind == J_BUY;
    bool admin = kind == J_COINS_GET || kind == J_COINS_ADD;
    /* an operator token for the creator's stream may manage its catalog; coins need an admin ("*") token */
    if (!is_public && !s->authorize(s->host, req, admin ? "*" : name))
        return 1;
    job_t *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        ov_http_respond_error(req, 500, "internal", "out of memory");
        return 1;
    }
    j->s = s;
    j->req = req;
    j->kind = kind;
    j->live = -1;
    j->stock = -1;
    if (admin)
        snprintf(j->viewer, sizeof(j->viewer), "%.64s", name);
    else
        snprintf(j->creator, sizeof(j->creator), "%.64s", name);
    snprintf(j->sku, sizeof(j->sku), "%s", sku);
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    switch (kind) {
    case J_LIST:
        cc_redis_args_add(&a, "HGETALL");
        cc_redis_args_addf(&a, K_CATALOG "%s", j->creator);
        send_or_fail(j, &a, on_list, j);
        break;
    case J_GET:
        cc_redis_args_add(&a, "HGET");
        cc_redis_args_addf(&a, K_CATALOG "%s", j->creator);
        cc_redis_args_add(&a, j->sku);
        send_or_fail(j, &a, on_get, j);
        break;
    case J_PUT: {
        cc_iov_t body = ov_http_body(req);
        ov_product_req_t pr;
        cc_cue_errors_t errs;
        j->create = sku[0] == '\0';
        if (ov_catalog_validate((const char *)body.base, body.len, j->create ? NULL : sku, &pr, &errs) < 0) {
            validation_error(req, &errs);
            job_free(j);
            break;
        }
        j->product = pr.product;
        j->stock = pr.stock;
        snprintf(j->sku, sizeof(j->sku), "%s", pr.sku);
        catalog_write(j, j->create ? "create" : "update");
        break;
    }
    case J_DELETE:
        catalog_write(j, "delete");
        break;
    case J_EARNINGS:
        earnings(j);
        break;
    case J_SHOP:
        if (shop_identity(s, ov_http_query(req), j) < 0) {
            ov_http_respond_error(req, 500, "internal", "no randomness for a viewer identity");
            job_free(j);
            break;
        }
        cc_redis_args_add(&a, "HGETALL");
        cc_redis_args_addf(&a, K_CATALOG "%s", j->creator);
        send_or_fail(j, &a, on_shop_catalog, j);
        break;
    case J_BUY:
        shop_buy(s, req, j);
        break;
    case J_COINS_GET:
        cc_redis_args_add(&a, "HGET");
        cc_redis_args_add(&a, OV_K_COINS);
        cc_redis_args_add(&a, j->viewer);
        send_or_fail(j, &a, on_coins, j);
        break;
    case J_COINS_ADD: {
        /* {"add": N}: N coins credited (negative: taken back, never below 0) */
        cc_iov_t body = ov_http_body(req);
        json_t *o = json_loadb((const char *)body.base, body.len, JSON_REJECT_DUPLICATES, NULL);
        json_t *add = json_object_get(o, "add");
        bool ok = json_is_object(o) && json_object_size(o) == 1 && json_is_integer(add) &&
                  json_integer_value(add) != 0 && json_integer_value(add) >= -1000000000LL &&
                  json_integer_value(add) <= 1000000000LL;
        json_int_t n = ok ? json_integer_value(add) : 0;
        json_decref(o);
        if (!ok) {
            ov_http_respond_json(req, 400,
                                 "{\"error\":\"validation\",\"message\":\"add: must be a non-zero integer number of "
                                 "coins between -1000000000 and 1000000000\",\"fields\":[{\"field\":\"add\",\"message\":"
                                 "\"must be a non-zero integer number of coins between -1000000000 and 1000000000\"}]}");
            job_free(j);
            break;
        }
        cc_redis_args_add(&a, "EVAL");
        cc_redis_args_add(&a, ov_lua_coins);
        cc_redis_args_add(&a, "3");
        cc_redis_args_add(&a, OV_K_COINS);
        cc_redis_args_add(&a, OV_K_GIFTS_TOTAL);
        cc_redis_args_add(&a, "cc:{orders}:events");
        cc_redis_args_add(&a, j->viewer);
        cc_redis_args_addi(&a, n);
        cc_redis_args_addi(&a, now_ms());
        send_or_fail(j, &a, on_coins, j);
        break;
    }
    default:
        job_free(j);
        break;
    }
    return 1;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int ov_shop_new(uv_loop_t *loop, cc_redis_t *const *cmd, const ov_app_config_t *cfg,
                int (*authorize)(void *host, ov_http_t *req, const char *stream), void *host, ov_shop_t **out)
{
    ov_shop_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return CC_ENOMEM;
    s->loop = loop;
    s->cmd = cmd;
    s->cfg = cfg;
    s->authorize = authorize;
    s->host = host;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_tick, 250, 250);
    *out = s;
    return 0;
}

void ov_shop_stop(ov_shop_t *s)
{
    if (s == NULL || s->stopping)
        return;
    s->stopping = true;
    while (s->pending)
        pending_answer(s, &s->pending, 202,
                       json_pack("{s:s,s:s}", "status", "accepted", "buy", s->pending->entry));
    uv_close((uv_handle_t *)&s->timer, NULL); /* freed with s, after the loop ran out */
}

void ov_shop_free(ov_shop_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < EARLY_MAX; i++)
        json_decref(s->early[i].event);
    free(s);
}
