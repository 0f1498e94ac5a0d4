# TensorBoard event files: CRC-32C, record framing, event encoding, the sink (unit), and the real
# TensorBoard reader over what the sink writes (integration: needs TRAINSCOPE_PYTHON with the
# `tensorboard` and `pillow` packages).
trainscope_add_test(tboard_test SOURCES
  tboard/crc32c_test.cpp
  tboard/record_io_test.cpp
  tboard/event_proto_test.cpp
  tboard/markdown_test.cpp
  tboard/tensorboard_sink_test.cpp)
trainscope_add_test(tboard_reader_test INTEGRATION
  SOURCES tboard/tensorboard_reader_test.cpp
  LIBS nlohmann_json::nlohmann_json)
# The configured interpreter and source tree are compiled in as the fallback for running the test
# binary by hand, outside ctest (which sets TRAINSCOPE_PYTHON and TRAINSCOPE_SOURCE_DIR).
if(TARGET tboard_reader_test)
  target_compile_definitions(tboard_reader_test PRIVATE
    TRAINSCOPE_CONFIGURED_PYTHON="${TRAINSCOPE_PYTHON}"
    TRAINSCOPE_CONFIGURED_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()
