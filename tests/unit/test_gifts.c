/* Gifts and catalogs, the pure parts (docs/gifts-and-shop.md): the gift
 * catalog file, the viewer's gift message, catalog product validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cartcast/err.h"
#include "catalog.h"
#include "gift.h"

static int parse_cat(const char *text, ov_gift_catalog_t *c, char *err)
{
    return ov_gift_catalog_parse(text, strlen(text), c, err, 300);
}

static void test_catalog_ok(void **state)
{
    ov_gift_catalog_t c;
    char err[300];
    assert_int_equal(parse_cat("{\"creator_share_pct\":70,\"gifts\":[{\"id\":\"rose\",\"name\":\"Rose \xf0\x9f\x8c\xb9\","
                               "\"price\":5,\"image\":\"/static/gift-rose.svg\"},{\"id\":\"r.2\",\"name\":\"R\","
                               "\"price\":1000000}]}",
                               &c, err),
                     0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.creator_share_pct, 70);
    assert_string_equal(c.gifts[0].name, "Rose \xf0\x9f\x8c\xb9");
    assert_string_equal(c.gifts[0].image, "/static/gift-rose.svg");
    assert_null(c.gifts[1].image);
    assert_ptr_equal(ov_gift_find(&c, "r.2"), &c.gifts[1]);
    assert_null(ov_gift_find(&c, "r"));
    assert_non_null(strstr(c.json, "\"price\":1000000"));
    ov_gift_catalog_free(&c);
}

static void test_catalog_errors(void **state)
{
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"[]", "must be a JSON object"},
        {"{\"gifts\":[{\"id\":\"a\",\"name\":\"A\",\"price\":1}]}", "creator_share_pct: is required"},
        {"{\"creator_share_pct\":101,\"gifts\":[]}", "creator_share_pct: must be an integer 0-100"},
        {"{\"creator_share_pct\":50,\"gifts\":[]}", "gifts: must be a list of 1-64 gifts"},
        {"{\"creator_share_pct\":50,\"gift\":[]}", "gift: unknown field"},
        {"{\"creator_share_pct\":50,\"gifts\":[{\"id\":\"a b\",\"name\":\"A\",\"price\":1}]}", "gifts[0].id"},
        {"{\"creator_share_pct\":50,\"gifts\":[{\"id\":\"a\",\"name\":\"A\",\"price\":1},{\"id\":\"a\",\"name\":\"B\","
         "\"price\":2}]}",
         "gifts[1].id: 'a' is used twice"},
        {"{\"creator_share_pct\":50,\"gifts\":[{\"id\":\"a\",\"name\":\"\",\"price\":1}]}", "gifts[0].name"},
        {"{\"creator_share_pct\":50,\"gifts\":[{\"id\":\"a\",\"name\":\"A\\n\",\"price\":1}]}", "gifts[0].name"},
        {"{\"creator_share_pct\":50,\"gifts\":[{\"id\":\"a\",\"name\":\"A\",\"price\":0}]}", "gifts[0].price"},
        {"{\"creator_share_pct\":50,\"gifts\":[{\"id\":\"a\",\"name\":\"A\",\"price\":1.5}]}", "gifts[0].price"},
        {"{\"creator_share_pct\":50,\"gifts\":[{\"id\":\"a\",\"name\":\"A\",\"price\":1,\"image\":\"//evil.example/x\"}]}",
         "gifts[0].image"},
        {"{\"creator_share_pct\":50,\"gifts\":[{\"id\":\"a\",\"name\":\"A\",\"price\":1,\"image\":\"javascript:x\"}]}",
         "gifts[0].image"},
        {"{\"creator_share_pct\":50,\"gifts\":[{\"id\":\"a\",\"name\":\"A\",\"price\":1,\"colour\":1}]}",
         "gifts[0].colour: unknown field"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ov_gift_catalog_t c;
        char err[300];
        assert_int_equal(parse_cat(cases[i].text, &c, err), CC_EINVAL);
        if (strstr(err, cases[i].why) == NULL)
            fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].why);
        assert_int_equal(c.n, 0);
    }
}

static void test_gift_message(void **state)
{
    ov_gift_msg_t m;
    char err[160];
    const char *ok = "{\"type\":\"gift\",\"gift\":\"rose\",\"idempotency_key\":\"k:1@a\",\"req\":\"g1\"}";
    assert_int_equal(ov_gift_msg_parse(ok, strlen(ok), &m, err, sizeof(err)), 0);
    assert_string_equal(m.gift, "rose");
    assert_string_equal(m.idem, "k:1@a");
    assert_string_equal(m.req, "g1");
    const char *other = "{\"type\":\"buy\",\"gift\":\"rose\"}";
    assert_int_equal(ov_gift_msg_parse(other, strlen(other), &m, err, sizeof(err)), 1);
    assert_int_equal(ov_gift_msg_parse("not json", 8, &m, err, sizeof(err)), 1);
    const char *nokey = "{\"type\":\"gift\",\"gift\":\"rose\",\"req\":\"r9\"}";
    assert_int_equal(ov_gift_msg_parse(nokey, strlen(nokey), &m, err, sizeof(err)), CC_EINVAL);
    assert_non_null(strstr(err, "idempotency_key"));
    assert_string_equal(m.req, "r9"); /* readable: the error can echo it */
    const char *as = "{\"type\":\"gift\",\"gift\":\"rose\",\"idempotency_key\":\"k\",\"viewer\":\"v1\"}";
    assert_int_equal(ov_gift_msg_parse(as, strlen(as), &m, err, sizeof(err)), CC_EINVAL);
    assert_non_null(strstr(err, "viewer: unknown field"));
    const char *nul = "{\"type\":\"gift\",\"gift\":\"ro\\u0000se\",\"idempotency_key\":\"k\"}";
    /* jansson refuses \u0000 without JSON_ALLOW_NUL: not JSON to us, the viewer parser answers "invalid" */
    assert_int_equal(ov_gift_msg_parse(nul, strlen(nul), &m, err, sizeof(err)), 1);
    const char *num = "{\"type\":\"gift\",\"gift\":5,\"idempotency_key\":\"k\"}";
    assert_int_equal(ov_gift_msg_parse(num, strlen(num), &m, err, sizeof(err)), CC_EINVAL);
    assert_non_null(strstr(err, "gift: must be a gift id"));
}

