/* Virtual gifts: catalog, viewer message, the atomic Redis step, room
 * broadcast and leaderboard (gift.h, docs/gifts-and-shop.md). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "cartcast/err.h"
#include "cartcast/log.h"
#include "cue.h"
#include "gift.h"
#include "lua.h"

#define TOP_STREAMS_MAX 256 /* leaderboards cached (streams with viewers here); the oldest goes first */

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool id_ok(const char *s, size_t n)
{
    if (n == 0 || n > OV_GIFT_ID_MAX || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* ---- the catalog -------------------------------------------------------------------- */

void ov_gift_catalog_free(ov_gift_catalog_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->gifts[i].image);
    free(c->gifts);
    free(c->json);
    memset(c, 0, sizeof(*c));
}

/* An image is a same-origin path ("/static/gift-rose.svg") or an http(s) URL. */
static bool image_ok(const char *s, size_t n)
{
    if (n == 0 || n > CC_CUE_URL_MAX || strlen(s) != n)
        return false;
    if (s[0] == '/') {
        if (n < 2 || s[1] == '/')
            return false; /* "//host" would be another origin */
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '`' || c == '\'')
                return false;
        }
        return true;
    }
    return cc_cue_url_check(s, n) == 0;
}

int ov_gift_catalog_parse(const char *text, size_t len, ov_gift_catalog_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len > OV_GIFT_FILE_MAX) {
        errf(err, errlen, "larger than %d bytes", OV_GIFT_FILE_MAX);
        return CC_ETOOBIG;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        errf(err, errlen, "%s", root ? "must be a JSON object {\"creator_share_pct\": N, \"gifts\": [...]}" : jerr.text);
        json_decref(root);
        return CC_EINVAL;
    }
    int rc = CC_EINVAL;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "creator_share_pct") != 0 && strcmp(key, "gifts") != 0) {
            errf(err, errlen, "%.40s: unknown field (creator_share_pct, gifts)", key);
            goto out;
        }
    }
    json_t *share = json_object_get(root, "creator_share_pct"), *gifts = json_object_get(root, "gifts");
    if (!json_is_integer(share) || json_integer_value(share) < 0 || json_integer_value(share) > 100) {
        errf(err, errlen, "creator_share_pct: %s", share ? "must be an integer 0-100 (percent of each gift's coins)"
                                                          : "is required (percent of each gift's coins, 0-100)");
        goto out;
    }
    if (!json_is_array(gifts) || json_array_size(gifts) == 0 || json_array_size(gifts) > OV_GIFTS_MAX) {
        errf(err, errlen, "gifts: must be a list of 1-%d gifts", OV_GIFTS_MAX);
        goto out;
    }
    out->creator_share_pct = (int)json_integer_value(share);
    out->gifts = calloc(json_array_size(gifts), sizeof(*out->gifts));
    if (out->gifts == NULL) {
        rc = CC_ENOMEM;
        errf(err, errlen, "out of memory");
        goto out;
    }
    size_t i;
    json_t *g;
    json_array_foreach(gifts, i, g) {
        if (!json_is_object(g)) {
            errf(err, errlen, "gifts[%zu]: must be an object {\"id\", \"name\", \"price\", \"image\"}", i);
            goto out;
        }
        json_object_foreach(g, key, v) {
            if (strcmp(key, "id") && strcmp(key, "name") && strcmp(key, "price") && strcmp(key, "image")) {
                errf(err, errlen, "gifts[%zu].%.40s: unknown field (id, name, price, image)", i, key);
                goto out;
            }
        }
        json_t *id = json_object_get(g, "id"), *name = json_object_get(g, "name"), *price = json_object_get(g, "price");
        json_t *image = json_object_get(g, "image");
        if (!json_is_string(id) || !id_ok(json_string_value(id), json_string_length(id))) {
            errf(err, errlen, "gifts[%zu].id: must be 1-%d characters of [A-Za-z0-9._-]", i, OV_GIFT_ID_MAX);
            goto out;
        }
        for (size_t k = 0; k < out->n; k++)
            if (strcmp(out->gifts[k].id, json_string_value(id)) == 0) {
                errf(err, errlen, "gifts[%zu].id: '%s' is used twice", i, out->gifts[k].id);
                goto out;
            }
        if (!json_is_string(name) || cc_cue_text_check(json_string_value(name), json_string_length(name),
                                                       OV_GIFT_NAME_MAX) < 0 ||
            strlen(json_string_value(name)) != json_string_length(name)) {
            errf(err, errlen, "gifts[%zu].name: must be 1-%d bytes of text without control characters", i,
                 OV_GIFT_NAME_MAX);
            goto out;
        }
        if (!json_is_integer(price) || json_integer_value(price) < 1 || json_integer_value(price) > OV_GIFT_PRICE_MAX) {
            errf(err, errlen, "gifts[%zu].price: must be an integer number of coins 1-%d", i, OV_GIFT_PRICE_MAX);
            goto out;
        }
        if (image && !(json_is_string(image) && image_ok(json_string_value(image), json_string_length(image)))) {
            errf(err, errlen, "gifts[%zu].image: must be an http(s):// URL or a path such as /static/gift-rose.svg", i);
            goto out;
        }
        ov_gift_def_t *d = &out->gifts[out->n];
        snprintf(d->id, sizeof(d->id), "%s", json_string_value(id));
        snprintf(d->name, sizeof(d->name), "%s", json_string_value(name));
        d->price = json_integer_value(price);
        if (image && (d->image = strdup(json_string_value(image))) == NULL) {
            rc = CC_ENOMEM;
            errf(err, errlen, "out of memory");
            goto out;
        }
        out->n++;
    }
    json_t *arr = json_array();
    for (size_t k = 0; k < out->n; k++) {
        json_t *o = json_pack("{s:s,s:s,s:I}", "id", out->gifts[k].id, "name", out->gifts[k].name, "price",
                              (json_int_t)out->gifts[k].price);
        if (o && out->gifts[k].image)
            json_object_set_new(o, "image", json_string(out->gifts[k].image));
        json_array_append_new(arr, o);
    }
    out->json = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    rc = out->json ? 0 : CC_ENOMEM;
    if (rc < 0)
        errf(err, errlen, "out of memory");
