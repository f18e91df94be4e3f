# Runs a tool and checks its exit status, its messages and the files it left.
#
#   cmake -DWORK_DIR=DIR -DEXPECT_RC=N [options] -P check_tool.cmake -- COMMAND [ARGS...]
#
# WORK_DIR         emptied, then the command runs in it
# EXPECT_RC        the exit status the command must return
# EXPECT_STDERR    text that must appear in stderr ("|" separates several)
# EXPECT_STDOUT    text that must appear in stdout ("|" separates several)
# EXPECT_NO_STDOUT when true, stdout must be empty (nothing ran)
# ABSENT           files under WORK_DIR that must not exist afterwards ("|" separated)
# PRESENT          files under WORK_DIR that must exist afterwards ("|" separated)
# PLOT_JSON        a name under WORK_DIR where a small vkattn-bench --json result
#                  file is written first (an input for --plot-add)
#
# "|" rather than ";" separates lists, so that they pass through add_test unsplit.
cmake_minimum_required(VERSION 3.25)

foreach(var WORK_DIR EXPECT_RC)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_tool.cmake: -D${var}=... is required")
  endif()
endforeach()

set(cmd "")
set(after_dashes FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(after_dashes)
    list(APPEND cmd "${CMAKE_ARGV${i}}")
  elseif("${CMAKE_ARGV${i}}" STREQUAL "--")
    set(after_dashes TRUE)
  endif()
endforeach()
if(NOT cmd)
  message(FATAL_ERROR "check_tool.cmake: no command after --")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
if(DEFINED PLOT_JSON)
  file(WRITE "${WORK_DIR}/${PLOT_JSON}"
       "{\"device\": {\"name\": \"check_tool\"}, \"results\": [{\"name\": \"tiny\", \"shape\": \"1x2x64x64\", "
       "\"backend\": \"portable\", \"outcome\": \"ok\", \"tflops\": 1.5}]}\n")
endif()

execute_process(COMMAND ${cmd} WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
string(REPLACE ";" " " cmd_text "${cmd}")
message(STATUS "ran: ${cmd_text}\nexit status: ${rc}\n--- stdout ---\n${out}--- stderr ---\n${err}--------------")

set(failures "")
if(NOT "${rc}" STREQUAL "${EXPECT_RC}")
  string(APPEND failures "\n  exit status ${rc}, expected ${EXPECT_RC}")
endif()
# Each "|"-separated text of `wanted` must appear in `stream` (named `what`).
function(expect_texts what stream wanted)
  string(REPLACE "|" ";" wanted "${wanted}")
  foreach(text IN LISTS wanted)
    string(FIND "${stream}" "${text}" at)
    if(at EQUAL -1)
      string(APPEND failures "\n  ${what} lacks \"${text}\"")
    endif()
  endforeach()
  set(failures "${failures}" PARENT_SCOPE)
endfunction()
if(DEFINED EXPECT_STDERR)
  expect_texts(stderr "${err}" "${EXPECT_STDERR}")
endif()
if(DEFINED EXPECT_STDOUT)
  expect_texts(stdout "${out}" "${EXPECT_STDOUT}")
endif()
if(EXPECT_NO_STDOUT AND NOT "${out}" STREQUAL "")
  string(APPEND failures "\n  stdout is not empty")
endif()
if(DEFINED ABSENT)
  string(REPLACE "|" ";" files "${ABSENT}")
  foreach(f IN LISTS files)
    if(EXISTS "${WORK_DIR}/${f}")
      string(APPEND failures "\n  ${f} was created")
    endif()
  endforeach()
endif()
if(DEFINED PRESENT)
  string(REPLACE "|" ";" files "${PRESENT}")
  foreach(f IN LISTS files)
    if(NOT EXISTS "${WORK_DIR}/${f}")
      string(APPEND failures "\n  ${f} was not created")
    endif()
  endforeach()
endif()
if(failures)
  message(FATAL_ERROR "check failed:${failures}")
endif()
