/* The overlay's pure parts: cue validation, EXT-X-DATERANGE mapping, viewer
 * messages, viewer identities, operator tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cartcast/err.h"
#include "cue.h"
#include "ident.h"
#include "overlay.h"

static int validate(const char *body, cc_cue_req_t *r, cc_cue_errors_t *e)
{
    return cc_cue_validate(body, strlen(body), r, e);
}

static const char *err_for(const cc_cue_errors_t *e, const char *field)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->e[i].field, field) == 0)
            return e->e[i].message;
    return NULL;
}

static void test_product_ok(void **state)
{
    cc_cue_req_t r;
    cc_cue_errors_t e;
    assert_int_equal(validate("{\"kind\":\"product\",\"duration_ms\":30000,\"product\":{\"sku\":\"TEE-BLK.L\","
                              "\"title\":\"T-shirt <b>noir</b> \xc3\xa9t\xc3\xa9\",\"price\":1999,\"currency\":\"EUR\","
                              "\"image_url\":\"https://cdn.example.com/t.jpg\",\"stock_shown\":12,\"max_qty\":2}}",
                              &r, &e),
                     0);
    assert_int_equal(r.kind, CC_CUE_PRODUCT);
    assert_int_equal(r.duration_ms, 30000);
    assert_int_equal(r.pdt_ms, -1);
    assert_string_equal(r.sku, "TEE-BLK.L");
    json_t *p = json_object_get(r.body, "product");
    /* text stays text: the page inserts it with textContent */
    assert_string_equal(json_string_value(json_object_get(p, "title")), "T-shirt <b>noir</b> \xc3\xa9t\xc3\xa9");
    assert_int_equal(json_integer_value(json_object_get(p, "stock_shown")), 12);
    assert_string_equal(json_string_value(json_object_get(r.body, "kind")), "product");
    json_decref(r.body);

    /* buy_button: no title needed; stock_shown defaults to true */
    assert_int_equal(validate("{\"kind\":\"buy_button\",\"product\":{\"sku\":\"A\",\"price\":0,\"currency\":\"USD\"},"
                              "\"pdt_ms\":1795438550895}",
                              &r, &e),
                     0);
    assert_int_equal(r.pdt_ms, 1795438550895LL);
    assert_true(json_is_true(json_object_get(json_object_get(r.body, "product"), "stock_shown")));
    json_decref(r.body);
}

static void test_product_errors(void **state)
{
    cc_cue_req_t r;
    cc_cue_errors_t e;
    assert_int_equal(validate("{\"kind\":\"product\",\"typo\":1,\"duration_ms\":50,\"pdt_ms\":1795438550,"
                              "\"product\":{\"sku\":\"a b\",\"price\":12.5,\"currency\":\"eur\",\"image_url\":"
                              "\"javascript:alert(1)\",\"title\":\"a\\u0007b\",\"stock_shown\":\"x\"}}",
                              &r, &e),
                     CC_EINVAL);
    assert_non_null(err_for(&e, "typo"));
    assert_non_null(err_for(&e, "duration_ms"));
    assert_non_null(strstr(err_for(&e, "pdt_ms"), "milliseconds")); /* seconds given for ms */
    assert_non_null(err_for(&e, "product.sku"));
    assert_non_null(strstr(err_for(&e, "product.price"), "minor units"));
    assert_non_null(strstr(err_for(&e, "product.currency"), "ISO 4217"));
    assert_non_null(err_for(&e, "product.image_url"));
    assert_non_null(err_for(&e, "product.title"));
    assert_non_null(err_for(&e, "product.stock_shown"));
    assert_null(r.body);
    char *j = cc_cue_errors_json(&e);
    assert_non_null(strstr(j, "\"error\":\"validation\""));
    assert_non_null(strstr(j, "\"field\":\"product.price\""));
    free(j);

    assert_int_equal(validate("{\"kind\":\"product\"}", &r, &e), CC_EINVAL);
    assert_string_equal(err_for(&e, "product"), "is required for this kind");
    assert_int_equal(validate("{\"kind\":\"product\",\"product\":{}}", &r, &e), CC_EINVAL);
    assert_string_equal(err_for(&e, "product.sku"), "is required");
    assert_string_equal(err_for(&e, "product.title"), "is required");
    assert_string_equal(err_for(&e, "product.price"), "is required");
    assert_int_equal(validate("{\"kind\":\"poll\",\"product\":{},\"poll\":{\"question\":\"q\",\"options\":[\"a\",\"b\"]}}",
                              &r, &e),
                     CC_EINVAL);
    assert_non_null(err_for(&e, "product"));
    assert_int_equal(validate("{\"kind\":\"product\",\"pdt_ms\":1795438550895,\"media_ms\":5}", &r, &e), CC_EINVAL);
    assert_non_null(err_for(&e, "media_ms"));
    assert_int_equal(validate("[1]", &r, &e), CC_EINVAL);
    assert_string_equal(e.e[0].message, "must be a JSON object");
    assert_int_equal(validate("{\"kind\":", &r, &e), CC_EINVAL);
    assert_non_null(strstr(e.e[0].message, "not valid JSON"));
    assert_int_equal(validate("{\"kind\":\"product\",\"kind\":\"poll\"}", &r, &e), CC_EINVAL); /* duplicate key */
    char big[CC_CUE_BODY_MAX + 2];
    memset(big, ' ', sizeof(big));
    assert_int_equal(cc_cue_validate(big, sizeof(big), &r, &e), CC_ETOOBIG);
}

