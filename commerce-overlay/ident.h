/* Viewer identities: a random id and an HMAC-SHA256 signature of it with the
 * overlay's secret, so that a viewer can keep its identity across reconnects
 * and overlay instances (same secret) but cannot claim anyone else's: the
 * identity a buy or vote is recorded under is the connection's, never a field
 * of the message.  Pure apart from the random bytes (getrandom). */
#ifndef CARTCAST_OVERLAY_IDENT_H
#define CARTCAST_OVERLAY_IDENT_H

#include <stddef.h>

#define OV_VIEWER_ID_LEN 25     /* "v" + 24 hex digits */
#define OV_VIEWER_TOKEN_LEN 58  /* id "." 32 hex digits of the HMAC */

/* A new identity: id (>= OV_VIEWER_ID_LEN + 1 bytes) and token
 * (>= OV_VIEWER_TOKEN_LEN + 1).  0 or a negative errno. */
int ov_ident_new(const char *secret, size_t secret_len, char *id, char *token);
/* 0 and id filled when token is a valid "ID.SIG" for secret; CC_EINVAL otherwise. */
int ov_ident_check(const char *secret, size_t secret_len, const char *token, char *id);
/* n random bytes as 2n hex digits + NUL into out.  0 or a negative errno. */
int ov_random_hex(char *out, size_t nbytes);

#endif
