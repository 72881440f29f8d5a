# cartcast-edge's parsers of what an origin sends; built only with -DCC_FUZZ=ON and clang.
#   fuzz_http_response   response heads and bodies (Content-Length, chunked, close), split anywhere
#   fuzz_playlist_parse  media playlists, then the mirror walk over what parses
cc_fuzz_target(fuzz_http_response ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_http_response.c cartcast_edge)
cc_fuzz_target(fuzz_playlist_parse ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_playlist_parse.c cartcast_edge)
