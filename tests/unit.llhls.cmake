# packager/llhls.c: LL-HLS model, playlist writer, date ranges, blocking decisions.
cc_unit_test(test_llhls ${CMAKE_SOURCE_DIR}/tests/unit/test_llhls.c cartcast_packager)
