/* The Range request header (RFC 9110 14.2), for one byte range.  Pure. */
#ifndef CARTCAST_EDGE_HTTP_RANGE_H
#define CARTCAST_EDGE_HTTP_RANGE_H

#include <stddef.h>

/* For a representation of `total` bytes:
 *   0            a satisfiable single range: answer 206 with [*start, *start + *len)
 *   CC_ENOENT    no usable Range (absent, not "bytes", several ranges, malformed):
 *                RFC 9110 lets the server ignore it and answer 200 with everything
 *   CC_EINVAL    a well-formed range that starts past the end: answer 416 */
int cc_http_range_parse(const char *value, size_t total, size_t *start, size_t *len);

#endif
