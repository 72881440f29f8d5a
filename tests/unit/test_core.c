/* core/: errors, buffers, logging helpers and configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cartcast/buf.h"
#include "cartcast/config.h"
#include "cartcast/err.h"
#include "cartcast/log.h"

static void test_errors_have_names_and_messages(void **state)
{
    assert_string_equal(cc_err_name(CC_EPROTO), "EPROTO");
    assert_string_equal(cc_strerror(CC_EBUSY), "stream name already has a publisher");
    assert_string_equal(cc_strerror(CC_EAGAIN), "need more data");
    /* libuv codes pass through */
    assert_string_equal(cc_err_name(-ECONNRESET), "ECONNRESET");
    assert_non_null(cc_strerror(-99999));
}

static void test_buf_refcount(void **state)
{
    cc_buf_t *b = cc_buf_from("hello", 5);
    assert_non_null(b);
    assert_int_equal(b->refcnt, 1);
    assert_ptr_equal(cc_buf_ref(b), b);
    assert_int_equal(b->refcnt, 2);
    cc_buf_unref(b);
    assert_memory_equal(b->data, "hello", 5);
    cc_buf_unref(b); /* frees: ASan would catch a double free or a leak */
    cc_buf_unref(NULL);
}

static void test_dynbuf_cap(void **state)
{
    cc_dynbuf_t d;
    cc_dynbuf_init(&d, 10);
    assert_int_equal(cc_dynbuf_append(&d, "12345", 5), 0);
    assert_int_equal(cc_dynbuf_append(&d, "67890", 5), 0);
    assert_int_equal(cc_dynbuf_append(&d, "x", 1), CC_ETOOBIG);
    assert_int_equal(d.len, 10);
    assert_int_equal(cc_dynbuf_reserve(&d, SIZE_MAX), CC_ETOOBIG);
    cc_dynbuf_reset(&d);
    assert_int_equal(cc_dynbuf_appendf(&d, "%d-%s", 42, "ab"), 0);
    assert_int_equal(d.len, 5);
    assert_memory_equal(d.data, "42-ab", 5);
    assert_int_equal(cc_dynbuf_appendf(&d, "%s", "toolong"), CC_ETOOBIG);
    cc_buf_t *b = cc_dynbuf_take(&d);
    assert_int_equal(b->len, 5);
    assert_int_equal(d.len, 0);
    cc_buf_unref(b);
    cc_dynbuf_free(&d);
}

static void test_log_quote(void **state)
{
    char out[32];
    assert_string_equal(cc_log_quote(out, sizeof(out), "127.0.0.1:1935"), "127.0.0.1:1935");
    assert_string_equal(cc_log_quote(out, sizeof(out), "a b\"c"), "\"a b\\\"c\"");
    assert_string_equal(cc_log_quote(out, sizeof(out), "\n"), "\"\\x0a\"");
    assert_string_equal(cc_log_quote(out, sizeof(out), ""), "\"\"");
    char tiny[6];
    cc_log_quote(tiny, sizeof(tiny), "a b c d e f");
    assert_true(strlen(tiny) < sizeof(tiny));
    cc_log_level_t lv;
    assert_int_equal(cc_log_parse_level("warn", &lv), 0);
    assert_int_equal(lv, CC_LOG_WARN);
    assert_int_equal(cc_log_parse_level("loud", &lv), CC_EINVAL);
}

struct opts {
    int port;
    const char *bind;
    cc_strlist_t keys;
    int verbose;
};