out:
    json_decref(root);
    if (rc < 0)
        ov_gift_catalog_free(out);
    return rc;
}

int ov_gift_catalog_load(const char *path, ov_gift_catalog_t *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        errf(err, errlen, "--gifts %s: cannot open", path);
        memset(out, 0, sizeof(*out));
        return CC_ECONFIG;
    }
    char *buf = malloc(OV_GIFT_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, OV_GIFT_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL) {
        errf(err, errlen, "out of memory");
        return CC_ENOMEM;
    }
    char why[300];
    int rc = ov_gift_catalog_parse(buf, n, out, why, sizeof(why));
    free(buf);
    if (rc < 0)
        errf(err, errlen, "--gifts %s: %s", path, why);
    return rc < 0 ? CC_ECONFIG : 0;
}

const ov_gift_def_t *ov_gift_find(const ov_gift_catalog_t *c, const char *id)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (strcmp(c->gifts[i].id, id) == 0)
            return &c->gifts[i];
    return NULL;
}

/* ---- the viewer's message -------------------------------------------------------------- */

int ov_gift_msg_parse(const char *msg, size_t len, ov_gift_msg_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    json_t *root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *type = json_object_get(root, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "gift") != 0) {
        json_decref(root);
        return 1; /* someone else's message (or not JSON: the caller's parser says why) */
    }
    int rc = CC_EINVAL;
    json_t *req = json_object_get(root, "req");
    if (req) {
        if (!json_is_string(req) || cc_cue_token_check(json_string_value(req), json_string_length(req)) < 0 ||
            strlen(json_string_value(req)) != json_string_length(req)) {
            errf(err, errlen, "req: must be 1-64 characters of [A-Za-z0-9._:@-]");
            goto out;
        }
        snprintf(out->req, sizeof(out->req), "%s", json_string_value(req));
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "type") && strcmp(key, "gift") && strcmp(key, "idempotency_key") && strcmp(key, "req")) {
            errf(err, errlen, "%.40s: unknown field (gift, idempotency_key, req)", key);
            goto out;
        }
    }
    json_t *gift = json_object_get(root, "gift"), *idem = json_object_get(root, "idempotency_key");
    if (!json_is_string(gift) || !id_ok(json_string_value(gift), json_string_length(gift))) {
        errf(err, errlen, "gift: must be a gift id from the catalog");
        goto out;
    }
    if (!json_is_string(idem) || cc_cue_token_check(json_string_value(idem), json_string_length(idem)) < 0 ||
        strlen(json_string_value(idem)) != json_string_length(idem)) {
        errf(err, errlen, "idempotency_key: must be 1-64 characters of [A-Za-z0-9._:@-] (the same on a retry)");
        goto out;
    }
    snprintf(out->gift, sizeof(out->gift), "%s", json_string_value(gift));
    snprintf(out->idem, sizeof(out->idem), "%s", json_string_value(idem));
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ---- running ---------------------------------------------------------------------------- */

