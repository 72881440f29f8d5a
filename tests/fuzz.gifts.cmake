# Gifts and catalogs (docs/gifts-and-shop.md); built only with -DCC_FUZZ=ON and clang.
cc_fuzz_target(fuzz_gift ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_gift.c cartcast_overlay)
cc_fuzz_target(fuzz_catalog ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_catalog.c cartcast_overlay)
