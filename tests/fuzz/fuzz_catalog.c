/* A creator catalog's product body (ov_catalog_validate) and a shop buy's body
 * (ov_shop_buy_parse): whatever arrives, the result is a normalised product that
 * passes every rule again / a buy whose every field passes its rule, or field
 * errors that each say why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ov_product_req_t p;
    cc_cue_errors_t errs;
    for (int variant = 0; variant < 2; variant++) {
        int rc = ov_catalog_validate((const char *)data, size, variant ? "SKU-1" : NULL, &p, &errs);
        if (rc == 0) {
            if (errs.n != 0 || p.product == NULL || cc_cue_sku_check(p.sku, strlen(p.sku)) < 0 ||
                p.stock < -1 || p.stock > OV_CATALOG_STOCK_MAX)
                abort();
            /* the stored form validates again, to the same product */
            char *txt = json_dumps(p.product, JSON_COMPACT);
            ov_product_req_t q;
            cc_cue_errors_t e2;
            if (txt == NULL || ov_catalog_validate(txt, strlen(txt), NULL, &q, &e2) != 0 ||
                !json_equal(p.product, q.product))
                abort();
            json_decref(q.product);
            free(txt);
            json_decref(p.product);
        } else if (errs.n == 0 || errs.e[0].message[0] == '\0') {
            abort();
        }
    }
    ov_shop_buy_req_t b;
    int rc = ov_shop_buy_parse((const char *)data, size, &b, &errs);
    if (rc == 0) {
        if (errs.n != 0 || cc_cue_sku_check(b.sku, strlen(b.sku)) < 0 || b.qty < 1 || b.qty > CC_VIEWER_QTY_MAX ||
            cc_cue_token_check(b.idem, strlen(b.idem)) < 0 || strlen(b.token) > OV_SHOP_TOKEN_MAX)
            abort();
    } else if (errs.n == 0 || errs.n > CC_CUE_ERRORS_MAX || errs.e[0].message[0] == '\0') {
        abort();
    }
    return 0;
}
