/* The cue codec (see cue.h): operator requests, EXT-X-DATERANGE, viewer messages. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cue.h"

static const char *const kind_names[CC_CUE_KIND_N] = {"product", "buy_button", "poll", "countdown"};

const char *cc_cue_kind_name(cc_cue_kind_t k)
{
    return (unsigned)k < CC_CUE_KIND_N ? kind_names[k] : NULL;
}

int cc_cue_kind_parse(const char *s, cc_cue_kind_t *out)
{
    for (int i = 0; s && i < CC_CUE_KIND_N; i++) {
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (cc_cue_kind_t)i;
            return 0;
        }
    }
    return CC_EINVAL;
}

/* ---- character classes ---------------------------------------------------- */

static int alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int class_ok(const char *s, size_t n, size_t max, const char *extra)
{
    if (s == NULL || n == 0 || n > max)
        return CC_EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!alnum(c) && (c == '\0' || strchr(extra, c) == NULL))
            return CC_EINVAL;
    }
    return 0;
}

int cc_cue_id_check(const char *s, size_t n)
{
    if (s == NULL || n != 17 || s[0] != 'c')
        return CC_EINVAL;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return CC_EINVAL;
    return 0;
}

int cc_cue_stream_name_check(const char *s, size_t n)
{
    if (s == NULL || n == 0 || s[0] == '.')
        return CC_EINVAL;
    return class_ok(s, n, 64, "._-");
}

int cc_cue_sku_check(const char *s, size_t n) { return class_ok(s, n, CC_CUE_SKU_MAX, "._-"); }

int cc_cue_token_check(const char *s, size_t n) { return class_ok(s, n, CC_VIEWER_ID_MAX, "._:@-"); }

/* Text shown to viewers: any UTF-8 (jansson checked it) but no control
 * characters, which would only be trouble in logs and playlists. */
static int text_ok(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int url_ok(const char *s, size_t n)
{
    if (n == 0 || n > CC_CUE_URL_MAX)
        return 0;
    if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '`')
            return 0;
    }
    return 1;
}

int cc_cue_text_check(const char *s, size_t n, size_t max) { return s && text_ok(s, n, max) ? 0 : CC_EINVAL; }

int cc_cue_url_check(const char *s, size_t n) { return s && url_ok(s, n) ? 0 : CC_EINVAL; }

/* ---- errors ---------------------------------------------------------------- */

void cc_cue_add_err(cc_cue_errors_t *e, const char *field, const char *fmt, ...)
{
    if (e->n >= CC_CUE_ERRORS_MAX) {
        e->truncated = 1;
        return;
    }
    cc_cue_error_t *x = &e->e[e->n++];
    snprintf(x->field, sizeof(x->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->message, sizeof(x->message), fmt, ap);
    va_end(ap);
}

char *cc_cue_errors_json(const cc_cue_errors_t *errs)
{
    json_t *o = json_object(), *a = json_array();
    if (o == NULL || a == NULL) {
        json_decref(o);
        json_decref(a);
        return NULL;
    }
    for (size_t i = 0; i < errs->n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s}", "field", errs->e[i].field, "message", errs->e[i].message));
    char msg[256];
    if (errs->n > 0)
        snprintf(msg, sizeof(msg), "%s%s%s", errs->e[0].field, errs->e[0].field[0] ? ": " : "", errs->e[0].message);
    else
        snprintf(msg, sizeof(msg), "invalid request");
    json_object_set_new(o, "error", json_string("validation"));
    json_object_set_new(o, "message", json_string(msg));
    json_object_set_new(o, "fields", a);
    if (errs->truncated)
        json_object_set_new(o, "truncated", json_true());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* ---- field readers ---------------------------------------------------------- */

typedef struct vctx {
    cc_cue_errors_t *errs;
    char path[48];
} vctx_t;

static const char *fname(char *buf, size_t n, const char *prefix, const char *key)
{
    snprintf(buf, n, "%s%s%s", prefix, prefix[0] ? "." : "", key);
    return buf;
}

void cc_cue_no_unknown(const json_t *obj, const char *prefix, const char *const *allowed, cc_cue_errors_t *errs)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++)
            ok |= strcmp(key, allowed[i]) == 0;
        if (!ok) {
            char f[48], shown[40];
            snprintf(shown, sizeof(shown), "%.32s", key);
            for (char *p = shown; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == '"')
                    *p = '?';
            fname(f, sizeof(f), prefix, shown);
            cc_cue_add_err(errs, f, "unknown field");
        }
    }
}

