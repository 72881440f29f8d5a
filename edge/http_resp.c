/* HTTP/1.x response head and body parsing (RFC 9112).  See http_resp.h. */
#include <string.h>
#include <strings.h>

#include "cartcast/err.h"
#include "edge/http_resp.h"

/* ---- head ---- */

static bool is_tchar(uint8_t c)
{
    /* RFC 9110 5.6.2 token characters */
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool iov_ieq(cc_iov_t v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && strncasecmp((const char *)v.base, s, n) == 0;
}

/* Finds the end of the head: the first empty line (CRLF CRLF, or a bare LF
 * line end as RFC 9112 2.2 lets a recipient accept).  Returns the offset just
 * past it, or 0. */
static size_t head_end(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* One line [p, end) without its line ending; advances *pos past the ending. */
static cc_iov_t next_line(const uint8_t *buf, size_t end, size_t *pos)
{
    size_t s = *pos, e = s;
    while (e < end && buf[e] != '\n')
        e++;
    *pos = e < end ? e + 1 : end;
    if (e > s && buf[e - 1] == '\r')
        e--;
    return cc_iov(buf + s, e - s);
}

/* Comma-separated tokens: does the list hold tok (case-insensitive)?  last:
 * only the final element counts (Transfer-Encoding). */
static bool list_has(cc_iov_t v, const char *tok, bool last)
{
    const uint8_t *p = v.base, *end = v.base + v.len;
    bool found = false;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const uint8_t *s = p;
        while (p < end && *p != ',')
            p++;
        const uint8_t *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e == s)
            continue;
        bool eq = iov_ieq(cc_iov(s, (size_t)(e - s)), tok);
        if (last)
            found = eq;
        else if (eq)
            return true;
    }
    return found;
}

/* Digits only, up to 18 of them (fits int64). */
static int parse_uint(cc_iov_t v, int64_t *out)
{
    if (v.len == 0 || v.len > 18)
        return CC_EPROTO;
    int64_t x = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.base[i] < '0' || v.base[i] > '9')
            return CC_EPROTO;
        x = x * 10 + (v.base[i] - '0');
    }
    *out = x;
    return 0;
}

