#pragma once
// What `ckms install` put into a kernel's module tree, one JSON file per package and kernel
// (<records dir>/<release>/<package>.json, written atomically): each file's path below
// /lib/modules/<release> and the digest of the bytes ckms wrote. `ckms uninstall` removes
// exactly those files and only while they still have that digest; `ckms install` never
// replaces a file that no record names with its current digest.
//
// Apart from install.hpp so that `ckms status` in the node binary reads the records without
// linking the fetching side.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckms/base/digest.hpp"
#include "ckms/loader/state.hpp"

namespace ckms::loader {

inline constexpr std::string_view kDefaultInstallRecordsDir = "/var/lib/ckms-installed";
// Below /lib/modules/<release>; DKMS uses updates/dkms. depmod's default search order
// ("updates" before "built-in") makes a module here win over an in-tree one of that name.
inline constexpr std::string_view kInstallSubdir = "updates/ckms";

struct InstalledFile {
  std::string path;  // below /lib/modules/<release>, e.g. updates/ckms/ckms_hello.ko
  std::string module;
  ckms::Digest digest;
  std::string signer;
};

struct InstallRecord {
  std::string package;
  std::string version;
  std::string kernel_release;
  std::string arch;
  std::string source;  // the reference the install was asked for
  ckms::Digest manifest;
  std::vector<InstalledFile> files;
  std::string installed_at;  // RFC 3339 UTC
  // Needed in early boot (`ckms install --initramfs`, `initramfs: true`): the initramfs
  // hooks put its files into the release's initramfs and load them there.
  bool initramfs = false;

  nlohmann::json to_json() const;
  // Integrity error naming `where` for a record that is not one.
  static InstallRecord from_json(const nlohmann::json& j, std::string_view where);
};

// The digest of the regular file at `file` (a link is not followed); none when there is none.
std::optional<ckms::Digest> digest_of_installed(const std::filesystem::path& file);

// A file of an early-boot package (InstallRecord::initramfs), as the initramfs hooks get it.
struct EarlyModule {
  std::string module;
  std::filesystem::path path;  // absolute, below `release_dir`
  bool intact = false;         // still the bytes ckms wrote: only then does it go into the image
};

class InstallRecords;

// Every file of the early-boot packages installed for `release`, in package order, each
// checked against its recorded digest.
std::vector<EarlyModule> early_modules(const InstallRecords& records, const std::filesystem::path& release_dir,
                                       std::string_view release);

class InstallRecords {
 public:
  explicit InstallRecords(std::filesystem::path directory);

  const std::filesystem::path& directory() const { return directory_; }
  // Serialises installs and uninstalls of one tree.
  [[nodiscard]] StateLock lock();

  // The kernels with records, and the records of one (by package name); none when the
  // directory does not exist.
  std::vector<std::string> releases() const;
  std::vector<InstallRecord> records(std::string_view release) const;
  std::optional<InstallRecord> find(std::string_view release, std::string_view package) const;
  void write(const InstallRecord& record);
  void erase(std::string_view release, std::string_view package);

 private:
  std::filesystem::path record_path(std::string_view release, std::string_view package) const;
  std::filesystem::path directory_;
};

}  // namespace ckms::loader
