/* cartcast-orders: the consumer loop (see service.h and docs/orders.md).
 *
 * Two Redis connections: `block` only runs XREADGROUP (it blocks), `cmd`
 * runs everything else.  Entries read become jobs; valid jobs are grouped by
 * SKU into batches; a batch goes through two scripts:
 *
 *   1. buy.lua     (slot {sku:S}) idempotency, stock, per-viewer limit, order
 *   2. publish.lua (slot {orders}) XACK + event + sales counters + stock change
 *
 * Both are idempotent, and XACK's answer makes the second exactly-once, so a
 * job that fails anywhere is simply abandoned: its entry stays pending in the
 * group and comes back (to this or another instance) through the recovery
 * read (XREADGROUP ... 0) after a reconnect or XAUTOCLAIM after
 * claim_idle_ms.  An entry delivered more than max_deliveries times goes to
 * the dead-letter stream instead (dead.lua). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cartcast/log.h"
#include "orders/buy.h"
#include "orders/service.h"

#define ARGB_BORROWED ((size_t)-1)
#define BATCH_MAX 256
#define SALES_MAX 500  /* creators and streams exposed in /metrics */
#define SALES_CUR_MAX 8
#define LAT_BUCKETS 12

const char *const cc_orders_lua_name[CC_ORDERS_LUA_N] = {"buy", "publish", "dead", "trim", "stock_set"};

/* ---- a growable argument vector for big script calls ------------------------- */

typedef struct argb {
    const char **v;
    size_t *l, *off;
    size_t n, cap;
    char *arena;
    size_t alen, acap;
    int err;
} argb_t;

static void argb_free(argb_t *b)
{
    free(b->v);
    free(b->l);
    free(b->off);
    free(b->arena);
    memset(b, 0, sizeof(*b));
}

