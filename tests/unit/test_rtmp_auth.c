/* Stream keys: NAME=KEY parsing and validation, lookups, rotation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cartcast/err.h"
#include "ingest/auth.h"

static void test_add_and_lookup(void **state)
{
    cc_auth_t *a = cc_auth_new();
    const char *name;
    assert_int_equal(cc_auth_lookup(a, "anything", &name), CC_EAUTH);
    assert_null(name);
    assert_int_equal(cc_auth_add(a, "shop1=s3cret-key-1"), 0);
    assert_int_equal(cc_auth_add(a, "shop2=another_key=with=equals"), 0);
    assert_int_equal(cc_auth_add(a, "shop1=rotated-key"), 0); /* a second key for shop1 */
    assert_int_equal(cc_auth_count(a), 3);
    assert_int_equal(cc_auth_lookup(a, "s3cret-key-1", &name), 0);
    assert_string_equal(name, "shop1");
    assert_int_equal(cc_auth_lookup(a, "another_key=with=equals", &name), 0);
    assert_string_equal(name, "shop2");
    assert_int_equal(cc_auth_lookup(a, "rotated-key", &name), 0);
    assert_string_equal(name, "shop1");
    /* near misses */
    assert_int_equal(cc_auth_lookup(a, "s3cret-key-", &name), CC_EAUTH);
    assert_int_equal(cc_auth_lookup(a, "s3cret-key-12", &name), CC_EAUTH);
    assert_int_equal(cc_auth_lookup(a, "S3cret-key-1", &name), CC_EAUTH);
    assert_int_equal(cc_auth_lookup(a, "", &name), CC_EAUTH);
    assert_int_equal(cc_auth_lookup(a, NULL, &name), CC_EAUTH);
    assert_int_equal(cc_auth_add_pair(a, "shop3", "k"), 0); /* 1 byte is accepted */
    assert_int_equal(cc_auth_lookup(a, "k", &name), 0);
    assert_string_equal(name, "shop3");
    cc_auth_free(a);
}

static void test_invalid(void **state)
{
    cc_auth_t *a = cc_auth_new();
    assert_int_equal(cc_auth_add(a, "noequals"), CC_EINVAL);
    assert_int_equal(cc_auth_add(a, "=key"), CC_EINVAL);
    assert_int_equal(cc_auth_add(a, "name="), CC_EINVAL);
    assert_int_equal(cc_auth_add(a, "bad name=key"), CC_EINVAL);
    assert_int_equal(cc_auth_add(a, "bad/name=key"), CC_EINVAL);
    assert_int_equal(cc_auth_add(a, "name=key with space"), CC_EINVAL);
    assert_int_equal(cc_auth_add(a, "name=key\x01"), CC_EINVAL);
    assert_int_equal(cc_auth_add(a, "name=k\xc3\xa9y"), CC_EINVAL);
    char longname[100];
    memset(longname, 'n', 65);
    strcpy(longname + 65, "=key");
    assert_int_equal(cc_auth_add(a, longname), CC_EINVAL);
    char longkey[300] = "name=";
    memset(longkey + 5, 'k', 257);
    longkey[5 + 257] = 0;
    assert_int_equal(cc_auth_add(a, longkey), CC_EINVAL);
    longkey[5 + 256] = 0;
    assert_int_equal(cc_auth_add(a, longkey), 0);
    /* the same key twice would be ambiguous */
    assert_int_equal(cc_auth_add(a, "other=" "kkkk"), 0);
    assert_int_equal(cc_auth_add(a, "third=kkkk"), CC_EINVAL);
    assert_int_equal(cc_auth_add(NULL, "a=b"), CC_EINVAL);
    assert_int_equal(cc_auth_count(a), 2);
    cc_auth_free(a);
    cc_auth_free(NULL);
}

static void test_many(void **state)
{
    cc_auth_t *a = cc_auth_new();
    char buf[64];
    for (int i = 0; i < 200; i++) {
        snprintf(buf, sizeof(buf), "s%d=key-%d-xyz", i, i);
        assert_int_equal(cc_auth_add(a, buf), 0);
    }
    const char *name;
    for (int i = 0; i < 200; i += 7) {
        snprintf(buf, sizeof(buf), "key-%d-xyz", i);
        assert_int_equal(cc_auth_lookup(a, buf, &name), 0);
        char want[16];
        snprintf(want, sizeof(want), "s%d", i);
        assert_string_equal(name, want);
    }
    cc_auth_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_lookup),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
