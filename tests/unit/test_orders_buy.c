/* commerce-overlay/orders/buy.c: buy message validation, script results, money. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cartcast/err.h"
#include "orders/buy.h"

/* Builds views from NULL-terminated "field", "value", ... */
static size_t views(cc_iov_t *fv, const char *const *kv)
{
    size_t n = 0;
    for (; kv[n]; n++)
        fv[n] = cc_iov(kv[n], strlen(kv[n]));
    return n;
}

#define GOOD "idem", "k-1", "viewer", "v:42@site", "sku", "TEE.Black-L", "qty", "2", "price", "1999", "currency", \
             "EUR", "stream", "shop_1", "creator", "cr.7", "cue", "cue-9", "ts", "1795437632724"

static int parse(const char *const *kv, cc_buy_t *b, char *reason)
{
    cc_iov_t fv[80];
    size_t n = views(fv, kv);
    return cc_buy_parse(fv, n, b, reason, 200);
}

static void test_valid_buy(void **state)
{
    const char *kv[] = {GOOD, "node", "overlay-2", "req", "r1", "extra", "ignored", NULL};
    cc_buy_t b;
    char reason[200];
    assert_int_equal(parse(kv, &b, reason), 0);
    assert_string_equal(reason, "");
    assert_string_equal(b.idem, "k-1");
    assert_string_equal(b.viewer, "v:42@site");
    assert_string_equal(b.sku, "TEE.Black-L");
    assert_int_equal(b.qty, 2);
    assert_int_equal(b.price, 1999);
    assert_string_equal(b.currency, "EUR");
    assert_string_equal(b.stream, "shop_1");
    assert_string_equal(b.creator, "cr.7");
    assert_string_equal(b.cue, "cue-9");
    assert_int_equal(b.ts, 1795437632724LL);
    assert_string_equal(b.node, "overlay-2");
    assert_string_equal(b.req, "r1");
}

static void expect(const char *field, const char *value, const char *msg)
{
    const char *kv[] = {GOOD, NULL};
    const char *copy[32];
    size_t n = 0;
    for (; kv[n]; n++)
        copy[n] = kv[n];
    copy[n] = NULL;
    int found = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (strcmp(copy[i], field) == 0) {
            if (value == NULL) { /* remove the pair */
                copy[i] = "removed";
            } else {
                copy[i + 1] = value;
            }
            found = 1;
        }
    }
    assert_true(found);
    cc_buy_t b;
    char reason[200];
    assert_int_equal(parse(copy, &b, reason), CC_EINVAL);
    if (strstr(reason, msg) == NULL)
        fail_msg("%s=%s: reason '%s' lacks '%s'", field, value ? value : "(none)", reason, msg);
}

static void test_invalid_fields(void **state)
{
    expect("idem", NULL, "idem: missing");
    expect("idem", "", "idem: must not be empty");
    expect("idem", "has space", "idem: only [A-Za-z0-9._:@-] allowed");
    expect("viewer", "a\tb", "viewer: only");
    expect("sku", "a:b", "sku: only [A-Za-z0-9._-] allowed");
    expect("sku", "{x}", "sku: only");
    expect("sku", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "sku: longer than 64");
    expect("stream", "a.b", "stream: only [A-Za-z0-9_-] allowed");
    expect("qty", "0", "qty: must be an integer 1-1000, got '0'");
    expect("qty", "1001", "qty: must be an integer 1-1000");
    expect("qty", "-1", "qty: must be");
    expect("qty", "01", "qty: must be");
    expect("qty", "1.5", "qty: must be");
    expect("qty", "99999999999999999999", "got '99999999999999999999'");
    expect("price", "19.99", "price: must be an integer number of minor units");
    expect("price", "1000000000001", "price: must be");
    expect("currency", "eur", "currency: must be an ISO 4217 code such as EUR, got 'eur'");
    expect("currency", "EURO", "currency");
    expect("ts", "yesterday", "ts: must be milliseconds");
    expect("cue", NULL, "cue: missing");
    expect("creator", NULL, "creator: missing");
}