typedef struct top {
    char stream[65];
    cc_buf_t *msg;      /* the last {"type":"leaderboard"...}, sent to a joining viewer */
    bool dirty, loading;
    uint64_t used;      /* for eviction */
} top_t;

struct ov_gifts {
    uv_loop_t *loop;
    const ov_gift_catalog_t *cat;
    cc_redis_t *const *cmd;
    ov_gifts_host_t host;
    char node[140];
    int idem_ttl_s;
    uv_timer_t tick;
    bool stopping;
    int inflight; /* leaderboard reads */
    top_t *tops[TOP_STREAMS_MAX];
    size_t ntops;
    uint64_t clock;
    ov_gifts_stats_t stats;
    /* gift.lua goes as EVALSHA (Redis skips hashing and compiling 2.5 KB per gift);
       a NOSCRIPT answer (a restarted or flushed Redis) is retried once as EVAL, which loads it */
    char sha[SHA_DIGEST_LENGTH * 2 + 1];
};

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static cc_buf_t *buf_json(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    cc_buf_t *b = s ? cc_buf_from(s, strlen(s)) : NULL;
    free(s);
    json_decref(o);
    return b;
}

static void reply_to(ov_gifts_t *g, void *who, json_t *o)
{
    cc_buf_t *b = buf_json(o);
    if (b)
        g->host.reply(who, b);
    cc_buf_unref(b);
}

static void gift_error(ov_gifts_t *g, void *who, const char *req, const char *code, const char *message)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "type", "error", "action", "gift", "code", code, "message", message);
    if (o && req && req[0])
        json_object_set_new(o, "req", json_string(req));
    reply_to(g, who, o);
}

static top_t *top_get(ov_gifts_t *g, const char *stream, bool create)
{
    for (size_t i = 0; i < g->ntops; i++)
        if (strcmp(g->tops[i]->stream, stream) == 0) {
            g->tops[i]->used = ++g->clock;
            return g->tops[i];
        }
    if (!create)
        return NULL;
    size_t slot = g->ntops;
    if (g->ntops == TOP_STREAMS_MAX) {
        /* evict the least recently used one that no read is filling */
        slot = TOP_STREAMS_MAX;
        for (size_t i = 0; i < g->ntops; i++)
            if (!g->tops[i]->loading && (slot == TOP_STREAMS_MAX || g->tops[i]->used < g->tops[slot]->used))
                slot = i;
        if (slot == TOP_STREAMS_MAX)
            return NULL;
        cc_buf_unref(g->tops[slot]->msg);
        free(g->tops[slot]);
    } else {
        g->ntops++;
    }
    top_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        g->tops[slot] = g->tops[--g->ntops];
        return NULL;
    }
    snprintf(t->stream, sizeof(t->stream), "%s", stream);
    t->used = ++g->clock;
    t->dirty = true;
    g->tops[slot] = t;
    return t;
}

typedef struct top_read {
    ov_gifts_t *g;
    char stream[65];
} top_read_t;

static void on_top(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    top_read_t *tr = data;
    ov_gifts_t *g = tr->g;
    g->inflight--;
    top_t *t = g->stopping ? NULL : top_get(g, tr->stream, false);
    if (t)
        t->loading = false;
    if (t && status == 0 && reply->type == REDIS_REPLY_ARRAY) {
        json_t *top = json_array();
        for (size_t i = 0; i + 1 < reply->elements; i += 2)
            if (reply->element[i]->type == REDIS_REPLY_STRING)
                json_array_append_new(top, json_pack("{s:s,s:I}", "viewer", reply->element[i]->str, "coins",
                                                     (json_int_t)cc_redis_reply_int(reply->element[i + 1])));
        cc_buf_t *b = buf_json(json_pack("{s:s,s:s,s:o}", "type", "leaderboard", "stream", t->stream, "top", top));
        if (b) {
            cc_buf_unref(t->msg);
            t->msg = b;
            g->stats.leaderboards++;
            g->host.broadcast(g->host.host, t->stream, b);
        }
    } else if (t) {
        t->dirty = true; /* try again at the next tick */
    }
    free(tr);
}

