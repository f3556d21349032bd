// temp_dir.hpp: a fresh directory under /tmp for one test, removed (with everything in it) when
// the test's fixture goes away.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace twincache::test_support {

class temp_dir {
 public:
  // `name`: a readable part of the directory's name, e.g. "disk-test".
  explicit temp_dir(const std::string& name) {
    std::string tmpl = "/tmp/twincache-" + name + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + tmpl);
    path_ = tmpl;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

}  // namespace twincache::test_support
