# commerce-overlay/orders/buy.c (pure half of cartcast-orders).
cc_unit_test(test_orders_buy ${CMAKE_SOURCE_DIR}/tests/unit/test_orders_buy.c cartcast_orders_buy)
