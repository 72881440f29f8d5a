/* Server side of the RTMP handshake (C0 C1 -> S0 S1 S2, then C2).
 *
 * Two flavours, picked from C1:
 *   - plain (C1 version field 0, or no valid digest): S1 is random, S2 echoes C1;
 *   - digest (Flash 10 / FMS style, what ffmpeg and librtmp/OBS send with a
 *     non-zero version): C1 carries an HMAC-SHA256 digest at scheme 0 or 1;
 *     S1 gets our digest at the same scheme and S2 is signed with a key
 *     derived from the client's digest, so players that verify the server
 *     accept us.
 * C2 is read and discarded: encoders fill it inconsistently, and checking it
 * buys nothing for an ingest server.
 *
 * Pure and allocation-free: the state embeds one 1537-byte buffer (C0+C1),
 * so a caller can feed any split of the input; the session frees the state
 * once the handshake is done. */
#ifndef CARTCAST_INGEST_RTMP_HANDSHAKE_H
#define CARTCAST_INGEST_RTMP_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "cartcast/buf.h"

#define CC_RTMP_HANDSHAKE_SIZE 1536

typedef enum {
    CC_RTMP_HS_WANT_C0C1,
    CC_RTMP_HS_WANT_C2,
    CC_RTMP_HS_DONE,
} cc_rtmp_hs_state_t;

typedef struct cc_rtmp_handshake {
    cc_rtmp_hs_state_t state;
    int scheme;      /* -1 plain, 0 or 1: digest scheme the client used */
    uint32_t fill;   /* bytes of the current packet received so far */
    uint32_t epoch;  /* our S1 time field */
    uint64_t rng;    /* xorshift state for S1/S2 filler */
    uint8_t c1[1 + CC_RTMP_HANDSHAKE_SIZE]; /* C0 + C1 */
} cc_rtmp_handshake_t;

/* seed: any varying value (S1/S2 filler is not a secret); epoch_ms: S1's time field. */
void cc_rtmp_handshake_init(cc_rtmp_handshake_t *hs, uint64_t seed, uint32_t epoch_ms);

/* Feeds bytes.  Appends S0 S1 S2 (3073 bytes) to out once C0+C1 are in.
 * Returns 0 when the handshake is complete (*consumed says how many bytes of
 * p it used; the rest belongs to the chunk stream), CC_EAGAIN when every byte
 * was consumed and more are needed, CC_EUNSUPPORTED for RTMPE (C0 = 6/8),
 * CC_EPROTO for any other C0, or an error from appending to out. */
int cc_rtmp_handshake_feed(cc_rtmp_handshake_t *hs, const uint8_t *p, size_t len, size_t *consumed, cc_dynbuf_t *out);

/* Where scheme 0/1 puts the 32-byte digest in a 1536-byte C1/S1. */
uint32_t cc_rtmp_handshake_digest_pos(const uint8_t *pkt, int scheme);
/* Which scheme's digest in a client C1 verifies with the Flash Player key: 0, 1, or -1. */
int cc_rtmp_handshake_client_scheme(const uint8_t c1[CC_RTMP_HANDSHAKE_SIZE]);
/* Signs pkt in place at the scheme's digest position with key[0..keylen). */
void cc_rtmp_handshake_imprint(uint8_t pkt[CC_RTMP_HANDSHAKE_SIZE], int scheme, const uint8_t *key, size_t keylen);
/* Checks the digest at the scheme's position. 1 valid, 0 not. */
int cc_rtmp_handshake_verify(const uint8_t pkt[CC_RTMP_HANDSHAKE_SIZE], int scheme, const uint8_t *key, size_t keylen);

/* The Genuine Adobe keys: FMS is 68 bytes (first 36 sign S1), FP is 62 (first 30 sign C1). */
extern const uint8_t cc_rtmp_fms_key[68];
extern const uint8_t cc_rtmp_fp_key[62];

#endif