static int argb_room(argb_t *b)
{
    if (b->err)
        return -1;
    if (b->n < b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 256;
    const char **v = realloc(b->v, cap * sizeof(*v));
    if (v)
        b->v = v;
    size_t *l = realloc(b->l, cap * sizeof(*l));
    if (l)
        b->l = l;
    size_t *off = realloc(b->off, cap * sizeof(*off));
    if (off)
        b->off = off;
    if (!v || !l || !off) {
        b->err = CC_ENOMEM;
        return -1;
    }
    b->cap = cap;
    return 0;
}

static void argb_add(argb_t *b, const void *p, size_t n)
{
    if (argb_room(b) < 0)
        return;
    b->v[b->n] = p;
    b->l[b->n] = n;
    b->off[b->n] = ARGB_BORROWED;
    b->n++;
}

static void argb_adds(argb_t *b, const char *s) { argb_add(b, s, strlen(s)); }

/* Room for n more bytes in the arena (formatted arguments live there; their
 * pointers are set by argb_resolve once the arena stops moving). */
static int argb_reserve(argb_t *b, size_t n)
{
    if (b->alen + n <= b->acap)
        return 0;
    size_t cap = b->acap ? b->acap : 4096;
    while (cap < b->alen + n)
        cap *= 2;
    char *a = realloc(b->arena, cap);
    if (a == NULL) {
        b->err = CC_ENOMEM;
        return -1;
    }
    b->arena = a;
    b->acap = cap;
    return 0;
}

static void argb_push_arena(argb_t *b, size_t n)
{
    b->v[b->n] = NULL;
    b->l[b->n] = n;
    b->off[b->n] = b->alen;
    b->alen += n + 1;
    b->n++;
}

static void argb_addf(argb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argb_addf(argb_t *b, const char *fmt, ...)
{
    /* One vsnprintf straight into the arena; a second only when it did not fit. */
    if (argb_room(b) < 0 || argb_reserve(b, 256) < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->arena + b->alen, b->acap - b->alen, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->err = CC_EINVAL;
        return;
    }
    if ((size_t)n + 1 > b->acap - b->alen) {
        if (argb_reserve(b, (size_t)n + 1) < 0)
            return;
        va_start(ap, fmt);
        vsnprintf(b->arena + b->alen, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    argb_push_arena(b, (size_t)n);
}

/* Integers are most of a batch's formatted arguments: no printf for them. */
static void argb_addi(argb_t *b, long long v)
{
    if (argb_room(b) < 0 || argb_reserve(b, 24) < 0)
        return;
    char tmp[24];
    size_t n = 0, k = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    char *p = b->arena + b->alen;
    if (v < 0)
        p[k++] = '-';
    while (n)
        p[k++] = tmp[--n];
    p[k] = '\0';
    argb_push_arena(b, k);
}

static void argb_resolve(argb_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->off[i] != ARGB_BORROWED)
            b->v[i] = b->arena + b->off[i];
}

/* ---- state ------------------------------------------------------------------------- */

typedef struct job {
    char entry[48];
    int64_t entry_ms;
    int valid;
    int dlq;
    int64_t deliveries;
    cc_buy_t buy;
    char reason[256];
    char status[16];
    char order[CC_BUY_SKU_MAX + 32];
    int64_t stock, version, amount, commission, qty;
    int dup, count;
    /* dead letters keep the raw fields */
    char *raw;
    cc_iov_t *rawfv;
    size_t nraw;
} job_t;

enum { STAGE_BUY, STAGE_PUBLISH, STAGE_DEAD };

typedef struct batch {
    struct cc_orders *o;
    int stage;
    int noscript_retries;
    size_t n;
    job_t *jobs[];
} batch_t;

typedef struct sales_entry {
    char name[CC_BUY_ID_MAX + 1];
    int64_t orders, units;
    int ncur;
    char cur[SALES_CUR_MAX][4];
    int64_t amount[SALES_CUR_MAX], commission[SALES_CUR_MAX];
} sales_entry_t;

typedef struct sales_snap {
    size_t ncreators, nstreams;
    sales_entry_t creators[SALES_MAX], streams[SALES_MAX];
    sales_entry_t total;
} sales_snap_t;

typedef struct sales_round {
    struct cc_orders *o;
    int outstanding;
    int failed;
    int members_done;
    sales_snap_t *snap;
} sales_round_t;

typedef struct stats {
    uint64_t read_new, read_recovered, read_claimed;
    uint64_t events[5]; /* confirmed sold_out limit_reached invalid failed */
    uint64_t dup_events, already_acked, dead_lettered;
    uint64_t step_failures[3];
    uint64_t trimmed_buys, trimmed_events;
    uint64_t lat_bucket[LAT_BUCKETS + 1];
    double lat_sum_s;
    uint64_t lat_count;
} stats_t;

struct cc_orders {
    uv_loop_t *loop;
    cc_orders_config_t cfg;
    char consumer[128];
    cc_redis_t *cmd, *blk;
    int setup_done, setup_outstanding, setup_failed;
    char sha[CC_ORDERS_LUA_N][41];
    char setup_why[256];
    /* reader */
    int reading, recover, recover_wanted;
    char recover_from[48];
    uv_timer_t reader_retry;
    /* claim */
    uv_timer_t claim_timer;
    int claiming;
    char claim_cursor[48];
    /* trim, sales */
    uv_timer_t trim_timer, sales_timer, drain_timer;
    int trimming, sales_busy;
    sales_snap_t *snap;
    uint32_t inflight; /* jobs */
    int stopping, timers_open, freed_clients;
    stats_t st;
};

static const uint64_t lat_bounds_ms[LAT_BUCKETS] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000};
static const char *const lat_labels[LAT_BUCKETS] = {"0.001", "0.002", "0.005", "0.01", "0.025", "0.05",
                                                    "0.1",   "0.25",  "0.5",   "1",    "2.5",   "10"};
static const char *const status_names[5] = {CC_BUY_CONFIRMED, CC_BUY_SOLD_OUT, CC_BUY_LIMIT, CC_BUY_INVALID,
                                            CC_BUY_FAILED};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cc_orders_config_default(cc_orders_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->claim_idle_ms = 5000;
    c->max_deliveries = 5;
    c->commission_bp = 1000;
    c->default_limit = 10;
    c->idem_ttl_s = 7 * 86400;
    c->batch = 256;
    c->max_inflight = 4096;
    c->block_ms = 1000;
    c->trim_interval_ms = 1000;
    c->buys_keep_ms = 60000;
    c->events_keep_ms = 3600000;
    c->stock_maxlen = 10000;
    c->command_timeout_ms = 3000;
}

static void reader_kick(cc_orders_t *o);
static void setup(cc_orders_t *o);
static void maybe_finish_stop(cc_orders_t *o);
static void drain_cb(uv_timer_t *t);
static void timer_closed(uv_handle_t *h);
static void on_claim(cc_redis_t *r, int status, redisReply *reply, void *data);
static void on_sales(cc_redis_t *r, int status, redisReply *reply, void *data);

static void job_free(job_t *j)
{
    if (j == NULL)
        return;
    free(j->raw);
    free(j->rawfv);
    free(j);
}

static void jobs_done(cc_orders_t *o, batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        job_free(b->jobs[i]);
    o->inflight -= (uint32_t)b->n;
    free(b);
    if (o->stopping)
        maybe_finish_stop(o);
    else
        reader_kick(o);
}

static int is_noscript(int status, const redisReply *reply)
{
    return status == CC_REDIS_EREPLY && reply && reply->str && strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

/* Records why entries failed (shown in the dead letter if they end there);
 * fire and forget, one key per entry with a day's TTL. */
static void record_failure(cc_orders_t *o, batch_t *b, const char *why)
{
    for (size_t i = 0; i < b->n; i++) {
        cc_redis_args_t a;
        cc_redis_args_init(&a);
        cc_redis_args_add(&a, "SET");
        cc_redis_args_addf(&a, CC_ORDERS_K_FAILURE "%s", b->jobs[i]->entry);
        cc_redis_args_add(&a, why);
        cc_redis_args_add(&a, "EX");
        cc_redis_args_add(&a, "86400");
        cc_redis_send(o->cmd, &a, NULL, NULL);
    }
}

static void abandon(cc_orders_t *o, batch_t *b, int status, const redisReply *reply)
{
    const char *stage = b->stage == STAGE_BUY ? "buy" : b->stage == STAGE_PUBLISH ? "publish" : "dead";
    o->st.step_failures[b->stage]++;
    const char *why = cc_redis_status_str(status, reply);
    char q[256];
    cc_log_warn("orders.step_failed", "stage=%s entries=%zu first=%s err=%s why=%s", stage, b->n,
                b->n ? b->jobs[0]->entry : "-", cc_err_name(status), cc_log_quote(q, sizeof(q), why));
    if (status == CC_REDIS_EREPLY)
        record_failure(o, b, why);
    jobs_done(o, b);
}

/* ---- stage 2: publish --------------------------------------------------------------- */

static void on_publish(cc_redis_t *r, int status, redisReply *reply, void *data);
static void on_dead(cc_redis_t *r, int status, redisReply *reply, void *data);
static int send_publish(cc_orders_t *o, batch_t *b);

/* Event fields (docs/redis-schema.md), in the order publish.lua's F table
 * lists them.  names = 0 (publish.lua): values only, without `v` and `at`
 * (the same for every event of a call: the script has them once); the
 * script adds the names from its constant table (half the strings Redis must
 * create per event).  names = 1 (dead.lua): field/value pairs without
 * "reason" (the script adds its own). */
#define EVENT_FIELDS 23
static void add_event_fields(argb_t *a, const job_t *j, int names, int64_t now)
{
    const cc_buy_t *u = &j->buy;
#define NAME(n) (names ? argb_adds(a, n) : (void)0)
    if (names)
        argb_adds(a, "v"), argb_adds(a, "1");
    NAME("status"), argb_adds(a, j->status);
    NAME("order"), argb_adds(a, j->order);
    if (!names)
        argb_adds(a, j->reason);
    NAME("buy"), argb_adds(a, j->entry);
    NAME("idem"), argb_adds(a, u->idem);
    NAME("viewer"), argb_adds(a, u->viewer);
    NAME("sku"), argb_adds(a, u->sku);
    NAME("qty");
    if (j->qty > 0)
        argb_addi(a, j->qty);
    else
        argb_adds(a, "");
    NAME("price");
    if (j->valid)
        argb_addi(a, u->price);
    else
        argb_adds(a, "");
    NAME("currency"), argb_adds(a, u->currency);
    NAME("amount"), argb_addi(a, j->amount);
    NAME("commission"), argb_addi(a, j->commission);
    NAME("stream"), argb_adds(a, u->stream);
    NAME("creator"), argb_adds(a, u->creator);
    NAME("cue"), argb_adds(a, u->cue);
    NAME("ts");
    if (j->valid)
        argb_addi(a, u->ts);
    else
        argb_adds(a, "");
    NAME("stock"), argb_addi(a, j->stock);
    NAME("version"), argb_addi(a, j->version);
    NAME("dup"), argb_adds(a, j->dup ? "1" : "0");
    NAME("node"), argb_adds(a, u->node);
    NAME("req"), argb_adds(a, u->req);
    if (names)
        argb_adds(a, "at"), argb_addi(a, now);
#undef NAME
}

static int send_args(cc_orders_t *o, argb_t *a, cc_redis_cb cb, void *data)
{
    if (a->err) {
        int rc = a->err;
        argb_free(a);
        return rc;
    }
    argb_resolve(a);
    int rc = cc_redis_send_argv(o->cmd, (int)a->n, a->v, a->l, 0, cb, data);
    argb_free(a);
    return rc;
}

/* The sales of the buys of a batch that count (they created a confirmed
 * order), added up per sales hash and currency, so that publish.lua makes a
 * few HINCRBYs per batch instead of twelve additions per buy.  One cell per
 * (hash, currency); the cells of one hash are chained from head[hash]. */
typedef struct sales_cell {
    int key;         /* KEYS index of the sales hash */
    const char *cur; /* currency */
    int64_t orders, units, amount, commission;
    int next;
} sales_cell_t;

static int name_index(const char **names, size_t *n, const char *name)
{
    size_t k = 0;
    for (; k < *n; k++)
        if (strcmp(names[k], name) == 0)
            return (int)k;
    names[(*n)++] = name;
    return (int)k;
}

static int send_publish(cc_orders_t *o, batch_t *b)
{
    b->stage = STAGE_PUBLISH;
    if (b->n > BATCH_MAX) /* a read brings at most --batch <= BATCH_MAX entries */
        return CC_EINVAL;
    /* Hashes: KEYS[4] the total, KEYS[7 ..] the creators then the streams of
     * the buys that count (hash h is KEYS[4] for h = 0, else KEYS[6 + h]). */
    const char *creators[BATCH_MAX], *streams[BATCH_MAX], *skus[BATCH_MAX];
    const job_t *stock_of[BATCH_MAX] = {0};
    size_t nc = 0, ns = 0, nk = 0;
    int job_c[BATCH_MAX], job_s[BATCH_MAX];
    for (size_t i = 0; i < b->n; i++) {
        const job_t *j = b->jobs[i];
        if (!j->count)
            continue;
        job_c[i] = name_index(creators, &nc, j->buy.creator);
        job_s[i] = name_index(streams, &ns, j->buy.stream);
        int k = name_index(skus, &nk, j->buy.sku);
        if (stock_of[k] == NULL || j->version > stock_of[k]->version)
            stock_of[k] = j; /* the stock after the batch's last order of that SKU */
    }
    size_t nh = 1 + nc + ns;
    int head[1 + 2 * BATCH_MAX];
    sales_cell_t cells[3 * BATCH_MAX];
    size_t ncell = 0;
    for (size_t h = 0; h < nh; h++)
        head[h] = -1;
    for (size_t i = 0; i < b->n; i++) {
        const job_t *j = b->jobs[i];
        if (!j->count)
            continue;
        size_t hs[3] = {0, 1 + (size_t)job_c[i], 1 + nc + (size_t)job_s[i]};
        for (int t = 0; t < 3; t++) {
            int c = head[hs[t]];
            while (c >= 0 && strcmp(cells[c].cur, j->buy.currency) != 0)
                c = cells[c].next;
            if (c < 0) {
                c = (int)ncell++;
                cells[c] = (sales_cell_t){.key = hs[t] == 0 ? 4 : 6 + (int)hs[t], .cur = j->buy.currency,
                                          .next = head[hs[t]]};
                head[hs[t]] = c;
            }
            cells[c].orders++;
            cells[c].units += j->qty;
            cells[c].amount += j->amount;
            cells[c].commission += j->commission;
        }
    }
    argb_t a = {0};
    int64_t now = wall_ms();
    argb_adds(&a, "EVALSHA"), argb_adds(&a, o->sha[CC_ORDERS_LUA_PUBLISH]);
    argb_addi(&a, 6 + (long long)(nc + ns));
    argb_adds(&a, CC_ORDERS_K_BUYS), argb_adds(&a, CC_ORDERS_K_EVENTS), argb_adds(&a, CC_ORDERS_K_STOCK);
    argb_adds(&a, CC_ORDERS_K_TOTAL), argb_adds(&a, CC_ORDERS_K_CREATORS), argb_adds(&a, CC_ORDERS_K_STREAMS);
    for (size_t k = 0; k < nc; k++)
        argb_addf(&a, "%s%s", CC_ORDERS_K_CREATOR, creators[k]);
    for (size_t k = 0; k < ns; k++)
        argb_addf(&a, "%s%s", CC_ORDERS_K_STREAM, streams[k]);
    argb_adds(&a, CC_ORDERS_GROUP);
    argb_addi(&a, o->cfg.stock_maxlen);
    argb_adds(&a, "0");
    argb_addi(&a, now);
    argb_addi(&a, (long long)nc);
    for (size_t k = 0; k < nc; k++)
        argb_adds(&a, creators[k]);
    argb_addi(&a, (long long)ns);
    for (size_t k = 0; k < ns; k++)
        argb_adds(&a, streams[k]);
    /* NA: per hash, orders and units once, amount and commission per currency
     * (no cells: nothing counts, and no hash has a cell) */
    if (ncell == 0)
        nh = 0;
    size_t na = 0;
    for (size_t h = 0; h < nh; h++) {
        na += 2;
        for (int c = head[h]; c >= 0; c = cells[c].next)
            na += 2;
    }
    argb_addi(&a, (long long)na);
    for (size_t h = 0; h < nh; h++) {
        int key = cells[head[h]].key;
        int64_t orders = 0, units = 0;
        for (int c = head[h]; c >= 0; c = cells[c].next)
            orders += cells[c].orders, units += cells[c].units;
        argb_addi(&a, key), argb_adds(&a, "orders"), argb_addi(&a, orders);
        argb_addi(&a, key), argb_adds(&a, "units"), argb_addi(&a, units);
        for (int c = head[h]; c >= 0; c = cells[c].next) {
            argb_addi(&a, key), argb_addf(&a, "amount:%s", cells[c].cur), argb_addi(&a, cells[c].amount);
            argb_addi(&a, key), argb_addf(&a, "commission:%s", cells[c].cur), argb_addi(&a, cells[c].commission);
        }
    }
    argb_addi(&a, (long long)nk);
    for (size_t k = 0; k < nk; k++) {
        argb_adds(&a, skus[k]);
        argb_addi(&a, stock_of[k]->stock);
        argb_addi(&a, stock_of[k]->version);
    }
    for (size_t i = 0; i < b->n; i++)
        add_event_fields(&a, b->jobs[i], 0, now);
    return send_args(o, &a, on_publish, b);
}

static void script_reload_then(cc_orders_t *o, batch_t *b, int script);

static int status_index(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(s, status_names[i]) == 0)
            return i;
    return 4;
}

static void observe_latency(cc_orders_t *o, const job_t *j, int64_t now)
{
    if (j->entry_ms <= 0)
        return;
    int64_t ms = now - j->entry_ms;
    if (ms < 0)
        ms = 0;
    int k = 0;
    while (k < LAT_BUCKETS && (uint64_t)ms > lat_bounds_ms[k])
        k++;
    o->st.lat_bucket[k]++;
    o->st.lat_sum_s += (double)ms / 1000.0;
    o->st.lat_count++;
}

static void on_publish(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    batch_t *b = data;
    cc_orders_t *o = b->o;
    if (is_noscript(status, reply) && b->noscript_retries++ < 2) {
        script_reload_then(o, b, CC_ORDERS_LUA_PUBLISH);
        return;
    }
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != b->n) {
        abandon(o, b, status < 0 ? status : CC_EPROTO, reply);
        return;
    }
    int64_t now = wall_ms();
    for (size_t i = 0; i < b->n; i++) {
        job_t *j = b->jobs[i];
        if (reply->element[i]->type == REDIS_REPLY_INTEGER && reply->element[i]->integer == 1) {
            o->st.events[status_index(j->status)]++;
            if (j->dup)
                o->st.dup_events++;
            observe_latency(o, j, now);
            cc_log_debug("orders.event", "buy=%s status=%s order=%s", j->entry, j->status, j->order);
        } else {
            o->st.already_acked++;
        }
    }
    jobs_done(o, b);
}

/* ---- stage 1: buy ------------------------------------------------------------------------ */

static void on_buy(cc_redis_t *r, int status, redisReply *reply, void *data);

static int send_buy(cc_orders_t *o, batch_t *b)
{
    b->stage = STAGE_BUY;
    argb_t a = {0};
    const char *sku = b->jobs[0]->buy.sku;
    argb_adds(&a, "EVALSHA"), argb_adds(&a, o->sha[CC_ORDERS_LUA_BUY]);
    argb_addi(&a, 3 + (long long)b->n);
    argb_addf(&a, "cc:{sku:%s}:stock", sku);
    argb_addf(&a, "cc:{sku:%s}:buyers", sku);
    argb_addf(&a, "cc:{sku:%s}:orders", sku);
    for (size_t i = 0; i < b->n; i++) {
        const cc_buy_t *u = &b->jobs[i]->buy;
        /* the viewer's length keeps "a:b"+"c" apart from "a"+"b:c" */
        argb_addf(&a, "cc:{sku:%s}:idem:%zu:%s:%s", sku, strlen(u->viewer), u->viewer, u->idem);
    }
    argb_adds(&a, sku);
    argb_addi(&a, o->cfg.default_limit);
    argb_addi(&a, o->cfg.idem_ttl_s);
    argb_addi(&a, o->cfg.orders_ttl_s);
    long long now = (long long)wall_ms();
    for (size_t i = 0; i < b->n; i++) {
        const job_t *j = b->jobs[i];
        const cc_buy_t *u = &j->buy;
        argb_adds(&a, j->entry);
        argb_adds(&a, u->viewer);
        argb_addi(&a, u->qty);
        /* The order record, stored as is if the buy is confirmed (fewer
         * arguments for Redis to parse, no concatenation in Lua). */
        argb_addf(&a, "%s\t%s\t%s\t%lld\t%lld\t%s\t%s\t%s\t%s\t%lld\t%lld", j->entry, u->viewer, u->sku,
                  (long long)u->qty, (long long)u->price, u->currency, u->stream, u->creator, u->cue,
                  (long long)u->ts, now);
    }
    return send_args(o, &a, on_buy, b);
}

static void copy_iov(char *dst, size_t cap, cc_iov_t v)
{
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    memcpy(dst, v.base, n);
    dst[n] = '\0';
}

static void on_buy(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    batch_t *b = data;
    cc_orders_t *o = b->o;
    if (is_noscript(status, reply) && b->noscript_retries++ < 2) {
        script_reload_then(o, b, CC_ORDERS_LUA_BUY);
        return;
    }
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != b->n) {
        abandon(o, b, status < 0 ? status : CC_EPROTO, reply);
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        job_t *j = b->jobs[i];
        redisReply *e = reply->element[i];
        cc_buy_result_t res;
        if (e->type != REDIS_REPLY_STRING || cc_buy_result_parse(e->str, e->len, &res) < 0) {
            abandon(o, b, CC_EPROTO, NULL);
            return;
        }
        copy_iov(j->status, sizeof(j->status), res.status);
        copy_iov(j->order, sizeof(j->order), res.order);
        copy_iov(j->reason, sizeof(j->reason), res.reason);
        j->stock = res.stock;
        j->version = res.version;
        j->qty = res.qty;
        int creator = res.entry.len == strlen(j->entry) && memcmp(res.entry.base, j->entry, res.entry.len) == 0;
        j->dup = !creator;
        int confirmed = strcmp(j->status, CC_BUY_CONFIRMED) == 0;
        j->count = confirmed && creator;
        if (confirmed) {
            j->amount = j->buy.price * j->qty;
            j->commission = cc_buy_commission(j->amount, o->cfg.commission_bp);
        }
    }
    int rc = send_publish(o, b);
    if (rc < 0)
        abandon(o, b, rc, NULL);
}