/* Integer field: 1 and *out when present and valid, 0 when absent, -1 (error added) otherwise. */
static int get_int(const json_t *obj, const char *prefix, const char *key, int64_t lo, int64_t hi, const char *what,
                   int64_t *out, cc_cue_errors_t *errs)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return 0;
    char f[48];
    fname(f, sizeof(f), prefix, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        cc_cue_add_err(errs, f, "must be %s %lld-%lld", what, (long long)lo, (long long)hi);
        return -1;
    }
    *out = json_integer_value(v);
    return 1;
}

/* String field checked by kind: 1 and *out, 0 absent, -1 error. */
enum { S_TEXT, S_SKU, S_URL, S_CURRENCY, S_TOKEN };

static int get_str(const json_t *obj, const char *prefix, const char *key, int cls, size_t max, const char **out,
                   cc_cue_errors_t *errs)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return 0;
    char f[48];
    fname(f, sizeof(f), prefix, key);
    if (!json_is_string(v)) {
        cc_cue_add_err(errs, f, "must be a string");
        return -1;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    int ok;
    const char *why;
    switch (cls) {
    case S_SKU:
        ok = cc_cue_sku_check(s, n) == 0 && strlen(s) == n;
        why = "must be 1-64 characters of [A-Za-z0-9._-]";
        break;
    case S_URL:
        ok = url_ok(s, n) && strlen(s) == n;
        why = "must be an http:// or https:// URL of at most 2048 printable ASCII characters";
        break;
    case S_CURRENCY:
        ok = n == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z';
        why = "must be an ISO 4217 code such as EUR or USD";
        break;
    case S_TOKEN:
        ok = cc_cue_token_check(s, n) == 0 && strlen(s) == n;
        why = "must be 1-64 characters of [A-Za-z0-9._:@-]";
        break;
    default:
        ok = text_ok(s, n, max) && strlen(s) == n;
        why = NULL;
        break;
    }
    if (!ok) {
        if (why)
            cc_cue_add_err(errs, f, "%s", why);
        else
            cc_cue_add_err(errs, f, "must be 1-%zu bytes of text without control characters", max);
        return -1;
    }
    *out = s;
    return 1;
}

static void require(int got, const char *prefix, const char *key, cc_cue_errors_t *errs)
{
    if (got == 0) {
        char f[48];
        cc_cue_add_err(errs, fname(f, sizeof(f), prefix, key), "is required");
    }
}

/* product / buy_button */
static json_t *check_product(const json_t *p, int is_button, cc_cue_errors_t *errs, const char **sku_out)
{
    static const char *const allowed[] = {"sku", "title", "price", "currency", "image_url", "stock_shown",
                                          "creator", "label", "max_qty", NULL};
    const char *pre = "product";
    if (!json_is_object(p)) {
        cc_cue_add_err(errs, pre, p ? "must be an object" : "is required for this kind");
        return NULL;
    }
    cc_cue_no_unknown(p, pre, allowed, errs);
    const char *sku = NULL, *title = NULL, *cur = NULL, *img = NULL, *creator = NULL, *label = NULL;
    int64_t price = 0, max_qty = 0;
    int g;
    require(get_str(p, pre, "sku", S_SKU, 0, &sku, errs), pre, "sku", errs);
    g = get_str(p, pre, "title", S_TEXT, CC_CUE_TITLE_MAX, &title, errs);
    if (!is_button)
        require(g, pre, "title", errs);
    require(get_int(p, pre, "price", 0, CC_CUE_PRICE_MAX, "an integer number of minor units (cents)", &price, errs),
            pre, "price", errs);
    require(get_str(p, pre, "currency", S_CURRENCY, 0, &cur, errs), pre, "currency", errs);
    get_str(p, pre, "image_url", S_URL, 0, &img, errs);
    get_str(p, pre, "creator", S_TOKEN, 0, &creator, errs);
    get_str(p, pre, "label", S_TEXT, 40, &label, errs);
    get_int(p, pre, "max_qty", 1, CC_VIEWER_QTY_MAX, "an integer", &max_qty, errs);
    json_t *ss = json_object_get(p, "stock_shown");
    int64_t ss_n = -1;
    int ss_flag = 1;
    if (ss != NULL && !json_is_null(ss)) {
        if (json_is_boolean(ss)) {
            ss_flag = json_is_true(ss);
        } else if (json_is_integer(ss) && json_integer_value(ss) >= 0 && json_integer_value(ss) <= 1000000000) {
            ss_n = json_integer_value(ss);
        } else {
            cc_cue_add_err(errs, "product.stock_shown", "must be true, false or an integer 0-1000000000 (units to show)");
        }
    }
    if (errs->n > 0)
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "sku", json_string(sku));
    if (title)
        json_object_set_new(o, "title", json_string(title));
    json_object_set_new(o, "price", json_integer(price));
    json_object_set_new(o, "currency", json_string(cur));
    if (img)
        json_object_set_new(o, "image_url", json_string(img));
    if (ss_n >= 0)
        json_object_set_new(o, "stock_shown", json_integer(ss_n));
    else
        json_object_set_new(o, "stock_shown", json_boolean(ss_flag));
    if (creator)
        json_object_set_new(o, "creator", json_string(creator));
    if (label)
        json_object_set_new(o, "label", json_string(label));
    if (max_qty > 0)
        json_object_set_new(o, "max_qty", json_integer(max_qty));
    *sku_out = json_string_value(json_object_get(o, "sku"));
    return o;
}

