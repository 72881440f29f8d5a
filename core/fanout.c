/* Fork-join worker threads (see include/cartcast/fanout.h).
 *
 * One mutex and two condition variables: `start` wakes the workers for a new
 * run (a generation counter says which), `done` wakes the caller when the
 * last slice has finished.  A run is published under the mutex and the
 * workers read it under the mutex, so whatever the caller wrote before
 * cc_fanout_run() is visible to the slices and whatever the slices wrote is
 * visible to the caller after it (mutex lock/unlock order memory). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cartcast/err.h"
#include "cartcast/fanout.h"

#define FANOUT_MAX_THREADS 64
#define FANOUT_AUTO_MAX 8 /* threads picked for "0 = one per CPU" */

typedef struct worker {
    cc_fanout_t *f;
    unsigned slice; /* 1..threads-1; the caller runs slice 0 */
    pthread_t tid;
} worker_t;

struct cc_fanout {
    unsigned threads; /* the caller included */
    unsigned nworkers;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    unsigned long generation; /* bumped by every run that wakes workers */
    bool stopping;
    /* the current run */
    cc_fanout_fn fn;
    void *ctx;
    size_t n;
    unsigned slices;  /* slices in this run (caller's included) */
    unsigned pending; /* worker slices not finished yet */
    worker_t workers[];
};

/* [begin, end) of slice i out of k over n items: contiguous, sizes differ by
 * at most one. */
static void slice_bounds(size_t n, unsigned k, unsigned i, size_t *begin, size_t *end)
{
    *begin = n * i / k;
    *end = n * (i + 1) / k;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    cc_fanout_t *f = w->f;
    unsigned long seen = 0;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->stopping && f->generation == seen)
            pthread_cond_wait(&f->start, &f->mu);
        if (f->stopping)
            break;
        seen = f->generation;
        if (w->slice >= f->slices)
            continue; /* a small run: not needed this time */
        cc_fanout_fn fn = f->fn;
        void *ctx = f->ctx;
        size_t b, e;
        slice_bounds(f->n, f->slices, w->slice, &b, &e);
        pthread_mutex_unlock(&f->mu);
        fn(ctx, b, e);
        pthread_mutex_lock(&f->mu);
        if (--f->pending == 0)
            pthread_cond_signal(&f->done);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

int cc_fanout_create(unsigned threads, cc_fanout_t **out)
{
    *out = NULL;
    if (threads == 0 || threads > FANOUT_MAX_THREADS)
        return CC_EINVAL;
    cc_fanout_t *f = calloc(1, sizeof(*f) + (threads - 1) * sizeof(worker_t));
    if (f == NULL)
        return CC_ENOMEM;
    f->threads = threads;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->start, NULL);
    pthread_cond_init(&f->done, NULL);

    /* Workers inherit this mask: every signal stays with the loop thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (unsigned i = 0; i + 1 < threads; i++) {
        worker_t *w = &f->workers[i];
        w->f = f;
        w->slice = i + 1;
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
            rc = CC_ELIMIT;
            break;
        }
        f->nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        cc_fanout_destroy(f);
        return rc;
    }
    *out = f;
    return 0;
}

unsigned cc_fanout_threads(const cc_fanout_t *f) { return f ? f->threads : 1; }

unsigned cc_fanout_pick_threads(unsigned requested)
{
    if (requested > 0)
        return requested;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > FANOUT_AUTO_MAX ? FANOUT_AUTO_MAX : (unsigned)cpus;
}

void cc_fanout_run(cc_fanout_t *f, size_t n, size_t min_slice, cc_fanout_fn fn, void *ctx)
{
    if (n == 0)
        return;
    if (min_slice == 0)
        min_slice = 1;
    unsigned k = f ? f->nworkers + 1 : 1;
    if (n / min_slice < k)
        k = (unsigned)(n / min_slice);
    if (k <= 1) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&f->mu);
    f->fn = fn;
    f->ctx = ctx;
    f->n = n;
    f->slices = k;
    f->pending = k - 1;
    f->generation++;
    pthread_cond_broadcast(&f->start);
    pthread_mutex_unlock(&f->mu);

    size_t b, e;
    slice_bounds(n, k, 0, &b, &e);
    fn(ctx, b, e);

    pthread_mutex_lock(&f->mu);
    while (f->pending > 0)
        pthread_cond_wait(&f->done, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

void cc_fanout_destroy(cc_fanout_t *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    pthread_cond_broadcast(&f->start);
    pthread_mutex_unlock(&f->mu);
    for (unsigned i = 0; i < f->nworkers; i++)
        pthread_join(f->workers[i].tid, NULL);
    pthread_cond_destroy(&f->start);
    pthread_cond_destroy(&f->done);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* ---- send sets ---- */

void cc_sendset_clear(cc_sendset_t *set) { set->n = 0; }

cc_send_t *cc_sendset_add(cc_sendset_t *set)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 256;
        cc_send_t *s = realloc(set->sends, cap * sizeof(*s));
        if (s == NULL)
            return NULL;
        set->sends = s;
        set->cap = cap;
    }
    cc_send_t *s = &set->sends[set->n++];
    memset(s, 0, sizeof(*s));
    return s;
}

void cc_send_one(cc_send_t *item)
{
    ssize_t n;
    if (item->iovcnt == 1) { /* send(2) skips copying a msghdr and an iovec array in */
        n = send(item->fd, item->iov[0].iov_base, item->iov[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
        struct msghdr mh = {.msg_iov = item->iov, .msg_iovlen = (size_t)item->iovcnt};
        n = sendmsg(item->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    item->result = n < 0 ? -errno : n;
}

/* A slice: plain sendmsg()s on distinct sockets, results into its own
 * entries, nothing else (it runs on a worker thread). */
static void send_slice(void *ctx, size_t begin, size_t end)
{
    cc_sendset_t *set = ctx;
    for (size_t i = begin; i < end; i++)
        cc_send_one(&set->sends[i]);
}

void cc_sendset_run(cc_fanout_t *f, cc_sendset_t *set, size_t min_slice)
{
    cc_fanout_run(f, set->n, min_slice, send_slice, set);
}

void cc_sendset_free(cc_sendset_t *set)
{
    free(set->sends);
    set->sends = NULL;
    set->n = set->cap = 0;
}
