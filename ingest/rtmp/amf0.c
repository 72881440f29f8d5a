/* AMF0 decoder and encoder.  See amf0.h. */
#include "ingest/rtmp/amf0.h"

#include <string.h>

#include "cartcast/err.h"

void cc_amf0_limits_default(cc_amf0_limits_t *lim)
{
    lim->max_depth = CC_AMF0_MAX_DEPTH;
    lim->max_string = 64 * 1024;
    lim->max_elements = 1024;
}

void cc_amf0_arena_init(cc_amf0_arena_t *a, cc_amf0_value_t *slots, uint32_t cap, const cc_amf0_limits_t *lim)
{
    a->slots = slots;
    a->cap = cap;
    a->used = 0;
    if (lim)
        a->lim = *lim;
    else
        cc_amf0_limits_default(&a->lim);
    if (a->lim.max_depth > CC_AMF0_MAX_DEPTH)
        a->lim.max_depth = CC_AMF0_MAX_DEPTH;
}

void cc_amf0_arena_reset(cc_amf0_arena_t *a) { a->used = 0; }

static double rd_double(const uint8_t *p)
{
    uint64_t u = ((uint64_t)cc_rd32(p) << 32) | cc_rd32(p + 4);
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

/* A key or a string body: n-byte length then the bytes. */
static int rd_str(const cc_amf0_arena_t *a, const uint8_t *p, size_t len, size_t *off, int lenbytes, const char **s,
                  uint32_t *slen)
{
    if (len - *off < (size_t)lenbytes)
        return CC_EAGAIN;
    uint32_t n = lenbytes == 2 ? cc_rd16(p + *off) : cc_rd32(p + *off);
    if (n > a->lim.max_string)
        return CC_ETOOBIG;
    if (len - *off - (size_t)lenbytes < n)
        return CC_EAGAIN;
    *s = (const char *)p + *off + lenbytes;
    *slen = n;
    *off += (size_t)lenbytes + n;
    return 0;
}

static int decode(cc_amf0_arena_t *a, const uint8_t *p, size_t len, size_t *off, uint32_t depth, cc_amf0_value_t **out);

/* Members of an object / ECMA array until the empty key + object-end marker. */
static int decode_members(cc_amf0_arena_t *a, const uint8_t *p, size_t len, size_t *off, uint32_t depth,
                          cc_amf0_value_t *parent)
{
    cc_amf0_value_t **tail = &parent->child;
    for (;;) {
        const char *key;
        uint32_t klen;
        int rc = rd_str(a, p, len, off, 2, &key, &klen);
        if (rc < 0)
            return rc;
        if (klen == 0) {
            if (*off == len)
                return CC_EAGAIN;
            if (p[*off] == CC_AMF0_OBJECT_END) {
                (*off)++;
                return 0;
            }
            /* An empty key with a value is legal AMF0; keep going. */
        }
        if (parent->count >= a->lim.max_elements)
            return CC_ETOOBIG;
        cc_amf0_value_t *v;
        rc = decode(a, p, len, off, depth, &v);
        if (rc < 0)
            return rc;
        v->key = key;
        v->key_len = klen;
        *tail = v;
        tail = &v->next;
        parent->count++;
    }
}

static int decode(cc_amf0_arena_t *a, const uint8_t *p, size_t len, size_t *off, uint32_t depth, cc_amf0_value_t **out)
{
    if (*off == len)
        return CC_EAGAIN;
    uint8_t type = p[*off];
    if (a->used == a->cap)
        return CC_ELIMIT;
    cc_amf0_value_t *v = &a->slots[a->used++];
    memset(v, 0, sizeof(*v));
    v->type = (cc_amf0_type_t)type;
    *out = v;
    size_t o = *off + 1;
    int rc;
    switch (type) {
    case CC_AMF0_NUMBER:
        if (len - o < 8)
            return CC_EAGAIN;
        v->u.number = rd_double(p + o);
        o += 8;
        break;
    case CC_AMF0_BOOLEAN:
        if (len - o < 1)
            return CC_EAGAIN;
        v->u.boolean = p[o] != 0;
        o += 1;
        break;
    case CC_AMF0_STRING:
    case CC_AMF0_LONG_STRING:
        rc = rd_str(a, p, len, &o, type == CC_AMF0_STRING ? 2 : 4, &v->u.str.ptr, &v->u.str.len);
        if (rc < 0)
            return rc;
        break;
    case CC_AMF0_NULL:
    case CC_AMF0_UNDEFINED:
        break;
    case CC_AMF0_DATE:
        if (len - o < 10)
            return CC_EAGAIN;
        v->u.number = rd_double(p + o);
        v->tz = (int16_t)cc_rd16(p + o + 8);
        o += 10;
        break;
    case CC_AMF0_OBJECT:
    case CC_AMF0_ECMA_ARRAY:
    case CC_AMF0_STRICT_ARRAY:
        if (depth >= a->lim.max_depth)
            return CC_EDEPTH;
        if (type == CC_AMF0_OBJECT) {
            rc = decode_members(a, p, len, &o, depth + 1, v);
        } else {
            if (len - o < 4)
                return CC_EAGAIN;
            /* The count is a hint for ECMA arrays and a promise for strict
             * ones; either way it only bounds a loop, never an allocation. */
            uint32_t count = cc_rd32(p + o);
            o += 4;
            if (type == CC_AMF0_ECMA_ARRAY) {
                rc = decode_members(a, p, len, &o, depth + 1, v);
            } else {
                if (count > a->lim.max_elements)
                    return CC_ETOOBIG;
                rc = 0;
                cc_amf0_value_t **tail = &v->child;
                for (uint32_t i = 0; i < count && rc == 0; i++) {
                    cc_amf0_value_t *e;
                    rc = decode(a, p, len, &o, depth + 1, &e);
                    if (rc == 0) {
                        *tail = e;
                        tail = &e->next;
                        v->count++;
                    }
                }
            }
        }
        if (rc < 0)
            return rc;
        break;
    case CC_AMF0_OBJECT_END:
        return CC_EPROTO;
    default:
        /* 0x04 movieclip, 0x07 reference, 0x0D unsupported, 0x0E recordset,
         * 0x0F XML, 0x10 typed object, 0x11 AVM+: not in encoder commands. */
        return type <= 0x11 ? CC_EUNSUPPORTED : CC_EPROTO;
    }
    *off = o;
    return 0;
}

int cc_amf0_decode(cc_amf0_arena_t *a, const uint8_t *p, size_t len, cc_amf0_value_t **out)
{
    size_t off = 0;
    uint32_t mark = a->used;
    int rc = decode(a, p, len, &off, 0, out);
    if (rc < 0) {
        a->used = mark; /* a failed decode leaves nothing behind */
        *out = NULL;
        return rc;
    }
    return (int)off;
}

int cc_amf0_decode_all(cc_amf0_arena_t *a, const uint8_t *p, size_t len, cc_amf0_value_t **vals, size_t max, size_t *n)
{
    size_t off = 0;
    *n = 0;
    while (off < len && *n < max) {
        cc_amf0_value_t *v;
        int rc = cc_amf0_decode(a, p + off, len - off, &v);
        if (rc < 0)
            return rc;
        vals[(*n)++] = v;
        off += (size_t)rc;
    }
    return (int)off;
}

const cc_amf0_value_t *cc_amf0_get(const cc_amf0_value_t *obj, const char *key)
{
    if (!obj || (obj->type != CC_AMF0_OBJECT && obj->type != CC_AMF0_ECMA_ARRAY))
        return NULL;
    size_t klen = strlen(key);
    for (const cc_amf0_value_t *v = obj->child; v; v = v->next)
        if (v->key && v->key_len == klen && memcmp(v->key, key, klen) == 0)
            return v;
    return NULL;
}

bool cc_amf0_is_string(const cc_amf0_value_t *v)
{
    return v && (v->type == CC_AMF0_STRING || v->type == CC_AMF0_LONG_STRING);
}

bool cc_amf0_str_eq(const cc_amf0_value_t *v, const char *s)
{
    if (!cc_amf0_is_string(v))
        return false;
    size_t n = strlen(s);
    return v->u.str.len == n && (n == 0 || memcmp(v->u.str.ptr, s, n) == 0);
}

int cc_amf0_str_copy(const cc_amf0_value_t *v, char *out, size_t outlen)
{
    if (outlen)
        out[0] = '\0';
    if (!cc_amf0_is_string(v))
        return CC_EINVAL;
    if (v->u.str.len >= outlen)
        return CC_ETOOBIG;
    if (v->u.str.len)
        memcpy(out, v->u.str.ptr, v->u.str.len);
    out[v->u.str.len] = '\0';
    return 0;
}

double cc_amf0_num(const cc_amf0_value_t *v, double def)
{
    return v && v->type == CC_AMF0_NUMBER ? v->u.number : def;
}

/* Encoder */

static void put(cc_amf0_writer_t *w, const void *p, size_t n)
{
    if (w->err == 0)
        w->err = cc_dynbuf_append(w->out, p, n);
}

static void put_u8(cc_amf0_writer_t *w, uint8_t b) { put(w, &b, 1); }

static void put_double(cc_amf0_writer_t *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    uint8_t b[8];
    cc_wr32(b, (uint32_t)(u >> 32));
    cc_wr32(b + 4, (uint32_t)u);
    put(w, b, 8);
}

void cc_amf0_put_number(cc_amf0_writer_t *w, double v)
{
    put_u8(w, CC_AMF0_NUMBER);
    put_double(w, v);
}

void cc_amf0_put_bool(cc_amf0_writer_t *w, bool v)
{
    uint8_t b[2] = {CC_AMF0_BOOLEAN, v ? 1 : 0};
    put(w, b, 2);
}

void cc_amf0_put_stringn(cc_amf0_writer_t *w, const char *s, size_t len)
{
    uint8_t h[5];
    if (len > UINT32_MAX) {
        if (w->err == 0)
            w->err = CC_ETOOBIG;
        return;
    }
    if (len <= 0xFFFF) {
        h[0] = CC_AMF0_STRING;
        cc_wr16(h + 1, (uint16_t)len);
        put(w, h, 3);
    } else {
        h[0] = CC_AMF0_LONG_STRING;
        cc_wr32(h + 1, (uint32_t)len);
        put(w, h, 5);
    }
    if (len)
        put(w, s, len);
}

void cc_amf0_put_string(cc_amf0_writer_t *w, const char *s) { cc_amf0_put_stringn(w, s, strlen(s)); }
void cc_amf0_put_null(cc_amf0_writer_t *w) { put_u8(w, CC_AMF0_NULL); }
void cc_amf0_put_undefined(cc_amf0_writer_t *w) { put_u8(w, CC_AMF0_UNDEFINED); }
void cc_amf0_put_object_start(cc_amf0_writer_t *w) { put_u8(w, CC_AMF0_OBJECT); }

void cc_amf0_put_ecma_start(cc_amf0_writer_t *w, uint32_t count)
{
    uint8_t h[5] = {CC_AMF0_ECMA_ARRAY};
    cc_wr32(h + 1, count);
    put(w, h, 5);
}

static void put_keyn(cc_amf0_writer_t *w, const char *key, size_t n)
{
    uint8_t h[2];
    if (n > 0xFFFF) {
        if (w->err == 0)
            w->err = CC_ETOOBIG;
        return;
    }
    cc_wr16(h, (uint16_t)n);
    put(w, h, 2);
    if (n)
        put(w, key, n);
}

void cc_amf0_put_key(cc_amf0_writer_t *w, const char *key) { put_keyn(w, key, strlen(key)); }

void cc_amf0_put_object_end(cc_amf0_writer_t *w)
{
    static const uint8_t end[3] = {0, 0, CC_AMF0_OBJECT_END};
    put(w, end, 3);
}

void cc_amf0_put_value(cc_amf0_writer_t *w, const cc_amf0_value_t *v)
{
    switch (v->type) {
    case CC_AMF0_NUMBER:
        cc_amf0_put_number(w, v->u.number);
        break;
    case CC_AMF0_BOOLEAN:
        cc_amf0_put_bool(w, v->u.boolean);
        break;
    case CC_AMF0_STRING:
    case CC_AMF0_LONG_STRING: {
        /* Keep the wire type so a round trip is byte-exact. */
        uint8_t h[5];
        h[0] = (uint8_t)v->type;
        if (v->type == CC_AMF0_STRING) {
            cc_wr16(h + 1, (uint16_t)v->u.str.len);
            put(w, h, 3);
        } else {
            cc_wr32(h + 1, v->u.str.len);
            put(w, h, 5);
        }
        if (v->u.str.len)
            put(w, v->u.str.ptr, v->u.str.len);
        break;
    }
    case CC_AMF0_NULL:
    case CC_AMF0_UNDEFINED:
        put_u8(w, (uint8_t)v->type);
        break;
    case CC_AMF0_DATE: {
        put_u8(w, CC_AMF0_DATE);
        put_double(w, v->u.number);
        uint8_t tz[2];
        cc_wr16(tz, (uint16_t)v->tz);
        put(w, tz, 2);
        break;
    }
    case CC_AMF0_OBJECT:
    case CC_AMF0_ECMA_ARRAY:
        if (v->type == CC_AMF0_OBJECT)
            cc_amf0_put_object_start(w);
        else
            cc_amf0_put_ecma_start(w, v->count);
        for (const cc_amf0_value_t *c = v->child; c; c = c->next) {
            put_keyn(w, c->key ? c->key : "", c->key_len);
            cc_amf0_put_value(w, c);
        }
        cc_amf0_put_object_end(w);
        break;
    case CC_AMF0_STRICT_ARRAY: {
        uint8_t h[5] = {CC_AMF0_STRICT_ARRAY};
        cc_wr32(h + 1, v->count);
        put(w, h, 5);
        for (const cc_amf0_value_t *c = v->child; c; c = c->next)
            cc_amf0_put_value(w, c);
        break;
    }
    default:
        if (w->err == 0)
            w->err = CC_EINVAL;
        break;
    }
}