static void on_tick(uv_timer_t *h)
{
    ov_gifts_t *g = h->data;
    cc_redis_t *cmd = *g->cmd;
    if (cmd == NULL || !cc_redis_ready(cmd))
        return;
    for (size_t i = 0; i < g->ntops; i++) {
        top_t *t = g->tops[i];
        if (!t->dirty || t->loading)
            continue;
        top_read_t *tr = malloc(sizeof(*tr));
        if (tr == NULL)
            return;
        tr->g = g;
        snprintf(tr->stream, sizeof(tr->stream), "%s", t->stream);
        if (cc_redis_command(cmd, on_top, tr, "ZREVRANGE " OV_K_GIFTS_TOP "%s 0 %d WITHSCORES", t->stream,
                             OV_GIFT_TOP_N - 1) < 0) {
            free(tr);
            return;
        }
        g->inflight++;
        t->dirty = false;
        t->loading = true;
    }
}

int ov_gifts_new(uv_loop_t *loop, const ov_gift_catalog_t *catalog, cc_redis_t *const *cmd, const ov_gifts_host_t *host,
                 const char *node, int idem_ttl_s, ov_gifts_t **out)
{
    ov_gifts_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return CC_ENOMEM;
    g->loop = loop;
    g->cat = catalog;
    g->cmd = cmd;
    g->host = *host;
    g->idem_ttl_s = idem_ttl_s;
    snprintf(g->node, sizeof(g->node), "%s", node ? node : "");
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)ov_lua_gift, strlen(ov_lua_gift), digest);
    for (size_t i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(g->sha + 2 * i, 3, "%02x", digest[i]);
    uv_timer_init(loop, &g->tick);
    g->tick.data = g;
    uv_timer_start(&g->tick, on_tick, OV_GIFT_TOP_TICK_MS, OV_GIFT_TOP_TICK_MS);
    *out = g;
    return 0;
}

typedef struct gift_op {
    ov_gifts_t *g;
    void *who;
    const ov_gift_def_t *def; /* in the catalog, which outlives every op */
    char req[65];
    char idem[65];
    char viewer[129];
    char stream[65];
    char creator[129];
    int64_t ts;
    bool as_eval; /* sent with the script's text (after NOSCRIPT) */
} gift_op_t;

static int gift_eval(gift_op_t *op, cc_redis_cb cb);

static void op_done(gift_op_t *op)
{
    op->g->host.release(op->who);
    free(op);
}

static void on_gift_reply(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    gift_op_t *op = data;
    ov_gifts_t *g = op->g;
    if (status == CC_REDIS_EREPLY && reply && reply->str && strncmp(reply->str, "NOSCRIPT", 8) == 0 && !op->as_eval) {
        op->as_eval = true;
        if (gift_eval(op, on_gift_reply) == 0)
            return;
    }
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 5 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        g->stats.failed++;
        cc_log_warn("overlay.gift_failed", "stream=%s err=\"%s\"", op->stream, cc_redis_status_str(status, reply));
        gift_error(g, op->who, op->req, "unavailable", "the gift could not be recorded: try again with the same key");
    } else if (strcmp(reply->element[0]->str, "sent") == 0) {
        bool dup = cc_redis_reply_int(reply->element[4]) == 1;
        if (dup)
            g->stats.duplicates++;
        else
            g->stats.sent++;
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:b}", "type", "ack", "action", "gift", "status", "sent", "gift",
                              op->def->id, "coins", (json_int_t)op->def->price, "balance",
                              (json_int_t)cc_redis_reply_int(reply->element[1]), "dup", dup);
        if (o && reply->element[3]->type == REDIS_REPLY_STRING)
            json_object_set_new(o, "entry", json_string(reply->element[3]->str));
        if (o && op->req[0])
            json_object_set_new(o, "req", json_string(op->req));
        reply_to(g, op->who, o);
    } else {
        g->stats.insufficient++;
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "type", "error", "action", "gift", "code",
                              "insufficient_coins", "message", "not enough coins for this gift", "balance",
                              (json_int_t)cc_redis_reply_int(reply->element[1]), "price", (json_int_t)op->def->price);
        if (o && op->req[0])
            json_object_set_new(o, "req", json_string(op->req));
        reply_to(g, op->who, o);
    }
    op_done(op);
}

