# raci_add_tests_from_list(<file>): one CTest test per line of tests/tests.list,
# with the semantics of tests/run-tests.sh:
#
#   <name> <np> <command> [args...]      blank lines and lines starting with # skipped
#   np = 0   the command as it is;  np >= 1   mpiexec -n np --oversubscribe command
#   @raci@   $<TARGET_FILE:raci>;   @tests@  the directory of the unit-test executables
#   @data@   RACI_SHARED_DATA
#
# Plain commands are run directly, a relative program path taken from the
# source root. A command that needs a shell (quotes, $VAR, pipes, redirections,
# globs, ;, &&, VAR=value prefixes, ...) runs under `sh -c` like run-tests.sh
# does. Every test runs in the source root with RACI, RACI_TESTBIN and
# RACI_SHARED_DATA set, as tests/lib/common.sh expects.
#
# Uses: RACI_TESTBIN_DIR, RACI_SHARED_DATA, RACI_TEST_TIMEOUT,
#       RACI_MPIEXEC_EXTRA_FLAGS and FindMPI's MPIEXEC_* variables.

find_program(RACI_SH sh REQUIRED)

function(raci_add_tests_from_list list_file)
  # Re-run configure when the file appears or goes away (a glob checked at
  # every build) and whenever it changes.
  file(GLOB _present CONFIGURE_DEPENDS "${list_file}")
  if(NOT EXISTS "${list_file}")
    message(STATUS "raci: ${list_file} does not exist yet: no tests registered")
    return()
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${list_file}")

  set(env
    "RACI=$<TARGET_FILE:raci>"
    "RACI_TESTBIN=${RACI_TESTBIN_DIR}"
    "RACI_SHARED_DATA=${RACI_SHARED_DATA}"
    "OPENBLAS_NUM_THREADS=1"
    "OMPI_MCA_rmaps_base_oversubscribe=1"
    "OMPI_ALLOW_RUN_AS_ROOT=1"
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
  separate_arguments(mpi_pre UNIX_COMMAND "${MPIEXEC_PREFLAGS}")
  separate_arguments(mpi_extra UNIX_COMMAND "${RACI_MPIEXEC_EXTRA_FLAGS}")

  # Split into lines without letting ; [ ] \ act as list syntax: swap them for
  # control characters, split, and swap them back line by line.
  file(READ "${list_file}" text)
  string(ASCII 1 c_semi)
  string(ASCII 2 c_lbr)
  string(ASCII 3 c_rbr)
  string(ASCII 4 c_bsl)
  string(REPLACE "\\" "${c_bsl}"  text "${text}")
  string(REPLACE ";"  "${c_semi}" text "${text}")
  string(REPLACE "["  "${c_lbr}"  text "${text}")
  string(REPLACE "]"  "${c_rbr}"  text "${text}")
  string(REPLACE "\r" ""          text "${text}")
  string(REPLACE "\n" ";"         lines "${text}")

  set(seen "")
  set(lineno 0)
  set(count 0)
  foreach(line IN LISTS lines)
    math(EXPR lineno "${lineno} + 1")
    string(REPLACE "${c_bsl}"  "\\" line "${line}")
    string(REPLACE "${c_semi}" ";"  line "${line}")
    string(REPLACE "${c_lbr}"  "["  line "${line}")
    string(REPLACE "${c_rbr}"  "]"  line "${line}")
    if(line MATCHES "^[ \t]*$" OR line MATCHES "^[ \t]*#")
      continue()
    endif()
    string(REGEX MATCH "^[ \t]*([^ \t]+)[ \t]*([^ \t]*)(.*)$" _ "${line}")
    set(name "${CMAKE_MATCH_1}")
    set(np   "${CMAKE_MATCH_2}")
    string(STRIP "${CMAKE_MATCH_3}" cmd)
    set(where "${list_file}:${lineno}")

    if(name IN_LIST seen)
      message(WARNING "raci: ${where}: test name '${name}' used twice; "
                      "registered as '${name}~line${lineno}'")
      set(name "${name}~line${lineno}")
    endif()
    list(APPEND seen "${name}")
    math(EXPR count "${count} + 1")

    # A malformed line still shows up, as a failing test saying why.
    if(NOT np MATCHES "^[0-9]+$" OR cmd STREQUAL "")
      message(WARNING "raci: ${where}: expected '<name> <np> <command> [args]'")
      add_test(NAME "${name}" COMMAND "${RACI_SH}" -c
               "echo '${where}: expected <name> <np> <command> [args]' >&2; exit 2")
      continue()
    endif()

    # run-tests.sh may have learnt a placeholder this file does not know.
    if(cmd MATCHES "@[A-Za-z_]+@")
      string(REGEX REPLACE "@(raci|tests|data)@" "" rest "${cmd}")
      if(rest MATCHES "@[A-Za-z_]+@")
        message(WARNING "raci: ${where}: unknown placeholder ${CMAKE_MATCH_0} left as it is")
      endif()
    endif()

    # Shell syntax, or quoting that sh and CMake might read differently.
    set(needs_shell FALSE)
    if(cmd MATCHES "[][;\\$|&<>()`*?~{}'\"!#]" OR cmd MATCHES "^[A-Za-z_][A-Za-z0-9_]*=")
      set(needs_shell TRUE)
    endif()

    if(needs_shell)
      string(REPLACE "@raci@"  "$<TARGET_FILE:raci>" cmd "${cmd}")
      string(REPLACE "@tests@" "${RACI_TESTBIN_DIR}" cmd "${cmd}")
      string(REPLACE "@data@"  "${RACI_SHARED_DATA}" cmd "${cmd}")
      if(np GREATER 0)
        list(JOIN mpi_pre " " pre)
        list(JOIN mpi_extra " " extra)
        set(cmd "${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} ${pre} ${extra} ${cmd}")
      endif()
      add_test(NAME "${name}" COMMAND "${RACI_SH}" -c "${cmd}"
               WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}")
    else()
      separate_arguments(argv UNIX_COMMAND "${cmd}")
      list(GET argv 0 prog)
      if(prog MATCHES "/" AND NOT prog MATCHES "^@" AND NOT IS_ABSOLUTE "${prog}")
        list(REMOVE_AT argv 0)
        list(INSERT argv 0 "${CMAKE_SOURCE_DIR}/${prog}")
      endif()
      list(TRANSFORM argv REPLACE "@raci@"  "$<TARGET_FILE:raci>")
      list(TRANSFORM argv REPLACE "@tests@" "${RACI_TESTBIN_DIR}")
      list(TRANSFORM argv REPLACE "@data@"  "${RACI_SHARED_DATA}")
      if(np GREATER 0)
        list(PREPEND argv ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np}
                          ${mpi_pre} ${mpi_extra})
      endif()
      add_test(NAME "${name}" COMMAND ${argv}
               WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}")
    endif()

    if(np GREATER 0)
      set(procs ${np})
      set(label mpi)
    else()
      set(procs 1)
      set(label serial)
    endif()
    set_tests_properties("${name}" PROPERTIES
      ENVIRONMENT "${env}"
      TIMEOUT "${RACI_TEST_TIMEOUT}"
      PROCESSORS "${procs}"
      LABELS "${label}")
  endforeach()
  message(STATUS "raci: ${count} tests from ${list_file}")
endfunction()
