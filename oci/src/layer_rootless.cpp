#include "ckms/oci/layer_rootless.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>

namespace ckms::oci {

namespace {

// The initial user namespace maps the whole id range onto itself; any other map means a
// user namespace, where CAP_MKNOD does not allow device nodes.
bool in_initial_user_namespace() {
  std::ifstream map("/proc/self/uid_map");
  std::uint64_t inside = 1, outside = 1, count = 0;
  if (!(map >> inside >> outside >> count)) return false;
  return inside == 0 && outside == 0 && count == 4294967295ULL;
}

}  // namespace

Privileges Privileges::of_current_process() {
  Privileges privileges;
  privileges.chown = ::geteuid() == 0;
  privileges.mknod = privileges.chown && in_initial_user_namespace();
  return privileges;
}

mode_t permitted_mode(mode_t recorded, bool owner_applied, bool privileged_bits) {
  const mode_t bits = recorded & 07777;
  return owner_applied && privileged_bits ? bits : bits & ~static_cast<mode_t>(S_ISUID | S_ISGID);
}

std::vector<std::string> UnpackNotes::finish() const {
  std::vector<std::string> out = lines;
  if (ownership_skipped > 0) {
    out.push_back(fmt::format("ownership of {} entries not applied (not privileged to chown)", ownership_skipped));
  }
  if (privileges_dropped > 0) {
    out.push_back(
        fmt::format("setuid/setgid bits or file capabilities of {} entries dropped (a sandbox never uses them)",
                    privileges_dropped));
  }
  return out;
}

}  // namespace ckms::oci
