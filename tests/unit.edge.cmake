# cartcast-edge (docs/edge.md): the pure pieces of edge/ and its mirror mode.
#   test_http_resp    HTTP/1.x response head + body parser (whole, byte by byte, every split)
#   test_m3u8         media playlist reader (round trip through packager/llhls.c)
#   test_edge_mirror  an origin model and a mirror fed only through its playlists: byte-identical
cc_unit_test(test_http_resp ${CMAKE_SOURCE_DIR}/tests/unit/test_http_resp.c cartcast_edge)
cc_unit_test(test_m3u8 ${CMAKE_SOURCE_DIR}/tests/unit/test_m3u8.c cartcast_edge)
cc_unit_test(test_edge_mirror ${CMAKE_SOURCE_DIR}/tests/unit/test_edge_mirror.c cartcast_edge)
#   test_http_client  the libuv origin client against a scripted server on the same loop
cc_unit_test(test_http_client ${CMAKE_SOURCE_DIR}/tests/unit/test_http_client.c cartcast_edge)
