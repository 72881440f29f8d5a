# core/redis.c against a real redis-server that the test starts, stops,
# freezes (SIGSTOP) and restarts: tests/integration/test_redis_client.py.
add_executable(redis_client_driver ${CMAKE_CURRENT_SOURCE_DIR}/integration/redis_client_main.c)
target_link_libraries(redis_client_driver cartcast_core)
set_target_properties(redis_client_driver PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME redis_client COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/test_redis_client.py)
set_tests_properties(redis_client PROPERTIES LABELS integration TIMEOUT 300
                     ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
