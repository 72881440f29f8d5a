/* Test helpers for the RTMP ingest: a scripted publisher that builds the
 * client side of a connection (handshake, commands, media) as bytes, and a
 * reader for what the server sends back.  Shared by the unit tests and the
 * fuzz harnesses; header-only so each test stays one .c file. */
#ifndef CARTCAST_TESTS_RTMP_TESTLIB_H
#define CARTCAST_TESTS_RTMP_TESTLIB_H

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/buf.h"
#include "cartcast/err.h"
#include "ingest/rtmp/amf0.h"
#include "ingest/rtmp/chunk.h"
#include "ingest/rtmp/handshake.h"

/* From ffmpeg -pix_fmt yuv420p testsrc 320x240 (High profile, 4-byte NAL lengths). */
static const uint8_t tl_avc_seq[] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00,
    0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
    0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60, 0x01, 0x00, 0x04, 0x68, 0xef, 0x8f, 0xcb, 0xfd, 0xf8, 0xf8,
    0x00,
};
/* AAC-LC 44.1 kHz mono AudioSpecificConfig behind the FLV audio header. */
static const uint8_t tl_aac_seq[] = {0xaf, 0x00, 0x12, 0x08, 0x56, 0xe5, 0x00};

typedef struct tl_client {
    cc_dynbuf_t out;
    uint32_t chunk_size; /* what we chunk our messages at */
    double txid;
} tl_client_t;

static inline void tl_init(tl_client_t *c)
{
    cc_dynbuf_init(&c->out, 64 * 1024 * 1024);
    c->chunk_size = 128;
    c->txid = 1;
}

static inline void tl_free(tl_client_t *c) { cc_dynbuf_free(&c->out); }

/* C0 C1 (with a Flash Player digest at scheme 0/1 when digest >= 0) then C2. */
static inline void tl_handshake(tl_client_t *c, int digest_scheme)
{
    uint8_t c1[CC_RTMP_HANDSHAKE_SIZE];
    for (int i = 0; i < CC_RTMP_HANDSHAKE_SIZE; i++)
        c1[i] = (uint8_t)(i * 7 + 3);
    memset(c1, 0, 4);
    if (digest_scheme >= 0) {
        static const uint8_t ver[4] = {9, 0, 124, 2}; /* what ffmpeg sends */
        memcpy(c1 + 4, ver, 4);
        cc_rtmp_handshake_imprint(c1, digest_scheme, cc_rtmp_fp_key, 30);
    } else {
        memset(c1 + 4, 0, 4);
    }
    uint8_t c0 = 3;
    cc_dynbuf_append(&c->out, &c0, 1);
    cc_dynbuf_append(&c->out, c1, sizeof(c1));
    uint8_t c2[CC_RTMP_HANDSHAKE_SIZE] = {0};
    cc_dynbuf_append(&c->out, c2, sizeof(c2));
}

static inline void tl_msg(tl_client_t *c, uint32_t csid, uint8_t type, uint32_t msid, uint32_t ts, const void *body,
                          size_t len)
{
    cc_rtmp_chunk_write(&c->out, c->chunk_size, csid, type, msid, ts, body, (uint32_t)len);
}

static inline void tl_set_chunk_size(tl_client_t *c, uint32_t size)
{
    uint8_t b[4];
    cc_wr32(b, size);
    tl_msg(c, 2, CC_RTMP_MSG_SET_CHUNK_SIZE, 0, 0, b, 4);
    c->chunk_size = size;
}

/* An AMF0 command.  fmt letters after the name: n number, s string, o
 * (object: key/type pairs until NULL key: "s" string, "n" number), z null. */
static inline void tl_command(tl_client_t *c, uint32_t msid, const char *name, const char *fmt, ...)
{
    cc_dynbuf_t b;
    cc_dynbuf_init(&b, 65536);
    cc_amf0_writer_t w = {&b, 0};
    cc_amf0_put_string(&w, name);
    cc_amf0_put_number(&w, c->txid++);
    va_list ap;
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++) {
        if (*f == 'n') {
            cc_amf0_put_number(&w, va_arg(ap, double));
        } else if (*f == 's') {
            cc_amf0_put_string(&w, va_arg(ap, const char *));
        } else if (*f == 'z') {
            cc_amf0_put_null(&w);
        } else if (*f == 'o') {
            cc_amf0_put_object_start(&w);
            for (;;) {
                const char *k = va_arg(ap, const char *);
                if (!k)
                    break;
                const char *t = va_arg(ap, const char *);
                cc_amf0_put_key(&w, k);
                if (t[0] == 's')
                    cc_amf0_put_string(&w, va_arg(ap, const char *));
                else
                    cc_amf0_put_number(&w, va_arg(ap, double));
            }
            cc_amf0_put_object_end(&w);
        }
    }
    va_end(ap);
    tl_msg(c, msid ? 8 : 3, CC_RTMP_MSG_COMMAND_AMF0, msid, 0, b.data, b.len);
    cc_dynbuf_free(&b);
}

