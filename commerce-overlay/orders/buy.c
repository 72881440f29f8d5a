#include <stdio.h>
#include <string.h>

#include "cartcast/err.h"
#include "orders/buy.h"

enum { CH_ID, CH_SKU, CH_STREAM };

static int char_ok(int cls, uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
        return 1;
    if (cls == CH_STREAM)
        return 0;
    if (c == '.')
        return 1;
    return cls == CH_ID && (c == ':' || c == '@');
}

/* Copies v into out when it is 1..max bytes of class cls; else a reason. */
static int take_str(cc_iov_t v, int cls, size_t max, char *out, const char **why)
{
    if (v.len == 0) {
        *why = "must not be empty";
        return -1;
    }
    if (v.len > max) {
        *why = max == CC_BUY_SKU_MAX ? "longer than 64 bytes" : "longer than 128 bytes";
        return -1;
    }
    for (size_t i = 0; i < v.len; i++) {
        if (!char_ok(cls, v.base[i])) {
            *why = cls == CH_ID ? "only [A-Za-z0-9._:@-] allowed"
                   : cls == CH_SKU ? "only [A-Za-z0-9._-] allowed"
                                   : "only [A-Za-z0-9_-] allowed";
            return -1;
        }
    }
    memcpy(out, v.base, v.len);
    out[v.len] = '\0';
    return 0;
}

