# RTMP ingest unit tests (ingest/rtmp, ingest/auth).
foreach(t test_rtmp_chunk test_rtmp_amf0 test_rtmp_handshake test_rtmp_auth test_rtmp_session test_rtmp_server)
  cc_unit_test(${t} ${CMAKE_SOURCE_DIR}/tests/unit/${t}.c cartcast_ingest)
endforeach()
