/* The gift catalog (--gifts FILE: ov_gift_catalog_parse) and a viewer's gift
 * message (ov_gift_msg_parse): whatever arrives, the result is a catalog
 * whose every gift passes the rules, or an error with a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "gift.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ov_gift_catalog_t cat;
    char err[300];
    err[0] = '\0';
    int rc = ov_gift_catalog_parse((const char *)data, size, &cat, err, sizeof(err));
    if (rc == 0) {
        if (cat.n == 0 || cat.n > OV_GIFTS_MAX || cat.creator_share_pct < 0 || cat.creator_share_pct > 100 ||
            cat.json == NULL)
            abort();
        for (size_t i = 0; i < cat.n; i++) {
            if (cat.gifts[i].price < 1 || cat.gifts[i].price > OV_GIFT_PRICE_MAX || cat.gifts[i].id[0] == '\0' ||
                ov_gift_find(&cat, cat.gifts[i].id) != &cat.gifts[i])
                abort(); /* ids are unique */
        }
        ov_gift_catalog_free(&cat);
    } else if (err[0] == '\0') {
        abort(); /* every refusal says why */
    }
    ov_gift_msg_t m;
    rc = ov_gift_msg_parse((const char *)data, size, &m, err, sizeof(err));
    if (rc == 0 && (m.gift[0] == '\0' || m.idem[0] == '\0' || strlen(m.gift) > OV_GIFT_ID_MAX))
        abort();
    if (rc < 0 && err[0] == '\0')
        abort();
    return 0;
}