/* One gift.lua call for op: EVALSHA, or EVAL once Redis said NOSCRIPT. */
static int gift_eval(gift_op_t *op, cc_redis_cb cb)
{
    ov_gifts_t *g = op->g;
    cc_redis_t *cmd = *g->cmd;
    if (cmd == NULL)
        return CC_ESTATE;
    const ov_gift_def_t *d = op->def;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, op->as_eval ? "EVAL" : "EVALSHA");
    cc_redis_args_add(&a, op->as_eval ? ov_lua_gift : g->sha);
    cc_redis_args_add(&a, "6");
    cc_redis_args_add(&a, OV_K_COINS);
    /* the viewer id's length first, so that "a:b"+"c" and "a"+"b:c" never collide */
    cc_redis_args_addf(&a, "cc:{orders}:gift:idem:%zu:%s:%s", strlen(op->viewer), op->viewer, op->idem);
    cc_redis_args_addf(&a, OV_K_EARNINGS "%s", op->creator);
    cc_redis_args_addf(&a, OV_K_GIFTS_TOP "%s", op->stream);
    cc_redis_args_add(&a, "cc:{orders}:events");
    cc_redis_args_add(&a, OV_K_GIFTS_TOTAL);
    cc_redis_args_add(&a, op->viewer);
    cc_redis_args_add(&a, d->id);
    cc_redis_args_add(&a, d->name);
    cc_redis_args_addi(&a, d->price);
    cc_redis_args_addi(&a, g->cat->creator_share_pct);
    cc_redis_args_add(&a, op->creator);
    cc_redis_args_add(&a, op->stream);
    cc_redis_args_addi(&a, op->ts);
    cc_redis_args_add(&a, g->node);
    cc_redis_args_add(&a, op->req);
    cc_redis_args_add(&a, op->idem);
    cc_redis_args_addi(&a, g->idem_ttl_s);
    return cc_redis_send(cmd, &a, cb, op);
}

void ov_gifts_send(ov_gifts_t *g, void *who, const char *viewer, const char *stream, const char *creator,
                   const ov_gift_msg_t *m)
{
    const ov_gift_def_t *d = ov_gift_find(g->cat, m->gift);
    if (d == NULL) {
        g->stats.rejected++;
        gift_error(g, who, m->req, "unknown_gift", "gift: no such gift in the catalog");
        g->host.release(who);
        return;
    }
    gift_op_t *op = calloc(1, sizeof(*op));
    cc_redis_t *cmd = *g->cmd;
    if (op == NULL || cmd == NULL) {
        free(op);
        g->stats.failed++;
        gift_error(g, who, m->req, "unavailable", "gifts are unavailable right now: try again");
        g->host.release(who);
        return;
    }
    op->g = g;
    op->who = who;
    op->def = d;
    op->ts = now_ms();
    snprintf(op->req, sizeof(op->req), "%s", m->req);
    snprintf(op->idem, sizeof(op->idem), "%s", m->idem);
    snprintf(op->viewer, sizeof(op->viewer), "%s", viewer);
    snprintf(op->stream, sizeof(op->stream), "%s", stream);
    snprintf(op->creator, sizeof(op->creator), "%s", creator);
    if (gift_eval(op, on_gift_reply) < 0) {
        g->stats.failed++;
        gift_error(g, who, m->req, "unavailable", "gifts are unavailable right now: try again");
        op_done(op);
    }
}

typedef struct join_op {
    ov_gifts_t *g;
    void *who;
    char stream[65];
} join_op_t;

