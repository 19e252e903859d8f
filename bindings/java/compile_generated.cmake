# cmake -P script: compile the SWIG-generated Java sources in SOURCES_DIR into a fresh
# CLASSES_DIR with JAVAC (the file list is only known after SWIG has run).
file(GLOB _sources "${SOURCES_DIR}/*.java")
if(NOT _sources)
  message(FATAL_ERROR "no generated Java sources in ${SOURCES_DIR}")
endif()
file(REMOVE_RECURSE "${CLASSES_DIR}")
file(MAKE_DIRECTORY "${CLASSES_DIR}")
execute_process(
  COMMAND "${JAVAC}" --release 17 -encoding UTF-8 -nowarn -d "${CLASSES_DIR}" ${_sources}
  RESULT_VARIABLE _result)
if(NOT _result EQUAL 0)
  message(FATAL_ERROR "javac failed on the generated sources (${_result})")
endif()
