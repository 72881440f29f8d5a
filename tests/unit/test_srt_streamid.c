/* SRT streamid -> stream key (ingest/srt/streamid.c): every form encoders
 * send, the modes we refuse, malformed input and the length caps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "ingest/srt/streamid.h"

static int parse(const char *s, cc_srt_streamid_t *id)
{
    return cc_srt_streamid_parse(s, strlen(s), id);
}

static void expect_key(const char *sid, const char *key)
{
    cc_srt_streamid_t id;
    int rc = parse(sid, &id);
    if (rc != 0)
        fail_msg("'%s': %s", sid, cc_err_name(rc));
    assert_int_equal(id.mode, CC_SRT_MODE_PUBLISH);
    assert_string_equal(id.key, key);
    assert_int_equal(id.key_len, strlen(key));
}

static void expect_err(const char *sid, int err)
{
    cc_srt_streamid_t id;
    int rc = parse(sid, &id);
    if (rc != err)
        fail_msg("'%s': got %s, want %s", sid, cc_err_name(rc), cc_err_name(err));
    assert_string_equal(id.key, "");
    assert_int_equal(id.key_len, 0);
}

static void test_forms(void **state)
{
    expect_key("#!::r=live/k3y-0001,m=publish", "k3y-0001");
    expect_key("#!::r=k3y-0001,m=publish", "k3y-0001");
    expect_key("#!::m=publish,r=live/k3y-0001", "k3y-0001"); /* any order */
    expect_key("#!::r=live/k3y-0001", "k3y-0001");            /* no m: publish */
    expect_key("#!::u=alice,r=live/k3y,m=publish,t=stream,s=abc,h=example.com", "k3y");
    expect_key("publish:live/k3y-0001", "k3y-0001");
    expect_key("publish:k3y-0001", "k3y-0001");
    expect_key("k3y-0001", "k3y-0001");
    expect_key("live/k3y-0001", "k3y-0001");
    /* Keys are opaque: anything printable (the auth alphabet) passes through. */
    expect_key("a:b=c/d", "a:b=c/d");
    expect_key("#!::r=app/k3y,m=publish", "app/k3y"); /* looked up whole: unknown */
    expect_key("publish:live/a,b", "a,b");
    expect_key("x", "x");
}

static void test_modes(void **state)
{
    cc_srt_streamid_t id;
    assert_int_equal(parse("#!::r=live/k3y,m=request", &id), CC_EUNSUPPORTED);
    assert_int_equal(id.mode, CC_SRT_MODE_REQUEST);
    assert_string_equal(id.key, "");
    assert_int_equal(parse("#!::r=live/k3y,m=bidirectional", &id), CC_EUNSUPPORTED);
    assert_int_equal(id.mode, CC_SRT_MODE_OTHER);
    assert_int_equal(parse("#!::m=Publish,r=k3y", &id), CC_EUNSUPPORTED); /* case matters */
    assert_int_equal(id.mode, CC_SRT_MODE_OTHER);
    assert_int_equal(parse("play:live/k3y", &id), CC_EUNSUPPORTED);
    assert_int_equal(id.mode, CC_SRT_MODE_REQUEST);
    assert_int_equal(parse("request:k3y", &id), CC_EUNSUPPORTED);
    assert_int_equal(id.mode, CC_SRT_MODE_REQUEST);
    /* the mode is judged before the resource: no key needed to be refused */
    assert_int_equal(parse("#!::m=request", &id), CC_EUNSUPPORTED);
    assert_string_equal(cc_srt_mode_name(CC_SRT_MODE_PUBLISH), "publish");
    assert_string_equal(cc_srt_mode_name(CC_SRT_MODE_REQUEST), "request");
    assert_string_equal(cc_srt_mode_name(CC_SRT_MODE_OTHER), "other");
}

