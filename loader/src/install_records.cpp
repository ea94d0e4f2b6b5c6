#include "ckms/loader/install_records.hpp"

#include <algorithm>

#include "artifact_json.hpp"
#include "ckms/artifact/names.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/kmod/compress.hpp"
#include "record_files.hpp"

namespace ckms::loader {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A record decides what uninstall deletes: a path that is not a plain file in ckms's own
// directory (a damaged or planted record) must never name another file.
bool is_own_path(std::string_view path) {
  const std::string prefix = std::string(kInstallSubdir) + "/";
  return path.starts_with(prefix) && artifact::is_plain_file_name(path.substr(prefix.size()));
}

void check_token(std::string_view text, std::string_view what) {
  if (!artifact::is_plain_token(text) || text.starts_with(".")) {
    fail(ErrorKind::usage, "'{}' is not a {} ckms can record", text, what);
  }
}

}  // namespace

json InstallRecord::to_json() const {
  json files_json = json::array();
  for (const auto& f : files) {
    files_json.push_back({{"path", f.path}, {"module", f.module}, {"digest", f.digest.str()}, {"signer", f.signer}});
  }
  return json{{"package", package},
              {"version", version},
              {"kernelRelease", kernel_release},
              {"arch", arch},
              {"source", source},
              {"manifest", manifest.str()},
              {"files", files_json},
              {"installedAt", installed_at},
              {"initramfs", initramfs}};
}

InstallRecord InstallRecord::from_json(const json& j, std::string_view where) {
  try {
    InstallRecord r{.package = j.at("package").get<std::string>(),
                    .version = j.at("version").get<std::string>(),
                    .kernel_release = j.at("kernelRelease").get<std::string>(),
                    .arch = j.at("arch").get<std::string>(),
                    .source = j.at("source").get<std::string>(),
                    .manifest = detail::digest_at(j, "manifest", where),
                    .installed_at = j.at("installedAt").get<std::string>(),
                    // Records written before early boot existed have no such key.
                    .initramfs = j.value("initramfs", false)};
    for (const auto& f : j.at("files")) {
      InstalledFile file{.path = f.at("path").get<std::string>(),
                         .module = f.at("module").get<std::string>(),
                         .digest = detail::digest_at(f, "digest", where),
                         .signer = f.at("signer").get<std::string>()};
      if (!is_own_path(file.path)) fail(ErrorKind::integrity, "{}: '{}' is not a file ckms installs", where, file.path);
      r.files.push_back(std::move(file));
    }
    return r;
  } catch (const json::exception& e) {
    fail(ErrorKind::integrity, "{}: not a ckms install record: {}", where, e.what());
  }
}

std::optional<ckms::Digest> digest_of_installed(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(file, ec))) return std::nullopt;
  return ckms::digest_of(ckms::read_file(file, kmod::kDefaultDecompressLimit));
}

std::vector<EarlyModule> early_modules(const InstallRecords& records, const fs::path& release_dir,
                                       std::string_view release) {
  std::vector<EarlyModule> out;
  for (const auto& record : records.records(release)) {
    if (!record.initramfs) continue;
    for (const auto& file : record.files) {
      const fs::path path = release_dir / file.path;
      out.push_back({.module = file.module, .path = path, .intact = digest_of_installed(path) == file.digest});
    }
  }
  return out;
}

InstallRecords::InstallRecords(fs::path directory) : directory_(std::move(directory)) {}

StateLock InstallRecords::lock() {
  // The records say which files under /lib/modules uninstall deletes: only root's own will do.
  ckms::ensure_private_directory(directory_, 0755, "install records directory");
  return detail::lock_records(directory_ / "lock");
}

fs::path InstallRecords::record_path(std::string_view release, std::string_view package) const {
  check_token(release, "kernel release");
  check_token(package, "package name");
  return directory_ / release / (std::string(package) + ".json");
}

std::vector<std::string> InstallRecords::releases() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(directory_, ec)) {
    if (entry.is_directory() && !entry.path().filename().string().starts_with(".")) {
      out.push_back(entry.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<InstallRecord> InstallRecords::records(std::string_view release) const {
  auto out = detail::read_records<InstallRecord>(directory_ / release);
  std::sort(out.begin(), out.end(),
            [](const InstallRecord& a, const InstallRecord& b) { return a.package < b.package; });
  return out;
}

std::optional<InstallRecord> InstallRecords::find(std::string_view release, std::string_view package) const {
  return detail::find_record<InstallRecord>(record_path(release, package));
}

void InstallRecords::write(const InstallRecord& record) {
  detail::write_record(record_path(record.kernel_release, record.package), record.to_json());
}

void InstallRecords::erase(std::string_view release, std::string_view package) {
  const fs::path file = record_path(release, package);
  detail::erase_record(file);
  std::error_code ec;
  fs::remove(file.parent_path(), ec);  // only when it was the kernel's last record
}

}  // namespace ckms::loader
