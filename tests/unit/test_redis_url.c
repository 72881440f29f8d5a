/* core/redis_url.c: the Redis URL parser and the argument builder (pure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cartcast/redis.h"

static void ok(const char *s, const char *host, int port, int db, const char *user, const char *pass)
{
    cc_redis_url_t u;
    char err[256];
    int rc = cc_redis_url_parse(s, &u, err, sizeof(err));
    if (rc != 0)
        fail_msg("'%s' should parse: %s", s, err);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_int_equal(u.db, db);
    assert_string_equal(u.user, user);
    assert_string_equal(u.password, pass);
    assert_int_equal(u.has_password, pass[0] != '\0');
}

static void bad(const char *s, int code, const char *msg)
{
    cc_redis_url_t u;
    char err[256];
    int rc = cc_redis_url_parse(s, &u, err, sizeof(err));
    if (rc != code)
        fail_msg("'%s': expected %d, got %d (%s)", s ? s : "(null)", code, rc, err);
    if (strstr(err, msg) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", s ? s : "(null)", err, msg);
}

static void test_good_urls(void **state)
{
    ok("redis://127.0.0.1:6379", "127.0.0.1", 6379, 0, "", "");
    ok("redis://localhost", "localhost", 6379, 0, "", "");
    ok("redis://localhost/", "localhost", 6379, 0, "", "");
    ok("REDIS://h:1/15", "h", 1, 15, "", "");
    ok("redis://redis-1.svc.cluster.local:7000/3", "redis-1.svc.cluster.local", 7000, 3, "", "");
    ok("redis://[::1]:6380/1", "::1", 6380, 1, "", "");
    ok("redis://[::1]", "::1", 6379, 0, "", "");
    ok("redis://:s3cret@h:1", "h", 1, 0, "", "s3cret");
    ok("redis://app:p%40ss%3Aword@h", "h", 6379, 0, "app", "p@ss:word");
    ok("redis://u:a@b@h:2", "h", 2, 0, "u", "a@b"); /* the last '@' ends the userinfo */
    ok("redis://h:65535/65535", "h", 65535, 65535, "", "");
}

static void test_bad_urls(void **state)
{
    bad(NULL, CC_EINVAL, "empty Redis URL");
    bad("", CC_EINVAL, "empty Redis URL");
    bad("127.0.0.1:6379", CC_EINVAL, "'127.0.0.1:6379' is not a Redis URL");
    bad("http://h", CC_EINVAL, "not a Redis URL");
    bad("rediss://h", CC_EUNSUPPORTED, "TLS");
    bad("unix:///tmp/redis.sock", CC_EUNSUPPORTED, "Unix-socket");
    bad("redis://", CC_EINVAL, "missing host");
    bad("redis://:6379", CC_EINVAL, "missing host");
    bad("redis://h:", CC_EINVAL, "missing port after ':'");
    bad("redis://h:0", CC_EINVAL, "port must be 1-65535, got '0'");
    bad("redis://h:65536", CC_EINVAL, "port must be 1-65535");
    bad("redis://h:12ab", CC_EINVAL, "port must be 1-65535, got '12ab'");
    bad("redis://h:1/x", CC_EINVAL, "DB must be a number 0-65535, got 'x'");
    bad("redis://h:1/65536", CC_EINVAL, "DB must be a number");
    bad("redis://h:1/1/2", CC_EINVAL, "unexpected path");
    bad("redis://h?db=1", CC_EINVAL, "query strings");
    bad("redis://::1:6379", CC_EINVAL, "IPv6 addresses go in brackets");
    bad("redis://[::1", CC_EINVAL, "'[' without ']'");
    bad("redis://[::1]x", CC_EINVAL, "expected ':PORT' after ']'");
    bad("redis://[zz]:1", CC_EINVAL, "bad character in the IPv6");
    bad("redis://h st:1", CC_EINVAL, "bad character ' ' in the host");
    bad("redis://secret@h", CC_EINVAL, "needs a ':'");
    bad("redis://u:@h", CC_EINVAL, "empty password");
    bad("redis://u:%zz@h", CC_EINVAL, "bad %-escape in the password");
    bad("redis://u:%4@h", CC_EINVAL, "bad %-escape in the password");
    bad("redis://u:%00@h", CC_EINVAL, "%00 in the password");
}

