/* Error codes: one table, negative ints, each with a name and a message.
 *
 * Functions return 0 (or a non-negative count) on success and a negative code
 * on failure.  libuv's codes (UV_E*, negative errno values) pass through
 * unchanged; cartcast's own codes live below -30000 so they never collide.
 * A call that takes a callback and fails never fires that callback. */
#ifndef CARTCAST_ERR_H
#define CARTCAST_ERR_H

#include <errno.h>

/* XX(NAME, value, message) */
#define CC_ERRNO_MAP(XX)                                                        \
    XX(AGAIN, -EAGAIN, "need more data")                                       \
    XX(NOMEM, -ENOMEM, "out of memory")                                        \
    XX(INVAL, -EINVAL, "invalid argument")                                     \
    XX(NOENT, -ENOENT, "no such entry")                                        \
    XX(TIMEDOUT, -ETIMEDOUT, "timed out")                                      \
    XX(PROTO, -30001, "malformed input")                                       \
    XX(TOOBIG, -30002, "length exceeds its cap")                               \
    XX(DEPTH, -30003, "nesting too deep")                                      \
    XX(UNSUPPORTED, -30004, "unsupported feature")                             \
    XX(AUTH, -30005, "unknown stream key")                                     \
    XX(BUSY, -30006, "stream name already has a publisher")                    \
    XX(LIMIT, -30007, "resource limit reached")                                \
    XX(CONFIG, -30008, "invalid configuration")                                \
    XX(CLOSED, -30009, "peer closed the connection")                           \
    XX(STATE, -30010, "message not allowed in this state")

enum {
#define CC__ERR_ENUM(name, value, msg) CC_E##name = (value),
    CC_ERRNO_MAP(CC__ERR_ENUM)
#undef CC__ERR_ENUM
};

/* A message for any code: cartcast's own, libuv's, or a plain errno. Never NULL. */
const char *cc_strerror(int err);
/* A short symbolic name ("EPROTO", "ETOOBIG", ...) for logs and metrics labels. */
const char *cc_err_name(int err);

#endif
