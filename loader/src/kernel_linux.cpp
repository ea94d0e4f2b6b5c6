// LinuxKernel: the system calls and sysfs files that modprobe and rmmod use. glibc has no
// wrappers for the module calls, so they go through syscall(2).

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ckms/base/enum_names.hpp"
#include "ckms/base/error.hpp"
#include "ckms/loader/kernel.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;

namespace {
constexpr EnumName<ModuleState> kStateNames[] = {{ModuleState::absent, "absent"},
                                                 {ModuleState::live, "live"},
                                                 {ModuleState::coming, "coming"},
                                                 {ModuleState::going, "going"},
                                                 {ModuleState::builtin, "builtin"}};
}  // namespace

std::string_view to_string(ModuleState state) { return name_of(state, kStateNames); }

namespace {

// A module name becomes a path below /sys/module; anything that could leave it is refused.
std::string checked_name(std::string_view module) {
  const std::string name = kmod::normalize_module_name(module);
  if (name.empty() || name.size() > 55 || name.find('/') != std::string::npos || name[0] == '.') {
    fail(ErrorKind::usage, "'{}' is not a kernel module name", module);
  }
  return name;
}

std::optional<std::string> read_line(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  return line;
}

std::string insert_failure_reason(int error) {
  switch (error) {
    case EKEYREJECTED:
      return "the kernel rejected its signature: the signing key is not in the kernel's keyring and "
             "signatures are enforced (module.sig_enforce=1 or Secure Boot)";
    case EPERM:
      return "not permitted: loading needs CAP_SYS_MODULE, and kernel.modules_disabled or lockdown "
             "may forbid it";
    case ENOEXEC: return "the kernel says the format is invalid (built for another kernel or architecture)";
    case ENOENT: return "unknown symbol: a module it depends on is not loaded (see dmesg)";
    case EEXIST: return "a module of that name is already loaded";
    case EINVAL: return "invalid module or parameters (see dmesg)";
    default: return fmt::format("its init failed or the kernel refused it: {} (see dmesg)", std::strerror(error));
  }
}

ErrorKind insert_failure_kind(int error) {
  switch (error) {
    case EKEYREJECTED:
    case EPERM:
    case ENOEXEC:
    case EEXIST:
    case ENOENT: return ErrorKind::refused;
    case EINVAL: return ErrorKind::usage;
    default: return ErrorKind::io;
  }
}

}  // namespace

LinuxKernel::LinuxKernel(std::string sysfs_modules) : sysfs_modules_(std::move(sysfs_modules)) {}

std::string LinuxKernel::release() {
  struct utsname u {};
  if (::uname(&u) != 0) fail_errno("uname");
  return u.release;
}

std::string LinuxKernel::machine() {
  struct utsname u {};
  if (::uname(&u) != 0) fail_errno("uname");
  return u.machine;
}

ModuleState LinuxKernel::state(std::string_view module) {
  const fs::path dir = fs::path(sysfs_modules_) / checked_name(module);
  if (const auto initstate = read_line(dir / "initstate")) {
    if (*initstate == "live") return ModuleState::live;
    if (*initstate == "coming") return ModuleState::coming;
    if (*initstate == "going") return ModuleState::going;
    fail(ErrorKind::io, "{}: unexpected initstate '{}'", (dir / "initstate").string(), *initstate);
  }
  std::error_code ec;
  return fs::is_directory(dir, ec) ? ModuleState::builtin : ModuleState::absent;
}

std::optional<std::string> LinuxKernel::srcversion(std::string_view module) {
  return read_line(fs::path(sysfs_modules_) / checked_name(module) / "srcversion");
}

void LinuxKernel::insert(const ModuleImage& image, const std::string& parameters) {
  long rc = 0;
  if (image.file) {
    rc = ::syscall(SYS_finit_module, image.file.get(), parameters.c_str(), 0);
  } else {
    rc = ::syscall(SYS_init_module, image.bytes.data(), image.bytes.size(), parameters.c_str());
  }
  if (rc != 0) {
    const int error = errno;
    fail(insert_failure_kind(error), "inserting {} ({}) failed: {}", image.name, image.what,
         insert_failure_reason(error));
  }
}

void LinuxKernel::remove(std::string_view module) {
  const std::string name = checked_name(module);
  if (::syscall(SYS_delete_module, name.c_str(), O_NONBLOCK) == 0) return;
  const int error = errno;
  if (error == ENOENT) fail(ErrorKind::not_found, "module {} is not loaded", name);
  if (error == EWOULDBLOCK || error == EBUSY) {
    std::vector<std::string> holders;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(fs::path(sysfs_modules_) / name / "holders", ec)) {
      holders.push_back(entry.path().filename().string());
    }
    std::sort(holders.begin(), holders.end());
    fail(ErrorKind::refused, "module {} is in use{}", name,
         holders.empty() ? std::string() : fmt::format(" by {}", fmt::join(holders, ", ")));
  }
  if (error == EPERM) fail(ErrorKind::refused, "removing module {}: not permitted (CAP_SYS_MODULE)", name);
  fail(ErrorKind::io, "removing module {}: {}", name, std::strerror(error));
}

SignaturePolicy LinuxKernel::signature_policy() { return read_signature_policy(); }

KernelKeys LinuxKernel::trusted_keys() { return read_kernel_keys(); }

}  // namespace ckms::loader
