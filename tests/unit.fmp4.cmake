# packager/fmp4.c: init/fragment boxes, checked by walking them and by
# demuxing real x264/x265/SVT-AV1 + AAC clips through libavformat/ffprobe.
# libavformat is linked into the test only, never into the packager.
pkg_check_modules(AV REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil)
cc_unit_test(test_fmp4 ${CMAKE_SOURCE_DIR}/tests/unit/test_fmp4.c cartcast_packager)
target_link_libraries(test_fmp4 PkgConfig::AV)
set_tests_properties(test_fmp4 PROPERTIES TIMEOUT 300)
