# The layer table (docs/design.md) as the build enforces it: cmake/TrainscopeLayers.cmake's views.
add_test(NAME layer_rules
  COMMAND ${CMAKE_COMMAND} -DLAYER_TABLE=${PROJECT_BINARY_DIR}/layer-table.cmake
    -DCXX=${CMAKE_CXX_COMPILER} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
    -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/layering-probes
    -P ${CMAKE_CURRENT_SOURCE_DIR}/layering/check_layers.cmake)
set_tests_properties(layer_rules PROPERTIES LABELS unit)
