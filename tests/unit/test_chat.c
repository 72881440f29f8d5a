/* Chat and moderation's pure half (commerce-overlay/moderation.h): message
 * and name checks, the chat message parser, term normalisation and matching,
 * the review hook's answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cartcast/err.h"
#include "moderation.h"

static int parse(const char *s, ov_chat_msg_t *m, const char **code, char *err)
{
    return ov_chat_parse(s, strlen(s), 300, m, code, err, 200);
}

static void test_text_check(void **state)
{
    char err[200];
    assert_int_equal(ov_chat_text_check("hello", 5, 300, err, sizeof(err)), 0);
    /* code points, not bytes: 300 x "é" (600 bytes) passes, 301 does not */
    char big[1000] = "";
    for (int i = 0; i < 301; i++)
        strcat(big, "\xc3\xa9");
    assert_int_equal(ov_chat_text_check(big, 600, 300, err, sizeof(err)), 0);
    assert_int_equal(ov_chat_text_check(big, 602, 300, err, sizeof(err)), CC_ETOOBIG);
    assert_non_null(strstr(err, "300 characters"));
    assert_int_equal(ov_chat_text_check("a\nb", 3, 300, err, sizeof(err)), CC_EINVAL);
    assert_non_null(strstr(err, "control"));
    assert_int_equal(ov_chat_text_check("a\x7f", 2, 300, err, sizeof(err)), CC_EINVAL);
    assert_int_equal(ov_chat_text_check("\xc2\x85", 2, 300, err, sizeof(err)), CC_EINVAL);          /* C1 NEL */
    assert_int_equal(ov_chat_text_check("x\xe2\x80\xae", 4, 300, err, sizeof(err)), CC_EINVAL);     /* RLO */
    assert_int_equal(ov_chat_text_check("x\xe2\x81\xa6", 4, 300, err, sizeof(err)), CC_EINVAL);     /* LRI */
    assert_int_equal(ov_chat_text_check("\xc0\xaf", 2, 300, err, sizeof(err)), CC_EINVAL);          /* overlong */
    assert_int_equal(ov_chat_text_check("\xed\xa0\x80", 3, 300, err, sizeof(err)), CC_EINVAL);      /* surrogate */
    assert_int_equal(ov_chat_text_check("\xe2\x82", 2, 300, err, sizeof(err)), CC_EINVAL);          /* truncated */
    assert_int_equal(ov_chat_text_check("   ", 3, 300, err, sizeof(err)), CC_EINVAL);
    assert_int_equal(ov_chat_text_check("<img src=x onerror=alert(1)>", 28, 300, err, sizeof(err)), 0);
}

static void test_name_check(void **state)
{
    char err[200];
    assert_int_equal(ov_chat_name_check("Alice \xe2\x9c\xa8", 9, err, sizeof(err)), 0);
    assert_int_equal(ov_chat_name_check(" Alice", 6, err, sizeof(err)), CC_EINVAL);
    assert_int_equal(ov_chat_name_check("", 0, err, sizeof(err)), CC_EINVAL);
    assert_int_equal(ov_chat_name_check("a\tb", 3, err, sizeof(err)), CC_EINVAL);
    char n[40];
    memset(n, 'x', 33);
    assert_int_equal(ov_chat_name_check(n, 32, err, sizeof(err)), 0);
    assert_int_equal(ov_chat_name_check(n, 33, err, sizeof(err)), CC_EINVAL);
    assert_non_null(strstr(err, "32"));
}

static void test_parse(void **state)
{
    ov_chat_msg_t m;
    const char *code;
    char err[200];
    assert_int_equal(parse("{\"type\":\"chat\",\"text\":\"  Is it blue?  \",\"question\":true,\"req\":\"q1\"}", &m, &code,
                           err),
                     0);
    assert_int_equal(m.type, OV_CHAT_SEND);
    assert_string_equal(m.text, "Is it blue?");
    assert_true(m.question);
    assert_string_equal(m.req, "q1");
    assert_int_equal(parse("{\"type\":\"chat_name\",\"name\":\"Bob\"}", &m, &code, err), 0);
    assert_string_equal(m.name, "Bob");
    /* not ours: buys, votes, pings, garbage go to the viewer-message parser */
    assert_int_equal(parse("{\"type\":\"buy\"}", &m, &code, err), OV_CHAT_NOT_MINE);
    assert_int_equal(parse("not json", &m, &code, err), OV_CHAT_NOT_MINE);
    assert_int_equal(parse("[\"chat\"]", &m, &code, err), OV_CHAT_NOT_MINE);
    /* refusals carry a code and a reason */
    assert_int_equal(parse("{\"type\":\"chat\",\"text\":\"x\",\"viewer\":\"v1\"}", &m, &code, err), CC_EINVAL);
    assert_string_equal(code, "invalid");
    assert_string_equal(err, "viewer: unknown field");
    assert_int_equal(parse("{\"type\":\"chat\"}", &m, &code, err), CC_EINVAL);
    assert_non_null(strstr(err, "text"));
    assert_int_equal(parse("{\"type\":\"chat\",\"text\":\"x\",\"question\":1}", &m, &code, err), CC_EINVAL);
    assert_int_equal(parse("{\"type\":\"chat\",\"text\":\"x\",\"req\":\"bad req\"}", &m, &code, err), CC_EINVAL);
    assert_int_equal(parse("{\"type\":\"chat\",\"text\":\"x\",\"text\":\"y\"}", &m, &code, err), OV_CHAT_NOT_MINE);
    char big[2200];
    snprintf(big, sizeof(big), "{\"type\":\"chat\",\"text\":\"%0301d\"}", 0);
    assert_int_equal(parse(big, &m, &code, err), CC_EINVAL);
    assert_string_equal(code, "too_long");
    assert_int_equal(parse("{\"type\":\"chat_name\",\"name\":\"a\\u0001b\"}", &m, &code, err), CC_EINVAL);
    assert_string_equal(code, "invalid_name");
}

