# Writes the generated version.hpp with the program version and the git commit of the source tree
# (suffixed "-dirty" when the tree has uncommitted changes, "unknown" outside git). Run at every
# build (target chokepoint_version), so that results files record the commit actually built;
# configure_file leaves the file untouched when nothing changed, so nothing recompiles then.
#   cmake -DSRC=<source dir> -DDST=<output file> -DVERSION=<x.y.z> -P cmake/version.cmake
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY "${SRC}"
                OUTPUT_VARIABLE CHOKEPOINT_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET RESULT_VARIABLE _git_rc)
if(NOT _git_rc EQUAL 0 OR CHOKEPOINT_GIT_COMMIT STREQUAL "")
  set(CHOKEPOINT_GIT_COMMIT "unknown")
else()
  execute_process(COMMAND git diff --quiet HEAD -- WORKING_DIRECTORY "${SRC}"
                  RESULT_VARIABLE _dirty ERROR_QUIET)
  if(_dirty EQUAL 1)
    string(APPEND CHOKEPOINT_GIT_COMMIT "-dirty")
  endif()
endif()
set(PROJECT_VERSION "${VERSION}")
configure_file("${SRC}/src/version.hpp.in" "${DST}" @ONLY)
