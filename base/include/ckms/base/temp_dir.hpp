#pragma once
// A private directory for one command's intermediate files, removed with everything in it
// (also what was left unwritable) when the object goes.

#include <filesystem>
#include <string_view>

namespace ckms {

// $TMPDIR when set and not empty, else /tmp.
std::filesystem::path temp_parent();

class TempDir {
 public:
  // Creates <parent>/<prefix>XXXXXX, mode 0700.
  explicit TempDir(std::string_view prefix, const std::filesystem::path& parent = temp_parent());
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace ckms