static void on_balance(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    join_op_t *j = data;
    ov_gifts_t *g = j->g;
    int64_t bal = status == 0 ? cc_redis_reply_int(reply) : -1;
    if (status == 0 && reply->type == REDIS_REPLY_NIL)
        bal = 0;
    json_t *cat = json_loads(g->cat && g->cat->json ? g->cat->json : "[]", 0, NULL);
    json_t *o = json_pack("{s:s,s:o,s:i}", "type", "gifts", "catalog", cat ? cat : json_array(), "creator_share_pct",
                          g->cat ? g->cat->creator_share_pct : 0);
    if (o)
        json_object_set_new(o, "balance", bal >= 0 ? json_integer(bal) : json_null());
    reply_to(g, j->who, o);
    top_t *t = g->stopping ? NULL : top_get(g, j->stream, true);
    if (t && t->msg)
        g->host.reply(j->who, t->msg);
    /* else: the tick reads it and broadcasts it to the room, this viewer included */
    g->host.release(j->who);
    free(j);
}

void ov_gifts_join(ov_gifts_t *g, void *who, const char *viewer, const char *stream)
{
    join_op_t *j = calloc(1, sizeof(*j));
    cc_redis_t *cmd = *g->cmd;
    if (j == NULL || cmd == NULL) {
        free(j);
        g->host.release(who);
        return;
    }
    j->g = g;
    j->who = who;
    snprintf(j->stream, sizeof(j->stream), "%s", stream);
    if (cc_redis_command(cmd, on_balance, j, "HGET " OV_K_COINS " %s", viewer) < 0)
        on_balance(cmd, CC_ESTATE, NULL, j);
}

static const char *fstr(const redisReply *fv, const char *name)
{
    for (size_t i = 0; fv && fv->type == REDIS_REPLY_ARRAY && i + 1 < fv->elements; i += 2)
        if (fv->element[i]->type == REDIS_REPLY_STRING && strcmp(fv->element[i]->str, name) == 0)
            return fv->element[i + 1]->type == REDIS_REPLY_STRING ? fv->element[i + 1]->str : NULL;
    return NULL;
}

int ov_gifts_on_event(ov_gifts_t *g, const redisReply *fv)
{
    const char *kind = fstr(fv, "kind");
    if (kind && strcmp(kind, "coins") == 0) {
        const char *viewer = fstr(fv, "viewer"), *bal = fstr(fv, "balance"), *n = fstr(fv, "coins");
        if (viewer && bal && n && !g->stopping) {
            cc_buf_t *b = buf_json(json_pack("{s:s,s:I,s:I}", "type", "balance", "balance",
                                             (json_int_t)strtoll(bal, NULL, 10), "credited",
                                             (json_int_t)strtoll(n, NULL, 10)));
            if (b)
                g->host.to_viewer(g->host.host, viewer, b);
            cc_buf_unref(b);
        }
        return 1;
    }
    if (kind == NULL || strcmp(kind, "gift") != 0)
        return 0;
    const char *stream = fstr(fv, "stream"), *gift = fstr(fv, "gift"), *viewer = fstr(fv, "viewer");
    if (stream == NULL || gift == NULL || viewer == NULL || g->stopping)
        return 1;
    top_t *t = top_get(g, stream, false);
    if (t)
        t->dirty = true;
    const ov_gift_def_t *d = ov_gift_find(g->cat, gift);
    const char *name = fstr(fv, "name");
    const char *coins = fstr(fv, "coins"), *ts = fstr(fv, "ts");
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "type", "gift", "stream", stream, "gift", gift, "name",
                          name ? name : gift, "viewer", viewer, "coins",
                          (json_int_t)(coins ? strtoll(coins, NULL, 10) : 0), "ts",
                          (json_int_t)(ts ? strtoll(ts, NULL, 10) : 0));
    if (o == NULL)
        return 1;
    if (d && d->image)
        json_object_set_new(o, "image", json_string(d->image));
    cc_buf_t *b = buf_json(o);
    if (b && g->host.broadcast(g->host.host, stream, b) > 0)
        g->stats.broadcasts++;
    cc_buf_unref(b);
    return 1;
}

void ov_gifts_get_stats(const ov_gifts_t *g, ov_gifts_stats_t *out) { *out = g->stats; }

void ov_gifts_stop(ov_gifts_t *g)
{
    if (g == NULL || g->stopping)
        return;
    g->stopping = true;
    uv_close((uv_handle_t *)&g->tick, NULL); /* freed with g, after the loop ran out */
}

void ov_gifts_free(ov_gifts_t *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->ntops; i++) {
        cc_buf_unref(g->tops[i]->msg);
        free(g->tops[i]);
    }
    free(g);
}