/* ---- dead letters ----------------------------------------------------------------------- */

static int send_dead(cc_orders_t *o, batch_t *b)
{
    b->stage = STAGE_DEAD;
    job_t *j = b->jobs[0];
    argb_t a = {0};
    char why[160];
    snprintf(why, sizeof(why), "delivered %lld times (more than --max-deliveries %u) without an error reply "
             "(the consumers processing it may have crashed or timed out)", (long long)j->deliveries,
             (unsigned)o->cfg.max_deliveries);
    argb_adds(&a, "EVALSHA"), argb_adds(&a, o->sha[CC_ORDERS_LUA_DEAD]);
    argb_adds(&a, "4");
    argb_adds(&a, CC_ORDERS_K_BUYS), argb_adds(&a, CC_ORDERS_K_DEAD), argb_adds(&a, CC_ORDERS_K_EVENTS);
    argb_addf(&a, CC_ORDERS_K_FAILURE "%s", j->entry);
    argb_adds(&a, CC_ORDERS_GROUP);
    argb_adds(&a, j->entry);
    argb_addi(&a, j->deliveries);
    argb_adds(&a, o->consumer);
    argb_adds(&a, why);
    argb_addi(&a, (long long)(j->nraw / 2));
    for (size_t i = 0; i + 1 < j->nraw; i += 2)
        argb_add(&a, j->rawfv[i].base, j->rawfv[i].len), argb_add(&a, j->rawfv[i + 1].base, j->rawfv[i + 1].len);
    argb_addi(&a, EVENT_FIELDS - 1);
    snprintf(j->status, sizeof(j->status), "%s", CC_BUY_FAILED);
    add_event_fields(&a, j, 1, wall_ms());
    return send_args(o, &a, on_dead, b);
}

