# cartcast-edge end to end (tests/integration/test_edge.py): origin + edges + ffmpeg.
#   edge_follow  byte-identical playlists and media, 200 coalesced viewers, players, 404, idle drop
#   edge_faults  origin killed and back, --origin failover
# PROCESSORS 2: they encode, serve and check timing at once; ctest -j2 runs each alone.
foreach(cc_edge_case follow faults)
  if(cc_edge_case STREQUAL "follow")
    set(cc_edge_class EdgeFollow)
  else()
    set(cc_edge_class EdgeFaults)
  endif()
  add_test(NAME edge_${cc_edge_case}
           COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/test_edge.py ${cc_edge_class})
  set_tests_properties(edge_${cc_edge_case} PROPERTIES LABELS integration TIMEOUT 300 PROCESSORS 2
                       ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
endforeach()
