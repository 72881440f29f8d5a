# cartcast-overlay's pure parts: cue validation, EXT-X-DATERANGE mapping,
# viewer messages, identities, operator tokens (docs/overlay.md).
cc_unit_test(test_overlay_cue ${CMAKE_SOURCE_DIR}/tests/unit/test_overlay_cue.c cartcast_overlay)