static void on_dead(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    batch_t *b = data;
    cc_orders_t *o = b->o;
    if (is_noscript(status, reply) && b->noscript_retries++ < 2) {
        script_reload_then(o, b, CC_ORDERS_LUA_DEAD);
        return;
    }
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        abandon(o, b, status < 0 ? status : CC_EPROTO, reply);
        return;
    }
    job_t *j = b->jobs[0];
    if (reply->element[0]->integer == 1) {
        o->st.dead_lettered++;
        o->st.events[4]++;
        char q[300];
        cc_log_warn("orders.dead_letter", "buy=%s deliveries=%lld reason=%s", j->entry, (long long)j->deliveries,
                    cc_log_quote(q, sizeof(q), reply->element[1]->str ? reply->element[1]->str : ""));
    } else {
        o->st.already_acked++;
    }
    jobs_done(o, b);
}

/* ---- NOSCRIPT: load again, then resend the batch ---------------------------------- */

typedef struct reload {
    batch_t *b;
    int script;
} reload_t;

static int resend(cc_orders_t *o, batch_t *b)
{
    return b->stage == STAGE_BUY ? send_buy(o, b) : b->stage == STAGE_PUBLISH ? send_publish(o, b) : send_dead(o, b);
}

static void on_reloaded(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    reload_t *rl = data;
    batch_t *b = rl->b;
    cc_orders_t *o = b->o;
    free(rl);
    if (status < 0) {
        abandon(o, b, status, reply);
        return;
    }
    int rc = resend(o, b);
    if (rc < 0)
        abandon(o, b, rc, NULL);
}

static void script_reload_then(cc_orders_t *o, batch_t *b, int script)
{
    cc_log_warn("orders.noscript", "script=%s msg=\"Redis lost the script cache; loading it again\"",
                cc_orders_lua_name[script]);
    reload_t *rl = malloc(sizeof(*rl));
    int rc = CC_ENOMEM;
    if (rl != NULL) {
        rl->b = b;
        rl->script = script;
        rc = cc_redis_command(o->cmd, on_reloaded, rl, "SCRIPT LOAD %s", cc_orders_lua[script]);
        if (rc < 0)
            free(rl);
    }
    if (rc < 0)
        abandon(o, b, rc, NULL);
}

/* ---- entries -> jobs -> batches ------------------------------------------------------ */

static int64_t id_ms(const char *id)
{
    return strtoll(id, NULL, 10);
}

/* Stream IDs "MS-SEQ" in numeric order. */
static int id_cmp(const char *a, const char *b)
{
    char *ea, *eb;
    unsigned long long am = strtoull(a, &ea, 10), bm = strtoull(b, &eb, 10);
    if (am != bm)
        return am < bm ? -1 : 1;
    unsigned long long as = *ea == '-' ? strtoull(ea + 1, NULL, 10) : 0;
    unsigned long long bs = *eb == '-' ? strtoull(eb + 1, NULL, 10) : 0;
    return as < bs ? -1 : as > bs ? 1 : 0;
}

static job_t *job_from_entry(const redisReply *e, const char *origin)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[0]->len >= 48)
        return NULL;
    job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    memcpy(j->entry, e->element[0]->str, e->element[0]->len);
    j->entry_ms = id_ms(j->entry);
    j->stock = -1;
    const redisReply *f = e->element[1];
    cc_iov_t fv[2 * CC_BUY_FIELDS_MAX + 2];
    size_t n = 0;
    if (f->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < f->elements && n < 2 * CC_BUY_FIELDS_MAX + 2; i++) {
            const redisReply *x = f->element[i];
            fv[n++] = x->type == REDIS_REPLY_STRING ? cc_iov(x->str, x->len) : cc_iov("", 0);
        }
    }
    if (f->type != REDIS_REPLY_ARRAY) {
        snprintf(j->reason, sizeof(j->reason), "entry: deleted from the stream before it was processed");
        j->valid = 0;
    } else {
        j->valid = cc_buy_parse(fv, n, &j->buy, j->reason, sizeof(j->reason)) == 0;
    }
    j->qty = j->buy.qty;
    if (!j->valid) {
        snprintf(j->status, sizeof(j->status), "%s", CC_BUY_INVALID);
        cc_log_info("orders.invalid", "buy=%s from=%s reason=\"%s\"", j->entry, origin, j->reason);
    }
    return j;
}

/* Keeps a copy of the raw fields for a dead letter. */
static int job_keep_raw(job_t *j, const redisReply *e)
{
    const redisReply *f = e->element[1];
    if (f->type != REDIS_REPLY_ARRAY)
        return 0;
    size_t total = 0, n = f->elements < 2 * CC_BUY_FIELDS_MAX ? f->elements : 2 * CC_BUY_FIELDS_MAX;
    n &= ~(size_t)1;
    for (size_t i = 0; i < n; i++)
        total += f->element[i]->type == REDIS_REPLY_STRING ? f->element[i]->len : 0;
    j->raw = malloc(total + 1);
    j->rawfv = calloc(n + 1, sizeof(cc_iov_t));
    if (j->raw == NULL || j->rawfv == NULL)
        return CC_ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *x = f->element[i];
        size_t len = x->type == REDIS_REPLY_STRING ? x->len : 0;
        if (len)
            memcpy(j->raw + off, x->str, len);
        j->rawfv[i] = cc_iov(j->raw + off, len);
        off += len;
    }
    j->nraw = n;
    return 0;
}

static batch_t *batch_new(cc_orders_t *o, size_t cap)
{
    batch_t *b = malloc(sizeof(*b) + cap * sizeof(job_t *));
    if (b) {
        b->o = o;
        b->n = 0;
        b->noscript_retries = 0;
        b->stage = STAGE_BUY;
    }
    return b;
}

static void launch(cc_orders_t *o, batch_t *b)
{
    int rc = b->stage == STAGE_BUY ? send_buy(o, b) : b->stage == STAGE_PUBLISH ? send_publish(o, b) : send_dead(o, b);
    if (rc < 0)
        abandon(o, b, rc, NULL);
}

/* jobs: n jobs (valid, invalid and dead-letter ones mixed); takes them all. */
static void dispatch(cc_orders_t *o, job_t **jobs, size_t n)
{
    o->inflight += (uint32_t)n;
    int *done = calloc(n ? n : 1, sizeof(int));
    batch_t *inv = NULL;
    for (size_t i = 0; i < n; i++) {
        job_t *j = jobs[i];
        if (done != NULL && done[i])
            continue;
        if (j->dlq) {
            batch_t *b = batch_new(o, 1);
            if (b == NULL) {
                job_free(j);
                o->inflight--;
                continue;
            }
            b->jobs[b->n++] = j;
            b->stage = STAGE_DEAD;
            launch(o, b);
            continue;
        }
        if (!j->valid) {
            if (inv == NULL && (inv = batch_new(o, n)) != NULL)
                inv->stage = STAGE_PUBLISH;
            if (inv == NULL) {
                job_free(j);
                o->inflight--;
                continue;
            }
            inv->jobs[inv->n++] = j;
            continue;
        }
        /* a batch per SKU, in entry order */
        batch_t *b = batch_new(o, n - i < BATCH_MAX ? n - i : BATCH_MAX);
        if (b == NULL || done == NULL) {
            free(b);
            job_free(j);
            o->inflight--;
            continue;
        }
        for (size_t k = i; k < n && b->n < BATCH_MAX; k++) {
            if (done[k] || jobs[k]->dlq || !jobs[k]->valid || strcmp(jobs[k]->buy.sku, j->buy.sku) != 0)
                continue;
            done[k] = 1;
            b->jobs[b->n++] = jobs[k];
        }
        launch(o, b);
    }
    free(done);
    if (inv != NULL)
        launch(o, inv);
}