static inline void tl_metadata(tl_client_t *c, uint32_t msid, double w_, double h_, double fps)
{
    cc_dynbuf_t b;
    cc_dynbuf_init(&b, 65536);
    cc_amf0_writer_t w = {&b, 0};
    cc_amf0_put_string(&w, "@setDataFrame");
    cc_amf0_put_string(&w, "onMetaData");
    cc_amf0_put_ecma_start(&w, 4);
    cc_amf0_put_key(&w, "width");
    cc_amf0_put_number(&w, w_);
    cc_amf0_put_key(&w, "height");
    cc_amf0_put_number(&w, h_);
    cc_amf0_put_key(&w, "framerate");
    cc_amf0_put_number(&w, fps);
    cc_amf0_put_key(&w, "encoder");
    cc_amf0_put_string(&w, "cartcast-test");
    cc_amf0_put_object_end(&w);
    tl_msg(c, 4, CC_RTMP_MSG_DATA_AMF0, msid, 0, b.data, b.len);
    cc_dynbuf_free(&b);
}

/* The usual publisher preamble: chunk size, connect, releaseStream,
 * FCPublish, createStream, publish(key) on stream 1. */
static inline void tl_publish_preamble(tl_client_t *c, const char *app, const char *key)
{
    tl_set_chunk_size(c, 4096);
    tl_command(c, 0, "connect", "o", "app", "s", app, "type", "s", "nonprivate", "flashVer", "s",
               "FMLE/3.0 (compatible; FMSc/1.0)", "tcUrl", "s", "rtmp://127.0.0.1:1935/live", (const char *)NULL);
    tl_command(c, 0, "releaseStream", "zs", key);
    tl_command(c, 0, "FCPublish", "zs", key);
    tl_command(c, 0, "createStream", "z");
    tl_command(c, 1, "publish", "zss", key, "live");
}

/* A video frame: FLV AVC header + one length-prefixed NAL of n bytes. */
static inline void tl_video(tl_client_t *c, uint32_t ts, int key, int32_t cts, size_t n, uint8_t fill)
{
    uint8_t *b = malloc(9 + n);
    b[0] = key ? 0x17 : 0x27;
    b[1] = 1;
    cc_wr24(b + 2, (uint32_t)cts & 0xFFFFFF);
    cc_wr32(b + 5, (uint32_t)n);
    memset(b + 9, fill, n);
    if (n)
        b[9] = key ? 0x65 : 0x41;
    tl_msg(c, 6, CC_RTMP_MSG_VIDEO, 1, ts, b, 9 + n);
    free(b);
}

static inline void tl_audio(tl_client_t *c, uint32_t ts, size_t n, uint8_t fill)
{
    uint8_t *b = malloc(2 + n);
    b[0] = 0xaf;
    b[1] = 1;
    memset(b + 2, fill, n);
    tl_msg(c, 4, CC_RTMP_MSG_AUDIO, 1, ts, b, 2 + n);
    free(b);
}

/* Server replies after the 3073 handshake bytes, read with our own reader. */
typedef struct tl_reply {
    uint8_t type;
    uint32_t csid, msid;
    cc_buf_t *body;
} tl_reply_t;

/* Parses [p, p+len) into at most max messages; returns the count or a negative code. */
static inline int tl_read_replies(const uint8_t *p, size_t len, tl_reply_t *out, int max)
{
    cc_rtmp_chunk_reader_t r;
    cc_rtmp_chunk_reader_init(&r, NULL);
    int n = 0;
    while (len > 0) {
        size_t used;
        cc_rtmp_msg_t m;
        int rc = cc_rtmp_chunk_read(&r, p, len, &used, &m);
        p += used;
        len -= used;
        if (rc == CC_EAGAIN)
            break;
        if (rc < 0) {
            cc_rtmp_chunk_reader_free(&r);
            return rc;
        }
        if (n < max) {
            out[n].type = m.type;
            out[n].csid = m.csid;
            out[n].msid = m.stream_id;
            out[n].body = m.body;
            n++;
        } else {
            cc_buf_unref(m.body);
        }
    }
    cc_rtmp_chunk_reader_free(&r);
    return n;
}

static inline void tl_replies_free(tl_reply_t *r, int n)
{
    for (int i = 0; i < n; i++)
        cc_buf_unref(r[i].body);
}

/* For a command reply: 1 when its name is name and, if code is given, some
 * object in it has code == code. */
static inline int tl_reply_is(const tl_reply_t *r, const char *name, const char *code)
{
    if (r->type != CC_RTMP_MSG_COMMAND_AMF0)
        return 0;
    cc_amf0_value_t slots[64];
    cc_amf0_arena_t a;
    cc_amf0_arena_init(&a, slots, 64, NULL);
    cc_amf0_value_t *v[6];
    size_t n;
    if (cc_amf0_decode_all(&a, r->body->data, r->body->len, v, 6, &n) < 0 || n < 1)
        return 0;
    if (!cc_amf0_str_eq(v[0], name))
        return 0;
    if (!code)
        return 1;
    for (size_t i = 2; i < n; i++)
        if (cc_amf0_str_eq(cc_amf0_get(v[i], "code"), code))
            return 1;
    return 0;
}

#endif
