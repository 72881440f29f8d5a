/* libFuzzer harness for ingest/srt/streamid.c: any bytes a caller can put in
 * SRTO_STREAMID.  Checks the parser's promises: the key is NUL-terminated,
 * within its cap, in the auth alphabet, and empty on every error. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "ingest/srt/streamid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy without a NUL after it: reading past size is an ASan report */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    cc_srt_streamid_t id;
    int rc = cc_srt_streamid_parse(copy, size, &id);
    if (rc == 0) {
        if (id.key_len == 0 || id.key_len > CC_AUTH_KEY_MAX || strlen(id.key) != id.key_len ||
            id.mode != CC_SRT_MODE_PUBLISH)
            abort();
        for (size_t i = 0; i < id.key_len; i++)
            if ((unsigned char)id.key[i] <= 0x20 || (unsigned char)id.key[i] >= 0x7f)
                abort();
    } else {
        if (rc != CC_EPROTO && rc != CC_ETOOBIG && rc != CC_EUNSUPPORTED)
            abort();
        if (id.key_len != 0 || id.key[0] != '\0')
            abort();
    }
    free(copy);
    return 0;
}
