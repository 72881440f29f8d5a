#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/buf.h"
#include "cartcast/err.h"

cc_buf_t *cc_buf_new(size_t len)
{
    cc_buf_t *b = malloc(sizeof(*b) + len);
    if (b == NULL)
        return NULL;
    b->refcnt = 1;
    b->len = len;
    return b;
}

cc_buf_t *cc_buf_from(const void *data, size_t len)
{
    cc_buf_t *b = cc_buf_new(len);
    if (b != NULL && len > 0)
        memcpy(b->data, data, len);
    return b;
}

cc_buf_t *cc_buf_ref(cc_buf_t *b)
{
    if (b != NULL)
        b->refcnt++;
    return b;
}

void cc_buf_unref(cc_buf_t *b)
{
    if (b != NULL && --b->refcnt == 0)
        free(b);
}

void cc_dynbuf_init(cc_dynbuf_t *d, size_t limit)
{
    d->data = NULL;
    d->len = 0;
    d->alloc = 0;
    d->limit = limit;
}

void cc_dynbuf_free(cc_dynbuf_t *d)
{
    free(d->data);
    d->data = NULL;
    d->len = d->alloc = 0;
}

void cc_dynbuf_reset(cc_dynbuf_t *d)
{
    d->len = 0;
}

int cc_dynbuf_reserve(cc_dynbuf_t *d, size_t extra)
{
    if (extra > d->limit || d->len > d->limit - extra)
        return CC_ETOOBIG;
    size_t need = d->len + extra;
    if (need <= d->alloc)
        return 0;
    size_t alloc = d->alloc ? d->alloc : 256;
    while (alloc < need)
        alloc = alloc > d->limit / 2 ? d->limit : alloc * 2;
    uint8_t *p = realloc(d->data, alloc);
    if (p == NULL)
        return CC_ENOMEM;
    d->data = p;
    d->alloc = alloc;
    return 0;
}

int cc_dynbuf_append(cc_dynbuf_t *d, const void *data, size_t len)
{
    int r = cc_dynbuf_reserve(d, len);
    if (r < 0)
        return r;
    if (len > 0)
        memcpy(d->data + d->len, data, len);
    d->len += len;
    return 0;
}

int cc_dynbuf_appendf(cc_dynbuf_t *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CC_EINVAL;
    /* +1 for vsnprintf's NUL, which is written but not counted in len. */
    int r = cc_dynbuf_reserve(d, (size_t)n + 1);
    if (r < 0)
        return r;
    va_start(ap, fmt);
    vsnprintf((char *)d->data + d->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    d->len += (size_t)n;
    return 0;
}

cc_buf_t *cc_dynbuf_take(cc_dynbuf_t *d)
{
    cc_buf_t *b = cc_buf_from(d->data, d->len);
    if (b != NULL)
        cc_dynbuf_reset(d);
    return b;
}