static json_t *check_poll(const json_t *p, cc_cue_errors_t *errs)
{
    static const char *const allowed[] = {"question", "options", NULL};
    const char *pre = "poll";
    if (!json_is_object(p)) {
        cc_cue_add_err(errs, pre, p ? "must be an object" : "is required for this kind");
        return NULL;
    }
    cc_cue_no_unknown(p, pre, allowed, errs);
    const char *q = NULL;
    require(get_str(p, pre, "question", S_TEXT, CC_CUE_TITLE_MAX, &q, errs), pre, "question", errs);
    json_t *opts = json_object_get(p, "options");
    if (opts == NULL || json_is_null(opts)) {
        cc_cue_add_err(errs, "poll.options", "is required");
    } else if (!json_is_array(opts) || json_array_size(opts) < 2 || json_array_size(opts) > CC_CUE_POLL_OPTIONS_MAX) {
        cc_cue_add_err(errs, "poll.options", "must be an array of 2-%d strings", CC_CUE_POLL_OPTIONS_MAX);
    } else {
        for (size_t i = 0; i < json_array_size(opts); i++) {
            json_t *v = json_array_get(opts, i);
            char f[48];
            snprintf(f, sizeof(f), "poll.options[%zu]", i);
            if (!json_is_string(v) || !text_ok(json_string_value(v), json_string_length(v), CC_CUE_OPTION_MAX) ||
                strlen(json_string_value(v)) != json_string_length(v)) {
                cc_cue_add_err(errs, f, "must be 1-%d bytes of text without control characters", CC_CUE_OPTION_MAX);
                continue;
            }
            for (size_t k = 0; k < i; k++)
                if (json_equal(json_array_get(opts, k), v)) {
                    cc_cue_add_err(errs, f, "repeats option %zu", k);
                    break;
                }
        }
    }
    if (errs->n > 0)
        return NULL;
    return json_pack("{s:s,s:O}", "question", q, "options", opts);
}

static json_t *check_countdown(const json_t *p, cc_cue_errors_t *errs, const char **sku_out, int64_t *seconds)
{
    static const char *const allowed[] = {"title", "seconds", "sku", NULL};
    const char *pre = "countdown";
    if (!json_is_object(p)) {
        cc_cue_add_err(errs, pre, p ? "must be an object" : "is required for this kind");
        return NULL;
    }
    cc_cue_no_unknown(p, pre, allowed, errs);
    const char *title = NULL, *sku = NULL;
    get_str(p, pre, "title", S_TEXT, CC_CUE_TITLE_MAX, &title, errs);
    get_str(p, pre, "sku", S_SKU, 0, &sku, errs);
    require(get_int(p, pre, "seconds", 1, 86400, "an integer number of seconds", seconds, errs), pre, "seconds",
            errs);
    if (errs->n > 0)
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "title", json_string(title ? title : "Flash sale"));
    json_object_set_new(o, "seconds", json_integer(*seconds));
    if (sku)
        json_object_set_new(o, "sku", json_string(sku));
    *sku_out = sku ? json_string_value(json_object_get(o, "sku")) : NULL;
    return o;
}

