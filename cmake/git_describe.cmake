# Run at every build (cli/CMakeLists.txt, target bosun_git_describe): writes
# the commit the sources are at into OUT, touching it only when it changed, so
# `bosun version` names the commit built rather than the one configured and
# only main.cc recompiles after a commit.
set(describe "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty
                  WORKING_DIRECTORY ${SOURCE_DIR}
                  OUTPUT_VARIABLE out RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(rc EQUAL 0 AND out)
    set(describe "${out}")
  endif()
endif()
set(text "#define BOSUN_GIT_DESCRIBE \"${describe}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE "${OUT}" "${text}")
endif()
