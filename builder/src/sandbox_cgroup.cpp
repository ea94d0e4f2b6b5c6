#include "sandbox_cgroup.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <vector>

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

// The cgroup hierarchies runc may put a container in: every cgroup file system mounted
// under /sys/fs/cgroup (v1 controllers, name=systemd, and cgroup2's "unified" on a hybrid
// host). Aliases such as cpu -> cpu,cpuacct are symlinks and skipped.
std::vector<fs::path> hierarchies() {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kHierarchies, ec)) {
    if (entry.is_symlink(ec) || !entry.is_directory(ec)) continue;
    if (fs::exists(entry.path() / "cgroup.procs", ec)) found.push_back(entry.path());
  }
  return found;
}

// Makes ckms/<id>. The parent is shared by every build and removed by the last one to end,
// so it may vanish between the two mkdirs: then it is made again. Each retry means that
// another build removed the empty parent meanwhile, so the loop ends; the bound is only a
// guard.
bool create_cgroup(const fs::path& dir) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (::mkdir(dir.parent_path().c_str(), 0755) != 0 && errno != EEXIST) return false;
    if (::mkdir(dir.c_str(), 0755) == 0) return true;
    if (errno != ENOENT) return false;
  }
  return false;
}

}  // namespace

// ckms/<id> is made in every hierarchy, not only in memory and pids where the limits are
// written: runc makes ckms/<id>/runc in each hierarchy with mkdir -p, and the shared ckms/
// parent is removed by the last build to end. A parent runc made itself could be removed
// by another build between runc's mkdir of ckms/ and of ckms/<id>, and runc then failed
// with "no such file or directory". A parent that holds this build's ckms/<id> from before
// runc starts until after it is gone is never empty, so rmdir refuses it (EBUSY).
BuildCgroup::BuildCgroup(const std::string& id, std::optional<std::int64_t> memory_bytes,
                         std::optional<std::int64_t> pids)
    : id_(id) {
  if (!have_v1_hierarchies()) return;
  for (const auto& dir : {memory_dir(id), pids_dir(id)}) {
    if (!create_cgroup(dir)) fail_errno("create the build's cgroup " + dir.string());
    dirs_.push_back(dir);
  }
  // Elsewhere a cgroup that cannot be made is runc's to report, if it needs it.
  for (const auto& hierarchy : hierarchies()) {
    const fs::path dir = hierarchy / kParent / id;
    if (std::find(dirs_.begin(), dirs_.end(), dir) == dirs_.end()) create_cgroup(dir);
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
  for (const auto& hierarchy : hierarchies()) {
    const fs::path dir = hierarchy / kParent / id;
    ::rmdir((dir / "runc").c_str());
    ::rmdir(dir.c_str());
    ::rmdir(dir.parent_path().c_str());
  }
}

}  // namespace ckms::builder
