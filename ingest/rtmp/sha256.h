/* SHA-256 and HMAC-SHA256 for the RTMP digest handshake and stream-key
 * hashing.  Small and self-contained so ingest needs no crypto library. */
#ifndef CARTCAST_INGEST_RTMP_SHA256_H
#define CARTCAST_INGEST_RTMP_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define CC_SHA256_LEN 32

typedef struct cc_sha256 {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[64];
    size_t fill;
} cc_sha256_t;

void cc__sha256_init(cc_sha256_t *c);
void cc__sha256_update(cc_sha256_t *c, const void *data, size_t len);
void cc__sha256_final(cc_sha256_t *c, uint8_t out[CC_SHA256_LEN]);
void cc__sha256(const void *data, size_t len, uint8_t out[CC_SHA256_LEN]);

/* HMAC over two concatenated pieces (a, b): the RTMP digest covers "C1 minus
 * the 32 digest bytes", i.e. the bytes before and after the digest. */
void cc__hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                     uint8_t out[CC_SHA256_LEN]);

#endif
