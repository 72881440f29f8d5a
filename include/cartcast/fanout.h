/* Fork-join over the machine's cores for the loop thread's big fan-outs.
 *
 * A broadcast to 10,000 WebSocket viewers is 10,000 send()s, and ~80 % of
 * each is the kernel's TCP path; done on the loop thread alone it takes one
 * core for tens of milliseconds while the other core idles.  cc_fanout_run()
 * splits [0, n) into contiguous slices, gives one to each worker thread, runs
 * the first slice on the caller and returns when every slice is done.  The
 * caller (the loop thread) is blocked meanwhile, so nothing else touches the
 * data the slices read: the work function must only do thread-safe things
 * (plain syscalls on distinct file descriptors, writes to its own slice of a
 * results array) and never call back into libuv or libwebsockets.
 *
 * The workers sleep on a condition variable between runs (no polling) and
 * block every signal, so SIGTERM and friends still reach the loop thread. */
#ifndef CARTCAST_FANOUT_H
#define CARTCAST_FANOUT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct cc_fanout cc_fanout_t;

/* Does items [begin, end) of whatever ctx describes. */
typedef void (*cc_fanout_fn)(void *ctx, size_t begin, size_t end);

/* threads: how many threads share a run, the caller included (1 = no worker:
 * every run is a plain call).  0, CC_EINVAL (threads 0 or > 64), CC_ENOMEM,
 * CC_ELIMIT (a thread could not be started). */
int cc_fanout_create(unsigned threads, cc_fanout_t **out);

/* Runs fn over [0, n).  Below min_slice items per thread fewer threads take
 * part (a small fan-out is not worth a wake-up); with n < 2 * min_slice it is
 * one call on the caller. */
void cc_fanout_run(cc_fanout_t *f, size_t n, size_t min_slice, cc_fanout_fn fn, void *ctx);

unsigned cc_fanout_threads(const cc_fanout_t *f);

/* The thread count a server option asks for: requested as is, or for 0 one
 * per online CPU, at most 8 (the option's documented default). */
unsigned cc_fanout_pick_threads(unsigned requested);

/* Joins the workers.  NULL is fine. */
void cc_fanout_destroy(cc_fanout_t *f);

/* ---- a set of sends, one per socket, over the fan-out threads ----
 *
 * What both big fan-outs do (the overlay's broadcast to its viewers, the HTTP
 * server's answers to held requests): collect (socket, up to two iovecs) for
 * every receiver on the loop thread, send them all with one sendmsg(2) each
 * (non-blocking, no SIGPIPE) over the threads, then settle each result on the
 * loop thread.  The iovecs point at buffers that stay put until then. */
typedef struct cc_send {
    void *owner; /* the caller's (a connection, a request) */
    int fd;
    int iovcnt; /* 1 or 2 */
    struct iovec iov[2];
    ssize_t result; /* after cc_sendset_run: bytes sent, or -errno */
} cc_send_t;

typedef struct cc_sendset {
    cc_send_t *sends;
    size_t n, cap; /* kept between runs: the set is reused */
} cc_sendset_t;

/* Empties the set, keeping its memory. */
void cc_sendset_clear(cc_sendset_t *set);
/* A new zeroed entry at the end; NULL when out of memory. */
cc_send_t *cc_sendset_add(cc_sendset_t *set);
/* One sendmsg(2) per entry, sliced over f's threads (f may be NULL: the
 * caller alone); fills every entry's result. */
void cc_sendset_run(cc_fanout_t *f, cc_sendset_t *set, size_t min_slice);
/* One send of one entry on the caller; fills its result. */
void cc_send_one(cc_send_t *item);
void cc_sendset_free(cc_sendset_t *set);

#endif
