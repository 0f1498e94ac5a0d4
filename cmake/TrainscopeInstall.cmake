# Installs the libraries, public headers and a package config so that consumers write
#   find_package(trainscope REQUIRED)                    → trainscope::core
#   find_package(trainscope REQUIRED COMPONENTS torch)   → trainscope::core, trainscope::torch
include(CMakePackageConfigHelpers)

set(TRAINSCOPE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/trainscope)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/trainscope DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS trainscope_core EXPORT trainscopeCoreTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT trainscopeCoreTargets NAMESPACE trainscope:: DESTINATION ${TRAINSCOPE_CMAKE_DIR})

set(TRAINSCOPE_HAS_TORCH OFF)
if(TARGET trainscope_torch)
  set(TRAINSCOPE_HAS_TORCH ON)
  install(TARGETS trainscope_torch EXPORT trainscopeTorchTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(EXPORT trainscopeTorchTargets NAMESPACE trainscope:: DESTINATION ${TRAINSCOPE_CMAKE_DIR})
endif()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/trainscopeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/trainscopeConfig.cmake
  INSTALL_DESTINATION ${TRAINSCOPE_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/trainscopeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/trainscopeConfig.cmake ${PROJECT_BINARY_DIR}/trainscopeConfigVersion.cmake
  DESTINATION ${TRAINSCOPE_CMAKE_DIR})
