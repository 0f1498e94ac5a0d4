# The layer table of docs/design.md, enforced by the build.
#
# Each layer of libtrainscope (common, ops, run, sinks, upload) is an OBJECT library whose only
# include path is a *view*: a folder in the build tree holding symbolic links to its own sources
# and to those of the layers below it, and to the public headers those layers own. A file that
# includes a higher layer's header ("upload/http_client.h" from ops, "trainscope/run/run.h" from
# sinks's neighbour ops, ...) fails to compile with "No such file". libtrainscope.so is the union of
# the layers' objects. `layer_rules` (tests/layering/) checks that the views refuse what they must.
#
#   trainscope_layer(<name> SOURCES <files...> [SEES <lower layers...>] [KERNELS])
#
# The public headers owned by each layer: common owns the top-level ones (error.h, device.h,
# tensor_view.h, cpu_executor.h, limits.h); the others own include/trainscope/<layer>/.

set(TRAINSCOPE_LAYER_VIEWS "${PROJECT_BINARY_DIR}/layer-views")
set(_ts_common_public_headers error.h device.h tensor_view.h cpu_executor.h limits.h)

# Makes <view>/<layer> and <view>/trainscope/... links for one visible layer.
function(_trainscope_link_layer view layer)
  if(EXISTS "${PROJECT_SOURCE_DIR}/src/${layer}")
    file(CREATE_LINK "${PROJECT_SOURCE_DIR}/src/${layer}" "${view}/${layer}" SYMBOLIC)
  endif()
  if(layer STREQUAL "common")
    foreach(header IN LISTS _ts_common_public_headers)
      file(CREATE_LINK "${PROJECT_SOURCE_DIR}/include/trainscope/${header}" "${view}/trainscope/${header}" SYMBOLIC)
    endforeach()
  elseif(EXISTS "${PROJECT_SOURCE_DIR}/include/trainscope/${layer}")
    file(CREATE_LINK "${PROJECT_SOURCE_DIR}/include/trainscope/${layer}" "${view}/trainscope/${layer}" SYMBOLIC)
  endif()
endfunction()

function(trainscope_layer name)
  cmake_parse_arguments(L "KERNELS" "" "SOURCES;SEES" ${ARGN})
  set(view "${TRAINSCOPE_LAYER_VIEWS}/${name}")
  # Rebuilt at every configure so that a layer removed from SEES disappears from the view.
  # (REMOVE_RECURSE removes the links, never what they point to.)
  file(REMOVE_RECURSE "${view}")
  file(MAKE_DIRECTORY "${view}/trainscope")
  foreach(layer IN LISTS L_SEES name)
    _trainscope_link_layer("${view}" "${layer}")
  endforeach()
  set_property(GLOBAL APPEND PROPERTY TRAINSCOPE_LAYERS ${name})
  set_property(GLOBAL PROPERTY TRAINSCOPE_LAYER_SEES_${name} ${L_SEES})

  add_library(trainscope_${name} OBJECT ${L_SOURCES})
  target_include_directories(trainscope_${name} PRIVATE "${view}")
  if(L_KERNELS)  # the CUDA launchers' plain C++ headers and the arithmetic shared with the CPU path
    target_include_directories(trainscope_${name} PRIVATE "${PROJECT_SOURCE_DIR}/kernels")
  endif()
  target_compile_features(trainscope_${name} PRIVATE cxx_std_17)
  target_compile_options(trainscope_${name} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-Wall>)
  target_link_libraries(trainscope_${name} PRIVATE Threads::Threads)
  if(TRAINSCOPE_WITH_CUDA)
    target_compile_definitions(trainscope_${name} PRIVATE TRAINSCOPE_WITH_CUDA)
  endif()
endfunction()

# Writes the layer table (layers, what each sees, their views) for tests/layering/.
function(trainscope_write_layer_table file)
  get_property(layers GLOBAL PROPERTY TRAINSCOPE_LAYERS)
  set(text "set(LAYERS ${layers})\nset(LAYER_VIEWS \"${TRAINSCOPE_LAYER_VIEWS}\")\n")
  foreach(layer IN LISTS layers)
    get_property(sees GLOBAL PROPERTY TRAINSCOPE_LAYER_SEES_${layer})
    string(APPEND text "set(SEES_${layer} ${sees})\n")
  endforeach()
  file(WRITE "${file}" "${text}")
endfunction()