/* entries: an array of [id, [field, value...]] */
static size_t take_entries(cc_orders_t *o, const redisReply *entries, const char *origin, const int64_t *deliveries,
                           char *last_id, size_t last_cap)
{
    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY || entries->elements == 0)
        return 0;
    size_t n = entries->elements;
    job_t **jobs = calloc(n, sizeof(*jobs));
    if (jobs == NULL)
        return 0;
    size_t nj = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = entries->element[i];
        job_t *j = job_from_entry(e, origin);
        if (j == NULL)
            continue;
        if (last_id != NULL)
            snprintf(last_id, last_cap, "%s", j->entry);
        if (deliveries != NULL) {
            j->deliveries = deliveries[i];
            if (deliveries[i] > (int64_t)o->cfg.max_deliveries) {
                j->dlq = 1;
                if (job_keep_raw(j, e) < 0) {
                    job_free(j);
                    continue;
                }
            }
        }
        jobs[nj++] = j;
    }
    dispatch(o, jobs, nj);
    free(jobs);
    return n;
}

/* ---- the reader (block connection) ----------------------------------------------- */

static void on_read(cc_redis_t *r, int status, redisReply *reply, void *data);

static void reader_retry_cb(uv_timer_t *t)
{
    reader_kick(t->data);
}

static void reader_kick(cc_orders_t *o)
{
    if (o->reading || o->stopping || !o->setup_done || !cc_redis_ready(o->blk))
        return;
    if (o->recover_wanted && o->inflight > 0)
        return; /* recover once what is in flight has settled (jobs_done kicks again) */
    if (o->recover_wanted) {
        /* Our own pending entries first (crash or reconnect): XREADGROUP ... 0. */
        o->recover_wanted = 0;
        o->recover = 1;
        snprintf(o->recover_from, sizeof(o->recover_from), "0");
    }
    if (o->inflight >= o->cfg.max_inflight)
        return;
    uint32_t count = o->cfg.max_inflight - o->inflight;
    if (count > o->cfg.batch)
        count = o->cfg.batch;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "XREADGROUP");
    cc_redis_args_add(&a, "GROUP");
    cc_redis_args_add(&a, CC_ORDERS_GROUP);
    cc_redis_args_add(&a, o->consumer);
    cc_redis_args_add(&a, "COUNT");
    cc_redis_args_addi(&a, count);
    if (!o->recover) {
        cc_redis_args_add(&a, "BLOCK");
        cc_redis_args_addi(&a, o->cfg.block_ms);
        a.timeout_ms = o->cfg.block_ms + o->cfg.command_timeout_ms;
    }
    cc_redis_args_add(&a, "STREAMS");
    cc_redis_args_add(&a, CC_ORDERS_K_BUYS);
    cc_redis_args_add(&a, o->recover ? o->recover_from : ">");
    if (cc_redis_send(o->blk, &a, on_read, o) == 0)
        o->reading = 1;
}

static void on_read(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    cc_orders_t *o = data;
    o->reading = 0;
    if (status == UV_ECANCELED || o->stopping)
        return;
    if (status < 0) {
        if (status == CC_REDIS_EREPLY && reply->str && strncmp(reply->str, "NOGROUP", 7) == 0) {
            /* The stream or the group went away (FLUSHALL, DEL): set up again. */
            cc_log_warn("orders.nogroup", "msg=\"the orders stream or group disappeared; creating it again\"");
            cc_redis_command(o->cmd, NULL, NULL, "XGROUP CREATE %s %s 0 MKSTREAM", CC_ORDERS_K_BUYS,
                             CC_ORDERS_GROUP);
        } else if (status != CC_ECLOSED) {
            cc_log_warn("orders.read_failed", "err=%s why=\"%s\"", cc_err_name(status),
                        cc_redis_status_str(status, reply));
        }
        uv_timer_start(&o->reader_retry, reader_retry_cb, 200, 0);
        return;
    }
    const redisReply *entries = NULL;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_ARRAY &&
        reply->element[0]->elements == 2)
        entries = reply->element[0]->element[1];
    if (o->recover) {
        size_t n = take_entries(o, entries, "recovery", NULL, o->recover_from, sizeof(o->recover_from));
        o->st.read_recovered += n;
        if (n == 0) {
            o->recover = 0;
            cc_log_debug("orders.recovered", "consumer=%s", o->consumer);
        }
    } else {
        o->st.read_new += take_entries(o, entries, "new", NULL, NULL, 0);
    }
    reader_kick(o);
}

/* ---- setup on every (re)connection of the command connection --------------------- */

typedef struct setup_req {
    cc_orders_t *o;
    int script; /* -1: XGROUP CREATE */
} setup_req_t;

static void on_setup(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    setup_req_t *s = data;
    cc_orders_t *o = s->o;
    if (s->script < 0) {
        if (status < 0 && !(status == CC_REDIS_EREPLY && strncmp(reply->str, "BUSYGROUP", 9) == 0)) {
            o->setup_failed = 1;
            snprintf(o->setup_why, sizeof(o->setup_why), "XGROUP CREATE: %s", cc_redis_status_str(status, reply));
        }
    } else if (status < 0 || reply->type != REDIS_REPLY_STRING || reply->len != 40) {
        o->setup_failed = 1;
        snprintf(o->setup_why, sizeof(o->setup_why), "SCRIPT LOAD %s: %s", cc_orders_lua_name[s->script],
                 status < 0 ? cc_redis_status_str(status, reply) : "unexpected reply");
    } else {
        memcpy(o->sha[s->script], reply->str, 40);
        o->sha[s->script][40] = '\0';
    }
    free(s);
    if (--o->setup_outstanding > 0)
        return;
    if (o->setup_failed) {
        if (!o->stopping)
            cc_log_error("orders.setup_failed", "why=\"%s\"", o->setup_why);
        return; /* the next reconnection tries again; /healthz says why */
    }
    o->setup_done = 1;
    o->setup_why[0] = '\0';
    o->recover_wanted = 1;
    cc_log_info("orders.ready", "consumer=%s group=%s stream=%s", o->consumer, CC_ORDERS_GROUP, CC_ORDERS_K_BUYS);
    reader_kick(o);
}

static void setup(cc_orders_t *o)
{
    o->setup_done = 0;
    o->setup_failed = 0;
    snprintf(o->setup_why, sizeof(o->setup_why), "loading scripts and creating the consumer group");
    for (int i = -1; i < CC_ORDERS_LUA_N; i++) {
        setup_req_t *s = malloc(sizeof(*s));
        if (s == NULL)
            return;
        s->o = o;
        s->script = i;
        int rc = i < 0 ? cc_redis_command(o->cmd, on_setup, s, "XGROUP CREATE %s %s 0 MKSTREAM", CC_ORDERS_K_BUYS,
                                          CC_ORDERS_GROUP)
                       : cc_redis_command(o->cmd, on_setup, s, "SCRIPT LOAD %s", cc_orders_lua[i]);
        if (rc < 0) {
            free(s);
            o->setup_failed = 1;
            snprintf(o->setup_why, sizeof(o->setup_why), "cannot send setup commands: %s", cc_strerror(rc));
            return;
        }
        o->setup_outstanding++;
    }
}

static void on_cmd_ready(cc_redis_t *r, void *data)
{
    setup(data);
}

static void on_blk_ready(cc_redis_t *r, void *data)
{
    cc_orders_t *o = data;
    o->recover_wanted = 1;
    reader_kick(o);
}

static void on_down(cc_redis_t *r, int err, const char *why, void *data)
{
    cc_orders_t *o = data;
    if (r == o->cmd)
        o->setup_done = 0;
    /* Whatever was in flight failed and stays pending: read it back after the reconnect. */
    o->recover_wanted = 1;
}

/* ---- XAUTOCLAIM: entries of consumers that died ---------------------------------- */

typedef struct claim {
    cc_orders_t *o;
    redisReply *claimed; /* kept while XPENDING looks up the delivery counts */
} claim_t;

static void on_claim_pending(cc_redis_t *r, int status, redisReply *reply, void *data);

static void claim_tick(uv_timer_t *t)
{
    cc_orders_t *o = t->data;
    /* A setup that failed on a live connection (an error reply: ACL, OOM...)
     * is tried again here, about once a second; /healthz says why meanwhile. */
    if (!o->stopping && !o->setup_done && o->setup_outstanding == 0 && o->setup_failed && cc_redis_ready(o->cmd))
        setup(o);
    if (o->claiming || o->stopping || !o->setup_done || !cc_redis_ready(o->cmd) ||
        o->inflight + o->cfg.batch > o->cfg.max_inflight)
        return;
    claim_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->o = o;
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "XAUTOCLAIM");
    cc_redis_args_add(&a, CC_ORDERS_K_BUYS);
    cc_redis_args_add(&a, CC_ORDERS_GROUP);
    cc_redis_args_add(&a, o->consumer);
    cc_redis_args_addi(&a, o->cfg.claim_idle_ms);
    cc_redis_args_add(&a, o->claim_cursor[0] ? o->claim_cursor : "0-0");
    cc_redis_args_add(&a, "COUNT");
    cc_redis_args_addi(&a, o->cfg.batch);
    if (cc_redis_send(o->cmd, &a, on_claim, c) == 0)
        o->claiming = 1;
    else
        free(c);
}

