/* RTMP chunk stream reader and writer.  See chunk.h. */
#include "ingest/rtmp/chunk.h"

#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"

struct cc_rtmp_cstream {
    uint32_t csid;
    uint32_t timestamp; /* of the last message header */
    uint32_t delta;     /* what a type 3 header starting a new message adds */
    uint32_t length;
    uint32_t stream_id;
    uint8_t type;
    uint8_t ext; /* the last type 0/1/2 header had an extended timestamp */
    cc_buf_t *body; /* message in reassembly, NULL between messages */
    uint32_t got;
};

void cc_rtmp_chunk_limits_default(cc_rtmp_chunk_limits_t *lim)
{
    lim->max_chunk_size = 64 * 1024;
    lim->max_message_size = 8 * 1024 * 1024;
    lim->max_chunk_streams = 64;
    lim->max_pending_bytes = 16 * 1024 * 1024;
}

void cc_rtmp_chunk_reader_init(cc_rtmp_chunk_reader_t *r, const cc_rtmp_chunk_limits_t *lim)
{
    memset(r, 0, sizeof(*r));
    if (lim)
        r->lim = *lim;
    else
        cc_rtmp_chunk_limits_default(&r->lim);
    r->chunk_size = CC_RTMP_DEFAULT_CHUNK_SIZE;
    r->reason = "";
}

static void drop_body(cc_rtmp_chunk_reader_t *r, cc_rtmp_cstream_t *cs)
{
    if (cs->body) {
        r->pending -= cs->body->len;
        cc_buf_unref(cs->body);
        cs->body = NULL;
    }
    cs->got = 0;
}

void cc_rtmp_chunk_reader_free(cc_rtmp_chunk_reader_t *r)
{
    for (uint32_t i = 0; i < r->nstreams; i++)
        drop_body(r, &r->streams[i]);
    free(r->streams);
    r->streams = NULL;
    r->nstreams = r->astreams = 0;
}

static int fail(cc_rtmp_chunk_reader_t *r, int err, const char *reason)
{
    r->reason = reason;
    return err;
}

/* The chunk stream for csid, created on first use (only by a type 0 header). */
static int find_stream(cc_rtmp_chunk_reader_t *r, uint32_t csid, int fmt, uint32_t *idx)
{
    for (uint32_t i = 0; i < r->nstreams; i++) {
        if (r->streams[i].csid == csid) {
            *idx = i;
            return 0;
        }
    }
    if (fmt != 0)
        return fail(r, CC_EPROTO, "chunk_stream_without_type0_header");
    if (r->nstreams >= r->lim.max_chunk_streams)
        return fail(r, CC_ELIMIT, "too_many_chunk_streams");
    if (r->nstreams == r->astreams) {
        uint32_t n = r->astreams ? r->astreams * 2 : 4;
        if (n > r->lim.max_chunk_streams)
            n = r->lim.max_chunk_streams;
        cc_rtmp_cstream_t *s = realloc(r->streams, n * sizeof(*s));
        if (!s)
            return fail(r, CC_ENOMEM, "out_of_memory");
        r->streams = s;
        r->astreams = n;
    }
    cc_rtmp_cstream_t *cs = &r->streams[r->nstreams];
    memset(cs, 0, sizeof(*cs));
    cs->csid = csid;
    *idx = r->nstreams++;
    return 0;
}

static const uint8_t msg_header_len[4] = {11, 7, 3, 0};

