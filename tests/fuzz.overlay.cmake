# The overlay's parsers; built only with -DCC_FUZZ=ON and clang.
cc_fuzz_target(fuzz_overlay_cue ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_overlay_cue.c cartcast_cue)
cc_fuzz_target(fuzz_overlay_viewer ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_overlay_viewer.c cartcast_cue)
# Chat and moderation's pure parsers: chat messages, names, term normalisation
# and lists, the review hook's answer (docs/chat.md).
cc_fuzz_target(fuzz_chat ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_chat.c cartcast_moderation)
