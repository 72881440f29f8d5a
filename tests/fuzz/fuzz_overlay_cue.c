/* Operator cue requests (cc_cue_validate) and, for the valid ones, the
 * EXT-X-DATERANGE the origin writes for them: every attribute must be
 * accepted by the playlist model (no quote or control byte slips through). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "cue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_cue_req_t r;
    cc_cue_errors_t e;
    if (cc_cue_validate((const char *)data, size, &r, &e) != 0) {
        char *j = cc_cue_errors_json(&e);
        free(j);
        return 0;
    }
    json_t *cue = json_deep_copy(r.body);
    json_object_set_new(cue, "id", json_string("c0123456789abcdef"));
    json_object_set_new(cue, "pdt_ms", json_integer(r.pdt_ms > 0 ? r.pdt_ms : 1795438550895LL));
    if (r.duration_ms > 0)
        json_object_set_new(cue, "duration_ms", json_integer(r.duration_ms));
    cc_llhls_daterange_t dr;
    cc_cue_dr_storage_t st;
    if (cc_cue_daterange(cue, &dr, &st) != 0)
        abort(); /* a validated cue always maps */
    cc_llhls_config_t cfg;
    cc_llhls_config_default(&cfg);
    cc_llhls_t *h = cc_llhls_new(&cfg);
    if (cc_llhls_daterange_add(h, &dr) != 0)
        abort(); /* ... and the playlist takes it */
    cc_llhls_free(h);
    json_decref(cue);
    json_decref(r.body);
    return 0;
}
