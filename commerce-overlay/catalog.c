/* Product validation for the creator catalogs (catalog.h). */
#include <stdio.h>
#include <string.h>

#include "cartcast/err.h"
#include "catalog.h"

/* A description may span lines: text without control characters but \n. */
static int desc_ok(const char *s, size_t n)
{
    if (n > OV_CATALOG_DESC_MAX || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\n') || s[i] == 0x7f)
            return 0;
    return 1;
}

static const char *str_of(json_t *v) { return json_is_string(v) ? json_string_value(v) : NULL; }

int ov_catalog_validate(const char *body, size_t len, const char *path_sku, ov_product_req_t *out,
                        cc_cue_errors_t *errs)
{
    static const char *const allowed[] = {"sku", "title", "description", "price", "currency", "image_url",
                                          "checkout_url", "stock", "featured", "max_qty", NULL};
    memset(out, 0, sizeof(*out));
    memset(errs, 0, sizeof(*errs));
    out->stock = -1;
    if (len > OV_CATALOG_BODY_MAX) {
        cc_cue_add_err(errs, "", "the body is larger than %d bytes", OV_CATALOG_BODY_MAX);
        return CC_ETOOBIG;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        cc_cue_add_err(errs, "", "%s", root ? "must be a JSON object" : "not valid JSON");
        json_decref(root);
        return CC_EINVAL;
    }
    cc_cue_no_unknown(root, "", allowed, errs);
    json_t *sku = json_object_get(root, "sku"), *title = json_object_get(root, "title");
    json_t *desc = json_object_get(root, "description"), *price = json_object_get(root, "price");
    json_t *cur = json_object_get(root, "currency"), *img = json_object_get(root, "image_url");
    json_t *checkout = json_object_get(root, "checkout_url"), *stock = json_object_get(root, "stock");
    json_t *featured = json_object_get(root, "featured"), *max_qty = json_object_get(root, "max_qty");
    const char *s;
    if (sku == NULL && path_sku == NULL)
        cc_cue_add_err(errs, "sku", "is required");
    else if (sku && (!(s = str_of(sku)) || cc_cue_sku_check(s, json_string_length(sku)) < 0 ||
                     strlen(s) != json_string_length(sku)))
        cc_cue_add_err(errs, "sku", "must be 1-64 characters of [A-Za-z0-9._-]");
    else if (sku && path_sku && strcmp(str_of(sku), path_sku) != 0)
        cc_cue_add_err(errs, "sku", "must be the SKU of the URL (a product's SKU never changes: delete and create)");
    if (title == NULL)
        cc_cue_add_err(errs, "title", "is required");
    else if (!(s = str_of(title)) || cc_cue_text_check(s, json_string_length(title), CC_CUE_TITLE_MAX) < 0 ||
             strlen(s) != json_string_length(title))
        cc_cue_add_err(errs, "title", "must be 1-%d bytes of text without control characters", CC_CUE_TITLE_MAX);
    if (desc && (!(s = str_of(desc)) || !desc_ok(s, json_string_length(desc))))
        cc_cue_add_err(errs, "description", "must be 0-%d bytes of text (line breaks allowed, no other control characters)",
                OV_CATALOG_DESC_MAX);
    if (price == NULL)
        cc_cue_add_err(errs, "price", "is required");
    else if (!json_is_integer(price) || json_integer_value(price) < 0 || json_integer_value(price) > CC_CUE_PRICE_MAX)
        cc_cue_add_err(errs, "price", "must be an integer number of minor units (cents) 0-%lld", (long long)CC_CUE_PRICE_MAX);
    if (cur == NULL)
        cc_cue_add_err(errs, "currency", "is required");
    else if (!(s = str_of(cur)) || json_string_length(cur) != 3 || strlen(s) != 3 || s[0] < 'A' || s[0] > 'Z' ||
             s[1] < 'A' || s[1] > 'Z' || s[2] < 'A' || s[2] > 'Z')
        cc_cue_add_err(errs, "currency", "must be an ISO 4217 code such as EUR or USD");
    if (img && (!(s = str_of(img)) || cc_cue_url_check(s, json_string_length(img)) < 0 ||
                strlen(s) != json_string_length(img)))
        cc_cue_add_err(errs, "image_url", "must be an http:// or https:// URL of at most 2048 printable ASCII characters");
    if (checkout && (!(s = str_of(checkout)) || cc_cue_url_check(s, json_string_length(checkout)) < 0 ||
                     strlen(s) != json_string_length(checkout)))
        cc_cue_add_err(errs, "checkout_url", "must be an http:// or https:// URL of at most 2048 printable ASCII characters");
    if (stock && (!json_is_integer(stock) || json_integer_value(stock) < 0 ||
                  json_integer_value(stock) > OV_CATALOG_STOCK_MAX))
        cc_cue_add_err(errs, "stock", "must be an integer number of units 0-%lld", (long long)OV_CATALOG_STOCK_MAX);
    if (featured && !json_is_boolean(featured))
        cc_cue_add_err(errs, "featured", "must be true or false");
    if (max_qty && (!json_is_integer(max_qty) || json_integer_value(max_qty) < 1 ||
                    json_integer_value(max_qty) > CC_VIEWER_QTY_MAX))
        cc_cue_add_err(errs, "max_qty", "must be an integer 1-%d", CC_VIEWER_QTY_MAX);
    if (errs->n > 0) {
        json_decref(root);
        return CC_EINVAL;
    }
    json_t *o = json_object();
    json_object_set_new(o, "sku", json_string(sku ? str_of(sku) : path_sku));
    json_object_set(o, "title", title);
    json_object_set_new(o, "description", json_string(desc ? str_of(desc) : ""));
    json_object_set(o, "price", price);
    json_object_set(o, "currency", cur);
    if (img)
        json_object_set(o, "image_url", img);
    if (checkout)
        json_object_set(o, "checkout_url", checkout);
    json_object_set_new(o, "featured", json_boolean(featured && json_is_true(featured)));
    if (max_qty)
        json_object_set(o, "max_qty", max_qty);
    out->stock = stock ? json_integer_value(stock) : -1;
    json_decref(root);
    out->product = o;
    out->sku = json_string_value(json_object_get(o, "sku"));
    return 0;
}

int ov_shop_buy_parse(const char *body, size_t len, ov_shop_buy_req_t *out, cc_cue_errors_t *errs)
{
    memset(out, 0, sizeof(*out));
    memset(errs, 0, sizeof(*errs));
    out->qty = 1;
    if (len > OV_CATALOG_BODY_MAX) {
        cc_cue_add_err(errs, "", "the body is larger than %d bytes", OV_CATALOG_BODY_MAX);
        return CC_ETOOBIG;
    }
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root)) {
        cc_cue_add_err(errs, "", "%s", root ? "must be a JSON object" : "not valid JSON");
        json_decref(root);
        return CC_EINVAL;
    }
    static const char *const allowed[] = {"sku", "qty", "idempotency_key", "viewer", NULL};
    cc_cue_no_unknown(root, "", allowed, errs);
    json_t *sku = json_object_get(root, "sku"), *qty = json_object_get(root, "qty");
    json_t *idem = json_object_get(root, "idempotency_key"), *tok = json_object_get(root, "viewer");
    const char *s;
    if (!(s = str_of(sku)) || cc_cue_sku_check(s, json_string_length(sku)) < 0 || strlen(s) != json_string_length(sku))
        cc_cue_add_err(errs, "sku", "must be 1-64 characters of [A-Za-z0-9._-]");
    else
        snprintf(out->sku, sizeof(out->sku), "%s", s);
    if (qty && (!json_is_integer(qty) || json_integer_value(qty) < 1 || json_integer_value(qty) > CC_VIEWER_QTY_MAX))
        cc_cue_add_err(errs, "qty", "must be an integer 1-%d", CC_VIEWER_QTY_MAX);
    else if (qty)
        out->qty = json_integer_value(qty);
    if (!(s = str_of(idem)) || cc_cue_token_check(s, json_string_length(idem)) < 0 ||
        strlen(s) != json_string_length(idem))
        cc_cue_add_err(errs, "idempotency_key", "must be 1-64 characters of [A-Za-z0-9._:@-] (the same on a retry)");
    else
        snprintf(out->idem, sizeof(out->idem), "%s", s);
    if ((s = str_of(tok)) && json_string_length(tok) <= OV_SHOP_TOKEN_MAX && strlen(s) == json_string_length(tok))
        snprintf(out->token, sizeof(out->token), "%s", s);
    json_decref(root);
    return errs->n > 0 ? CC_EINVAL : 0;
}
