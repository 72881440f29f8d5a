/* SRT streamid -> stream key.  See streamid.h. */
#include "ingest/srt/streamid.h"

#include <string.h>

#include "cartcast/err.h"

const char *cc_srt_mode_name(cc_srt_mode_t mode)
{
    switch (mode) {
    case CC_SRT_MODE_PUBLISH:
        return "publish";
    case CC_SRT_MODE_REQUEST:
        return "request";
    default:
        return "other";
    }
}

static int span_eq(const char *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(p, lit, n) == 0;
}

static int span_starts(const char *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len >= n && memcmp(p, lit, n) == 0;
}

static int fail(cc_srt_streamid_t *out, int rc)
{
    memset(out->key, 0, sizeof(out->key));
    out->key_len = 0;
    return rc;
}

/* A resource: "live/KEY" or "KEY". */
static int take_resource(const char *r, size_t len, cc_srt_streamid_t *out)
{
    if (span_starts(r, len, "live/")) {
        r += 5;
        len -= 5;
    }
    if (len == 0)
        return CC_EPROTO;
    if (len > CC_AUTH_KEY_MAX)
        return CC_ETOOBIG;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)r[i];
        if (c <= 0x20 || c >= 0x7f) /* the key alphabet of ingest/auth.h */
            return CC_EPROTO;
    }
    memcpy(out->key, r, len);
    out->key[len] = '\0';
    out->key_len = len;
    return 0;
}

static cc_srt_mode_t mode_of(const char *m, size_t len)
{
    if (span_eq(m, len, "publish"))
        return CC_SRT_MODE_PUBLISH;
    if (span_eq(m, len, "request"))
        return CC_SRT_MODE_REQUEST;
    return CC_SRT_MODE_OTHER;
}

/* "#!::k=v,k=v" after the prefix. */
static int parse_keyed(const char *p, size_t len, cc_srt_streamid_t *out)
{
    const char *res = NULL, *mode = NULL;
    size_t res_len = 0, mode_len = 0;
    unsigned seen = 0;
    size_t i = 0;
    if (len == 0)
        return CC_EPROTO;
    while (i <= len) {
        size_t start = i;
        while (i < len && p[i] != ',')
            i++;
        const char *item = p + start;
        size_t ilen = i - start;
        i++; /* past the comma (or the end) */
        const char *eq = memchr(item, '=', ilen);
        if (!eq || eq == item || eq == item + ilen - 1)
            return CC_EPROTO; /* "k", "=v", "k=" */
        size_t klen = (size_t)(eq - item);
        const char *v = eq + 1;
        size_t vlen = ilen - klen - 1;
        unsigned bit;
        if (klen != 1)
            return CC_EPROTO;
        switch (item[0]) {
        case 'r': bit = 1; res = v; res_len = vlen; break;
        case 'm': bit = 2; mode = v; mode_len = vlen; break;
        case 't': bit = 4; if (!span_eq(v, vlen, "stream")) return CC_EPROTO; break;
        case 'u': bit = 8; break;
        case 's': bit = 16; break;
        case 'h': bit = 32; break;
        default: return CC_EPROTO;
        }
        if (seen & bit)
            return CC_EPROTO;
        seen |= bit;
    }
    out->mode = mode ? mode_of(mode, mode_len) : CC_SRT_MODE_PUBLISH;
    if (out->mode != CC_SRT_MODE_PUBLISH)
        return CC_EUNSUPPORTED;
    if (!res)
        return CC_EPROTO;
    return take_resource(res, res_len, out);
}

int cc_srt_streamid_parse(const char *sid, size_t len, cc_srt_streamid_t *out)
{
    if (!out)
        return CC_EINVAL;
    out->mode = CC_SRT_MODE_PUBLISH;
    if (!sid)
        return fail(out, CC_EINVAL);
    if (len > CC_SRT_STREAMID_MAX)
        return fail(out, CC_ETOOBIG);
    if (len == 0 || memchr(sid, '\0', len))
        return fail(out, CC_EPROTO);
    int rc;
    if (span_starts(sid, len, "#!::"))
        rc = parse_keyed(sid + 4, len - 4, out);
    else if (span_starts(sid, len, "publish:"))
        rc = take_resource(sid + 8, len - 8, out);
    else if (span_starts(sid, len, "play:") || span_starts(sid, len, "request:")) {
        out->mode = CC_SRT_MODE_REQUEST;
        rc = CC_EUNSUPPORTED;
    } else if (span_starts(sid, len, "#!")) {
        rc = CC_EPROTO; /* "#!" starts the keyed syntax; anything but "#!::" is a typo */
    } else
        rc = take_resource(sid, len, out);
    return rc < 0 ? fail(out, rc) : 0;
}
