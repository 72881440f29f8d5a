# LL-HLS request parsers (URI and delivery directives); built only with -DCC_FUZZ=ON and clang.
cc_fuzz_target(fuzz_llhls_request ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_llhls_request.c cartcast_packager)