static void claim_done(claim_t *c)
{
    c->o->claiming = 0;
    if (c->claimed)
        freeReplyObject(c->claimed);
    free(c);
}

/* XAUTOCLAIM gives the entries, not their delivery counts: ask XPENDING for
 * the claimed range, now ours. */
static void on_claim(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    claim_t *c = data;
    cc_orders_t *o = c->o;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY) {
        if (status != CC_ECLOSED && status != UV_ECANCELED && !o->stopping)
            cc_log_warn("orders.claim_failed", "err=%s why=\"%s\"", cc_err_name(status),
                        cc_redis_status_str(status, reply));
        claim_done(c);
        return;
    }
    snprintf(o->claim_cursor, sizeof(o->claim_cursor), "%s", reply->element[0]->str);
    redisReply *entries = reply->element[1];
    if (entries->elements == 0 || o->stopping) {
        claim_done(c);
        return;
    }
    /* Keep the claimed entries: hiredis frees the reply after this callback,
     * so detach the array from it. */
    c->claimed = entries;
    reply->element[1] = NULL; /* freeReplyObject skips NULL elements */
    const char *first = NULL, *last = NULL;
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i];
        if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 && e->element[0]->type == REDIS_REPLY_STRING) {
            if (first == NULL)
                first = e->element[0]->str;
            last = e->element[0]->str;
        }
    }
    if (first == NULL) {
        claim_done(c);
        return;
    }
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    cc_redis_args_add(&a, "XPENDING");
    cc_redis_args_add(&a, CC_ORDERS_K_BUYS);
    cc_redis_args_add(&a, CC_ORDERS_GROUP);
    cc_redis_args_add(&a, first);
    cc_redis_args_add(&a, last);
    cc_redis_args_addi(&a, (long long)o->cfg.max_inflight + (long long)entries->elements);
    cc_redis_args_add(&a, o->consumer);
    if (cc_redis_send(o->cmd, &a, on_claim_pending, c) < 0)
        claim_done(c);
}

static void on_claim_pending(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    claim_t *c = data;
    cc_orders_t *o = c->o;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY || o->stopping) {
        claim_done(c);
        return;
    }
    redisReply *entries = c->claimed;
    int64_t *deliveries = calloc(entries->elements, sizeof(int64_t));
    if (deliveries == NULL) {
        claim_done(c);
        return;
    }
    /* Both lists are in ID order: merge. */
    size_t k = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i];
        deliveries[i] = 1;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
            continue;
        const char *id = e->element[0]->str;
        for (; k < reply->elements; k++) {
            redisReply *p = reply->element[k];
            if (p->type != REDIS_REPLY_ARRAY || p->elements < 4 || p->element[0]->type != REDIS_REPLY_STRING)
                continue;
            int cmp = id_cmp(p->element[0]->str, id);
            if (cmp == 0 && p->element[3]->type == REDIS_REPLY_INTEGER)
                deliveries[i] = p->element[3]->integer;
            if (cmp >= 0)
                break;
        }
    }
    size_t n = take_entries(o, entries, "claim", deliveries, NULL, 0);
    o->st.read_claimed += n;
    if (n > 0)
        cc_log_info("orders.claimed", "entries=%zu idle_ms=%u", n, (unsigned)o->cfg.claim_idle_ms);
    free(deliveries);
    claim_done(c);
    /* More to claim: go on at once. */
    if (strcmp(o->claim_cursor, "0-0") != 0)
        uv_timer_start(&o->claim_timer, claim_tick, 0, o->claim_timer.repeat);
}

/* ---- trimming ------------------------------------------------------------------------------ */

typedef struct trim_req {
    cc_orders_t *o;
    int events;
} trim_req_t;

static void on_trim(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    trim_req_t *t = data;
    cc_orders_t *o = t->o;
    o->trimming--;
    if (status == 0 && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        if (t->events)
            o->st.trimmed_events += (uint64_t)reply->integer;
        else
            o->st.trimmed_buys += (uint64_t)reply->integer;
    } else if (status < 0 && status != CC_ECLOSED && status != UV_ECANCELED) {
        cc_log_warn("orders.trim_failed", "err=%s why=\"%s\"", cc_err_name(status), cc_redis_status_str(status, reply));
    }
    free(t);
}

static void trim_tick(uv_timer_t *tm)
{
    cc_orders_t *o = tm->data;
    if (o->trimming || o->stopping || !o->setup_done || !cc_redis_ready(o->cmd))
        return;
    int64_t now = wall_ms();
    for (int ev = 0; ev < 2; ev++) {
        trim_req_t *t = malloc(sizeof(*t));
        if (t == NULL)
            return;
        t->o = o;
        t->events = ev;
        int64_t cut = now - (int64_t)(ev ? o->cfg.events_keep_ms : o->cfg.buys_keep_ms);
        char id[32];
        snprintf(id, sizeof(id), "%lld-0", (long long)(cut > 0 ? cut : 0));
        if (cc_redis_command(o->cmd, on_trim, t, "EVALSHA %s 1 %s %s", o->sha[CC_ORDERS_LUA_TRIM],
                             ev ? CC_ORDERS_K_EVENTS : CC_ORDERS_K_BUYS, id) == 0)
            o->trimming++;
        else
            free(t);
    }
}

/* ---- sales snapshot for /metrics ------------------------------------------------------ */

static void parse_sales(const redisReply *h, sales_entry_t *e)
{
    if (h->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *f = h->element[i]->str;
        const redisReply *v = h->element[i + 1];
        if (f == NULL || v->str == NULL)
            continue;
        long long x = strtoll(v->str, NULL, 10);
        if (strcmp(f, "orders") == 0) {
            e->orders = x;
        } else if (strcmp(f, "units") == 0) {
            e->units = x;
        } else {
            int is_amount = strncmp(f, "amount:", 7) == 0, is_comm = strncmp(f, "commission:", 11) == 0;
            if (!is_amount && !is_comm)
                continue;
            const char *cur = f + (is_amount ? 7 : 11);
            if (strlen(cur) != 3)
                continue;
            int k = 0;
            for (; k < e->ncur; k++)
                if (strcmp(e->cur[k], cur) == 0)
                    break;
            if (k == e->ncur) {
                if (e->ncur == SALES_CUR_MAX)
                    continue;
                memcpy(e->cur[k], cur, 4);
                e->ncur++;
            }
            if (is_amount)
                e->amount[k] = x;
            else
                e->commission[k] = x;
        }
    }
}

typedef struct sales_cb {
    sales_round_t *round;
    sales_entry_t *entry; /* NULL: SMEMBERS */
    int streams;
} sales_cb_t;

static void sales_round_end(sales_round_t *rd)
{
    cc_orders_t *o = rd->o;
    if (!rd->failed && rd->members_done && !o->stopping) {
        free(o->snap);
        o->snap = rd->snap;
        rd->snap = NULL;
    }
    free(rd->snap);
    free(rd);
    o->sales_busy = 0;
}

static void sales_hget(sales_round_t *rd, sales_entry_t *e, const char *key)
{
    sales_cb_t *cb = calloc(1, sizeof(*cb));
    if (cb == NULL) {
        rd->failed = 1;
        return;
    }
    cb->round = rd;
    cb->entry = e;
    if (cc_redis_command(rd->o->cmd, on_sales, cb, "HGETALL %s", key) == 0)
        rd->outstanding++;
    else {
        free(cb);
        rd->failed = 1;
    }
}

static void on_sales(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    sales_cb_t *cb = data;
    sales_round_t *rd = cb->round;
    rd->outstanding--;
    if (status < 0 || reply->type != REDIS_REPLY_ARRAY) {
        rd->failed = 1;
    } else if (cb->entry != NULL) {
        parse_sales(reply, cb->entry);
    } else if (!rd->failed && !rd->o->stopping) {
        /* SMEMBERS: fetch each hash */
        sales_snap_t *s = rd->snap;
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *m = reply->element[i];
            size_t *n = cb->streams ? &s->nstreams : &s->ncreators;
            if (m->type != REDIS_REPLY_STRING || m->len > CC_BUY_ID_MAX || *n >= SALES_MAX)
                continue;
            sales_entry_t *e = cb->streams ? &s->streams[*n] : &s->creators[*n];
            memcpy(e->name, m->str, m->len);
            e->name[m->len] = '\0';
            (*n)++;
            char key[200];
            snprintf(key, sizeof(key), "%s%s", cb->streams ? CC_ORDERS_K_STREAM : CC_ORDERS_K_CREATOR, e->name);
            sales_hget(rd, e, key);
        }
        if (cb->streams)
            rd->members_done = 1;
    }
    free(cb);
    if (rd->outstanding == 0)
        sales_round_end(rd);
}

