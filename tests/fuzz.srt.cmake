# SRT ingest fuzz harnesses (built only with -DCC_FUZZ=ON and clang).
cc_fuzz_target(fuzz_srt_streamid ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_srt_streamid.c cartcast_ingest)
cc_fuzz_target(fuzz_srt_es ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_srt_es.c cartcast_ingest)
cc_fuzz_target(fuzz_srt_ts ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_srt_ts.c cartcast_ingest)
