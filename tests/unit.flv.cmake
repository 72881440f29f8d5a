# ingest/flv.c and core/media.c: FLV tag bodies, codec configuration records.
cc_unit_test(test_flv ${CMAKE_SOURCE_DIR}/tests/unit/test_flv.c cartcast_ingest)
cc_unit_test(test_media ${CMAKE_SOURCE_DIR}/tests/unit/test_media.c cartcast_ingest)
