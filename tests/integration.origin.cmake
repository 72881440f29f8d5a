# Integration tests: real cartcast binaries with ffmpeg as the publisher.
function(cc_integration_test name script)
  add_test(NAME ${name} COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/${script})
  set_tests_properties(${name} PROPERTIES LABELS integration TIMEOUT 300
                       ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
endfunction()

cc_integration_test(rtmp_ingest test_rtmp_ingest.py)
cc_integration_test(origin_delivery test_origin_delivery.py)
