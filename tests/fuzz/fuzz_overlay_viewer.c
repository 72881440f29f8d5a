/* WebSocket messages from viewers (cc_viewer_parse): whatever arrives, the
 * result is a well-formed message or an error with a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_viewer_msg_t m;
    char err[160];
    int rc = cc_viewer_parse((const char *)data, size, CC_VIEWER_MSG_MAX, &m, err, sizeof(err));
    if (rc == 0) {
        if (m.type == CC_VIEWER_BUY && (m.qty < 1 || m.qty > CC_VIEWER_QTY_MAX || cc_cue_id_check(m.cue_id, strlen(m.cue_id)) ||
                                        cc_cue_sku_check(m.sku, strlen(m.sku)) || cc_cue_token_check(m.idem, strlen(m.idem))))
            abort();
        if (m.type == CC_VIEWER_VOTE && (m.option < 0 || m.option >= CC_CUE_POLL_OPTIONS_MAX))
            abort();
    } else if (err[0] == '\0') {
        abort(); /* every refusal says why */
    }
    return 0;
}
