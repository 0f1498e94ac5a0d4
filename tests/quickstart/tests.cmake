# The README's quick start, compiled and run as it stands (issue #13): the first ```cpp block after
# "## Quick start" is extracted at configure time (re-run when README.md changes) and included in
# the body of tests/quickstart/quickstart_main.cpp, which supplies the model and data and checks
# the run directory it wrote.
if(TARGET trainscope_torch)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/README.md)
  file(READ ${PROJECT_SOURCE_DIR}/README.md readme)
  string(FIND "${readme}" "## Quick start" quickstart_at)
  if(quickstart_at EQUAL -1)
    message(FATAL_ERROR "README.md has no '## Quick start' section for tests/quickstart")
  endif()
  string(SUBSTRING "${readme}" ${quickstart_at} -1 quickstart)
  string(FIND "${quickstart}" "```cpp\n" fence_at)
  math(EXPR code_at "${fence_at} + 7")
  string(SUBSTRING "${quickstart}" ${code_at} -1 quickstart)
  string(FIND "${quickstart}" "```" end_at)
  string(SUBSTRING "${quickstart}" 0 ${end_at} snippet)
  string(REGEX REPLACE "#include[^\n]*\n" "" snippet "${snippet}")  # the main file includes them
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/quickstart/quickstart_snippet.inc "${snippet}")
  add_executable(readme_quickstart ${CMAKE_CURRENT_SOURCE_DIR}/quickstart/quickstart_main.cpp)
  target_include_directories(readme_quickstart PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/quickstart)
  target_link_libraries(readme_quickstart PRIVATE trainscope::torch nlohmann_json::nlohmann_json)
  set(quickstart_dir ${CMAKE_CURRENT_BINARY_DIR}/quickstart/work)
  file(MAKE_DIRECTORY ${quickstart_dir})
  add_test(NAME readme_quickstart COMMAND readme_quickstart WORKING_DIRECTORY ${quickstart_dir})
  set_tests_properties(readme_quickstart PROPERTIES LABELS "torch-unit" TIMEOUT 300)
endif()
