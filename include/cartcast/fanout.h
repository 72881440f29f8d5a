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

#endif
