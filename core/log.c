#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cartcast/err.h"
#include "cartcast/log.h"

static cc_log_level_t log_level = CC_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void cc_log_set_level(cc_log_level_t level) { log_level = level; }
cc_log_level_t cc_log_get_level(void) { return log_level; }

int cc_log_parse_level(const char *name, cc_log_level_t *out)
{
    for (int i = 0; i <= CC_LOG_OFF; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (cc_log_level_t)i;
            return 0;
        }
    }
    return CC_EINVAL;
}

void cc_log(cc_log_level_t level, const char *event, const char *fmt, ...)
{
    if (level < log_level || level >= CC_LOG_OFF)
        return;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);

    /* Build the whole line first so that one event is one write(2), never
     * interleaved with another thread's (the SRT thread logs too). */
    char line[2048];
    int n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], event);
    if (n > 0 && (size_t)n < sizeof(line) - 2 && fmt != NULL && fmt[0] != '\0') {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m < (int)(sizeof(line) - (size_t)n - 1) ? m : (int)(sizeof(line) - (size_t)n - 2);
    }
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
}

static int bare_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._:/@+-", c) != NULL;
}

char *cc_log_quote(char *out, size_t outlen, const char *s)
{
    if (outlen == 0)
        return out;
    int bare = s[0] != '\0';
    for (const char *p = s; *p && bare; p++)
        bare = bare_char((unsigned char)*p);
    size_t o = 0;
    if (bare) {
        snprintf(out, outlen, "%s", s);
        return out;
    }
    if (o + 1 < outlen)
        out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[5];
        size_t n;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\'; esc[1] = (char)*p; n = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", *p); n = 4;
        } else {
            esc[0] = (char)*p; n = 1;
        }
        if (o + n + 2 > outlen)
            break;
        memcpy(out + o, esc, n);
        o += n;
    }
    if (o + 1 < outlen)
        out[o++] = '"';
    out[o] = '\0';
    return out;
}
