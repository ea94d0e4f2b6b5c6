#include "ckms/base/temp_dir.hpp"

#include <fcntl.h>
#include <stdlib.h>

#include <cstdlib>
#include <string>

#include "ckms/base/beneath_root.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"

namespace ckms {

std::filesystem::path temp_parent() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

TempDir::TempDir(std::string_view prefix, const std::filesystem::path& parent) {
  std::string pattern = (parent / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) fail_errno("cannot create a work directory in " + parent.string());
  path_ = pattern;
}

TempDir::~TempDir() {
  const UniqueFd parent(::open(path_.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!parent) return;
  try {
    remove_tree_at(parent.get(), path_.filename().string(), path_.string());
  } catch (const Error&) {
    // A destructor cannot report; what could not be removed stays under $TMPDIR.
  }
}

}  // namespace ckms