int cc_cue_validate(const char *body, size_t len, cc_cue_req_t *out, cc_cue_errors_t *errs)
{
    memset(out, 0, sizeof(*out));
    memset(errs, 0, sizeof(*errs));
    out->pdt_ms = out->media_ms = out->duration_ms = -1;
    if (len > CC_CUE_BODY_MAX) {
        cc_cue_add_err(errs, "", "request body larger than %d bytes", CC_CUE_BODY_MAX);
        return CC_ETOOBIG;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        cc_cue_add_err(errs, "", "not valid JSON: %s (line %d column %d)", jerr.text, jerr.line, jerr.column);
        return CC_EINVAL;
    }
    if (!json_is_object(root)) {
        cc_cue_add_err(errs, "", "must be a JSON object");
        json_decref(root);
        return CC_EINVAL;
    }
    static const char *const allowed[] = {"kind", "pdt_ms", "media_ms", "duration_ms", "product", "poll",
                                          "countdown", NULL};
    cc_cue_no_unknown(root, "", allowed, errs);
    json_t *k = json_object_get(root, "kind");
    cc_cue_kind_t kind = CC_CUE_PRODUCT;
    int kind_ok = 0;
    if (k == NULL)
        cc_cue_add_err(errs, "kind", "is required: product, buy_button, poll or countdown");
    else if (!json_is_string(k) || cc_cue_kind_parse(json_string_value(k), &kind) < 0)
        cc_cue_add_err(errs, "kind", "must be product, buy_button, poll or countdown");
    else
        kind_ok = 1;
    /* ms since the epoch between 2001 and 2286: catches seconds given for ms. */
    int has_pdt = get_int(root, "", "pdt_ms", 1000000000000LL, 9999999999999LL,
                          "milliseconds since the epoch (program date-time),", &out->pdt_ms, errs);
    int has_media = get_int(root, "", "media_ms", 0, (int64_t)1 << 50, "milliseconds of media time,", &out->media_ms,
                            errs);
    if (has_pdt == 1 && has_media == 1)
        cc_cue_add_err(errs, "media_ms", "give pdt_ms or media_ms, not both");
    get_int(root, "", "duration_ms", 100, CC_CUE_DURATION_MAX, "an integer number of milliseconds", &out->duration_ms,
            errs);
    const char *parts[] = {"product", "poll", "countdown"};
    int want = !kind_ok ? -1 : kind == CC_CUE_POLL ? 1 : kind == CC_CUE_COUNTDOWN ? 2 : 0;
    for (int i = 0; i < 3 && want >= 0; i++)
        if (i != want && json_object_get(root, parts[i]) != NULL)
            cc_cue_add_err(errs, parts[i], "not allowed for kind %s", cc_cue_kind_name(kind));

    json_t *section = NULL;
    const char *sku = NULL;
    if (kind_ok) {
        cc_cue_errors_t sub = {0};
        int64_t seconds = 0;
        if (want == 0)
            section = check_product(json_object_get(root, parts[0]), kind == CC_CUE_BUY_BUTTON, &sub, &sku);
        else if (want == 1)
            section = check_poll(json_object_get(root, parts[1]), &sub);
        else
            section = check_countdown(json_object_get(root, parts[2]), &sub, &sku, &seconds);
        for (size_t i = 0; i < sub.n; i++)
            cc_cue_add_err(errs, sub.e[i].field, "%s", sub.e[i].message);
        errs->truncated |= sub.truncated;
        if (want == 2 && out->duration_ms < 0 && seconds > 0)
            out->duration_ms = seconds * 1000; /* the card goes when the countdown ends */
    }
    if (errs->n > 0) {
        json_decref(section);
        json_decref(root);
        return CC_EINVAL;
    }
    out->kind = kind;
    out->body = json_object();
    json_object_set_new(out->body, "kind", json_string(cc_cue_kind_name(kind)));
    json_object_set_new(out->body, parts[want], section);
    out->sku = sku;
    json_decref(root);
    return 0;
}

