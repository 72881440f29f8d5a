/* RTMP handshake, server side.  See handshake.h for the flavours. */
#include "ingest/rtmp/handshake.h"

#include <string.h>

#include "cartcast/err.h"
#include "ingest/rtmp/sha256.h"

#define HS CC_RTMP_HANDSHAKE_SIZE
#define DIGEST_LEN 32

const uint8_t cc_rtmp_fms_key[68] = {
    'G', 'e', 'n', 'u', 'i', 'n', 'e', ' ', 'A', 'd', 'o', 'b', 'e', ' ', 'F', 'l', 'a', 's',
    'h', ' ', 'M', 'e', 'd', 'i', 'a', ' ', 'S', 'e', 'r', 'v', 'e', 'r', ' ', '0', '0', '1',
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
};
const uint8_t cc_rtmp_fp_key[62] = {
    'G', 'e', 'n', 'u', 'i', 'n', 'e', ' ', 'A', 'd', 'o', 'b', 'e', ' ', 'F',
    'l', 'a', 's', 'h', ' ', 'P', 'l', 'a', 'y', 'e', 'r', ' ', '0', '0', '1',
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
};
#define FMS_PARTIAL 36
#define FP_PARTIAL 30

/* Our S1 version in digest mode: FMS 4.5.0.1.  ffmpeg only checks S1's digest
 * when the version's first byte is >= 3, and then it must verify. */
static const uint8_t server_version[4] = {4, 5, 0, 1};

void cc_rtmp_handshake_init(cc_rtmp_handshake_t *hs, uint64_t seed, uint32_t epoch_ms)
{
    memset(hs, 0, sizeof(*hs));
    hs->state = CC_RTMP_HS_WANT_C0C1;
    hs->scheme = -1;
    hs->epoch = epoch_ms;
    hs->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
}

static void fill_random(cc_rtmp_handshake_t *hs, uint8_t *p, size_t n)
{
    uint64_t x = hs->rng;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
    hs->rng = x;
}

uint32_t cc_rtmp_handshake_digest_pos(const uint8_t *pkt, int scheme)
{
    /* Scheme 0: digest block right after time+version (offset bytes 8..11);
     * scheme 1: digest block after the 764-byte key block (offset 772..775). */
    uint32_t base = scheme == 0 ? 8 : 772;
    uint32_t sum = (uint32_t)pkt[base] + pkt[base + 1] + pkt[base + 2] + pkt[base + 3];
    return sum % 728 + base + 4;
}

static void digest_of(const uint8_t *pkt, uint32_t pos, const uint8_t *key, size_t keylen, uint8_t out[DIGEST_LEN])
{
    cc__hmac_sha256(key, keylen, pkt, pos, pkt + pos + DIGEST_LEN, HS - pos - DIGEST_LEN, out);
}

void cc_rtmp_handshake_imprint(uint8_t pkt[HS], int scheme, const uint8_t *key, size_t keylen)
{
    uint32_t pos = cc_rtmp_handshake_digest_pos(pkt, scheme);
    uint8_t d[DIGEST_LEN];
    digest_of(pkt, pos, key, keylen, d);
    memcpy(pkt + pos, d, DIGEST_LEN);
}

int cc_rtmp_handshake_verify(const uint8_t pkt[HS], int scheme, const uint8_t *key, size_t keylen)
{
    uint32_t pos = cc_rtmp_handshake_digest_pos(pkt, scheme);
    uint8_t d[DIGEST_LEN];
    digest_of(pkt, pos, key, keylen, d);
    return memcmp(pkt + pos, d, DIGEST_LEN) == 0;
}

int cc_rtmp_handshake_client_scheme(const uint8_t c1[HS])
{
    /* A zero version means a pre-Flash-10 client: no digest to look for. */
    if (cc_rd32(c1 + 4) == 0)
        return -1;
    if (cc_rtmp_handshake_verify(c1, 0, cc_rtmp_fp_key, FP_PARTIAL))
        return 0;
    if (cc_rtmp_handshake_verify(c1, 1, cc_rtmp_fp_key, FP_PARTIAL))
        return 1;
    return -1;
}

static int reply(cc_rtmp_handshake_t *hs, cc_dynbuf_t *out)
{
    const uint8_t *c1 = hs->c1 + 1;
    int rc = cc_dynbuf_reserve(out, 1 + 2 * HS);
    if (rc < 0)
        return rc;
    uint8_t *s = out->data + out->len;
    uint8_t *s1 = s + 1, *s2 = s + 1 + HS;
    s[0] = 3;
    cc_wr32(s1, hs->epoch);
    fill_random(hs, s1 + 8, HS - 8);
    hs->scheme = cc_rtmp_handshake_client_scheme(c1);
    if (hs->scheme < 0) {
        memset(s1 + 4, 0, 4);
        /* S2 echoes C1, with our read time in the second field. */
        memcpy(s2, c1, HS);
        cc_wr32(s2 + 4, hs->epoch);
    } else {
        memcpy(s1 + 4, server_version, 4);
        cc_rtmp_handshake_imprint(s1, hs->scheme, cc_rtmp_fms_key, FMS_PARTIAL);
        /* S2's signing key is HMAC(full FMS key, the client's C1 digest). */
        uint8_t key[DIGEST_LEN];
        uint32_t cpos = cc_rtmp_handshake_digest_pos(c1, hs->scheme);
        cc__hmac_sha256(cc_rtmp_fms_key, sizeof(cc_rtmp_fms_key), c1 + cpos, DIGEST_LEN, NULL, 0, key);
        fill_random(hs, s2, HS);
        cc__hmac_sha256(key, sizeof(key), s2, HS - DIGEST_LEN, NULL, 0, s2 + HS - DIGEST_LEN);
    }
    out->len += 1 + 2 * HS;
    return 0;
}

int cc_rtmp_handshake_feed(cc_rtmp_handshake_t *hs, const uint8_t *p, size_t len, size_t *consumed, cc_dynbuf_t *out)
{
    size_t off = 0;
    *consumed = 0;
    while (hs->state != CC_RTMP_HS_DONE) {
        if (off == len) {
            *consumed = off;
            return CC_EAGAIN;
        }
        if (hs->state == CC_RTMP_HS_WANT_C0C1) {
            if (hs->fill == 0) {
                /* Check C0 on its first byte: a non-RTMP peer (HTTP, TLS) is
                 * told off before we wait for 1536 more bytes. */
                if (p[off] == 6 || p[off] == 8)
                    return CC_EUNSUPPORTED;
                if (p[off] != 3)
                    return CC_EPROTO;
            }
            size_t n = sizeof(hs->c1) - hs->fill;
            if (n > len - off)
                n = len - off;
            memcpy(hs->c1 + hs->fill, p + off, n);
            hs->fill += (uint32_t)n;
            off += n;
            if (hs->fill == sizeof(hs->c1)) {
                int rc = reply(hs, out);
                if (rc < 0)
                    return rc;
                hs->state = CC_RTMP_HS_WANT_C2;
                hs->fill = 0;
            }
        } else {
            size_t n = HS - hs->fill;
            if (n > len - off)
                n = len - off;
            hs->fill += (uint32_t)n;
            off += n;
            if (hs->fill == HS)
                hs->state = CC_RTMP_HS_DONE;
        }
    }
    *consumed = off;
    return 0;
}
