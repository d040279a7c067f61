# agc.cmake: build the C that agc generates from a spec into a CMake target.
#
#   include(/usr/local/share/agc/cmake/agc.cmake)   # or list(APPEND
#                                                   # CMAKE_MODULE_PATH ...)
#   add_executable(app main.c)
#   agc_add_model(app model.yaml)
#
# agc_add_model(TARGET SPEC [INFER] [WEIGHTS FILE] [DIMS NAME=N ...]
#               [OUTPUT_DIR DIR])
#
# runs `agc compile SPEC -o DIR` at build time (DIR defaults to
# ${CMAKE_CURRENT_BINARY_DIR}/agc/NAME), adds DIR/NAME.c to TARGET's sources
# and DIR to its include directories, and runs agc again whenever SPEC (or
# WEIGHTS, or agc itself) changes.  NAME is the spec's top-level `name:`, or
# its file name without .yaml; a change of `name:` re-runs CMake.
#
# INFER, WEIGHTS FILE and DIMS NAME=N... are passed to agc compile as
# --infer, --weights FILE and -D NAME=N (sections 10 and 14 of the spec
# language); they need an agc that has those options.
#
# AGC_EXECUTABLE names the agc to run; by default the one installed next to
# this file (PREFIX/bin/agc), else agc on the PATH.

if(CMAKE_VERSION VERSION_LESS 3.13)
  message(FATAL_ERROR "agc.cmake needs CMake 3.13 or later")
endif()

if(NOT AGC_EXECUTABLE)
  find_program(AGC_EXECUTABLE agc
    HINTS "${CMAKE_CURRENT_LIST_DIR}/../../../bin" NO_DEFAULT_PATH)
  find_program(AGC_EXECUTABLE agc)
endif()
if(NOT AGC_EXECUTABLE)
  message(FATAL_ERROR "agc.cmake: cannot find the agc program; "
                      "set AGC_EXECUTABLE")
endif()

function(agc_add_model target spec)
  cmake_parse_arguments(PARSE_ARGV 2 AGC "INFER" "WEIGHTS;OUTPUT_DIR" "DIMS")
  if(AGC_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "agc_add_model: unexpected arguments: "
                        "${AGC_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "agc_add_model: no target '${target}'")
  endif()
  get_filename_component(spec "${spec}" ABSOLUTE
                         BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT EXISTS "${spec}")
    message(FATAL_ERROR "agc_add_model: no spec '${spec}'")
  endif()

  # NAME: the spec's top-level name:, else the file's stem
  get_filename_component(name "${spec}" NAME_WE)
  file(STRINGS "${spec}" name_line REGEX "^name:[ \t]*[A-Za-z][A-Za-z0-9_]*")
  if(name_line)
    list(GET name_line 0 name_line)
    string(REGEX REPLACE "^name:[ \t]*([A-Za-z][A-Za-z0-9_]*).*" "\\1"
           name "${name_line}")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${spec}")

  set(dir "${AGC_OUTPUT_DIR}")
  if(NOT dir)
    set(dir "${CMAKE_CURRENT_BINARY_DIR}/agc/${name}")
  endif()
  set(args compile "${spec}" -o "${dir}")
  set(deps "${spec}" "${AGC_EXECUTABLE}")
  if(AGC_INFER)
    list(APPEND args --infer)
  endif()
  if(AGC_WEIGHTS)
    get_filename_component(weights "${AGC_WEIGHTS}" ABSOLUTE
                           BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND args --weights "${weights}")
    list(APPEND deps "${weights}")
  endif()
  foreach(dim IN LISTS AGC_DIMS)
    list(APPEND args -D "${dim}")
  endforeach()

  # agc leaves a file alone when its content would not change, so a stamp
  # records that the command ran
  add_custom_command(
    OUTPUT "${dir}/${name}.stamp"
    BYPRODUCTS "${dir}/${name}.c" "${dir}/${name}.h"
    COMMAND "${AGC_EXECUTABLE}" ${args}
    COMMAND "${CMAKE_COMMAND}" -E touch "${dir}/${name}.stamp"
    DEPENDS ${deps}
    COMMENT "agc: generating ${name}.c and ${name}.h from ${spec}"
    VERBATIM)
  add_custom_target(${target}_agc_${name} DEPENDS "${dir}/${name}.stamp")
  add_dependencies(${target} ${target}_agc_${name})
  target_sources(${target} PRIVATE "${dir}/${name}.c")
  set_source_files_properties("${dir}/${name}.c" "${dir}/${name}.h"
                              PROPERTIES GENERATED TRUE)
  target_include_directories(${target} PRIVATE "${dir}")
endfunction()