/* ---- EXT-X-DATERANGE -------------------------------------------------------- */

/* Percent-encodes s into out (cap bytes incl. NUL): '%', '"' and controls. -1 when it does not fit. */
static int pct_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || c == '"' || c == '%') {
            if (o + 3 >= cap)
                return -1;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            if (o + 1 >= cap)
                return -1;
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return 0;
}

static void copy_field(json_t *dst, const json_t *src, const char *key)
{
    json_t *v = json_object_get(src, key);
    if (v)
        json_object_set(dst, key, v);
}

int cc_cue_daterange(const json_t *cue, cc_llhls_daterange_t *dr, cc_cue_dr_storage_t *st)
{
    memset(dr, 0, sizeof(*dr));
    memset(st, 0, sizeof(*st));
    if (!json_is_object(cue))
        return CC_EINVAL;
    json_t *id = json_object_get(cue, "id"), *kind = json_object_get(cue, "kind"), *pdt = json_object_get(cue, "pdt_ms");
    json_t *dur = json_object_get(cue, "duration_ms");
    cc_cue_kind_t k;
    if (!json_is_string(id) || cc_cue_id_check(json_string_value(id), json_string_length(id)) < 0 ||
        !json_is_string(kind) || cc_cue_kind_parse(json_string_value(kind), &k) < 0 || !json_is_integer(pdt) ||
        json_integer_value(pdt) <= 0)
        return CC_EINVAL;
    snprintf(st->id, sizeof(st->id), "%s", json_string_value(id));
    snprintf(st->kind, sizeof(st->kind), "%s", cc_cue_kind_name(k));
    snprintf(st->class_name, sizeof(st->class_name), "com.cartcast.%s", cc_cue_kind_name(k));
    dr->id = st->id;
    dr->class_name = st->class_name;
    dr->start_ms = json_integer_value(pdt);
    dr->duration_ms = json_is_integer(dur) && json_integer_value(dur) > 0 ? json_integer_value(dur) : -1;
    dr->end_ms = -1;
    dr->x[dr->nx].name = "X-KIND";
    dr->x[dr->nx++].value = st->kind;

    const char *section = k == CC_CUE_POLL ? "poll" : k == CC_CUE_COUNTDOWN ? "countdown" : "product";
    json_t *sec = json_object_get(cue, section);
    json_t *sku = sec ? json_object_get(sec, "sku") : NULL;
    if (json_is_string(sku) && cc_cue_sku_check(json_string_value(sku), json_string_length(sku)) == 0) {
        snprintf(st->sku, sizeof(st->sku), "%s", json_string_value(sku));
        dr->x[dr->nx].name = "X-SKU";
        dr->x[dr->nx++].value = st->sku;
    }
    /* The card: what a player without the WebSocket needs to draw it. */
    json_t *card = json_object();
    if (card == NULL)
        return CC_ENOMEM;
    if (sec && k == CC_CUE_POLL) {
        copy_field(card, sec, "question");
        copy_field(card, sec, "options");
    } else if (sec && k == CC_CUE_COUNTDOWN) {
        copy_field(card, sec, "title");
        copy_field(card, sec, "seconds");
        copy_field(card, sec, "sku");
    } else if (sec) {
        copy_field(card, sec, "sku");
        copy_field(card, sec, "title");
        copy_field(card, sec, "price");
        copy_field(card, sec, "currency");
        copy_field(card, sec, "image_url");
    }
    int ok = 0;
    for (int attempt = 0; attempt < 4 && !ok; attempt++) {
        if (attempt == 1)
            json_object_del(card, "image_url");
        if (attempt == 2 || attempt == 3) {
            const char *key = k == CC_CUE_POLL ? "question" : "title";
            json_t *t = json_object_get(card, key);
            if (json_is_string(t) && attempt == 2 && json_string_length(t) > 40) {
                char shortened[48];
                /* cut on a UTF-8 boundary */
                size_t n = 40;
                const char *s = json_string_value(t);
                while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                    n--;
                snprintf(shortened, sizeof(shortened), "%.*s", (int)n, s);
                json_object_set_new(card, key, json_string(shortened));
            } else if (attempt == 3) {
                json_object_del(card, "options");
                json_object_del(card, key);
            }
        }
        char *js = json_dumps(card, JSON_COMPACT | JSON_ENSURE_ASCII);
        ok = js != NULL && pct_encode(js, st->card, sizeof(st->card)) == 0;
        free(js);
    }
    json_decref(card);
    if (ok) {
        dr->x[dr->nx].name = "X-CARD";
        dr->x[dr->nx++].value = st->card;
    }
    return 0;
}