/* Acts on a header once all its bytes are in r->hdr.  Starts the chunk's payload. */
static int process_header(cc_rtmp_chunk_reader_t *r, uint32_t bh, uint32_t csid, int fmt, int ext)
{
    uint32_t idx;
    int rc = find_stream(r, csid, fmt, &idx);
    if (rc < 0)
        return rc;
    cc_rtmp_cstream_t *cs = &r->streams[idx];
    const uint8_t *h = r->hdr + bh;
    uint32_t mh = msg_header_len[fmt];
    int new_message;
    if (fmt < 3) {
        /* A full header in the middle of a message: the peer gave up on it
         * without an Abort.  Drop the partial body and start over. */
        drop_body(r, cs);
        uint32_t ts = cc_rd24(h);
        if (ext)
            ts = cc_rd32(h + mh);
        if (fmt == 0) {
            cs->timestamp = ts;
            cs->delta = ts; /* spec 5.3.1.2.4: a type 3 after a type 0 repeats its timestamp as delta */
        } else {
            cs->timestamp += ts;
            cs->delta = ts;
        }
        if (fmt <= 1) {
            cs->length = cc_rd24(h + 3);
            cs->type = h[6];
        }
        if (fmt == 0)
            cs->stream_id = (uint32_t)h[7] | ((uint32_t)h[8] << 8) | ((uint32_t)h[9] << 16) | ((uint32_t)h[10] << 24);
        cs->ext = (uint8_t)ext;
        new_message = 1;
    } else if (cs->body) {
        /* Continuation: an extended timestamp here only repeats the header's. */
        new_message = 0;
    } else {
        cs->timestamp += ext ? cc_rd32(h) : cs->delta;
        if (ext)
            cs->delta = cc_rd32(h);
        new_message = 1;
    }
    if (new_message) {
        if (cs->length > r->lim.max_message_size)
            return fail(r, CC_ETOOBIG, "message_too_big");
        if (r->pending + cs->length > r->lim.max_pending_bytes)
            return fail(r, CC_ELIMIT, "too_many_pending_bytes");
        cs->body = cc_buf_new(cs->length);
        if (!cs->body)
            return fail(r, CC_ENOMEM, "out_of_memory");
        r->pending += cs->length;
        cs->got = 0;
    }
    uint32_t left = cs->length - cs->got;
    r->chunk_left = left < r->chunk_size ? left : r->chunk_size;
    r->cur = idx;
    r->in_payload = 1;
    return 0;
}

/* Called when cs's body is complete: protocol control that changes how we
 * read acts here; the message goes to the caller either way. */
static int complete(cc_rtmp_chunk_reader_t *r, cc_rtmp_cstream_t *cs, cc_rtmp_msg_t *msg)
{
    cc_buf_t *b = cs->body;
    cs->body = NULL;
    cs->got = 0;
    r->pending -= b->len;
    msg->csid = cs->csid;
    msg->type = cs->type;
    msg->stream_id = cs->stream_id;
    msg->timestamp = cs->timestamp;
    msg->body = b;
    if (cs->type == CC_RTMP_MSG_SET_CHUNK_SIZE) {
        if (b->len < 4) {
            cc_buf_unref(b);
            msg->body = NULL;
            return fail(r, CC_EPROTO, "short_set_chunk_size");
        }
        uint32_t v = cc_rd32(b->data) & 0x7FFFFFFFu; /* bit 31 must be 0; ignore it like ffmpeg */
        if (v == 0 || v > r->lim.max_chunk_size) {
            cc_buf_unref(b);
            msg->body = NULL;
            return fail(r, v ? CC_ETOOBIG : CC_EPROTO, v ? "chunk_size_over_cap" : "zero_chunk_size");
        }
        r->chunk_size = v;
    } else if (cs->type == CC_RTMP_MSG_ABORT && b->len >= 4) {
        uint32_t target = cc_rd32(b->data);
        for (uint32_t i = 0; i < r->nstreams; i++)
            if (r->streams[i].csid == target)
                drop_body(r, &r->streams[i]);
    }
    return 1;
}

