/* core/fanout.c: every item of every run is done exactly once, by slices
 * that cover [0, n) without overlap, whatever n, min_slice and thread count;
 * the caller sees the slices' writes once cc_fanout_run() returns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* A send set over 3 threads: every socket gets its two iovecs back to back,
 * each entry's result is its own (a closed peer gives -EPIPE there only). */
static void test_sendset(void **state)
{
    (void)state;
    enum { N = 300 };
    int pairs[N][2];
    cc_fanout_t *f = NULL;
    assert_int_equal(cc_fanout_create(3, &f), 0);
    cc_sendset_t set = {0};
    char head[N][16];
    static const char body[] = "the same body";
    for (int round = 0; round < 2; round++) {
        cc_sendset_clear(&set);
        for (int i = 0; i < N; i++) {
            if (round == 0)
                assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[i]), 0);
            if (round == 1 && i == 7)
                close(pairs[i][1]); /* this receiver has gone */
            snprintf(head[i], sizeof(head[i]), "%d:", i);
            cc_send_t *item = cc_sendset_add(&set);
            assert_non_null(item);
            *item = (cc_send_t){.owner = &pairs[i], .fd = pairs[i][0], .iovcnt = 2,
                                .iov = {{head[i], strlen(head[i])}, {(void *)body, sizeof(body) - 1}}};
        }
        assert_int_equal(set.n, N);
        cc_sendset_run(f, &set, 16);
        for (int i = 0; i < N; i++) {
            assert_ptr_equal(set.sends[i].owner, &pairs[i]);
            if (round == 1 && i == 7) {
                assert_int_equal(set.sends[i].result, -EPIPE);
                continue;
            }
            size_t want = strlen(head[i]) + sizeof(body) - 1;
            assert_int_equal(set.sends[i].result, (ssize_t)want);
            char got[64];
            assert_int_equal(read(pairs[i][1], got, sizeof(got)), (ssize_t)want);
            assert_memory_equal(got, head[i], strlen(head[i]));
            assert_memory_equal(got + strlen(head[i]), body, sizeof(body) - 1);
        }
    }
    for (int i = 0; i < N; i++) {
        close(pairs[i][0]);
        if (i != 7)
            close(pairs[i][1]);
    }
    cc_sendset_free(&set);
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
        cmocka_unit_test(test_sendset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