static void norm_is(const char *in, const char *want)
{
    char out[OV_MOD_NORM_CAP(256)];
    size_t n = ov_mod_normalise(in, strlen(in), out, sizeof(out));
    assert_int_equal(n, strlen(out));
    assert_string_equal(out, want);
}

static void test_normalise(void **state)
{
    norm_is("  Free   MONEY!! ", " free money ");
    norm_is("FR\xe2\x80\x8b" "EE m0ney", " free money ");           /* zero-width space, leet */
    norm_is("\xef\xbc\xa6\xef\xbd\x92\xef\xbd\x85\xef\xbd\x85", " free "); /* fullwidth */
    norm_is("Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9\x65 \xc3\x9f", " creme brulee ss ");
    norm_is("m1racle-cure", " miracle cure ");
    norm_is("$ave @ll", " save all ");
    norm_is("\xd0\x9f\xd1\x80\xd0\xb8", " \xd0\x9f\xd1\x80\xd0\xb8 "); /* other scripts kept as they are */
    norm_is("", " ");
    norm_is("\xff\xfe", " ");
}

static void test_terms(void **state)
{
    ov_mod_terms_t t;
    char err[200];
    const char *j = "{\"terms\":[{\"term\":\"free money\",\"action\":\"hold\"},{\"term\":\"Miracle CURE\"}]}";
    assert_int_equal(ov_mod_terms_parse(j, strlen(j), &t, err, sizeof(err)), 0);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.t[1].action, OV_MOD_REJECT); /* the default */
    char norm[OV_MOD_NORM_CAP(200)];
    size_t which = 99;
    const char *msg = "a MIRACLE-cure and FREE money";
    ov_mod_normalise(msg, strlen(msg), norm, sizeof(norm));
    assert_int_equal(ov_mod_terms_match(&t, norm, &which), OV_MOD_REJECT); /* reject beats hold */
    assert_int_equal(which, 1);
    msg = "fr33 money";
    ov_mod_normalise(msg, strlen(msg), norm, sizeof(norm));
    assert_int_equal(ov_mod_terms_match(&t, norm, &which), OV_MOD_HOLD);
    assert_int_equal(which, 0);
    msg = "miracles cure nothing; freemoney";
    ov_mod_normalise(msg, strlen(msg), norm, sizeof(norm));
    assert_int_equal(ov_mod_terms_match(&t, norm, &which), 0); /* whole words only */
    char *back = ov_mod_terms_json(&t);
    assert_string_equal(back, "[{\"term\":\"free money\",\"action\":\"hold\"},{\"term\":\"Miracle CURE\",\"action\":\"reject\"}]");
    free(back);
    ov_mod_terms_free(&t);
    j = "[{\"term\":\"ok\"},{\"term\":\"?!\"}]";
    assert_int_equal(ov_mod_terms_parse(j, strlen(j), &t, err, sizeof(err)), CC_EINVAL);
    assert_non_null(strstr(err, "terms[1].term"));
    j = "[{\"term\":\"ok\",\"action\":\"ban\"}]";
    assert_int_equal(ov_mod_terms_parse(j, strlen(j), &t, err, sizeof(err)), CC_EINVAL);
    assert_non_null(strstr(err, "terms[0].action"));
    j = "{\"terms\":[],\"typo\":1}";
    assert_int_equal(ov_mod_terms_parse(j, strlen(j), &t, err, sizeof(err)), CC_EINVAL);
    assert_non_null(strstr(err, "typo"));
}

static void test_review(void **state)
{
    ov_review_t r;
    char err[200];
    const char *b = "{\"result\":\"allow\"}";
    assert_int_equal(ov_review_parse(b, strlen(b), 300, &r, err, sizeof(err)), 0);
    assert_int_equal(r.result, OV_REVIEW_ALLOW);
    b = "{\"result\":\"DENY\",\"reason\":\"off-topic\"}";
    assert_int_equal(ov_review_parse(b, strlen(b), 300, &r, err, sizeof(err)), 0);
    assert_int_equal(r.result, OV_REVIEW_DENY);
    assert_string_equal(r.reason, "off-topic");
    b = "{\"result\":\"replace\",\"text\":\" nice **** \"}";
    assert_int_equal(ov_review_parse(b, strlen(b), 300, &r, err, sizeof(err)), 0);
    assert_string_equal(r.text, "nice ****");
    b = "{\"result\":\"replace\",\"text\":\"\\u0007\"}"; /* a replacement is checked like a viewer's text */
    assert_int_equal(ov_review_parse(b, strlen(b), 300, &r, err, sizeof(err)), CC_EINVAL);
    b = "{\"result\":\"maybe\"}";
    assert_int_equal(ov_review_parse(b, strlen(b), 300, &r, err, sizeof(err)), CC_EINVAL);
    assert_int_equal(ov_review_parse("nope", 4, 300, &r, err, sizeof(err)), CC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_check), cmocka_unit_test(test_name_check), cmocka_unit_test(test_parse),
        cmocka_unit_test(test_normalise),  cmocka_unit_test(test_terms),      cmocka_unit_test(test_review),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
