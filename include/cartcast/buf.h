/* The two buffer types of cartcast.
 *
 *  cc_iov_t    a borrowed view: pointer + length into memory someone else owns.
 *  cc_buf_t    a refcounted, immutable-once-shared block.  A media frame or part
 *              is written once into a cc_buf_t and every consumer takes a
 *              reference; nothing copies it per viewer.
 *  cc_dynbuf_t a growable buffer with a hard cap given at init (curl's dynbuf):
 *              appending past the cap fails with CC_ETOOBIG instead of growing.
 *
 * Refcounts are not atomic: a cc_buf_t belongs to one loop thread at a time.
 * Handing one to another thread (SRT -> loop) transfers the caller's reference. */
#ifndef CARTCAST_BUF_H
#define CARTCAST_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct cc_iov {
    const uint8_t *base;
    size_t len;
} cc_iov_t;

static inline cc_iov_t cc_iov(const void *base, size_t len)
{
    cc_iov_t v = {(const uint8_t *)base, len};
    return v;
}

typedef struct cc_buf {
    uint32_t refcnt;
    size_t len;
    uint8_t data[]; /* len bytes, allocated with the header */
} cc_buf_t;

/* A new buffer of len bytes (contents uninitialised), refcount 1; NULL when out of memory. */
cc_buf_t *cc_buf_new(size_t len);
/* A new buffer holding a copy of [data, data+len). */
cc_buf_t *cc_buf_from(const void *data, size_t len);
/* Take another reference; returns b for chaining.  NULL-safe. */
cc_buf_t *cc_buf_ref(cc_buf_t *b);
/* Drop a reference; the last one frees.  NULL-safe. */
void cc_buf_unref(cc_buf_t *b);

typedef struct cc_dynbuf {
    uint8_t *data;
    size_t len;
    size_t alloc;
    size_t limit; /* len never exceeds this */
} cc_dynbuf_t;

void cc_dynbuf_init(cc_dynbuf_t *d, size_t limit);
void cc_dynbuf_free(cc_dynbuf_t *d);
/* Forget the contents, keep the allocation. */
void cc_dynbuf_reset(cc_dynbuf_t *d);
/* 0, CC_ETOOBIG past the limit (d is unchanged), or CC_ENOMEM. */
int cc_dynbuf_append(cc_dynbuf_t *d, const void *data, size_t len);
int cc_dynbuf_appendf(cc_dynbuf_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Make sure len+extra fits (within the limit) so the caller can write in place. */
int cc_dynbuf_reserve(cc_dynbuf_t *d, size_t extra);
/* Move the contents into a new refcounted buffer and reset d. NULL on ENOMEM. */
cc_buf_t *cc_dynbuf_take(cc_dynbuf_t *d);

/* Big-endian readers/writers used by every wire format here. */
static inline uint16_t cc_rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t cc_rd24(const uint8_t *p) { return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2]; }
static inline uint32_t cc_rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void cc_wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void cc_wr24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 16); p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)v;
}
static inline void cc_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

#endif
