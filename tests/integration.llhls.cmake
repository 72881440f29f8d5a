# LL-HLS conformance and playback (tests/integration/llhls_check.py, hls_player.mjs).
# This fragment sorts before integration.origin.cmake, which defines
# cc_integration_test(), so the tests are added here with the same properties.
#
#   llhls_check_selftest  the checker against hand-written playlists, boxes and a
#                         fake origin told to break one rule at a time (no binaries)
#   llhls_origin          cartcast-origin + ffmpeg: the checker, ffmpeg as a player,
#                         hls.js in headless Chromium, reconnect and ENDLIST.
#                         PROCESSORS 2: it encodes, serves and decodes video at once
#                         and measures timing, so ctest -j2 runs it alone.
add_test(NAME llhls_check_selftest
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/test_llhls_check_selftest.py)
set_tests_properties(llhls_check_selftest PROPERTIES LABELS integration TIMEOUT 300
                     ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")

add_test(NAME llhls_origin COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/test_llhls_origin.py)
set_tests_properties(llhls_origin PROPERTIES LABELS integration TIMEOUT 300 PROCESSORS 2
                     ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
