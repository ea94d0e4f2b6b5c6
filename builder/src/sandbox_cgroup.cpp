#include "sandbox_cgroup.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include <fmt/format.h>

#include "ckms/base/error.hpp"

namespace ckms::builder {
namespace fs = std::filesystem;

namespace {

const fs::path kHierarchies = "/sys/fs/cgroup";
constexpr const char* kParent = "ckms";

fs::path memory_dir(const std::string& id) { return kHierarchies / "memory" / kParent / id; }
fs::path pids_dir(const std::string& id) { return kHierarchies / "pids" / kParent / id; }

bool have_v1_hierarchies() {
  return fs::exists(kHierarchies / "memory/memory.limit_in_bytes") && fs::exists(kHierarchies / "pids/cgroup.procs");
}

void write_value(const fs::path& file, const std::string& value) {
  std::ofstream out(file);
  out << value;
  out.close();
  if (!out) fail(ErrorKind::io, "cannot set the build's cgroup limit {} to {}", file.string(), value);
}

// The number a cgroup file holds ("max" reads as no number).
std::optional<std::uint64_t> read_number(const fs::path& file) {
  std::ifstream in(file);
  std::uint64_t value = 0;
  if (in >> value) return value;
  return std::nullopt;
}

// Whether `peak` reached `limit`, both files of one cgroup.
bool reached(const fs::path& dir, const char* peak, const char* limit) {
  const auto used = read_number(dir / peak);
  const auto max = read_number(dir / limit);
  return used && max && *used >= *max;
}

// Makes ckms/<id>. The parent is shared by every build and removed by the last one to end,
// so it may vanish between the two mkdirs: then it is made again.
void create_cgroup(const fs::path& dir) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (::mkdir(dir.parent_path().c_str(), 0755) != 0 && errno != EEXIST) break;
    if (::mkdir(dir.c_str(), 0755) == 0) return;
    if (errno != ENOENT) break;
  }
  fail_errno("create the build's cgroup " + dir.string());
}

}  // namespace

BuildCgroup::BuildCgroup(const std::string& id, std::optional<std::int64_t> memory_bytes,
                         std::optional<std::int64_t> pids)
    : id_(id) {
  if (!have_v1_hierarchies()) return;
  for (const auto& dir : {memory_dir(id), pids_dir(id)}) {
    create_cgroup(dir);
    dirs_.push_back(dir);
  }
  if (memory_bytes) {
    const std::string bytes = std::to_string(*memory_bytes);
    write_value(dirs_[0] / "memory.limit_in_bytes", bytes);
    // With swap accounting, the limit also holds for what the build would swap out.
    if (fs::exists(dirs_[0] / "memory.memsw.limit_in_bytes"))
      write_value(dirs_[0] / "memory.memsw.limit_in_bytes", bytes);
  }
  if (pids) write_value(dirs_[1] / "pids.max", std::to_string(*pids));
}

BuildCgroup::~BuildCgroup() { remove_build_cgroup(id_); }

std::string BuildCgroup::runc_path() const { return fmt::format("/{}/{}/runc", kParent, id_); }

bool BuildCgroup::memory_limit_reached() const {
  if (!active()) return false;
  return reached(dirs_[0], "memory.max_usage_in_bytes", "memory.limit_in_bytes") ||
         reached(dirs_[0], "memory.memsw.max_usage_in_bytes", "memory.memsw.limit_in_bytes");
}

bool BuildCgroup::pids_limit_reached() const { return active() && reached(dirs_[1], "pids.peak", "pids.max"); }

void remove_build_cgroup(const std::string& id) {
  // runc makes ckms/<id>/runc in every hierarchy and leaves ckms/<id> behind; once the
  // container is gone they are empty, and rmdir is how a cgroup is removed. The shared
  // parent goes too once no build is left in it: rmdir refuses (EBUSY) while another
  // build's cgroup is there, and another ckms may have removed it first (ENOENT).
  std::error_code ec;
  for (const auto& hierarchy : fs::directory_iterator(kHierarchies, ec)) {
    const fs::path dir = hierarchy.path() / kParent / id;
    ::rmdir((dir / "runc").c_str());
    ::rmdir(dir.c_str());
    ::rmdir(dir.parent_path().c_str());
  }
}

}  // namespace ckms::builder