static void test_poll_countdown(void **state)
{
    cc_cue_req_t r;
    cc_cue_errors_t e;
    assert_int_equal(validate("{\"kind\":\"poll\",\"poll\":{\"question\":\"Which?\",\"options\":[\"red\",\"blue\"]}}", &r,
                              &e),
                     0);
    assert_int_equal(r.kind, CC_CUE_POLL);
    assert_null(r.sku);
    json_decref(r.body);
    assert_int_equal(validate("{\"kind\":\"poll\",\"poll\":{\"question\":\"Q\",\"options\":[\"a\",\"a\",3,\"b\",\"c\",\"d\","
                              "\"e\"]}}",
                              &r, &e),
                     CC_EINVAL);
    assert_non_null(err_for(&e, "poll.options"));
    assert_int_equal(validate("{\"kind\":\"poll\",\"poll\":{\"question\":\"Q\",\"options\":[\"a\",\"a\",3]}}", &r, &e),
                     CC_EINVAL);
    assert_non_null(strstr(err_for(&e, "poll.options[1]"), "repeats"));
    assert_non_null(err_for(&e, "poll.options[2]"));
    /* a countdown's card lasts as long as the countdown unless told otherwise */
    assert_int_equal(validate("{\"kind\":\"countdown\",\"countdown\":{\"seconds\":90,\"sku\":\"TEE\"}}", &r, &e), 0);
    assert_int_equal(r.duration_ms, 90000);
    assert_string_equal(r.sku, "TEE");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "countdown"), "title")),
                        "Flash sale");
    json_decref(r.body);
    assert_int_equal(validate("{\"kind\":\"countdown\",\"countdown\":{\"seconds\":0}}", &r, &e), CC_EINVAL);
    assert_non_null(err_for(&e, "countdown.seconds"));
}

static void test_daterange(void **state)
{
    json_t *cue = json_loads("{\"id\":\"c0123456789abcdef\",\"kind\":\"product\",\"pdt_ms\":1795438550895,"
                             "\"duration_ms\":5000,\"product\":{\"sku\":\"MUG-1\",\"title\":\"Red \\\"mug\\\" 100%\","
                             "\"price\":1299,\"currency\":\"EUR\",\"image_url\":\"https://x.example/m.png\"}}",
                             0, NULL);
    assert_non_null(cue);
    cc_llhls_daterange_t dr;
    cc_cue_dr_storage_t st;
    assert_int_equal(cc_cue_daterange(cue, &dr, &st), 0);
    assert_string_equal(dr.id, "c0123456789abcdef");
    assert_string_equal(dr.class_name, "com.cartcast.product");
    assert_int_equal(dr.start_ms, 1795438550895LL);
    assert_int_equal(dr.duration_ms, 5000);
    assert_int_equal(dr.nx, 3);
    assert_string_equal(dr.x[1].name, "X-SKU");
    assert_string_equal(dr.x[1].value, "MUG-1");
    assert_string_equal(dr.x[2].name, "X-CARD");
    /* a quoted-string: no '"', no control bytes; % escapes decode to the JSON */
    assert_null(strchr(dr.x[2].value, '"'));
    assert_non_null(strstr(dr.x[2].value, "%22title%22"));
    assert_non_null(strstr(dr.x[2].value, "100%25"));
    /* the packager accepts it */
    cc_llhls_config_t cfg;
    cc_llhls_config_default(&cfg);
    cc_llhls_t *h = cc_llhls_new(&cfg);
    assert_int_equal(cc_llhls_daterange_add(h, &dr), 0);
    assert_int_equal(cc_llhls_daterange_add(h, &dr), CC_EBUSY);
    cc_llhls_free(h);
    json_decref(cue);

    /* a card too big for 1024 bytes loses its image, then its long title */
    char title[CC_CUE_TITLE_MAX + 1], url[1100], text[4096];
    memset(title, 'T', sizeof(title) - 1);
    title[sizeof(title) - 1] = '\0';
    snprintf(url, sizeof(url), "https://x.example/%0900d", 0);
    snprintf(text, sizeof(text),
             "{\"id\":\"c0123456789abcdef\",\"kind\":\"product\",\"pdt_ms\":1795438550895,\"product\":{\"sku\":\"A\","
             "\"title\":\"%s\",\"price\":1,\"currency\":\"EUR\",\"image_url\":\"%s\"}}",
             title, url);
    cue = json_loads(text, 0, NULL);
    assert_int_equal(cc_cue_daterange(cue, &dr, &st), 0);
    assert_int_equal(dr.duration_ms, -1);
    assert_true(strlen(st.card) <= 1024);
    assert_null(strstr(st.card, "image_url"));
    json_decref(cue);

    cue = json_loads("{\"id\":\"bad\",\"kind\":\"product\",\"pdt_ms\":1}", 0, NULL);
    assert_int_equal(cc_cue_daterange(cue, &dr, &st), CC_EINVAL);
    json_decref(cue);
}

