#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cartcast/err.h"
#include "edge/http_range.h"

/* Digits only, no sign, no overflow past SIZE_MAX; returns the end or NULL. */
static const char *parse_size(const char *p, size_t *out)
{
    size_t v = 0;
    const char *start = p;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (SIZE_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    if (p == start)
        return NULL;
    *out = v;
    return p;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int cc_http_range_parse(const char *value, size_t total, size_t *start, size_t *len)
{
    if (value == NULL)
        return CC_ENOENT;
    const char *p = skip_ws(value);
    if (strncasecmp(p, "bytes", 5) != 0)
        return CC_ENOENT;
    p = skip_ws(p + 5);
    if (*p++ != '=')
        return CC_ENOENT;
    p = skip_ws(p);
    size_t first = 0, last = 0;
    bool has_first = false, has_last = false;
    if (*p != '-') {
        if ((p = parse_size(p, &first)) == NULL)
            return CC_ENOENT;
        has_first = true;
    }
    if (*p++ != '-')
        return CC_ENOENT;
    if (*p >= '0' && *p <= '9') {
        if ((p = parse_size(p, &last)) == NULL)
            return CC_ENOENT;
        has_last = true;
    }
    p = skip_ws(p);
    if (*p != '\0') /* a second range, or garbage: serve the whole thing */
        return CC_ENOENT;
    if (!has_first && !has_last)
        return CC_ENOENT;
    if (!has_first) { /* suffix: the last N bytes */
        if (last == 0)
            return CC_EINVAL;
        *start = last >= total ? 0 : total - last;
        *len = total - *start;
        return total == 0 ? CC_EINVAL : 0;
    }
    if (has_last && last < first)
        return CC_ENOENT; /* invalid range-spec: ignore the header */
    if (first >= total)
        return CC_EINVAL;
    if (!has_last || last >= total)
        last = total - 1;
    *start = first;
    *len = last - first + 1;
    return 0;
}