static cc_program_t make_prog(struct opts *o, cc_option_t *tbl)
{
    cc_option_t t[] = {
        {"http-port", CC_OPT_INT, &o->port, "N", "HTTP port", 1, 65535},
        {"bind", CC_OPT_STRING, &o->bind, "ADDR", "address", 0, 0},
        {"stream-key", CC_OPT_LIST, &o->keys, "NAME=KEY", "keys", 0, 0},
        {"verbose", CC_OPT_BOOL, &o->verbose, NULL, "chatty", 0, 0},
    };
    memcpy(tbl, t, sizeof(t));
    cc_program_t p = {"prog", "a test program", tbl, 4};
    return p;
}

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/cc-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_config_file_then_flags(void **state)
{
    struct opts o = {8080, "0.0.0.0", {0}, 0};
    cc_option_t tbl[4];
    cc_program_t p = make_prog(&o, tbl);
    char *path = write_tmp("{\"http_port\": 9000, \"bind\": \"127.0.0.1\", \"stream-key\": [\"a=1\", \"b=2\"]}");
    char *argv[] = {"prog", "--config", path, "--http-port=9100", "--verbose", NULL};
    char err[256] = "";
    assert_int_equal(cc_config_parse(&p, 5, argv, err, sizeof(err)), 0);
    assert_int_equal(o.port, 9100); /* flag beats file */
    assert_string_equal(o.bind, "127.0.0.1");
    assert_int_equal(o.keys.count, 2);
    assert_string_equal(o.keys.items[1], "b=2");
    assert_int_equal(o.verbose, 1);

    /* A list on the command line replaces the file's list. */
    char *argv2[] = {"prog", "--config", path, "--stream-key", "c=3", NULL};
    cc_strlist_free(&o.keys);
    assert_int_equal(cc_config_parse(&p, 5, argv2, err, sizeof(err)), 0);
    assert_int_equal(o.keys.count, 1);
    assert_string_equal(o.keys.items[0], "c=3");
    cc_strlist_free(&o.keys);
    unlink(path);
    cc_config_release();
}

static void test_config_errors_are_clear(void **state)
{
    struct opts o = {8080, NULL, {0}, 0};
    cc_option_t tbl[4];
    cc_program_t p = make_prog(&o, tbl);
    char err[256];
    char *a1[] = {"prog", "--http-port", "abc"};
    assert_int_equal(cc_config_parse(&p, 3, a1, err, sizeof(err)), CC_ECONFIG);
    assert_non_null(strstr(err, "expects a number"));
    char *a2[] = {"prog", "--http-port", "70000"};
    assert_int_equal(cc_config_parse(&p, 3, a2, err, sizeof(err)), CC_ECONFIG);
    assert_non_null(strstr(err, "between 1 and 65535"));
    char *a3[] = {"prog", "--nope"};
    assert_int_equal(cc_config_parse(&p, 2, a3, err, sizeof(err)), CC_ECONFIG);
    assert_non_null(strstr(err, "unknown option '--nope'"));
    char *a4[] = {"prog", "--bind"};
    assert_int_equal(cc_config_parse(&p, 2, a4, err, sizeof(err)), CC_ECONFIG);
    assert_non_null(strstr(err, "needs a value"));
    char *path = write_tmp("{\"http_port\": \"x\"}");
    char *a5[] = {"prog", "--config", path};
    assert_int_equal(cc_config_parse(&p, 3, a5, err, sizeof(err)), CC_ECONFIG);
    assert_non_null(strstr(err, "must be an integer"));
    unlink(path);
    path = write_tmp("{\"colour\": 1}");
    char *a6[] = {"prog", "--config", path};
    assert_int_equal(cc_config_parse(&p, 3, a6, err, sizeof(err)), CC_ECONFIG);
    assert_non_null(strstr(err, "unknown option \"colour\""));
    unlink(path);
    path = write_tmp("{\"bind\": ");
    char *a7[] = {"prog", "--config", path};
    assert_int_equal(cc_config_parse(&p, 3, a7, err, sizeof(err)), CC_ECONFIG);
    assert_non_null(strstr(err, "line 1"));
    unlink(path);
    char *a8[] = {"prog", "--config", "/nonexistent/x.json"};
    assert_int_equal(cc_config_parse(&p, 3, a8, err, sizeof(err)), CC_ECONFIG);
    assert_non_null(strstr(err, "cannot open config file"));
    cc_config_release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_have_names_and_messages),
        cmocka_unit_test(test_buf_refcount),
        cmocka_unit_test(test_dynbuf_cap),
        cmocka_unit_test(test_log_quote),
        cmocka_unit_test(test_config_file_then_flags),
        cmocka_unit_test(test_config_errors_are_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
