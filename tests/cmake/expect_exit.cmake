# Runs a command and checks its exit code (and optionally its output).
#
#   cmake -DEXPECTED=<code> -DCMD=<prog>|<arg>|... [-DPATTERN=<regex>] -P expect_exit.cmake
#
# CMD separates the program and its arguments with '|' (a ';' would be split by add_test).
# PATTERN, when given, must match the command's stdout + stderr.
if(NOT DEFINED EXPECTED OR NOT DEFINED CMD)
  message(FATAL_ERROR "usage: cmake -DEXPECTED=<code> -DCMD=<prog>|<args...> [-DPATTERN=<regex>] -P expect_exit.cmake")
endif()
string(REPLACE "|" ";" _cmd "${CMD}")
execute_process(COMMAND ${_cmd} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
message("command: ${_cmd}\nexit code: ${_rc}\n--- stdout:\n${_out}--- stderr:\n${_err}---")
if(NOT "${_rc}" STREQUAL "${EXPECTED}")
  message(FATAL_ERROR "expected exit code ${EXPECTED}, got '${_rc}'")
endif()
if(DEFINED PATTERN AND NOT "${PATTERN}" STREQUAL "")
  if(NOT "${_out}${_err}" MATCHES "${PATTERN}")
    message(FATAL_ERROR "output does not match the regular expression '${PATTERN}'")
  endif()
endif()
message("OK: exit code ${_rc}")
