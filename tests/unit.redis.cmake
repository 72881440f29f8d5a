# core/redis_url.c (pure half of the Redis client): URL parser, argument builder.
cc_unit_test(test_redis_url ${CMAKE_SOURCE_DIR}/tests/unit/test_redis_url.c cartcast_core)
