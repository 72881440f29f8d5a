/* Range header parsing (RFC 9110 14.1.2): one range honoured, the rest ignored. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cartcast/err.h"
#include "edge/http_range.h"

static void expect(const char *v, size_t total, int rc, size_t start, size_t len)
{
    size_t s = 77, l = 77;
    assert_int_equal(cc_http_range_parse(v, total, &s, &l), rc);
    if (rc == 0) {
        assert_int_equal(s, start);
        assert_int_equal(l, len);
    }
}

static void test_ranges(void **state)
{
    expect("bytes=0-99", 1000, 0, 0, 100);
    expect("bytes=100-", 1000, 0, 100, 900);
    expect("bytes=-100", 1000, 0, 900, 100);
    expect("bytes=-5000", 1000, 0, 0, 1000);   /* suffix longer than the body: all of it */
    expect("bytes=990-5000", 1000, 0, 990, 10); /* end clamped */
    expect("BYTES = 5-5", 1000, 0, 5, 1);
    expect("bytes=999-999", 1000, 0, 999, 1);
}

static void test_unsatisfiable_is_416(void **state)
{
    expect("bytes=1000-", 1000, CC_EINVAL, 0, 0);
    expect("bytes=5000-6000", 1000, CC_EINVAL, 0, 0);
    expect("bytes=-0", 1000, CC_EINVAL, 0, 0);
    expect("bytes=0-", 0, CC_EINVAL, 0, 0);
}

static void test_ignored_means_whole_body(void **state)
{
    expect(NULL, 1000, CC_ENOENT, 0, 0);
    expect("", 1000, CC_ENOENT, 0, 0);
    expect("items=0-5", 1000, CC_ENOENT, 0, 0);
    expect("bytes=0-5,10-20", 1000, CC_ENOENT, 0, 0); /* several ranges: we send everything */
    expect("bytes=5-1", 1000, CC_ENOENT, 0, 0);
    expect("bytes=-", 1000, CC_ENOENT, 0, 0);
    expect("bytes=+5-6", 1000, CC_ENOENT, 0, 0);
    expect("bytes=99999999999999999999999-", 1000, CC_ENOENT, 0, 0); /* overflow */
    expect("bytes=1-2x", 1000, CC_ENOENT, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_unsatisfiable_is_416),
        cmocka_unit_test(test_ignored_means_whole_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
