# Runs one libFuzzer target for a bounded time on a working copy of its seed
# corpus (cmake -P script, called by ctest; see tests/fuzz/CMakeLists.txt).
# Inputs: FUZZER SEEDS CORPUS ARTIFACTS DICT SECONDS.

foreach(var FUZZER SEEDS CORPUS ARTIFACTS DICT SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: ${var} is not set")
  endif()
endforeach()

# The working corpus lives in the build tree: seeds are copied over it, and the
# inputs earlier runs found stay (the fuzzer writes only there).
file(MAKE_DIRECTORY "${CORPUS}" "${ARTIFACTS}")
file(GLOB seeds "${SEEDS}/*")
file(COPY ${seeds} DESTINATION "${CORPUS}")

execute_process(
  COMMAND "${FUZZER}"
    "-max_total_time=${SECONDS}"
    -rss_limit_mb=2048
    -timeout=10
    "-dict=${DICT}"
    "-artifact_prefix=${ARTIFACTS}"
    -print_final_stats=1
    "${CORPUS}"
  RESULT_VARIABLE rc)

if(NOT rc EQUAL 0)
  file(GLOB found "${ARTIFACTS}/*")
  string(REPLACE ";" "\n  " found "${found}")
  message(FATAL_ERROR "${FUZZER} failed (exit ${rc}); reproducers:\n  ${found}\n"
                      "Re-run one with: ${FUZZER} <file>")
endif()
