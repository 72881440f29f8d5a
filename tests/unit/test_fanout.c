/* core/fanout.c: every item of every run is done exactly once, by slices
 * that cover [0, n) without overlap, whatever n, min_slice and thread count;
 * the caller sees the slices' writes once cc_fanout_run() returns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cartcast/fanout.h"

#define MAX_ITEMS 5000

struct job {
    uint32_t hits[MAX_ITEMS]; /* each slot written by exactly one slice */
    uint64_t round;
    pthread_t callers[MAX_ITEMS];
};

static void mark(void *ctx, size_t begin, size_t end)
{
    struct job *j = ctx;
    for (size_t i = begin; i < end; i++) {
        j->hits[i] += (uint32_t)j->round;
        j->callers[i] = pthread_self();
    }
}

static void check_runs(unsigned threads)
{
    cc_fanout_t *f;
    assert_int_equal(cc_fanout_create(threads, &f), 0);
    assert_int_equal(cc_fanout_threads(f), threads);
    struct job *j = calloc(1, sizeof(*j));
    assert_non_null(j);
    static const size_t sizes[] = {0, 1, 2, 3, 7, 63, 64, 65, 1000, 4999, MAX_ITEMS};
    static const size_t mins[] = {1, 2, 64, 256};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (size_t m = 0; m < sizeof(mins) / sizeof(mins[0]); m++) {
            memset(j->hits, 0, sizeof(j->hits));
            j->round = 1 + s * 10 + m; /* a different value per run: a stale write shows */
            cc_fanout_run(f, sizes[s], mins[m], mark, j);
            for (size_t i = 0; i < MAX_ITEMS; i++)
                assert_int_equal(j->hits[i], i < sizes[s] ? j->round : 0);
        }
    }
    /* A big run with small slices uses the workers: more than one thread did items. */
    cc_fanout_run(f, MAX_ITEMS, 1, mark, j);
    size_t others = 0;
    for (size_t i = 0; i < MAX_ITEMS; i++)
        others += !pthread_equal(j->callers[i], pthread_self());
    if (threads > 1)
        assert_true(others > 0);
    else
        assert_int_equal(others, 0);
    free(j);
    cc_fanout_destroy(f);
}

static void test_one_thread(void **state) { check_runs(1); }
static void test_two_threads(void **state) { check_runs(2); }
static void test_many_threads(void **state) { check_runs(7); }

static void test_bad_counts(void **state)
{
    cc_fanout_t *f = (cc_fanout_t *)1;
    assert_int_equal(cc_fanout_create(0, &f), CC_EINVAL);
    assert_null(f);
    assert_int_equal(cc_fanout_create(65, &f), CC_EINVAL);
    cc_fanout_destroy(NULL);
    /* 0 asks for one per CPU, within [1, 8]; anything else is taken as given */
    assert_true(cc_fanout_pick_threads(0) >= 1 && cc_fanout_pick_threads(0) <= 8);
    assert_int_equal(cc_fanout_pick_threads(3), 3);
    /* No fan-out object: runs inline. */
    struct job *j = calloc(1, sizeof(*j));
    j->round = 3;
    cc_fanout_run(NULL, 10, 1, mark, j);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(j->hits[i], 3);
    free(j);
}

static void test_many_rounds(void **state)
{
    /* Back-to-back runs: a worker that skipped a small run must not replay it
     * or miss the next one. */
    cc_fanout_t *f;
    assert_int_equal(cc_fanout_create(3, &f), 0);
    struct job *j = calloc(1, sizeof(*j));
    for (unsigned r = 0; r < 2000; r++) {
        size_t n = (r * 37) % 300;
        memset(j->hits, 0, n * sizeof(j->hits[0]) + sizeof(j->hits[0]));
        j->round = r + 1;
        cc_fanout_run(f, n, (r % 3) ? 16 : 200, mark, j);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(j->hits[i], r + 1);
        assert_int_equal(j->hits[n], 0);
    }
    free(j);
    cc_fanout_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_many_threads),
        cmocka_unit_test(test_bad_counts),
        cmocka_unit_test(test_many_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
