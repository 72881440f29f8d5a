# cartcast-orders against a real redis-server started by each test
# (tests/integration/test_orders*.py; helpers in cc.py and orders_util.py).
foreach(t orders orders_faults orders_batch)
  add_test(NAME ${t} COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/test_${t}.py)
  set_tests_properties(${t} PROPERTIES LABELS integration TIMEOUT 300
                       ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
endforeach()
