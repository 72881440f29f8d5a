/* Stream-key table.  See auth.h. */
#include "ingest/auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/hub.h"
#include "ingest/rtmp/sha256.h"

typedef struct auth_entry {
    char name[CC_STREAM_NAME_MAX + 1];
    /* Only the hash is kept: equal-length digests make the comparison
     * constant-time whatever the key lengths are. */
    uint8_t digest[CC_SHA256_LEN];
} auth_entry_t;

struct cc_auth {
    auth_entry_t *entries;
    size_t count, alloc;
};

cc_auth_t *cc_auth_new(void) { return calloc(1, sizeof(cc_auth_t)); }

void cc_auth_free(cc_auth_t *auth)
{
    if (!auth)
        return;
    /* Scrub the digests: they are as good as the keys for an offline guess. */
    if (auth->entries) {
        volatile uint8_t *p = (volatile uint8_t *)auth->entries;
        for (size_t i = 0; i < auth->alloc * sizeof(auth_entry_t); i++)
            p[i] = 0;
    }
    free(auth->entries);
    free(auth);
}

static int key_check(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > CC_AUTH_KEY_MAX)
        return CC_EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] >= 0x7f)
            return CC_EINVAL;
    return 0;
}

/* Index of the entry whose digest matches, or -1; touches every entry. */
static long find(const cc_auth_t *auth, const uint8_t digest[CC_SHA256_LEN])
{
    long found = -1;
    for (size_t i = 0; i < auth->count; i++) {
        uint8_t diff = 0;
        for (int j = 0; j < CC_SHA256_LEN; j++)
            diff |= auth->entries[i].digest[j] ^ digest[j];
        /* mask is all ones when diff == 0, without a branch on the key. */
        long mask = -(long)(((unsigned)diff - 1u) >> 8 & 1u);
        found = (found & ~mask) | ((long)i & mask);
    }
    return found;
}

int cc_auth_add_pair(cc_auth_t *auth, const char *name, const char *key)
{
    if (!auth || !name || !key || cc_stream_name_check(name) < 0 || key_check(key) < 0)
        return CC_EINVAL;
    uint8_t d[CC_SHA256_LEN];
    cc__sha256(key, strlen(key), d);
    if (find(auth, d) >= 0)
        return CC_EINVAL;
    if (auth->count == auth->alloc) {
        size_t n = auth->alloc ? auth->alloc * 2 : 4;
        auth_entry_t *e = realloc(auth->entries, n * sizeof(*e));
        if (!e)
            return CC_ENOMEM;
        auth->entries = e;
        auth->alloc = n;
    }
    auth_entry_t *e = &auth->entries[auth->count++];
    memset(e, 0, sizeof(*e));
    strcpy(e->name, name);
    memcpy(e->digest, d, sizeof(d));
    return 0;
}

int cc_auth_add(cc_auth_t *auth, const char *name_eq_key)
{
    if (!auth || !name_eq_key)
        return CC_EINVAL;
    const char *eq = strchr(name_eq_key, '=');
    if (!eq || eq == name_eq_key || (size_t)(eq - name_eq_key) > CC_STREAM_NAME_MAX)
        return CC_EINVAL;
    char name[CC_STREAM_NAME_MAX + 1];
    memcpy(name, name_eq_key, (size_t)(eq - name_eq_key));
    name[eq - name_eq_key] = '\0';
    return cc_auth_add_pair(auth, name, eq + 1);
}

int cc_auth_lookup(const cc_auth_t *auth, const char *key, const char **name)
{
    *name = NULL;
    if (!auth || !key)
        return CC_EAUTH;
    uint8_t d[CC_SHA256_LEN];
    cc__sha256(key, strlen(key), d);
    long i = find(auth, d);
    if (i < 0)
        return CC_EAUTH;
    *name = auth->entries[i].name;
    return 0;
}

size_t cc_auth_count(const cc_auth_t *auth) { return auth ? auth->count : 0; }
