cc_unit_test(test_packager ${CMAKE_SOURCE_DIR}/tests/unit/test_packager.c cartcast_packager)