static void sales_tick(uv_timer_t *t)
{
    cc_orders_t *o = t->data;
    if (o->sales_busy || o->stopping || !o->setup_done || !cc_redis_ready(o->cmd))
        return;
    sales_round_t *rd = calloc(1, sizeof(*rd));
    if (rd == NULL)
        return;
    rd->snap = calloc(1, sizeof(*rd->snap));
    if (rd->snap == NULL) {
        free(rd);
        return;
    }
    rd->o = o;
    o->sales_busy = 1;
    sales_hget(rd, &rd->snap->total, CC_ORDERS_K_TOTAL);
    for (int s = 0; s < 2 && !rd->failed; s++) {
        sales_cb_t *cb = calloc(1, sizeof(*cb));
        if (cb == NULL) {
            rd->failed = 1;
            break;
        }
        cb->round = rd;
        cb->streams = s;
        if (cc_redis_command(o->cmd, on_sales, cb, "SMEMBERS %s", s ? CC_ORDERS_K_STREAMS : CC_ORDERS_K_CREATORS) ==
            0)
            rd->outstanding++;
        else {
            free(cb);
            rd->failed = 1;
        }
    }
    if (rd->outstanding == 0)
        sales_round_end(rd);
}

/* ---- start / stop ------------------------------------------------------------------------ */

int cc_orders_start(uv_loop_t *loop, const cc_redis_url_t *url, const cc_orders_config_t *cfg, cc_orders_t **out)
{
    *out = NULL;
    if (cfg->consumer == NULL || cfg->consumer[0] == '\0' || strlen(cfg->consumer) >= 128 || cfg->batch == 0 ||
        cfg->batch > BATCH_MAX || cfg->max_inflight < cfg->batch || cfg->claim_idle_ms == 0 ||
        cfg->max_deliveries == 0)
        return CC_EINVAL;
    cc_orders_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return CC_ENOMEM;
    o->loop = loop;
    o->cfg = *cfg;
    snprintf(o->consumer, sizeof(o->consumer), "%s", cfg->consumer);
    o->cfg.consumer = o->consumer;
    snprintf(o->setup_why, sizeof(o->setup_why), "connecting to Redis");
    uv_timer_t *timers[] = {&o->reader_retry, &o->claim_timer, &o->trim_timer, &o->sales_timer, &o->drain_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = o;
        o->timers_open++;
    }
    cc_redis_config_t rc;
    cc_redis_config_default(&rc);
    rc.url = *url;
    rc.client_name = "cartcast-orders";
    rc.command_timeout_ms = cfg->command_timeout_ms;
    rc.on_down = on_down;
    rc.data = o;
    rc.name = "cmd";
    rc.on_ready = on_cmd_ready;
    int r = cc_redis_new(loop, &rc, &o->cmd);
    if (r == 0) {
        rc.name = "block";
        rc.on_ready = on_blk_ready;
        r = cc_redis_new(loop, &rc, &o->blk);
    }
    if (r < 0) {
        cc_redis_free(o->cmd);
        for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
            uv_close((uv_handle_t *)timers[i], timer_closed); /* the last one frees o */
        return r;
    }
    uint32_t claim_every = cfg->claim_idle_ms / 4 < 50 ? 50 : cfg->claim_idle_ms / 4;
    if (claim_every > 1000)
        claim_every = 1000;
    uv_timer_start(&o->claim_timer, claim_tick, claim_every, claim_every);
    if (cfg->trim_interval_ms > 0)
        uv_timer_start(&o->trim_timer, trim_tick, cfg->trim_interval_ms, cfg->trim_interval_ms);
    uv_timer_start(&o->sales_timer, sales_tick, 100, 2000);
    *out = o;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    cc_orders_t *o = h->data;
    if (--o->timers_open == 0) {
        free(o->snap);
        free(o);
    }
}

static void finish_stop(cc_orders_t *o)
{
    if (o->freed_clients)
        return;
    o->freed_clients = 1;
    /* Jobs still in flight fail with UV_ECANCELED here and are abandoned: their
     * entries stay pending for another instance. */
    cc_redis_free(o->cmd);
    o->cmd = NULL;
    uv_timer_t *timers[] = {&o->reader_retry, &o->claim_timer, &o->trim_timer, &o->sales_timer, &o->drain_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        uv_timer_stop(timers[i]);
        uv_close((uv_handle_t *)timers[i], timer_closed);
    }
}

static void maybe_finish_stop(cc_orders_t *o)
{
    if (o->stopping && o->inflight == 0 && !o->freed_clients) {
        /* Out of a Redis callback: free the client from a timer. */
        uv_timer_start(&o->drain_timer, drain_cb, 0, 0);
    }
}

static void drain_cb(uv_timer_t *t)
{
    cc_orders_t *o = t->data;
    if (o->inflight > 0)
        cc_log_warn("orders.stop", "msg=\"%u buys still in flight stay pending for another instance\"",
                    (unsigned)o->inflight);
    finish_stop(o);
}

void cc_orders_stop(cc_orders_t *o)
{
    if (o == NULL)
        return;
    if (o->stopping)
        return;
    o->stopping = 1;
    uv_timer_stop(&o->claim_timer);
    uv_timer_stop(&o->trim_timer);
    uv_timer_stop(&o->sales_timer);
    uv_timer_stop(&o->reader_retry);
    cc_redis_free(o->blk); /* cancels the blocking read */
    o->blk = NULL;
    uv_timer_start(&o->drain_timer, drain_cb, o->inflight == 0 ? 0 : 2000, 0);
}

/* ---- health, metrics, HTTP ---------------------------------------------------------------- */

int cc_orders_healthy(const cc_orders_t *o, char *why, size_t len)
{
    if (o->stopping) {
        snprintf(why, len, "stopping");
        return 0;
    }
    if (!cc_redis_ready(o->cmd) || !cc_redis_ready(o->blk)) {
        snprintf(why, len, "redis not connected: cmd: %s; block: %s",
                 cc_redis_ready(o->cmd) ? "ok" : cc_redis_why(o->cmd), cc_redis_ready(o->blk) ? "ok" : cc_redis_why(o->blk));
        return 0;
    }
    if (!o->setup_done) {
        snprintf(why, len, "redis connected but not set up: %s", o->setup_why);
        return 0;
    }
    snprintf(why, len, "ok");
    return 1;
}

/* label NULL: one unlabelled series (the totals). */
static int render_sales(cc_dynbuf_t *out, const char *fam, const char *label, const sales_entry_t *e, size_t n)
{
    int rc = 0;
    char lab[CC_BUY_ID_MAX + 64];
    static const char *const what[4] = {"orders", "units", "amount_minor", "commission_minor"};
    static const char *const help[4] = {"confirmed orders", "units sold", "sales amount in minor units (cents)",
                                        "creator commission in minor units (cents)"};
    for (int m = 0; m < 4; m++) {
        rc |= cc_dynbuf_appendf(out, "# HELP cartcast_orders_%s_%s_total %s%s%s\n# TYPE cartcast_orders_%s_%s_total counter\n",
                                fam, what[m], help[m], label ? " by " : "", label ? label : "", fam, what[m]);
        for (size_t i = 0; i < n; i++) {
            if (label)
                snprintf(lab, sizeof(lab), "%s=\"%s\"", label, e[i].name);
            else
                lab[0] = '\0';
            if (m < 2) {
                rc |= cc_dynbuf_appendf(out, "cartcast_orders_%s_%s_total%s%s%s %lld\n", fam, what[m], lab[0] ? "{" : "",
                                        lab, lab[0] ? "}" : "", (long long)(m ? e[i].units : e[i].orders));
                continue;
            }
            for (int k = 0; k < e[i].ncur; k++)
                rc |= cc_dynbuf_appendf(out, "cartcast_orders_%s_%s_total{%s%scurrency=\"%s\"} %lld\n", fam, what[m], lab,
                                        lab[0] ? "," : "", e[i].cur[k],
                                        (long long)(m == 3 ? e[i].commission[k] : e[i].amount[k]));
        }
    }
    return rc;
}

