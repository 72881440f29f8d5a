# cartcast-overlay end to end (docs/overlay.md, docs/testing.md):
#  overlay_ws        Node `ws` viewers against two real overlays and a real redis-server
#  overlay_timeline  origin --redis + overlay + ffmpeg: live edge, EXT-X-DATERANGE with the
#                    cue's PDT (LL-HLS checker), and the viewer page in Chromium (card drawn
#                    within +-100 ms of the cue's PDT, screenshot)
add_test(NAME overlay_ws COMMAND node ${CMAKE_SOURCE_DIR}/tests/integration/test_overlay_ws.mjs)
set_tests_properties(overlay_ws PROPERTIES LABELS integration TIMEOUT 300
                     ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
add_test(NAME overlay_timeline COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/test_overlay_timeline.py)
set_tests_properties(overlay_timeline PROPERTIES LABELS integration TIMEOUT 300
                     ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
#  overlay_broadcast 800 raw-socket viewers, --fanout-threads 3: every frame whole and in order,
#                    stalled viewers (partial sends) included; a viewer that never reads gets 4008
add_test(NAME overlay_broadcast COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/test_overlay_broadcast.py)
set_tests_properties(overlay_broadcast PROPERTIES LABELS integration TIMEOUT 300
                     ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
# Chat and moderation (docs/chat.md): Node `ws` viewers on two overlays, a real
# redis-server and a review hook served by the test.
add_test(NAME chat_ws COMMAND node ${CMAKE_SOURCE_DIR}/tests/integration/test_chat_ws.mjs)
set_tests_properties(chat_ws PROPERTIES LABELS integration TIMEOUT 300
                     ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
# The chat in Chromium: hostile text stays text on the viewer page and the
# moderation panel (CC_CHAT_SCREENSHOTS=docs keeps the screenshots).
add_test(NAME chat_browser COMMAND node ${CMAKE_SOURCE_DIR}/tests/integration/test_chat_browser.mjs)
set_tests_properties(chat_browser PROPERTIES LABELS integration TIMEOUT 300
                     ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