static void test_malformed(void **state)
{
    expect_err("", CC_EPROTO);
    expect_err("#!::", CC_EPROTO);
    expect_err("#!::m=publish", CC_EPROTO);          /* no resource */
    expect_err("#!::r=,m=publish", CC_EPROTO);       /* empty value */
    expect_err("#!::r=live/,m=publish", CC_EPROTO);  /* empty key */
    expect_err("#!::r", CC_EPROTO);
    expect_err("#!::=k3y", CC_EPROTO);
    expect_err("#!::r=k3y,", CC_EPROTO);             /* empty item */
    expect_err("#!::r=k3y,,m=publish", CC_EPROTO);
    expect_err("#!::r=a,r=b", CC_EPROTO);            /* repeated key */
    expect_err("#!::m=publish,m=publish,r=a", CC_EPROTO);
    expect_err("#!::x=1,r=k3y", CC_EPROTO);          /* unknown key */
    expect_err("#!::rr=k3y", CC_EPROTO);
    expect_err("#!::t=file,r=k3y", CC_EPROTO);       /* only live streams */
    expect_err("#!:r=k3y", CC_EPROTO);               /* typo in the prefix */
    expect_err("#!r=k3y", CC_EPROTO);
    expect_err("publish:", CC_EPROTO);
    expect_err("publish:live/", CC_EPROTO);
    expect_err("live/", CC_EPROTO);
    expect_err("k3y with space", CC_EPROTO);
    expect_err("#!::r=k3y ,m=publish", CC_EPROTO);
    expect_err("k3y\t", CC_EPROTO);
    expect_err("k\x7fy", CC_EPROTO);
    expect_err("k\xc3\xa9y", CC_EPROTO);
    /* an embedded NUL is never a valid streamid */
    cc_srt_streamid_t id;
    assert_int_equal(cc_srt_streamid_parse("k3y\0rest", 8, &id), CC_EPROTO);
    assert_int_equal(cc_srt_streamid_parse(NULL, 0, &id), CC_EINVAL);
    assert_int_equal(cc_srt_streamid_parse("k", 1, NULL), CC_EINVAL);
}

static void test_caps(void **state)
{
    char sid[CC_SRT_STREAMID_MAX + 64];
    cc_srt_streamid_t id;
    /* a key of exactly CC_AUTH_KEY_MAX bytes passes, one more does not */
    memset(sid, 'k', CC_AUTH_KEY_MAX);
    sid[CC_AUTH_KEY_MAX] = '\0';
    assert_int_equal(parse(sid, &id), 0);
    assert_int_equal(id.key_len, CC_AUTH_KEY_MAX);
    sid[CC_AUTH_KEY_MAX] = 'k';
    sid[CC_AUTH_KEY_MAX + 1] = '\0';
    assert_int_equal(parse(sid, &id), CC_ETOOBIG);
    int n = snprintf(sid, sizeof(sid), "#!::r=live/");
    memset(sid + n, 'k', CC_AUTH_KEY_MAX + 1);
    strcpy(sid + n + CC_AUTH_KEY_MAX + 1, ",m=publish");
    assert_int_equal(parse(sid, &id), CC_ETOOBIG);
    /* the whole streamid is capped before anything is read */
    memset(sid, 'k', CC_SRT_STREAMID_MAX + 1);
    assert_int_equal(cc_srt_streamid_parse(sid, CC_SRT_STREAMID_MAX + 1, &id), CC_ETOOBIG);
    /* a long but legal keyed streamid */
    n = snprintf(sid, sizeof(sid), "#!::u=");
    memset(sid + n, 'u', 400);
    strcpy(sid + n + 400, ",r=live/k3y,m=publish");
    assert_true(strlen(sid) <= CC_SRT_STREAMID_MAX);
    assert_int_equal(parse(sid, &id), 0);
    assert_string_equal(id.key, "k3y");
}

/* Every prefix of a valid streamid parses to something or fails cleanly;
 * the parser never reads past len (ASan checks: the copy has no NUL). */
static void test_prefixes(void **state)
{
    const char *all[] = {"#!::r=live/k3y-0001,m=publish", "publish:live/k3y", "#!::u=a,r=k,m=request"};
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
        size_t len = strlen(all[k]);
        for (size_t i = 0; i <= len; i++) {
            char *copy = malloc(i ? i : 1);
            memcpy(copy, all[k], i);
            cc_srt_streamid_t id;
            int rc = cc_srt_streamid_parse(copy, i, &id);
            assert_true(rc == 0 || rc == CC_EPROTO || rc == CC_EUNSUPPORTED);
            if (rc == 0)
                assert_true(id.key_len > 0 && id.key_len == strlen(id.key));
            free(copy);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_prefixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