static void test_structure(void **state)
{
    cc_buy_t b;
    char reason[200];
    const char *twice[] = {GOOD, "sku", "OTHER", NULL};
    assert_int_equal(parse(twice, &b, reason), CC_EINVAL);
    assert_string_equal(reason, "sku: given twice");
    cc_iov_t fv[3] = {cc_iov("idem", 4), cc_iov("k", 1), cc_iov("viewer", 6)};
    assert_int_equal(cc_buy_parse(fv, 3, &b, reason, sizeof(reason)), CC_EINVAL);
    assert_string_equal(reason, "entry: odd number of field/value items");
    assert_int_equal(cc_buy_parse(NULL, 0, &b, reason, sizeof(reason)), CC_EINVAL);
    assert_string_equal(reason, "idem: missing");
    /* what parsed is kept for the invalid buy's event */
    const char *partial[] = {"idem", "k", "viewer", "v", "sku", "S", "qty", "0", NULL};
    assert_int_equal(parse(partial, &b, reason), CC_EINVAL);
    assert_string_equal(b.viewer, "v");
    assert_string_equal(b.sku, "S");
    /* binary garbage in a value is reported without echoing control bytes */
    const char *kv[] = {GOOD, NULL};
    cc_iov_t g[40];
    size_t n = views(g, kv);
    const char junk[] = {'\x01', '\'', '\xff', 'x'};
    g[7] = cc_iov(junk, sizeof(junk)); /* qty */
    assert_int_equal(cc_buy_parse(g, n, &b, reason, sizeof(reason)), CC_EINVAL);
    assert_string_equal(reason, "qty: must be an integer 1-1000, got '???x'");
    /* a tiny reason buffer still terminates */
    char small[8];
    assert_int_equal(cc_buy_parse(g, n, &b, small, sizeof(small)), CC_EINVAL);
    assert_int_equal(strlen(small), 7);
}

static void test_result_parse(void **state)
{
    cc_buy_result_t r;
    const char *s = "1\tconfirmed\tord_7_A\t\t3\t12\t1795437632724-0\t2";
    assert_int_equal(cc_buy_result_parse(s, strlen(s), &r), 0);
    assert_int_equal(r.is_new, 1);
    assert_memory_equal(r.status.base, "confirmed", 9);
    assert_memory_equal(r.order.base, "ord_7_A", 7);
    assert_int_equal(r.reason.len, 0);
    assert_int_equal(r.stock, 3);
    assert_int_equal(r.version, 12);
    assert_int_equal(r.entry.len, 15);
    assert_int_equal(r.qty, 2);
    s = "0\tinvalid\t\tunknown_sku\t-1\t0\t1-0\t1";
    assert_int_equal(cc_buy_result_parse(s, strlen(s), &r), 0);
    assert_int_equal(r.stock, -1);
    const char *bad[] = {"", "1", "2\tconfirmed\to\t\t1\t1\t1-0\t1", "1\tmaybe\to\t\t1\t1\t1-0\t1",
                         "1\tconfirmed\t\t\t1\t1\t1-0\t1", "1\tsold_out\t\t\tx\t1\t1-0\t1",
                         "1\tsold_out\t\t\t1\t1\t1-0\t1\textra", "1\tsold_out\t\t\t1\t1\t1-0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cc_buy_result_parse(bad[i], strlen(bad[i]), &r), CC_EPROTO);
    /* every prefix of a good result is handled */
    s = "1\tlimit_reached\t\tlimit 2 per viewer, already bought 2\t5\t9\t1-1\t1";
    for (size_t n = 0; n < strlen(s); n++)
        assert_int_equal(cc_buy_result_parse(s, n, &r), CC_EPROTO);
    assert_int_equal(cc_buy_result_parse(s, strlen(s), &r), 0);
}

static void test_money(void **state)
{
    assert_int_equal(cc_buy_commission(1999, 1000), 199);
    assert_int_equal(cc_buy_commission(1000, 1250), 125);
    assert_int_equal(cc_buy_commission(0, 1000), 0);
    assert_int_equal(cc_buy_commission(1999, 0), 0);
    assert_int_equal(cc_buy_commission(1999, 10000), 1999);
    int64_t big = 1000LL * CC_BUY_PRICE_MAX; /* qty max x price max */
    assert_int_equal(cc_buy_commission(big, 9999), big / 10000 * 9999);
    int bp;
    assert_int_equal(cc_buy_parse_pct("10", &bp), 0);
    assert_int_equal(bp, 1000);
    assert_int_equal(cc_buy_parse_pct("12.5", &bp), 0);
    assert_int_equal(bp, 1250);
    assert_int_equal(cc_buy_parse_pct("0.05", &bp), 0);
    assert_int_equal(bp, 5);
    assert_int_equal(cc_buy_parse_pct("100", &bp), 0);
    assert_int_equal(bp, 10000);
    const char *bad[] = {"", "100.01", "101", "1.234", "-1", "1.", ".5", "abc", "1e2", "1000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cc_buy_parse_pct(bad[i], &bp), CC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_buy),   cmocka_unit_test(test_invalid_fields), cmocka_unit_test(test_structure),
        cmocka_unit_test(test_result_parse), cmocka_unit_test(test_money),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