static int take_int(cc_iov_t v, int64_t lo, int64_t hi, int64_t *out)
{
    if (v.len == 0 || v.len > 18)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.base[i] < '0' || v.base[i] > '9')
            return -1;
        x = x * 10 + (v.base[i] - '0');
    }
    if (v.len > 1 && v.base[0] == '0')
        return -1;
    if (x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int iov_eq(cc_iov_t v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && memcmp(v.base, s, n) == 0;
}

/* Prints v for a reason: printable ASCII only, at most 24 bytes. */
static void show(cc_iov_t v, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < v.len && o + 4 < outlen && i < 24; i++)
        out[o++] = (v.base[i] >= 0x20 && v.base[i] < 0x7f && v.base[i] != '\'') ? (char)v.base[i] : '?';
    if (v.len > 24 && o + 4 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

enum { F_IDEM, F_VIEWER, F_SKU, F_QTY, F_PRICE, F_CURRENCY, F_STREAM, F_CREATOR, F_CUE, F_TS, F_NODE, F_REQ, F_N };
static const char *const field_names[F_N] = {"idem",   "viewer",  "sku", "qty", "price", "currency",
                                             "stream", "creator", "cue", "ts",  "node",  "req"};

int cc_buy_parse(const cc_iov_t *fv, size_t nfv, cc_buy_t *out, char *reason, size_t reasonlen)
{
    memset(out, 0, sizeof(*out));
    char first[200] = "";
#define BAD(...)                                                 \
    do {                                                         \
        if (first[0] == '\0')                                    \
            snprintf(first, sizeof(first), __VA_ARGS__);         \
    } while (0)
    if (nfv % 2 != 0)
        BAD("entry: odd number of field/value items");
    if (nfv > 2 * CC_BUY_FIELDS_MAX)
        BAD("entry: more than %d fields", CC_BUY_FIELDS_MAX);
    cc_iov_t val[F_N] = {{0}};
    int seen[F_N] = {0};
    for (size_t i = 0; i + 1 < nfv && i < 2 * CC_BUY_FIELDS_MAX; i += 2) {
        for (int f = 0; f < F_N; f++) {
            if (iov_eq(fv[i], field_names[f])) {
                if (seen[f])
                    BAD("%s: given twice", field_names[f]);
                else
                    val[f] = fv[i + 1];
                seen[f] = 1;
                break;
            }
        }
    }
    const char *why = NULL;
    char shown[40];
    struct {
        int f, cls;
        size_t max;
        char *dst;
        int required;
    } strs[] = {
        {F_IDEM, CH_ID, CC_BUY_ID_MAX, out->idem, 1},       {F_VIEWER, CH_ID, CC_BUY_ID_MAX, out->viewer, 1},
        {F_SKU, CH_SKU, CC_BUY_SKU_MAX, out->sku, 1},       {F_STREAM, CH_STREAM, CC_BUY_STREAM_MAX, out->stream, 1},
        {F_CREATOR, CH_ID, CC_BUY_ID_MAX, out->creator, 1}, {F_CUE, CH_ID, CC_BUY_ID_MAX, out->cue, 1},
        {F_NODE, CH_ID, CC_BUY_ID_MAX, out->node, 0},       {F_REQ, CH_ID, CC_BUY_ID_MAX, out->req, 0},
    };
    for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
        int f = strs[k].f;
        if (!seen[f]) {
            if (strs[k].required)
                BAD("%s: missing", field_names[f]);
            continue;
        }
        if (take_str(val[f], strs[k].cls, strs[k].max, strs[k].dst, &why) < 0)
            BAD("%s: %s", field_names[f], why);
    }
    if (!seen[F_QTY]) {
        BAD("qty: missing");
    } else if (take_int(val[F_QTY], 1, CC_BUY_QTY_MAX, &out->qty) < 0) {
        show(val[F_QTY], shown, sizeof(shown));
        BAD("qty: must be an integer 1-%d, got '%s'", CC_BUY_QTY_MAX, shown);
    }
    if (!seen[F_PRICE]) {
        BAD("price: missing");
    } else if (take_int(val[F_PRICE], 0, CC_BUY_PRICE_MAX, &out->price) < 0) {
        show(val[F_PRICE], shown, sizeof(shown));
        BAD("price: must be an integer number of minor units (cents) 0-%lld, got '%s'", CC_BUY_PRICE_MAX, shown);
    }
    if (!seen[F_CURRENCY]) {
        BAD("currency: missing");
    } else {
        cc_iov_t c = val[F_CURRENCY];
        int ok = c.len == 3;
        for (size_t i = 0; ok && i < 3; i++)
            ok = c.base[i] >= 'A' && c.base[i] <= 'Z';
        if (ok) {
            memcpy(out->currency, c.base, 3);
            out->currency[3] = '\0';
        } else {
            show(c, shown, sizeof(shown));
            BAD("currency: must be an ISO 4217 code such as EUR, got '%s'", shown);
        }
    }
    if (!seen[F_TS]) {
        BAD("ts: missing");
    } else if (take_int(val[F_TS], 0, (int64_t)1 << 53, &out->ts) < 0) {
        show(val[F_TS], shown, sizeof(shown));
        BAD("ts: must be milliseconds since the epoch, got '%s'", shown);
    }
#undef BAD
    if (reason != NULL && reasonlen > 0)
        snprintf(reason, reasonlen, "%s", first);
    return first[0] ? CC_EINVAL : 0;
}

/* Splits the next tab-separated field off [*off, n); -1 once every field is taken. */
static int next_field(const char *s, size_t n, size_t *off, int *done, cc_iov_t *out)
{
    if (*done)
        return -1;
    const char *tab = memchr(s + *off, '\t', n - *off);
    size_t e = tab ? (size_t)(tab - s) : n;
    *out = cc_iov(s + *off, e - *off);
    if (tab)
        *off = e + 1;
    else
        *done = 1;
    return 0;
}

static int iov_int(cc_iov_t v, int64_t *out)
{
    int neg = v.len > 0 && v.base[0] == '-';
    cc_iov_t d = neg ? cc_iov(v.base + 1, v.len - 1) : v;
    int64_t x;
    if (d.len == 0 || d.len > 18)
        return -1;
    x = 0;
    for (size_t i = 0; i < d.len; i++) {
        if (d.base[i] < '0' || d.base[i] > '9')
            return -1;
        x = x * 10 + (d.base[i] - '0');
    }
    *out = neg ? -x : x;
    return 0;
}

int cc_buy_result_parse(const char *s, size_t n, cc_buy_result_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t off = 0;
    int done = 0;
    cc_iov_t f[8];
    if (s == NULL)
        return CC_EPROTO;
    for (int i = 0; i < 8; i++)
        if (next_field(s, n, &off, &done, &f[i]) < 0)
            return CC_EPROTO;
    if (!done) /* more than 8 fields */
        return CC_EPROTO;
    if (f[0].len != 1 || (f[0].base[0] != '0' && f[0].base[0] != '1'))
        return CC_EPROTO;
    out->is_new = f[0].base[0] == '1';
    out->status = f[1];
    if (!iov_eq(f[1], CC_BUY_CONFIRMED) && !iov_eq(f[1], CC_BUY_SOLD_OUT) && !iov_eq(f[1], CC_BUY_LIMIT) &&
        !iov_eq(f[1], CC_BUY_INVALID))
        return CC_EPROTO;
    out->order = f[2];
    out->reason = f[3];
    out->entry = f[6];
    if (iov_int(f[4], &out->stock) < 0 || iov_int(f[5], &out->version) < 0 || iov_int(f[7], &out->qty) < 0)
        return CC_EPROTO;
    if (iov_eq(f[1], CC_BUY_CONFIRMED) && f[2].len == 0)
        return CC_EPROTO;
    return 0;
}

int64_t cc_buy_commission(int64_t amount, int bp)
{
    if (amount <= 0 || bp <= 0)
        return 0;
    return (amount / 10000) * bp + (amount % 10000) * bp / 10000;
}

int cc_buy_parse_pct(const char *s, int *bp)
{
    int whole = 0, frac = 0, nfrac = 0, nwhole = 0;
    const char *p = s;
    if (s == NULL || *s == '\0')
        return CC_EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (++nwhole > 3)
            return CC_EINVAL;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (++nfrac > 2)
                return CC_EINVAL;
            frac = frac * 10 + (*p - '0');
        }
        if (nfrac == 0)
            return CC_EINVAL;
    }
    if (*p != '\0' || nwhole == 0)
        return CC_EINVAL;
    if (nfrac == 1)
        frac *= 10;
    int v = whole * 100 + frac;
    if (v > 10000)
        return CC_EINVAL;
    *bp = v;
    return 0;
}
