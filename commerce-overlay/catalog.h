/* A creator's product catalog: validation of one product (pure, fuzzed by
 * tests/fuzz/fuzz_catalog.c) for the REST API in shop.c
 * (docs/gifts-and-shop.md). */
#ifndef CARTCAST_OVERLAY_CATALOG_H
#define CARTCAST_OVERLAY_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cue.h"

#define OV_CATALOG_BODY_MAX 16384
#define OV_CATALOG_PRODUCTS_MAX 200  /* per creator */
#define OV_CATALOG_DESC_MAX 2000     /* bytes of UTF-8 */
#define OV_CATALOG_STOCK_MAX 1000000000LL
#define OV_SHOP_FEATURED_MAX 5       /* products on the shop page */
#define OV_SHOP_TOKEN_MAX 128        /* a viewer token in a shop buy (ident.h's are 58) */

typedef struct ov_product_req {
    json_t *product; /* normalised, without "stock"; caller json_decref()s */
    const char *sku; /* points into product */
    int64_t stock;   /* units to set in the order service, -1 = leave as is */
} ov_product_req_t;

/* Validates a product body.  path_sku: the SKU of PUT .../products/SKU (the
 * body's sku may be absent or must match), NULL for a create.  0 and *out, or
 * CC_EINVAL with errs (one per bad field; a body that is not JSON gives one
 * error with field ""), CC_ETOOBIG over OV_CATALOG_BODY_MAX.  Unknown fields
 * are errors. */
int ov_catalog_validate(const char *body, size_t len, const char *path_sku, ov_product_req_t *out,
                        cc_cue_errors_t *errs);

/* A shop buy: {"sku", "qty" (default 1), "idempotency_key", "viewer": TOKEN}. */
typedef struct ov_shop_buy_req {
    char sku[CC_CUE_SKU_MAX + 1];
    int64_t qty;
    char idem[CC_VIEWER_ID_MAX + 1];
    char token[OV_SHOP_TOKEN_MAX + 1]; /* "" when absent or not a string of at most this length:
                                          the caller answers 401 (the signature is its business) */
} ov_shop_buy_req_t;

/* 0 and *out, or CC_EINVAL with errs (field by field, unknown fields included),
 * CC_ETOOBIG over OV_CATALOG_BODY_MAX.  Pure, fuzzed (fuzz_catalog). */
int ov_shop_buy_parse(const char *body, size_t len, ov_shop_buy_req_t *out, cc_cue_errors_t *errs);

#endif