int cc_rtmp_chunk_read(cc_rtmp_chunk_reader_t *r, const uint8_t *p, size_t len, size_t *consumed, cc_rtmp_msg_t *msg)
{
    size_t off = 0;
    msg->body = NULL;
    while (off < len) {
        if (r->in_payload) {
            cc_rtmp_cstream_t *cs = &r->streams[r->cur];
            size_t n = r->chunk_left;
            if (n > len - off)
                n = len - off;
            memcpy(cs->body->data + cs->got, p + off, n);
            cs->got += (uint32_t)n;
            r->chunk_left -= (uint32_t)n;
            off += n;
            if (r->chunk_left > 0)
                break;
            r->in_payload = 0;
            if (cs->got == cs->length) {
                *consumed = off;
                return complete(r, cs, msg);
            }
            continue;
        }
        /* Header: take bytes one at a time until we know how many it has. */
        r->hdr[r->hfill++] = p[off++];
        int fmt = r->hdr[0] >> 6;
        uint32_t bh = (r->hdr[0] & 0x3f) == 0 ? 2 : (r->hdr[0] & 0x3f) == 1 ? 3 : 1;
        if (r->hfill < bh)
            continue;
        uint32_t csid = r->hdr[0] & 0x3f;
        if (bh == 2)
            csid = 64 + r->hdr[1];
        else if (bh == 3)
            csid = 64 + r->hdr[1] + ((uint32_t)r->hdr[2] << 8);
        uint32_t need = bh + msg_header_len[fmt];
        if (r->hfill < need)
            continue;
        int ext;
        if (fmt < 3) {
            ext = cc_rd24(r->hdr + bh) == 0xFFFFFF;
        } else {
            /* A type 3 carries an extended timestamp when its chunk stream's
             * last full header did (ffmpeg and librtmp/OBS send it). */
            ext = 0;
            for (uint32_t i = 0; i < r->nstreams; i++)
                if (r->streams[i].csid == csid)
                    ext = r->streams[i].ext;
        }
        if (ext)
            need += 4;
        if (r->hfill < need)
            continue;
        r->hfill = 0;
        int rc = process_header(r, bh, csid, fmt, ext);
        if (rc < 0) {
            *consumed = off;
            return rc;
        }
        if (r->chunk_left == 0) {
            /* Zero-length message: complete at its header. */
            r->in_payload = 0;
            *consumed = off;
            return complete(r, &r->streams[r->cur], msg);
        }
    }
    *consumed = off;
    return CC_EAGAIN;
}

static size_t basic_header(uint8_t *p, int fmt, uint32_t csid)
{
    if (csid < 64) {
        p[0] = (uint8_t)((fmt << 6) | csid);
        return 1;
    }
    if (csid < 320) {
        p[0] = (uint8_t)(fmt << 6);
        p[1] = (uint8_t)(csid - 64);
        return 2;
    }
    p[0] = (uint8_t)((fmt << 6) | 1);
    p[1] = (uint8_t)((csid - 64) & 0xff);
    p[2] = (uint8_t)((csid - 64) >> 8);
    return 3;
}

int cc_rtmp_chunk_write(cc_dynbuf_t *out, uint32_t chunk_size, uint32_t csid, uint8_t type, uint32_t stream_id,
                        uint32_t timestamp, const uint8_t *body, uint32_t len)
{
    if (chunk_size == 0 || csid < 2 || csid > 65599)
        return CC_EINVAL;
    int ext = timestamp >= 0xFFFFFF;
    size_t nchunks = len ? (len + chunk_size - 1) / chunk_size : 1;
    size_t total = 18 + len + (nchunks - 1) * (3 + (ext ? 4 : 0));
    int rc = cc_dynbuf_reserve(out, total);
    if (rc < 0)
        return rc;
    uint8_t *w = out->data + out->len;
    w += basic_header(w, 0, csid);
    cc_wr24(w, ext ? 0xFFFFFF : timestamp);
    cc_wr24(w + 3, len);
    w[6] = type;
    /* The message stream id is the one little-endian field in RTMP. */
    w[7] = (uint8_t)stream_id;
    w[8] = (uint8_t)(stream_id >> 8);
    w[9] = (uint8_t)(stream_id >> 16);
    w[10] = (uint8_t)(stream_id >> 24);
    w += 11;
    if (ext) {
        cc_wr32(w, timestamp);
        w += 4;
    }
    uint32_t off = 0;
    for (;;) {
        uint32_t n = len - off < chunk_size ? len - off : chunk_size;
        if (n)
            memcpy(w, body + off, n);
        w += n;
        off += n;
        if (off >= len)
            break;
        w += basic_header(w, 3, csid);
        if (ext) {
            cc_wr32(w, timestamp);
            w += 4;
        }
    }
    out->len = (size_t)(w - out->data);
    return 0;
}
