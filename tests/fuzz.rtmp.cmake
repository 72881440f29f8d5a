# RTMP ingest fuzz harnesses (built only with -DCC_FUZZ=ON and clang).
cc_fuzz_target(fuzz_rtmp_session ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_rtmp_session.c cartcast_ingest)
cc_fuzz_target(fuzz_rtmp_chunk ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_rtmp_chunk.c cartcast_ingest)
cc_fuzz_target(fuzz_amf0 ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_amf0.c cartcast_ingest)
