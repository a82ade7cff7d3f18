# SPDX-License-Identifier: Apache-2.0
#
# Runs one example against Redis (ctest tests "example.<name>.redis"):
#
#   cmake -DEXAMPLE=<exe> -DREDIS_SERVER=<redis-server> -DREDIS_CLI=<redis-cli>
#         -DWORK_DIR=<scratch dir> -P run_with_redis.cmake
#
# If PROXYSTORE_REDIS is set, the example uses that server. Otherwise this
# script starts a private redis-server on a free loopback port (the examples
# themselves never start one), runs the example with
# PROXYSTORE_REDIS=127.0.0.1:<port>, and shuts the server down again.
# PROXYSTORE_REDIS_SERVER, if set, overrides REDIS_SERVER.
foreach(var IN ITEMS EXAMPLE REDIS_SERVER REDIS_CLI WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "run_with_redis.cmake: ${var} is not set")
  endif()
endforeach()
if(DEFINED ENV{PROXYSTORE_REDIS_SERVER} AND NOT "$ENV{PROXYSTORE_REDIS_SERVER}" STREQUAL "")
  set(REDIS_SERVER "$ENV{PROXYSTORE_REDIS_SERVER}")
endif()

if(DEFINED ENV{PROXYSTORE_REDIS} AND NOT "$ENV{PROXYSTORE_REDIS}" STREQUAL "")
  message(STATUS "using the Redis server at $ENV{PROXYSTORE_REDIS}")
  execute_process(COMMAND "${EXAMPLE}" RESULT_VARIABLE rc TIMEOUT 100)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${EXAMPLE} failed against $ENV{PROXYSTORE_REDIS}: ${rc}")
  endif()
  return()
endif()

function(redis_ping port out_var)
  execute_process(COMMAND "${REDIS_CLI}" -h 127.0.0.1 -p ${port} ping
                  OUTPUT_VARIABLE reply ERROR_QUIET TIMEOUT 5)
  if(reply MATCHES "PONG")
    set(${out_var} TRUE PARENT_SCOPE)
  else()
    set(${out_var} FALSE PARENT_SCOPE)
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(port "")
foreach(attempt RANGE 1 8)
  string(RANDOM LENGTH 5 ALPHABET 0123456789 random)
  math(EXPR candidate "20000 + (${random} % 40000)")
  redis_ping(${candidate} taken)
  if(taken)
    continue()  # somebody else's server: never touch it
  endif()
  execute_process(
    COMMAND "${REDIS_SERVER}" --bind 127.0.0.1 --port ${candidate} --save "" --appendonly no
            --daemonize yes --dir "${WORK_DIR}" --pidfile "${WORK_DIR}/redis.pid"
            --logfile "${WORK_DIR}/redis.log"
    RESULT_VARIABLE started TIMEOUT 10)
  if(NOT started EQUAL 0)
    continue()
  endif()
  foreach(i RANGE 50)
    redis_ping(${candidate} up)
    if(up)
      set(port ${candidate})
      break()
    endif()
    execute_process(COMMAND "${CMAKE_COMMAND}" -E sleep 0.1)
  endforeach()
  if(port)
    break()
  endif()
endforeach()
if(NOT port)
  message(FATAL_ERROR "run_with_redis.cmake: could not start ${REDIS_SERVER} on a loopback port")
endif()
message(STATUS "started a private redis-server at 127.0.0.1:${port}")

execute_process(
  COMMAND "${CMAKE_COMMAND}" -E env "PROXYSTORE_REDIS=127.0.0.1:${port}" "${EXAMPLE}"
  RESULT_VARIABLE rc TIMEOUT 100)

# Whatever happened, stop the server and check the example left no keys.
execute_process(COMMAND "${REDIS_CLI}" -h 127.0.0.1 -p ${port} dbsize
                OUTPUT_VARIABLE keys OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET TIMEOUT 5)
execute_process(COMMAND "${REDIS_CLI}" -h 127.0.0.1 -p ${port} shutdown nosave
                OUTPUT_QUIET ERROR_QUIET TIMEOUT 5)
file(REMOVE_RECURSE "${WORK_DIR}")

if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXAMPLE} failed against Redis at 127.0.0.1:${port}: ${rc}")
endif()
if(NOT keys STREQUAL "0")
  message(FATAL_ERROR "${EXAMPLE} left ${keys} keys in Redis")
endif()
