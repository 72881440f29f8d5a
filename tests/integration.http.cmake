# edge/http.c: a real server over libwebsockets + libuv, driven by a Python
# client (stdlib only) and curl for HTTP/2.
add_executable(http_test_server ${CMAKE_CURRENT_SOURCE_DIR}/integration/http_server_main.c)
target_link_libraries(http_test_server cartcast_http)
set_target_properties(http_test_server PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME http_server
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/test_http.py $<TARGET_FILE:http_test_server>)
set_tests_properties(http_server PROPERTIES LABELS integration TIMEOUT 180)
