/* The pure half of the Redis client: URL parsing and the argument builder.
 * No I/O, no allocation: unit-tested and fuzzed (tests/fuzz/fuzz_redis_url.c). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cartcast/redis.h"

#define URL_SYNTAX "expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]"

static int fail(int code, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [s, s+n) into out (cap bytes with the NUL); -1 on a bad
 * escape, -2 when too long, -3 on an embedded NUL. */
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (char)(h * 16 + l);
            if (c == '\0')
                return -3;
            i += 2;
        }
        if (o + 1 >= cap)
            return -2;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Parses up to maxdigits decimal digits at [s, s+n) into *v within [lo, hi]. */
static int parse_uint(const char *s, size_t n, long lo, long hi, long *v)
{
    if (n == 0 || n > 9)
        return -1;
    long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    if (x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

static int host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
}

static int ipv6_char_ok(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

int cc_redis_url_parse(const char *s, cc_redis_url_t *out, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL)
        return fail(CC_EINVAL, err, errlen, "no output");
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (s == NULL || *s == '\0')
        return fail(CC_EINVAL, err, errlen, "empty Redis URL; " URL_SYNTAX);
    size_t len = strlen(s);
    if (len > 1024)
        return fail(CC_EINVAL, err, errlen, "Redis URL longer than 1024 bytes");
    if (strncasecmp(s, "rediss://", 9) == 0)
        return fail(CC_EUNSUPPORTED, err, errlen, "TLS Redis URLs (rediss://) are not supported; use redis://");
    if (strncasecmp(s, "unix://", 7) == 0 || strncasecmp(s, "redis+unix://", 13) == 0 || s[0] == '/')
        return fail(CC_EUNSUPPORTED, err, errlen, "Unix-socket Redis URLs are not supported; use redis://HOST:PORT");
    if (strncasecmp(s, "redis://", 8) != 0) {
        /* Echo the input only when it cannot hold a password. */
        if (strchr(s, '@') == NULL && len <= 200)
            return fail(CC_EINVAL, err, errlen, "'%s' is not a Redis URL; " URL_SYNTAX, s);
        return fail(CC_EINVAL, err, errlen, "not a Redis URL; " URL_SYNTAX);
    }
    const char *p = s + 8, *end = s + len;
    if (strpbrk(p, "?#") != NULL)
        return fail(CC_EINVAL, err, errlen, "query strings and fragments ('?', '#') are not supported in Redis URLs");
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *auth_end = slash ? slash : end;

    /* userinfo: everything before the last '@' of the authority */
    const char *at = NULL;
    for (const char *q = p; q < auth_end; q++)
        if (*q == '@')
            at = q;
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL)
            return fail(CC_EINVAL, err, errlen,
                        "the part before '@' needs a ':' (redis://:PASSWORD@HOST or redis://USER:PASSWORD@HOST)");
        int rc = pct_decode(p, (size_t)(colon - p), out->user, sizeof(out->user));
        if (rc == -1)
            return fail(CC_EINVAL, err, errlen, "bad %%-escape in the user name");
        if (rc == -2)
            return fail(CC_EINVAL, err, errlen, "user name longer than %zu bytes", sizeof(out->user) - 1);
        if (rc == -3)
            return fail(CC_EINVAL, err, errlen, "%%00 in the user name");
        rc = pct_decode(colon + 1, (size_t)(at - colon - 1), out->password, sizeof(out->password));
        if (rc == -1)
            return fail(CC_EINVAL, err, errlen, "bad %%-escape in the password");
        if (rc == -2)
            return fail(CC_EINVAL, err, errlen, "password longer than %zu bytes", sizeof(out->password) - 1);
        if (rc == -3)
            return fail(CC_EINVAL, err, errlen, "%%00 in the password");
        if (out->password[0] == '\0')
            return fail(CC_EINVAL, err, errlen, "empty password after ':' (leave out USER:PASSWORD@ for none)");
        out->has_password = 1;
        p = at + 1;
    }

    /* host */
    const char *host, *host_end, *port_s = NULL;
    if (p < auth_end && *p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (host_end == NULL)
            return fail(CC_EINVAL, err, errlen, "'[' without ']' around an IPv6 address");
        for (const char *q = host; q < host_end; q++)
            if (!ipv6_char_ok(*q))
                return fail(CC_EINVAL, err, errlen, "bad character in the IPv6 address");
        if (host_end == host)
            return fail(CC_EINVAL, err, errlen, "empty IPv6 address in '[]'");
        const char *after = host_end + 1;
        if (after < auth_end) {
            if (*after != ':')
                return fail(CC_EINVAL, err, errlen, "expected ':PORT' after ']'");
            port_s = after + 1;
        }
    } else {
        host = p;
        host_end = memchr(p, ':', (size_t)(auth_end - p));
        if (host_end == NULL) {
            host_end = auth_end;
        } else {
            port_s = host_end + 1;
            if (memchr(port_s, ':', (size_t)(auth_end - port_s)) != NULL)
                return fail(CC_EINVAL, err, errlen, "IPv6 addresses go in brackets: redis://[::1]:6379");
        }
        if (host_end == host)
            return fail(CC_EINVAL, err, errlen, "missing host; " URL_SYNTAX);
        for (const char *q = host; q < host_end; q++)
            if (!host_char_ok(*q))
                return fail(CC_EINVAL, err, errlen, "bad character '%c' in the host name",
                            (*q >= 0x20 && *q < 0x7f) ? *q : '?');
    }
    if ((size_t)(host_end - host) >= sizeof(out->host))
        return fail(CC_EINVAL, err, errlen, "host name longer than %zu bytes", sizeof(out->host) - 1);
    memcpy(out->host, host, (size_t)(host_end - host));
    out->host[host_end - host] = '\0';

    if (port_s != NULL) {
        long v;
        if (port_s == auth_end)
            return fail(CC_EINVAL, err, errlen, "missing port after ':'");
        if (parse_uint(port_s, (size_t)(auth_end - port_s), 1, 65535, &v) < 0) {
            int n = (int)(auth_end - port_s);
            return fail(CC_EINVAL, err, errlen, "port must be 1-65535, got '%.*s'", n > 16 ? 16 : n, port_s);
        }
        out->port = (int)v;
    }

    /* /DB */
    if (slash != NULL && slash + 1 < end) {
        const char *db = slash + 1;
        const char *db_end = memchr(db, '/', (size_t)(end - db));
        if (db_end != NULL && db_end + 1 < end)
            return fail(CC_EINVAL, err, errlen, "unexpected path after the DB number");
        if (db_end == NULL)
            db_end = end;
        long v;
        if (parse_uint(db, (size_t)(db_end - db), 0, 65535, &v) < 0) {
            int n = (int)(db_end - db);
            return fail(CC_EINVAL, err, errlen, "DB must be a number 0-65535, got '%.*s'", n > 16 ? 16 : n, db);
        }
        out->db = (int)v;
    }
    return 0;
}