static void test_viewer_messages(void **state)
{
    cc_viewer_msg_t m;
    char err[160];
    const char *buy = "{\"type\":\"buy\",\"cue_id\":\"c0123456789abcdef\",\"sku\":\"TEE\",\"qty\":2,"
                      "\"idempotency_key\":\"k-1\",\"req\":\"r1\",\"viewer\":\"ignored\"}";
    assert_int_equal(cc_viewer_parse(buy, strlen(buy), 4096, &m, err, sizeof(err)), 0);
    assert_int_equal(m.type, CC_VIEWER_BUY);
    assert_int_equal(m.qty, 2);
    assert_string_equal(m.cue_id, "c0123456789abcdef");
    assert_string_equal(m.idem, "k-1");
    assert_string_equal(m.req, "r1");
    const char *vote = "{\"type\":\"vote\",\"poll_id\":\"c0123456789abcdef\",\"option\":3}";
    assert_int_equal(cc_viewer_parse(vote, strlen(vote), 4096, &m, err, sizeof(err)), 0);
    assert_int_equal(m.option, 3);
    assert_int_equal(cc_viewer_parse("{\"type\":\"ping\"}", 15, 4096, &m, err, sizeof(err)), 0);
    assert_int_equal(m.type, CC_VIEWER_PING);

    static const struct {
        const char *msg, *err;
    } bad[] = {
        {"{\"type\":\"buy\",\"cue_id\":\"c0123456789abcdef\",\"sku\":\"TEE\",\"qty\":0,\"idempotency_key\":\"k\",\"req\":\"r9\"}",
         "qty:"},
        {"{\"type\":\"buy\",\"cue_id\":\"c0123456789abcdef\",\"sku\":\"TEE\",\"qty\":1.5,\"idempotency_key\":\"k\"}", "qty:"},
        {"{\"type\":\"buy\",\"cue_id\":\"x\",\"sku\":\"TEE\",\"idempotency_key\":\"k\"}", "cue_id:"},
        {"{\"type\":\"buy\",\"cue_id\":\"c0123456789abcdef\",\"sku\":\"T E\",\"idempotency_key\":\"k\"}", "sku:"},
        {"{\"type\":\"buy\",\"cue_id\":\"c0123456789abcdef\",\"sku\":\"TEE\"}", "idempotency_key:"},
        {"{\"type\":\"vote\",\"poll_id\":\"c0123456789abcdef\",\"option\":6}", "option:"},
        {"{\"type\":\"vote\",\"poll_id\":\"c0123456789abcdef\",\"option\":\"1\"}", "option:"},
        {"{\"type\":\"hack\"}", "type:"},
        {"{\"req\":\"r\"}", "type:"},
        {"{\"type\":\"ping\",\"req\":\"has space\"}", "req:"},
        {"[]", "message:"},
        {"{\"type\":\"ping\"", "message:"},
        {"{\"type\":\"ping\",\"type\":\"buy\"}", "message:"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = cc_viewer_parse(bad[i].msg, strlen(bad[i].msg), 4096, &m, err, sizeof(err));
        if (rc != CC_EINVAL || strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
            fail_msg("case %zu: rc %d err '%s'", i, rc, err);
    }
    /* the request id survives a bad field, so the error can be matched */
    assert_int_equal(cc_viewer_parse(bad[0].msg, strlen(bad[0].msg), 4096, &m, err, sizeof(err)), CC_EINVAL);
    assert_string_equal(m.req, "r9");
    char big[5000];
    memset(big, ' ', sizeof(big));
    assert_int_equal(cc_viewer_parse(big, sizeof(big), 4096, &m, err, sizeof(err)), CC_ETOOBIG);
    assert_int_equal(cc_viewer_parse(big, 200, 100, &m, err, sizeof(err)), CC_ETOOBIG);
}

static void test_ids(void **state)
{
    assert_int_equal(cc_cue_id_check("c0123456789abcdef", 17), 0);
    assert_int_equal(cc_cue_id_check("c0123456789ABCDEF", 17), CC_EINVAL);
    assert_int_equal(cc_cue_id_check("x0123456789abcdef", 17), CC_EINVAL);
    assert_int_equal(cc_cue_stream_name_check("shop_1.a-b", 10), 0);
    assert_int_equal(cc_cue_stream_name_check(".hidden", 7), CC_EINVAL);
    assert_int_equal(cc_cue_stream_name_check("a/b", 3), CC_EINVAL);
    assert_int_equal(cc_cue_token_check("a:b@c.d-e_f", 11), 0);
    assert_int_equal(cc_cue_token_check("a b", 3), CC_EINVAL);
    assert_int_equal(cc_cue_token_check("", 0), CC_EINVAL);
}

static void test_identity(void **state)
{
    const char *secret = "a-secret-of-some-length";
    char id[OV_VIEWER_ID_LEN + 1], tok[OV_VIEWER_TOKEN_LEN + 1], back[OV_VIEWER_ID_LEN + 1];
    assert_int_equal(ov_ident_new(secret, strlen(secret), id, tok), 0);
    assert_int_equal(strlen(id), OV_VIEWER_ID_LEN);
    assert_int_equal(strlen(tok), OV_VIEWER_TOKEN_LEN);
    assert_int_equal(ov_ident_check(secret, strlen(secret), tok, back), 0);
    assert_string_equal(back, id);
    assert_int_equal(ov_ident_check("another-secret-entirely", 23, tok, back), CC_EINVAL);
    char forged[OV_VIEWER_TOKEN_LEN + 1];
    memcpy(forged, tok, sizeof(forged));
    forged[3] = forged[3] == 'a' ? 'b' : 'a'; /* another id, same signature */
    assert_int_equal(ov_ident_check(secret, strlen(secret), forged, back), CC_EINVAL);
    memcpy(forged, tok, sizeof(forged));
    forged[OV_VIEWER_TOKEN_LEN - 1] = forged[OV_VIEWER_TOKEN_LEN - 1] == '0' ? '1' : '0';
    assert_int_equal(ov_ident_check(secret, strlen(secret), forged, back), CC_EINVAL);
    assert_int_equal(ov_ident_check(secret, strlen(secret), "v123", back), CC_EINVAL);
    assert_int_equal(ov_ident_check(secret, strlen(secret), NULL, back), CC_EINVAL);
}

static void test_tokens(void **state)
{
    ov_token_t t;
    char err[200];
    assert_int_equal(ov_token_parse("longsecret=shop,other", &t, err, sizeof(err)), 0);
    assert_string_equal(t.token, "longsecret");
    assert_int_equal(t.nstreams, 2);
    assert_string_equal(t.streams[1], "other");
    assert_false(t.all);
    ov_token_free(&t);
    assert_int_equal(ov_token_parse("longsecret=*", &t, err, sizeof(err)), 0);
    assert_true(t.all);
    ov_token_free(&t);
    assert_int_equal(ov_token_parse("short=shop", &t, err, sizeof(err)), CC_EINVAL);
    assert_null(strstr(err, "short")); /* never echo the secret */
    assert_int_equal(ov_token_parse("longsecret=", &t, err, sizeof(err)), CC_EINVAL);
    assert_int_equal(ov_token_parse("longsecret=a/b", &t, err, sizeof(err)), CC_EINVAL);
    assert_null(strstr(err, "longsecret"));
    assert_int_equal(ov_token_parse("noequals", &t, err, sizeof(err)), CC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_product_ok),     cmocka_unit_test(test_product_errors),
        cmocka_unit_test(test_poll_countdown), cmocka_unit_test(test_daterange),
        cmocka_unit_test(test_viewer_messages), cmocka_unit_test(test_ids),
        cmocka_unit_test(test_identity),       cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
