/* libFuzzer harness for commerce-overlay/orders/buy.c: a buy entry as the
 * overlay (or anyone with access to the stream) may write it, and a buy
 * script result.  The input is split into field/value items at '\n'.
 * Checks: a valid buy has every field within its alphabet and range; the
 * reason is always terminated; the result parser stays inside its input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartcast/err.h"
#include "orders/buy.h"

static void check_id(const char *s, size_t max, int required)
{
    size_t n = strlen(s);
    if (n > max || (required && n == 0))
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '{' || s[i] == '}')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_iov_t fv[2 * CC_BUY_FIELDS_MAX + 8];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < sizeof(fv) / sizeof(fv[0]); i++) {
        if (i == size || data[i] == '\n') {
            fv[n++] = cc_iov(data + start, i - start);
            start = i + 1;
        }
    }
    cc_buy_t b;
    char reason[200];
    int rc = cc_buy_parse(fv, n, &b, reason, sizeof(reason));
    if (strlen(reason) >= sizeof(reason))
        abort();
    if (rc == 0) {
        if (reason[0] != '\0')
            abort();
        check_id(b.idem, CC_BUY_ID_MAX, 1);
        check_id(b.viewer, CC_BUY_ID_MAX, 1);
        check_id(b.sku, CC_BUY_SKU_MAX, 1);
        check_id(b.stream, CC_BUY_STREAM_MAX, 1);
        check_id(b.creator, CC_BUY_ID_MAX, 1);
        check_id(b.cue, CC_BUY_ID_MAX, 1);
        check_id(b.node, CC_BUY_ID_MAX, 0);
        check_id(b.req, CC_BUY_ID_MAX, 0);
        if (b.qty < 1 || b.qty > CC_BUY_QTY_MAX || b.price < 0 || b.price > CC_BUY_PRICE_MAX || b.ts < 0 ||
            strlen(b.currency) != 3)
            abort();
        int64_t amount = b.price * b.qty;
        if (cc_buy_commission(amount, 10000) != amount)
            abort();
    } else if (rc != CC_EINVAL || reason[0] == '\0') {
        abort();
    }
    /* the same bytes as a script result (tabs separate its fields) */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    cc_buy_result_t r;
    if (cc_buy_result_parse(copy, size, &r) == 0) {
        const cc_iov_t *parts[] = {&r.status, &r.order, &r.reason, &r.entry};
        for (size_t i = 0; i < 4; i++)
            if (parts[i]->len > 0 && ((const char *)parts[i]->base < copy ||
                                      (const char *)parts[i]->base + parts[i]->len > copy + size))
                abort();
    }
    free(copy);
    return 0;
}
