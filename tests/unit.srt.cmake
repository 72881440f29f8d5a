# SRT ingest unit tests (ingest/srt): streamid parser, elementary-stream
# converters, and the MPEG-TS demuxer on the fuzz corpus's ffmpeg-made files.
foreach(t test_srt_streamid test_srt_es test_srt_demux)
  cc_unit_test(${t} ${CMAKE_SOURCE_DIR}/tests/unit/${t}.c cartcast_ingest)
endforeach()
target_compile_definitions(test_srt_demux PRIVATE CC_SRT_CORPUS="${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/fuzz_srt_ts")