int cc_orders_render_metrics(cc_orders_t *o, cc_dynbuf_t *out)
{
    int rc = 0;
    const stats_t *s = &o->st;
    rc |= cc_dynbuf_appendf(out, "# HELP cartcast_orders_up 1 when connected to Redis and set up\n"
                                 "# TYPE cartcast_orders_up gauge\ncartcast_orders_up %d\n",
                            o->setup_done && cc_redis_ready(o->cmd) && cc_redis_ready(o->blk));
    rc |= cc_dynbuf_appendf(out,
                            "# HELP cartcast_orders_buys_read_total buy entries taken from the orders stream\n"
                            "# TYPE cartcast_orders_buys_read_total counter\n"
                            "cartcast_orders_buys_read_total{source=\"new\"} %llu\n"
                            "cartcast_orders_buys_read_total{source=\"recovered\"} %llu\n"
                            "cartcast_orders_buys_read_total{source=\"claimed\"} %llu\n",
                            (unsigned long long)s->read_new, (unsigned long long)s->read_recovered,
                            (unsigned long long)s->read_claimed);
    rc |= cc_dynbuf_appendf(out, "# HELP cartcast_orders_events_total order events published by status\n"
                                 "# TYPE cartcast_orders_events_total counter\n");
    for (int i = 0; i < 5; i++)
        rc |= cc_dynbuf_appendf(out, "cartcast_orders_events_total{status=\"%s\"} %llu\n", status_names[i],
                                (unsigned long long)s->events[i]);
    rc |= cc_dynbuf_appendf(
        out,
        "# HELP cartcast_orders_duplicate_buys_total events answering a repeated idempotency key\n"
        "# TYPE cartcast_orders_duplicate_buys_total counter\ncartcast_orders_duplicate_buys_total %llu\n"
        "# HELP cartcast_orders_already_acked_total entries another consumer had already published\n"
        "# TYPE cartcast_orders_already_acked_total counter\ncartcast_orders_already_acked_total %llu\n"
        "# HELP cartcast_orders_dead_lettered_total entries moved to the dead-letter stream\n"
        "# TYPE cartcast_orders_dead_lettered_total counter\ncartcast_orders_dead_lettered_total %llu\n"
        "# HELP cartcast_orders_step_failures_total script calls that failed (the entries stay pending)\n"
        "# TYPE cartcast_orders_step_failures_total counter\n"
        "cartcast_orders_step_failures_total{stage=\"buy\"} %llu\n"
        "cartcast_orders_step_failures_total{stage=\"publish\"} %llu\n"
        "cartcast_orders_step_failures_total{stage=\"dead\"} %llu\n"
        "# HELP cartcast_orders_trimmed_total stream entries trimmed\n"
        "# TYPE cartcast_orders_trimmed_total counter\n"
        "cartcast_orders_trimmed_total{stream=\"buys\"} %llu\ncartcast_orders_trimmed_total{stream=\"events\"} %llu\n"
        "# HELP cartcast_orders_inflight buys being processed\n# TYPE cartcast_orders_inflight gauge\n"
        "cartcast_orders_inflight %u\n",
        (unsigned long long)s->dup_events, (unsigned long long)s->already_acked,
        (unsigned long long)s->dead_lettered, (unsigned long long)s->step_failures[0],
        (unsigned long long)s->step_failures[1], (unsigned long long)s->step_failures[2],
        (unsigned long long)s->trimmed_buys, (unsigned long long)s->trimmed_events, (unsigned)o->inflight);
    rc |= cc_dynbuf_appendf(out, "# HELP cartcast_orders_latency_seconds buy appended -> event published\n"
                                 "# TYPE cartcast_orders_latency_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < LAT_BUCKETS; i++) {
        cum += s->lat_bucket[i];
        rc |= cc_dynbuf_appendf(out, "cartcast_orders_latency_seconds_bucket{le=\"%s\"} %llu\n", lat_labels[i],
                                (unsigned long long)cum);
    }
    cum += s->lat_bucket[LAT_BUCKETS];
    rc |= cc_dynbuf_appendf(out,
                            "cartcast_orders_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                            "cartcast_orders_latency_seconds_sum %.6f\ncartcast_orders_latency_seconds_count %llu\n",
                            (unsigned long long)cum, s->lat_sum_s, (unsigned long long)cum);
    if (o->snap != NULL) {
        rc |= render_sales(out, "sales", NULL, &o->snap->total, 1);
        rc |= render_sales(out, "creator", "creator", o->snap->creators, o->snap->ncreators);
        rc |= render_sales(out, "stream", "stream", o->snap->streams, o->snap->nstreams);
    }
    if (o->cmd && o->blk) {
        cc_redis_t *clients[2] = {o->cmd, o->blk};
        rc |= cc_redis_render_metrics(clients, 2, "cartcast_orders_redis", out);
    }
    return rc ? CC_ETOOBIG : 0;
}

typedef struct sales_http {
    cc_http_req_t *req;
    cc_orders_t *o;
    int streams;
    char id[CC_BUY_ID_MAX + 1];
} sales_http_t;

static void sales_http_gone(cc_http_req_t *req, void *data)
{
    ((sales_http_t *)data)->req = NULL;
}

static void on_sales_http(cc_redis_t *r, int status, redisReply *reply, void *data)
{
    sales_http_t *h = data;
    if (h->req != NULL) {
        if (status < 0) {
            char msg[300];
            snprintf(msg, sizeof(msg), "redis: %s\n", cc_redis_status_str(status, reply));
            cc_http_respond_text(h->req, 503, "text/plain", msg);
        } else {
            sales_entry_t e = {0};
            parse_sales(reply, &e);
            json_t *amount = json_object(), *comm = json_object();
            for (int k = 0; k < e.ncur; k++) {
                json_object_set_new(amount, e.cur[k], json_integer(e.amount[k]));
                json_object_set_new(comm, e.cur[k], json_integer(e.commission[k]));
            }
            char pct[16];
            snprintf(pct, sizeof(pct), "%d.%02d", h->o->cfg.commission_bp / 100, h->o->cfg.commission_bp % 100);
            json_t *doc = json_pack("{s:s, s:I, s:I, s:o, s:o, s:s}", h->streams ? "stream" : "creator", h->id,
                                    "orders", (json_int_t)e.orders, "units", (json_int_t)e.units, "amount_minor",
                                    amount, "commission_minor", comm, "commission_pct", pct);
            char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
            if (text) {
                size_t n = strlen(text);
                cc_buf_t *body = cc_buf_new(n + 1);
                if (body) {
                    memcpy(body->data, text, n);
                    body->data[n] = '\n';
                    cc_http_respond(h->req, 200, "application/json", body, NULL, 0);
                    cc_buf_unref(body);
                } else {
                    cc_http_respond_text(h->req, 500, "text/plain", "out of memory\n");
                }
                free(text);
            } else {
                cc_http_respond_text(h->req, 500, "text/plain", "internal error\n");
            }
            json_decref(doc);
        }
    }
    free(h);
}

/* /v1/creators/ID/sales -> ID */
static int sales_handler(cc_http_req_t *req, cc_orders_t *o, int streams)
{
    const char *path = cc_http_req_path(req);
    const char *prefix = streams ? "/v1/streams/" : "/v1/creators/";
    size_t pl = strlen(prefix);
    const char *id = path + pl;
    const char *slash = strchr(id, '/');
    if (strncmp(path, prefix, pl) != 0 || slash == NULL || strcmp(slash, "/sales") != 0)
        return cc_http_respond_text(req, 404, "text/plain", "not found\n");
    size_t n = (size_t)(slash - id);
    int ok = n > 0 && n <= (streams ? CC_BUY_STREAM_MAX : CC_BUY_ID_MAX);
    for (size_t i = 0; ok && i < n; i++) {
        char c = id[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
             (!streams && (c == '.' || c == ':' || c == '@'));
    }
    if (!ok)
        return cc_http_respond_text(req, 400, "text/plain",
                                    streams ? "stream name must be 1-64 of [A-Za-z0-9_-]\n"
                                            : "creator id must be 1-128 of [A-Za-z0-9._:@-]\n");
    sales_http_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return cc_http_respond_text(req, 500, "text/plain", "out of memory\n");
    h->req = req;
    h->o = o;
    h->streams = streams;
    memcpy(h->id, id, n);
    int rc = o->stopping ? UV_ECANCELED
                         : cc_redis_command(o->cmd, on_sales_http, h, "HGETALL %s%s",
                                            streams ? CC_ORDERS_K_STREAM : CC_ORDERS_K_CREATOR, h->id);
    if (rc < 0) {
        free(h);
        char msg[300];
        snprintf(msg, sizeof(msg), "redis: %s\n", o->stopping ? "stopping" : cc_redis_status_str(rc, NULL));
        return cc_http_respond_text(req, 503, "text/plain", msg);
    }
    cc_http_req_on_close(req, sales_http_gone, h);
    return CC_HTTP_HELD;
}

int cc_orders_handle_creator_sales(cc_http_req_t *req, void *data) { return sales_handler(req, data, 0); }
int cc_orders_handle_stream_sales(cc_http_req_t *req, void *data) { return sales_handler(req, data, 1); }