static const char *err_for(const cc_cue_errors_t *e, const char *field)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->e[i].field, field) == 0)
            return e->e[i].message;
    return NULL;
}

static void test_product(void **state)
{
    ov_product_req_t p;
    cc_cue_errors_t e;
    const char *ok = "{\"sku\":\"MUG-1\",\"title\":\"Mug\",\"description\":\"a\\nb\",\"price\":1299,\"currency\":\"EUR\","
                     "\"checkout_url\":\"https://x.example/m\",\"stock\":4,\"featured\":true}";
    assert_int_equal(ov_catalog_validate(ok, strlen(ok), NULL, &p, &e), 0);
    assert_string_equal(p.sku, "MUG-1");
    assert_int_equal(p.stock, 4);
    assert_null(json_object_get(p.product, "stock"));
    assert_true(json_is_true(json_object_get(p.product, "featured")));
    json_decref(p.product);
    /* PUT: the path gives the SKU */
    const char *put = "{\"title\":\"Mug\",\"price\":0,\"currency\":\"USD\"}";
    assert_int_equal(ov_catalog_validate(put, strlen(put), "MUG-1", &p, &e), 0);
    assert_string_equal(p.sku, "MUG-1");
    assert_int_equal(p.stock, -1);
    assert_true(json_is_false(json_object_get(p.product, "featured")));
    json_decref(p.product);
    const char *other = "{\"sku\":\"MUG-2\",\"title\":\"Mug\",\"price\":0,\"currency\":\"USD\"}";
    assert_int_equal(ov_catalog_validate(other, strlen(other), "MUG-1", &p, &e), CC_EINVAL);
    assert_non_null(err_for(&e, "sku"));
    const char *bad = "{\"sku\":\"\",\"title\":\"\\u0001\",\"price\":-1,\"currency\":\"EURO\",\"image_url\":\"data:x\","
                      "\"stock\":1000000001,\"featured\":1,\"max_qty\":1001,\"x\":1}";
    assert_int_equal(ov_catalog_validate(bad, strlen(bad), NULL, &p, &e), CC_EINVAL);
    for (const char *const *f = (const char *const[]){"x", "sku", "title", "price", "currency", "image_url", "stock",
                                                      "featured", "max_qty", NULL};
         *f; f++)
        if (err_for(&e, *f) == NULL)
            fail_msg("no error for %s", *f);
    assert_int_equal(ov_catalog_validate("{", 1, NULL, &p, &e), CC_EINVAL);
    assert_string_equal(e.e[0].field, "");
}

static void test_shop_buy(void **state)
{
    ov_shop_buy_req_t b;
    cc_cue_errors_t e;
    const char *ok = "{\"sku\":\"MUG-1\",\"idempotency_key\":\"b-1\",\"viewer\":\"vabc.def\"}";
    assert_int_equal(ov_shop_buy_parse(ok, strlen(ok), &b, &e), 0);
    assert_string_equal(b.sku, "MUG-1");
    assert_int_equal(b.qty, 1);
    assert_string_equal(b.idem, "b-1");
    assert_string_equal(b.token, "vabc.def"); /* its signature is the caller's check */
    const char *bad = "{\"sku\":\"a b\",\"qty\":0}";
    assert_int_equal(ov_shop_buy_parse(bad, strlen(bad), &b, &e), CC_EINVAL);
    assert_int_equal(e.n, 3);
    assert_string_equal(e.e[0].field, "sku");
    assert_string_equal(e.e[1].field, "qty");
    assert_string_equal(e.e[2].field, "idempotency_key");
    /* more bad fields than errors kept: capped, never past the array */
    char many[2048];
    int n = snprintf(many, sizeof(many), "{");
    for (int i = 0; i < 40; i++)
        n += snprintf(many + n, sizeof(many) - (size_t)n, "\"f%d\":1,", i);
    snprintf(many + n, sizeof(many) - (size_t)n, "\"sku\":\"a b\"}");
    assert_int_equal(ov_shop_buy_parse(many, strlen(many), &b, &e), CC_EINVAL);
    assert_int_equal(e.n, CC_CUE_ERRORS_MAX);
    assert_true(e.truncated);
    char lt[512];
    snprintf(lt, sizeof(lt), "{\"sku\":\"A\",\"idempotency_key\":\"k\",\"viewer\":\"%0200d\"}", 7);
    assert_int_equal(ov_shop_buy_parse(lt, strlen(lt), &b, &e), 0);
    assert_string_equal(b.token, ""); /* too long to be a token: the caller answers 401 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_ok), cmocka_unit_test(test_catalog_errors),
        cmocka_unit_test(test_gift_message), cmocka_unit_test(test_product),
        cmocka_unit_test(test_shop_buy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
