/* A sans-I/O RTMP server session: one per TCP connection.
 *
 * The glue feeds whatever bytes arrive; the session runs the handshake, the
 * chunk stream, protocol control and the AMF0 commands of a publisher
 * (connect, releaseStream, FCPublish, createStream, publish, FCUnpublish,
 * deleteStream, @setDataFrame/onMetaData), and pushes audio/video into the
 * hub.  Replies accumulate in an output buffer that the glue takes and writes
 * to the socket.
 *
 *   s = cc_rtmp_session_new(&cfg, hub, auth, "1.2.3.4:5678");
 *   rc = cc_rtmp_session_feed(s, bytes, n);
 *   out = cc_rtmp_session_take_output(s);   // write it, then cc_buf_unref
 *   if (rc < 0) { write out, then close; log cc_rtmp_session_reason(s) }
 *   cc_rtmp_session_free(s);                // ends the hub stream if live
 *
 * Errors are sticky: after a negative return every feed returns the same
 * code.  The output may then still hold an error status for the peer
 * (NetStream.Publish.Denied, ...), which the glue should flush before
 * closing.  Reasons are short snake_case strings for `reason=` log fields. */
#ifndef CARTCAST_INGEST_RTMP_SESSION_H
#define CARTCAST_INGEST_RTMP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "cartcast/buf.h"
#include "cartcast/hub.h"
#include "ingest/auth.h"
#include "ingest/rtmp/amf0.h"
#include "ingest/rtmp/chunk.h"

typedef struct cc_rtmp_session_config {
    cc_rtmp_chunk_limits_t chunk;
    cc_amf0_limits_t amf;
    uint32_t out_chunk_size;  /* ours, announced after connect: 4096 */
    uint32_t window_ack_size; /* announced to the peer: 2500000 */
    uint32_t peer_bandwidth;  /* Set Peer Bandwidth we send: 2500000 */
    uint32_t out_limit;       /* cap of the output buffer between takes: 256 KiB */
    const char *app;          /* the only application accepted: "live" */
} cc_rtmp_session_config_t;

void cc_rtmp_session_config_default(cc_rtmp_session_config_t *cfg);

typedef enum {
    CC_RTMP_STATE_HANDSHAKE,
    CC_RTMP_STATE_WAIT_CONNECT,
    CC_RTMP_STATE_CONNECTED,
    CC_RTMP_STATE_PUBLISHING,
    CC_RTMP_STATE_FAILED,
} cc_rtmp_state_t;

typedef struct cc_rtmp_session cc_rtmp_session_t;

/* cfg NULL for the defaults (copied; cfg->app must outlive the session).
 * peer is "ip:port" for logs and the hub.  NULL when out of memory. */
cc_rtmp_session_t *cc_rtmp_session_new(const cc_rtmp_session_config_t *cfg, cc_hub_t *hub, cc_auth_t *auth,
                                       const char *peer);
/* Ends the stream in the hub if this session publishes one, frees everything. */
void cc_rtmp_session_free(cc_rtmp_session_t *s);

/* 0, or a negative code (then see cc_rtmp_session_reason). */
int cc_rtmp_session_feed(cc_rtmp_session_t *s, const uint8_t *p, size_t len);
/* The bytes to send, or NULL when there are none.  The caller owns the
 * reference; the session keeps no buffer between takes. */
cc_buf_t *cc_rtmp_session_take_output(cc_rtmp_session_t *s);
/* Bytes waiting in the output buffer. */
size_t cc_rtmp_session_output_len(const cc_rtmp_session_t *s);

cc_rtmp_state_t cc_rtmp_session_state(const cc_rtmp_session_t *s);
/* "" until a failure, then a snake_case reason ("bad_key", "chunk_size_over_cap", ...). */
const char *cc_rtmp_session_reason(const cc_rtmp_session_t *s);
/* The public stream name once publish succeeded (never the key), else "-". */
const char *cc_rtmp_session_stream_name(const cc_rtmp_session_t *s);
/* Protocol-level counters, for tests and stats. */
typedef struct cc_rtmp_session_stats {
    uint64_t bytes_in;
    uint64_t messages;
    uint64_t frames;     /* pushed to the hub */
    uint64_t skipped;    /* media messages dropped: unsupported codec, bad tag, before the sequence header */
    uint64_t acks_sent;
} cc_rtmp_session_stats_t;
void cc_rtmp_session_stats(const cc_rtmp_session_t *s, cc_rtmp_session_stats_t *out);

/* Approximate heap bytes held by the session now (for memory accounting). */
size_t cc_rtmp_session_memory(const cc_rtmp_session_t *s);

#endif
