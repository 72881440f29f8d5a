/* Arbitrary Range header values: the parser must never read past the string
 * and a satisfiable answer must lie inside the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/http_range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t total = (size_t)data[0] * 256 + data[1];
    char *v = malloc(size - 1);
    memcpy(v, data + 2, size - 2);
    v[size - 2] = '\0';
    size_t start, len;
    if (cc_http_range_parse(v, total, &start, &len) == 0 && (len == 0 || start + len > total))
        abort();
    free(v);
    return 0;
}