char *cc_redis_url_format(const cc_redis_url_t *u, char *out, size_t outlen)
{
    if (outlen == 0)
        return out;
    const char *user = u->user[0] ? u->user : "";
    int v6 = strchr(u->host, ':') != NULL;
    char userinfo[160] = "";
    if (u->has_password)
        snprintf(userinfo, sizeof(userinfo), "%.127s:***@", user);
    snprintf(out, outlen, "redis://%s%s%s%s:%d/%d", userinfo, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, u->db);
    return out;
}

/* ---- argument builder ---------------------------------------------------- */

void cc_redis_args_init(cc_redis_args_t *a)
{
    a->argc = 0;
    a->err = 0;
    a->timeout_ms = 0;
    a->arena_used = 0;
}

void cc_redis_args_addb(cc_redis_args_t *a, const void *p, size_t n)
{
    if (a->err)
        return;
    if (a->argc >= CC_REDIS_ARGS_MAX) {
        a->err = CC_ETOOBIG;
        return;
    }
    a->argv[a->argc] = p ? (const char *)p : "";
    a->argvlen[a->argc] = p ? n : 0;
    a->argc++;
}

void cc_redis_args_add(cc_redis_args_t *a, const char *s)
{
    cc_redis_args_addb(a, s, s ? strlen(s) : 0);
}

void cc_redis_args_addv(cc_redis_args_t *a, cc_iov_t v)
{
    cc_redis_args_addb(a, v.base, v.len);
}

static void args_vaddf(cc_redis_args_t *a, const char *fmt, va_list ap)
{
    if (a->err)
        return;
    size_t room = CC_REDIS_ARENA - a->arena_used;
    char *dst = a->arena + a->arena_used;
    int n = vsnprintf(dst, room, fmt, ap);
    if (n < 0 || (size_t)n >= room) {
        a->err = CC_ETOOBIG;
        return;
    }
    a->arena_used += (size_t)n + 1;
    cc_redis_args_addb(a, dst, (size_t)n);
}

void cc_redis_args_addf(cc_redis_args_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    args_vaddf(a, fmt, ap);
    va_end(ap);
}

void cc_redis_args_addi(cc_redis_args_t *a, long long v)
{
    cc_redis_args_addf(a, "%lld", v);
}
