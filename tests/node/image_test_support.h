// tests/node/image_test_support.h — helpers shared by the image store tests:
// the test images of scripts/build-test-images (built once per test binary)
// and small file utilities.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "tests/test_support.h"

namespace bosun::test {

// OUTDIR of scripts/build-test-images, built on first use into a folder
// removed when the test binary exits. Empty (and the test should skip) when
// the script fails, e.g. umoci is not installed.
inline const std::string& TestImagesDir() {
  static std::unique_ptr<TempDir> dir;
  static std::string path;
  if (!dir) {
    dir = std::make_unique<TempDir>("bosun-test-images");
    Outcome o = RunCommand(std::string(BOSUN_SOURCE_DIR "/scripts/build-test-images ") + dir->path());
    if (o.exit_code == 0) {
      path = dir->path();
    } else {
      std::fprintf(stderr, "scripts/build-test-images failed: %s\n", o.out.c_str());
    }
  }
  return path;
}

inline std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline size_t CountFiles(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    n++;
  }
  return n;
}

}  // namespace bosun::test
