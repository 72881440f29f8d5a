/* HTTP/1.x response parsing for the edge's origin client (edge/http_client.c).
 * Pure: no I/O, no allocation, no clock (picohttpparser's model).
 *
 *   head:  cc_http_resp_parse_head(buf, len, max, &resp) parses the status line
 *          and header fields at the start of buf.  It keeps no state: call it
 *          again with the whole buffer once more bytes arrived.  Returns the
 *          head's length (through the empty line), CC_EAGAIN while the head is
 *          incomplete, CC_ETOOBIG once `max` bytes hold no complete head, or
 *          CC_EPROTO.  Names and values point into buf.
 *   body:  cc_http_body_init() from the parsed head, then cc_http_body_parse()
 *          over the bytes that follow, in pieces of any size: each call
 *          consumes input and hands back the body bytes it found (a view into
 *          the input: de-chunked, never copied).  Content-Length, chunked
 *          (RFC 9112 7.1: extensions skipped, trailers skipped) and
 *          close-delimited bodies; each with a cap on the body's size.
 *
 * Every length read from the wire is checked before it is trusted: header
 * count, Content-Length (digits only, one value), chunk sizes (hex, at most
 * 15 digits, within the cap), extension and trailer sizes. */
#ifndef CARTCAST_EDGE_HTTP_RESP_H
#define CARTCAST_EDGE_HTTP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cartcast/buf.h"

#define CC_HTTP_RESP_MAX_HEADERS 64
#define CC_HTTP_CHUNK_EXT_MAX 1024 /* chunk extensions, per chunk line */
#define CC_HTTP_TRAILER_MAX 8192   /* all trailer fields together */

typedef struct cc_http_field {
    cc_iov_t name, value; /* value without surrounding whitespace */
} cc_http_field_t;

typedef struct cc_http_resp {
    int minor_version; /* HTTP/1.<minor> */
    int status;        /* 100..999 */
    cc_iov_t reason;
    size_t nheaders;
    cc_http_field_t headers[CC_HTTP_RESP_MAX_HEADERS];
    /* Derived from the fields: */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding ends with chunked */
    bool conn_close;        /* Connection: close, or HTTP/1.0 without keep-alive */
    int64_t age;            /* Age in seconds, -1 when absent or malformed (RFC 9111 5.1) */
} cc_http_resp_t;

int cc_http_resp_parse_head(const uint8_t *buf, size_t len, size_t max, cc_http_resp_t *out);
/* A header field's value (case-insensitive name), or a zero-length view with base NULL. */
cc_iov_t cc_http_resp_header(const cc_http_resp_t *r, const char *name);

typedef enum {
    CC_HTTP_BODY_NONE,   /* HEAD, 1xx, 204, 304: nothing follows */
    CC_HTTP_BODY_LENGTH, /* Content-Length */
    CC_HTTP_BODY_CHUNKED,
    CC_HTTP_BODY_EOF,    /* neither: the body ends when the server closes */
} cc_http_body_mode_t;

typedef struct cc_http_body {
    cc_http_body_mode_t mode;
    uint64_t max;       /* cap on the decoded body */
    uint64_t total;     /* decoded bytes so far */
    uint64_t remaining; /* LENGTH: bytes left; CHUNKED: bytes left in the chunk */
    int state;          /* chunked decoder state */
    unsigned digits;    /* chunk-size hex digits read */
    size_t side;        /* extension or trailer bytes read (capped) */
    bool done;
} cc_http_body_t;

/* Sets the body up for a parsed head; head_request: the request was HEAD.
 * CC_ETOOBIG when Content-Length exceeds max, CC_EPROTO when a 1xx/204/304
 * claims a body that would matter (ignored) — 0 otherwise. */
int cc_http_body_init(cc_http_body_t *b, const cc_http_resp_t *resp, bool head_request, uint64_t max);
/* Consumes bytes from in: returns how many (0 only when len is 0 or the body
 * is already done), and sets *data to the body bytes among them (possibly
 * empty).  b->done turns true when the body is complete; bytes after it are
 * not consumed (they belong to the next response).  CC_EPROTO for malformed
 * chunk framing, CC_ETOOBIG past the cap.  len must be <= INT32_MAX. */
int cc_http_body_parse(cc_http_body_t *b, const uint8_t *in, size_t len, cc_iov_t *data);
/* The connection closed: 0 if that ends the body well (EOF-delimited, or
 * already done), CC_EPROTO for a truncated body. */
int cc_http_body_eof(cc_http_body_t *b);

#endif
