cc_unit_test(test_core ${CMAKE_SOURCE_DIR}/tests/unit/test_core.c cartcast_core)
cc_unit_test(test_hub ${CMAKE_SOURCE_DIR}/tests/unit/test_hub.c cartcast_core)
cc_unit_test(test_fanout ${CMAKE_SOURCE_DIR}/tests/unit/test_fanout.c cartcast_core)
