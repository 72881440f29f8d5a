# Gifts and catalogs, the pure parts: gift catalog file, gift message, product validation.
cc_unit_test(test_gifts ${CMAKE_SOURCE_DIR}/tests/unit/test_gifts.c cartcast_overlay)
