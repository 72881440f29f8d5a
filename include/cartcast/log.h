/* Structured logging: one line per event, key=value fields.
 *
 *   ts=2026-11-23T11:30:00.123Z level=info event=rtmp.publish stream=shop1 peer=127.0.0.1:5555
 *
 * The event name is a dotted identifier; fields follow as "k=v" pairs built
 * by the caller's format string.  Values that may hold spaces or quotes go
 * through cc_log_quote().  A stream key is never passed to a log call: code
 * logs the public stream name instead. */
#ifndef CARTCAST_LOG_H
#define CARTCAST_LOG_H

#include <stddef.h>

typedef enum { CC_LOG_DEBUG, CC_LOG_INFO, CC_LOG_WARN, CC_LOG_ERROR, CC_LOG_OFF } cc_log_level_t;

void cc_log_set_level(cc_log_level_t level);
cc_log_level_t cc_log_get_level(void);
/* "debug" | "info" | "warn" | "error" | "off" -> 0, else CC_EINVAL. */
int cc_log_parse_level(const char *name, cc_log_level_t *out);

void cc_log(cc_log_level_t level, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes s into out as a log value: bare when it is [A-Za-z0-9._:/@+-], else
 * double-quoted with \" \\ and control bytes escaped.  Always NUL-terminates;
 * truncates to fit outlen. Returns out. */
char *cc_log_quote(char *out, size_t outlen, const char *s);

#define cc_log_debug(ev, ...) do { if (cc_log_get_level() <= CC_LOG_DEBUG) cc_log(CC_LOG_DEBUG, ev, __VA_ARGS__); } while (0)
#define cc_log_info(ev, ...) cc_log(CC_LOG_INFO, ev, __VA_ARGS__)
#define cc_log_warn(ev, ...) cc_log(CC_LOG_WARN, ev, __VA_ARGS__)
#define cc_log_error(ev, ...) cc_log(CC_LOG_ERROR, ev, __VA_ARGS__)

#endif
