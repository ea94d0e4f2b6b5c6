#pragma once
// What the unpacking process may do to the files it creates. A layer records owners, device
// nodes and setuid bits that only real root can reproduce; an unprivileged unpack (rootless
// containers, CI runners) must still succeed, so these are skipped and reported, not fatal.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ckms::oci {

struct Privileges {
  bool chown = false;  // may give files any owner (root, possibly in a user namespace)
  bool mknod = false;  // may create device nodes (root in the initial user namespace)

  static Privileges of_current_process();
};

// The permission bits to give a file: setuid and setgid survive only when the recorded owner
// was applied, because on a file owned by the unpacking user they would grant that user's
// rights to whoever runs it, and only when the caller keeps privileged bits at all.
mode_t permitted_mode(mode_t recorded, bool owner_applied, bool privileged_bits = true);

// The extended attribute that gives an executable capabilities when run (file capabilities).
inline constexpr const char* kCapabilityXattr = "security.capability";

// What an unpack left out, for the caller to show. Ownership is counted rather than listed:
// an unprivileged unpack skips it for every entry.
struct UnpackNotes {
  std::vector<std::string> lines;
  std::uint64_t ownership_skipped = 0;
  std::uint64_t privileges_dropped = 0;  // setuid/setgid bits or capabilities left out by policy

  void add(std::string line) { lines.push_back(std::move(line)); }
  // Lines plus one summary line for the counted skips.
  std::vector<std::string> finish() const;
};

}  // namespace ckms::oci
