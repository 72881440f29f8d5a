# cartcast-overlay's pure parts: cue validation, EXT-X-DATERANGE mapping,
# viewer messages, identities, operator tokens (docs/overlay.md).
cc_unit_test(test_overlay_cue ${CMAKE_SOURCE_DIR}/tests/unit/test_overlay_cue.c cartcast_overlay)
# Chat and moderation's pure half: message and name checks, term
# normalisation and matching, the review hook's answer (docs/chat.md).
cc_unit_test(test_chat ${CMAKE_SOURCE_DIR}/tests/unit/test_chat.c cartcast_moderation)