static void test_password_never_in_messages(void **state)
{
    const char *secrets[] = {"rediss://:hunter2@h", "http://:hunter2@h", "redis://:hunter2@h:0",
                             "redis://:hunter2@h:1/x", "redis://:hunter2@[zz]", "hunter2@h:1"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        cc_redis_url_t u;
        char err[256];
        assert_true(cc_redis_url_parse(secrets[i], &u, err, sizeof(err)) < 0);
        assert_null(strstr(err, "hunter2"));
    }
    cc_redis_url_t u;
    char out[300];
    assert_int_equal(cc_redis_url_parse("redis://app:hunter2@[::1]:7/2", &u, NULL, 0), 0);
    assert_string_equal(cc_redis_url_format(&u, out, sizeof(out)), "redis://app:***@[::1]:7/2");
    assert_int_equal(cc_redis_url_parse("redis://h", &u, NULL, 0), 0);
    assert_string_equal(cc_redis_url_format(&u, out, sizeof(out)), "redis://h:6379/0");
    char tiny[8];
    assert_string_equal(cc_redis_url_format(&u, tiny, sizeof(tiny)), "redis:/");
}

static void test_long_inputs(void **state)
{
    char s[1100];
    memset(s, 'a', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    memcpy(s, "redis://", 8);
    bad(s, CC_EINVAL, "longer than 1024");
    char host[300] = "redis://";
    memset(host + 8, 'h', 280);
    host[288] = '\0';
    bad(host, CC_EINVAL, "host name longer than 255");
    /* every prefix of a valid URL parses or fails cleanly */
    const char *full = "redis://user:pa%20ss@[::1]:6379/12";
    for (size_t n = 0; n <= strlen(full); n++) {
        char p[64];
        memcpy(p, full, n);
        p[n] = '\0';
        cc_redis_url_t u;
        char err[256];
        int rc = cc_redis_url_parse(p, &u, err, sizeof(err));
        assert_true(rc == 0 || rc == CC_EINVAL || rc == CC_EUNSUPPORTED);
    }
}

static void test_args_builder(void **state)
{
    cc_redis_args_t a;
    cc_redis_args_init(&a);
    const char bin[] = {'a', '\0', 'b'};
    cc_redis_args_add(&a, "XADD");
    cc_redis_args_addf(&a, "cc:{sku:%s}:stock", "ABC");
    cc_redis_args_addb(&a, bin, 3);
    cc_redis_args_addi(&a, -42);
    cc_redis_args_addv(&a, cc_iov("xyz", 2));
    cc_redis_args_add(&a, NULL);
    assert_int_equal(a.err, 0);
    assert_int_equal(a.argc, 6);
    assert_memory_equal(a.argv[1], "cc:{sku:ABC}:stock", 18);
    assert_int_equal(a.argvlen[1], 18);
    assert_int_equal(a.argvlen[2], 3);
    assert_memory_equal(a.argv[2], bin, 3);
    assert_string_equal(a.argv[3], "-42");
    assert_int_equal(a.argvlen[4], 2);
    assert_int_equal(a.argvlen[5], 0);
    /* the argument cap */
    cc_redis_args_init(&a);
    for (int i = 0; i < CC_REDIS_ARGS_MAX; i++)
        cc_redis_args_add(&a, "x");
    assert_int_equal(a.err, 0);
    cc_redis_args_add(&a, "one too many");
    assert_int_equal(a.err, CC_ETOOBIG);
    assert_int_equal(a.argc, CC_REDIS_ARGS_MAX);
    /* the arena cap: sticky error, earlier arguments intact */
    cc_redis_args_init(&a);
    cc_redis_args_addi(&a, 7);
    char big[CC_REDIS_ARENA];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cc_redis_args_addf(&a, "%s", big);
    assert_int_equal(a.err, CC_ETOOBIG);
    cc_redis_args_add(&a, "after");
    assert_int_equal(a.argc, 1);
    assert_string_equal(a.argv[0], "7");
}

static void test_status_strings(void **state)
{
    redisReply r = {.type = REDIS_REPLY_ERROR, .str = "NOSCRIPT No matching script", .len = 27};
    assert_string_equal(cc_redis_status_str(CC_REDIS_EREPLY, &r), "NOSCRIPT No matching script");
    assert_string_equal(cc_redis_status_str(UV_ENOTCONN, NULL), "Redis is not connected");
    assert_string_equal(cc_redis_status_str(CC_ETIMEDOUT, NULL), "Redis command timed out");
    assert_string_equal(cc_err_name(CC_REDIS_EREPLY), "EREMOTEIO");
    assert_string_equal(cc_redis_why(NULL), "closed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_urls),       cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_password_never_in_messages), cmocka_unit_test(test_long_inputs),
        cmocka_unit_test(test_args_builder),    cmocka_unit_test(test_status_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