/* ---- viewer messages ---------------------------------------------------------- */

static int vstr(json_t *root, const char *key, int (*check)(const char *, size_t), char *out, size_t cap,
                int required, const char *why, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL || json_is_null(v)) {
        if (required) {
            snprintf(err, errlen, "%s: is required", key);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v) || check(json_string_value(v), json_string_length(v)) < 0 ||
        json_string_length(v) >= cap || strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(err, errlen, "%s: %s", key, why);
        return -1;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 1;
}

int cc_viewer_parse(const char *msg, size_t len, size_t max, cc_viewer_msg_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (errlen > 0)
        err[0] = '\0';
    if (max > CC_VIEWER_MSG_MAX)
        max = CC_VIEWER_MSG_MAX;
    if (len > max) {
        snprintf(err, errlen, "message larger than %zu bytes", max);
        return CC_ETOOBIG;
    }
    json_error_t jerr;
    json_t *root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        snprintf(err, errlen, "message: must be a JSON object");
        json_decref(root);
        return CC_EINVAL;
    }
    int rc = CC_EINVAL;
    if (vstr(root, "req", cc_cue_token_check, out->req, sizeof(out->req), 0,
             "must be 1-64 characters of [A-Za-z0-9._:@-]", err, errlen) < 0) {
        out->req[0] = '\0';
        goto done;
    }
    json_t *t = json_object_get(root, "type");
    const char *type = json_is_string(t) ? json_string_value(t) : NULL;
    if (type == NULL) {
        snprintf(err, errlen, "type: must be buy, vote or ping");
        goto done;
    }
    if (strcmp(type, "ping") == 0) {
        out->type = CC_VIEWER_PING;
        rc = 0;
    } else if (strcmp(type, "buy") == 0) {
        out->type = CC_VIEWER_BUY;
        if (vstr(root, "cue_id", cc_cue_id_check, out->cue_id, sizeof(out->cue_id), 1, "must be a cue id", err,
                 errlen) < 0 ||
            vstr(root, "sku", cc_cue_sku_check, out->sku, sizeof(out->sku), 1,
                 "must be 1-64 characters of [A-Za-z0-9._-]", err, errlen) < 0 ||
            vstr(root, "idempotency_key", cc_cue_token_check, out->idem, sizeof(out->idem), 1,
                 "must be 1-64 characters of [A-Za-z0-9._:@-]", err, errlen) < 0)
            goto done;
        json_t *q = json_object_get(root, "qty");
        if (q == NULL) {
            out->qty = 1;
        } else if (!json_is_integer(q) || json_integer_value(q) < 1 || json_integer_value(q) > CC_VIEWER_QTY_MAX) {
            snprintf(err, errlen, "qty: must be an integer 1-%d", CC_VIEWER_QTY_MAX);
            goto done;
        } else {
            out->qty = json_integer_value(q);
        }
        rc = 0;
    } else if (strcmp(type, "vote") == 0) {
        out->type = CC_VIEWER_VOTE;
        if (vstr(root, "poll_id", cc_cue_id_check, out->cue_id, sizeof(out->cue_id), 1, "must be a poll's cue id", err,
                 errlen) < 0)
            goto done;
        json_t *o = json_object_get(root, "option");
        if (!json_is_integer(o) || json_integer_value(o) < 0 || json_integer_value(o) >= CC_CUE_POLL_OPTIONS_MAX) {
            snprintf(err, errlen, "option: must be an option index 0-%d", CC_CUE_POLL_OPTIONS_MAX - 1);
            goto done;
        }
        out->option = (int)json_integer_value(o);
        rc = 0;
    } else {
        snprintf(err, errlen, "type: must be buy, vote or ping");
    }
done:
    json_decref(root);
    return rc;
}
