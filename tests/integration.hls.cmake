# edge/hls.c: LL-HLS delivery over edge/http.c, against a model fed fake parts
# every 200 ms (tests/integration/hls_test_server.c), driven by stdlib Python.
add_executable(hls_test_server ${CMAKE_CURRENT_SOURCE_DIR}/integration/hls_test_server.c)
target_link_libraries(hls_test_server cartcast_http cartcast_packager)
set_target_properties(hls_test_server PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME hls_delivery
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/test_hls_delivery.py $<TARGET_FILE:hls_test_server>)
set_tests_properties(hls_delivery PROPERTIES LABELS integration TIMEOUT 180 ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
