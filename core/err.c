#include <string.h>
#include <uv.h>

#include "cartcast/err.h"

const char *cc_strerror(int err)
{
    switch (err) {
#define CC__ERR_MSG(name, value, msg) case CC_E##name: return msg;
        CC_ERRNO_MAP(CC__ERR_MSG)
#undef CC__ERR_MSG
    }
    if (err < 0 && err > -4096)
        return uv_strerror(err); /* libuv codes are negated errno values */
    return "unknown error";
}

const char *cc_err_name(int err)
{
    switch (err) {
#define CC__ERR_NAME(name, value, msg) case CC_E##name: return "E" #name;
        CC_ERRNO_MAP(CC__ERR_NAME)
#undef CC__ERR_NAME
    }
    if (err < 0 && err > -4096)
        return uv_err_name(err);
    return "EUNKNOWN";
}