int cc_http_resp_parse_head(const uint8_t *buf, size_t len, size_t max, cc_http_resp_t *out)
{
    size_t end = head_end(buf, len < max ? len : max);
    if (end == 0)
        return len >= max ? CC_ETOOBIG : CC_EAGAIN;
    memset(out, 0, sizeof(*out));
    out->content_length = -1;
    out->age = -1;

    size_t pos = 0;
    cc_iov_t line = next_line(buf, end, &pos);
    /* status-line = HTTP-version SP status-code SP [ reason-phrase ] */
    const uint8_t *l = line.base;
    if (line.len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' || l[8] != ' ')
        return CC_EPROTO;
    out->minor_version = l[7] - '0';
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (l[i] < '0' || l[i] > '9')
            return CC_EPROTO;
        status = status * 10 + (l[i] - '0');
    }
    if (status < 100)
        return CC_EPROTO;
    out->status = status;
    if (line.len > 12) {
        if (l[12] != ' ')
            return CC_EPROTO;
        out->reason = cc_iov(l + 13, line.len - 13);
    }

    bool te = false, keep_alive = false;
    while (pos < end) {
        line = next_line(buf, end, &pos);
        if (line.len == 0)
            break; /* the empty line */
        size_t colon = 0;
        while (colon < line.len && is_tchar(line.base[colon]))
            colon++;
        /* No obs-fold, no whitespace before the colon (RFC 9112 5.1, 5.2). */
        if (colon == 0 || colon >= line.len || line.base[colon] != ':')
            return CC_EPROTO;
        size_t vs = colon + 1, ve = line.len;
        while (vs < ve && (line.base[vs] == ' ' || line.base[vs] == '\t'))
            vs++;
        while (ve > vs && (line.base[ve - 1] == ' ' || line.base[ve - 1] == '\t'))
            ve--;
        for (size_t i = vs; i < ve; i++)
            if ((line.base[i] < 0x20 && line.base[i] != '\t') || line.base[i] == 0x7f)
                return CC_EPROTO;
        if (out->nheaders >= CC_HTTP_RESP_MAX_HEADERS)
            return CC_ETOOBIG;
        cc_http_field_t *f = &out->headers[out->nheaders++];
        f->name = cc_iov(line.base, colon);
        f->value = cc_iov(line.base + vs, ve - vs);

        if (iov_ieq(f->name, "content-length")) {
            int64_t v;
            if (parse_uint(f->value, &v) < 0)
                return CC_EPROTO;
            /* Several Content-Length fields must agree (RFC 9112 6.3). */
            if (out->content_length >= 0 && out->content_length != v)
                return CC_EPROTO;
            out->content_length = v;
        } else if (iov_ieq(f->name, "transfer-encoding")) {
            te = true;
            out->chunked = list_has(f->value, "chunked", true);
        } else if (iov_ieq(f->name, "connection")) {
            if (list_has(f->value, "close", false))
                out->conn_close = true;
            if (list_has(f->value, "keep-alive", false))
                keep_alive = true;
        } else if (iov_ieq(f->name, "age")) {
            /* delta-seconds; too large saturates at 2^31 (RFC 9111 1.2.2). */
            int64_t v;
            if (f->value.len > 10 && parse_uint(cc_iov(f->value.base, 10), &v) == 0) {
                bool digits = true;
                for (size_t i = 10; i < f->value.len; i++)
                    digits = digits && f->value.base[i] >= '0' && f->value.base[i] <= '9';
                out->age = digits ? 2147483648LL : -1;
            } else if (parse_uint(f->value, &v) == 0) {
                out->age = v > 2147483648LL ? 2147483648LL : v;
            }
        }
    }
    if (te) {
        /* Transfer-Encoding overrides Content-Length (RFC 9112 6.3 item 3);
         * without chunked last, the body runs to the close. */
        out->content_length = -1;
        if (!out->chunked)
            out->conn_close = true;
    }
    if (out->minor_version == 0 && !keep_alive)
        out->conn_close = true;
    return (int)end;
}

cc_iov_t cc_http_resp_header(const cc_http_resp_t *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (iov_ieq(r->headers[i].name, name))
            return r->headers[i].value;
    return cc_iov(NULL, 0);
}

/* ---- body ---- */

enum {
    CH_SIZE,        /* hex digits of chunk-size */
    CH_EXT,         /* after the digits: BWS, chunk extensions, up to the line end */
    CH_SIZE_LF,     /* CR seen, LF expected */
    CH_DATA,
    CH_DATA_CR,     /* CRLF after the chunk's data */
    CH_DATA_LF,
    CH_TRAILER_BOL, /* start of a trailer line (or of the final empty line) */
    CH_TRAILER,     /* inside a trailer field line */
    CH_END_LF,      /* CR of the final empty line seen */
};

