# libFuzzer harnesses for the Redis URL parser / argument builder (core) and
# the buy message validation and script-result parser (cartcast-orders).
cc_fuzz_target(fuzz_redis_url ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_redis_url.c cartcast_core)
cc_fuzz_target(fuzz_orders_buy ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_orders_buy.c cartcast_orders_buy)
