cc_unit_test(test_http_range ${CMAKE_SOURCE_DIR}/tests/unit/test_http_range.c cartcast_http)
cc_fuzz_target(fuzz_http_range ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_http_range.c cartcast_http)