int cc_http_body_init(cc_http_body_t *b, const cc_http_resp_t *resp, bool head_request, uint64_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
    /* RFC 9112 6.3 item 1: no body whatever the fields say. */
    if (head_request || (resp->status >= 100 && resp->status < 200) || resp->status == 204 || resp->status == 304) {
        b->mode = CC_HTTP_BODY_NONE;
        b->done = true;
        return 0;
    }
    if (resp->chunked) {
        b->mode = CC_HTTP_BODY_CHUNKED;
        b->state = CH_SIZE;
        return 0;
    }
    if (resp->content_length >= 0) {
        if ((uint64_t)resp->content_length > max)
            return CC_ETOOBIG;
        b->mode = CC_HTTP_BODY_LENGTH;
        b->remaining = (uint64_t)resp->content_length;
        b->done = b->remaining == 0;
        return 0;
    }
    b->mode = CC_HTTP_BODY_EOF;
    return 0;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cc_http_body_parse(cc_http_body_t *b, const uint8_t *in, size_t len, cc_iov_t *data)
{
    *data = cc_iov(in, 0);
    if (len > INT32_MAX)
        return CC_EINVAL;
    if (b->done || len == 0)
        return 0;
    switch (b->mode) {
    case CC_HTTP_BODY_NONE:
        return 0;
    case CC_HTTP_BODY_LENGTH: {
        size_t n = len < b->remaining ? len : (size_t)b->remaining;
        *data = cc_iov(in, n);
        b->remaining -= n;
        b->total += n;
        b->done = b->remaining == 0;
        return (int)n;
    }
    case CC_HTTP_BODY_EOF:
        if (b->total + len > b->max)
            return CC_ETOOBIG;
        *data = cc_iov(in, len);
        b->total += len;
        return (int)len;
    case CC_HTTP_BODY_CHUNKED:
        break;
    }

    size_t i = 0;
    while (i < len && !b->done) {
        uint8_t c = in[i];
        switch (b->state) {
        case CH_SIZE: {
            int v = hexval(c);
            if (v >= 0) {
                /* 15 hex digits = 60 bits: no overflow below. */
                if (++b->digits > 15)
                    return CC_ETOOBIG;
                b->remaining = b->remaining * 16 + (uint64_t)v;
                if (b->total + b->remaining > b->max)
                    return CC_ETOOBIG;
                i++;
                break;
            }
            if (b->digits == 0)
                return CC_EPROTO;
            if (c == ';' || c == ' ' || c == '\t') {
                b->state = CH_EXT;
                b->side = 0;
                i++;
            } else if (c == '\r') {
                b->state = CH_SIZE_LF;
                i++;
            } else if (c == '\n') {
                i++;
                goto size_line_done;
            } else {
                return CC_EPROTO;
            }
            break;
        }
        case CH_EXT:
            if (c == '\r') {
                b->state = CH_SIZE_LF;
            } else if (c == '\n') {
                i++;
                goto size_line_done;
            } else if (++b->side > CC_HTTP_CHUNK_EXT_MAX || (c < 0x20 && c != '\t') || c == 0x7f) {
                return b->side > CC_HTTP_CHUNK_EXT_MAX ? CC_ETOOBIG : CC_EPROTO;
            }
            i++;
            break;
        case CH_SIZE_LF:
            if (c != '\n')
                return CC_EPROTO;
            i++;
        size_line_done:
            b->digits = 0;
            if (b->remaining == 0) {
                b->state = CH_TRAILER_BOL;
                b->side = 0;
            } else {
                b->state = CH_DATA;
            }
            break;
        case CH_DATA: {
            size_t n = len - i < b->remaining ? len - i : (size_t)b->remaining;
            *data = cc_iov(in + i, n);
            b->remaining -= n;
            b->total += n;
            if (b->remaining == 0)
                b->state = CH_DATA_CR;
            return (int)(i + n);
        }
        case CH_DATA_CR:
            if (c == '\r')
                b->state = CH_DATA_LF;
            else if (c == '\n')
                b->state = CH_SIZE;
            else
                return CC_EPROTO;
            i++;
            break;
        case CH_DATA_LF:
            if (c != '\n')
                return CC_EPROTO;
            b->state = CH_SIZE;
            i++;
            break;
        case CH_TRAILER_BOL:
            if (c == '\r') {
                b->state = CH_END_LF;
            } else if (c == '\n') {
                b->done = true;
            } else {
                if (++b->side > CC_HTTP_TRAILER_MAX)
                    return CC_ETOOBIG;
                b->state = CH_TRAILER;
            }
            i++;
            break;
        case CH_TRAILER:
            if (++b->side > CC_HTTP_TRAILER_MAX)
                return CC_ETOOBIG;
            if (c == '\n')
                b->state = CH_TRAILER_BOL;
            i++;
            break;
        case CH_END_LF:
            if (c != '\n')
                return CC_EPROTO;
            b->done = true;
            i++;
            break;
        default:
            return CC_EPROTO;
        }
    }
    return (int)i;
}

int cc_http_body_eof(cc_http_body_t *b)
{
    if (b->done)
        return 0;
    if (b->mode == CC_HTTP_BODY_EOF) {
        b->done = true;
        return 0;
    }
    return CC_EPROTO;
}
