# libFuzzer harness for the FLV tag parsers and the codec record parsers.
cc_fuzz_target(fuzz_flv ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_flv.c cartcast_ingest)
