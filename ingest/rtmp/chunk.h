/* RTMP chunk stream: reader (chunks -> whole messages) and writer.
 *
 * Reader: cc_rtmp_chunk_read(reader, bytes, len, &consumed, &msg).  Unlike a
 * stateless picohttpparser-style parser it consumes every byte it is given,
 * because reassembly is stateful anyway: at most 18 header bytes are kept in
 * the reader, payload bytes go straight into the message's cc_buf_t.  So the
 * caller never has to keep unconsumed input and can read into a small,
 * shared buffer.  It returns
 *     1            a complete message is in *msg (consumed says how far it read;
 *                  feed the rest again), and the caller owns msg->body;
 *     CC_EAGAIN    all len bytes consumed, no message completed yet;
 *     < 0          a protocol error (CC_EPROTO, CC_ETOOBIG, CC_ELIMIT); the
 *                  reader's reason says which, and it must not be fed again.
 *
 * Set Chunk Size (type 1) and Abort (type 2) are acted on inside the reader
 * and also returned, so the caller sees every message.
 *
 * Caps (checked on the header, before any byte of the body is waited for or
 * allocated): peer chunk size, message length, number of chunk streams, and
 * the total of bodies being reassembled at once across chunk streams. */
#ifndef CARTCAST_INGEST_RTMP_CHUNK_H
#define CARTCAST_INGEST_RTMP_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "cartcast/buf.h"

enum {
    CC_RTMP_MSG_SET_CHUNK_SIZE = 1,
    CC_RTMP_MSG_ABORT = 2,
    CC_RTMP_MSG_ACK = 3,
    CC_RTMP_MSG_USER_CONTROL = 4,
    CC_RTMP_MSG_WINDOW_ACK_SIZE = 5,
    CC_RTMP_MSG_SET_PEER_BANDWIDTH = 6,
    CC_RTMP_MSG_AUDIO = 8,
    CC_RTMP_MSG_VIDEO = 9,
    CC_RTMP_MSG_DATA_AMF3 = 15,
    CC_RTMP_MSG_COMMAND_AMF3 = 17,
    CC_RTMP_MSG_DATA_AMF0 = 18,
    CC_RTMP_MSG_COMMAND_AMF0 = 20,
    CC_RTMP_MSG_AGGREGATE = 22,
};

#define CC_RTMP_DEFAULT_CHUNK_SIZE 128
/* The spec's largest chunk size: 31 bits. */
#define CC_RTMP_MAX_CHUNK_SIZE_SPEC 0x7FFFFFFFu

typedef struct cc_rtmp_chunk_limits {
    uint32_t max_chunk_size;    /* largest Set Chunk Size we accept: 65536 */
    uint32_t max_message_size;  /* largest message length: 8 MiB */
    uint32_t max_chunk_streams; /* distinct chunk stream ids per connection: 64 */
    uint32_t max_pending_bytes; /* sum of bodies in reassembly: 16 MiB */
} cc_rtmp_chunk_limits_t;

void cc_rtmp_chunk_limits_default(cc_rtmp_chunk_limits_t *lim);

typedef struct cc_rtmp_msg {
    uint32_t csid;
    uint8_t type;
    uint32_t stream_id; /* message stream id */
    uint32_t timestamp; /* absolute, 32 bits as on the wire (wraps) */
    cc_buf_t *body;     /* owned by whoever received the message */
} cc_rtmp_msg_t;

typedef struct cc_rtmp_cstream cc_rtmp_cstream_t;

typedef struct cc_rtmp_chunk_reader {
    cc_rtmp_chunk_limits_t lim;
    uint32_t chunk_size; /* the peer's, starts at 128 */
    cc_rtmp_cstream_t *streams;
    uint32_t nstreams, astreams;
    uint64_t pending; /* bytes allocated for bodies in reassembly */
    /* header being read */
    uint8_t hdr[18];
    uint8_t hfill;
    uint8_t in_payload;
    uint32_t cur;        /* index of the chunk stream whose payload we read */
    uint32_t chunk_left; /* payload bytes left in the current chunk */
    const char *reason;  /* why the last error happened */
} cc_rtmp_chunk_reader_t;

void cc_rtmp_chunk_reader_init(cc_rtmp_chunk_reader_t *r, const cc_rtmp_chunk_limits_t *lim);
/* Drops partial messages and frees the per-chunk-stream state. */
void cc_rtmp_chunk_reader_free(cc_rtmp_chunk_reader_t *r);
int cc_rtmp_chunk_read(cc_rtmp_chunk_reader_t *r, const uint8_t *p, size_t len, size_t *consumed, cc_rtmp_msg_t *msg);

/* Writes one message as chunks: a type 0 header, then type 3 continuation
 * headers every chunk_size bytes (extended timestamps repeated on them, as
 * the spec and ffmpeg do).  Appends to out; 0 or the dynbuf's error (out is
 * then unchanged). */
int cc_rtmp_chunk_write(cc_dynbuf_t *out, uint32_t chunk_size, uint32_t csid, uint8_t type, uint32_t stream_id,
                        uint32_t timestamp, const uint8_t *body, uint32_t len);

#endif
