#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cartcast/err.h"
#include "ident.h"

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int ov_random_hex(char *out, size_t nbytes)
{
    unsigned char b[64];
    if (nbytes > sizeof(b))
        return CC_EINVAL;
    size_t got = 0;
    while (got < nbytes) {
        ssize_t r = getrandom(b + got, nbytes - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)r;
    }
    hex(b, nbytes, out);
    return 0;
}

static int sign(const char *secret, size_t secret_len, const char *id, char sig[33])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "cartcast-viewer:%s", id);
    if (HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)msg, (size_t)n, mac, &maclen) == NULL ||
        maclen < 16)
        return CC_EINVAL;
    hex(mac, 16, sig);
    return 0;
}

int ov_ident_new(const char *secret, size_t secret_len, char *id, char *token)
{
    char r[25];
    int rc = ov_random_hex(r, 12);
    if (rc < 0)
        return rc;
    snprintf(id, OV_VIEWER_ID_LEN + 1, "v%s", r);
    char sig[33];
    if ((rc = sign(secret, secret_len, id, sig)) < 0)
        return rc;
    snprintf(token, OV_VIEWER_TOKEN_LEN + 1, "%s.%s", id, sig);
    return 0;
}

int ov_ident_check(const char *secret, size_t secret_len, const char *token, char *id)
{
    if (token == NULL || strlen(token) != OV_VIEWER_TOKEN_LEN || token[0] != 'v' || token[OV_VIEWER_ID_LEN] != '.')
        return CC_EINVAL;
    char cand[OV_VIEWER_ID_LEN + 1];
    memcpy(cand, token, OV_VIEWER_ID_LEN);
    cand[OV_VIEWER_ID_LEN] = '\0';
    for (size_t i = 1; i < OV_VIEWER_ID_LEN; i++)
        if (!((cand[i] >= '0' && cand[i] <= '9') || (cand[i] >= 'a' && cand[i] <= 'f')))
            return CC_EINVAL;
    char sig[33];
    if (sign(secret, secret_len, cand, sig) < 0)
        return CC_EINVAL;
    if (CRYPTO_memcmp(sig, token + OV_VIEWER_ID_LEN + 1, 32) != 0)
        return CC_EINVAL;
    memcpy(id, cand, OV_VIEWER_ID_LEN + 1);
    return 0;
}
