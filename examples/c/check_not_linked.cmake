# Fails when EXECUTABLE lists libspinfer among its DT_NEEDED libraries.
# Usage: cmake -DREADELF=readelf -DEXECUTABLE=path -P check_not_linked.cmake
execute_process(COMMAND ${READELF} -d ${EXECUTABLE}
  OUTPUT_VARIABLE dynamic RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "readelf -d ${EXECUTABLE} failed (${result})")
endif()
if(dynamic MATCHES "NEEDED[^\n]*libspinfer")
  message(FATAL_ERROR "${EXECUTABLE} is linked against libspinfer:\n${dynamic}")
endif()
message(STATUS "${EXECUTABLE} has no link-time dependency on libspinfer")
