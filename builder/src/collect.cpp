#include "ckms/builder/collect.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/builder/build_script.hpp"
#include "ckms/builder/tree_files.hpp"
#include "ckms/kmod/modinfo.hpp"
#include "ckms/kmod/signature.hpp"

namespace ckms::builder {
namespace fs = std::filesystem;

namespace {

std::string first_word(std::string_view text) {
  const auto end = text.find(' ');
  return std::string(text.substr(0, end));
}

void write_file(const fs::path& file, std::string_view bytes) {
  ckms::AtomicFile out(file);
  out.write(bytes);
  out.commit();
}

}  // namespace

std::string kbuild_module_name(std::string_view built_path) {
  std::string name(built_path.substr(built_path.rfind('/') + 1));
  if (name.ends_with(".ko")) name.resize(name.size() - 3);
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

std::vector<artifact::ModuleFile> collect_modules(const BuildPlan& plan, const fs::path& output_dir,
                                                  const fs::path& files_dir, const CollectOptions& options) {
  fs::create_directories(files_dir);
  std::vector<artifact::ModuleFile> files;
  std::set<std::string> names;
  for (std::size_t i = 0; i < plan.modules.size(); ++i) {
    const ModuleOutput& planned = plan.modules[i];
    const std::string what =
        fmt::format("kernel {}: module {} ({})", plan.kernel_release, planned.dest_name, planned.built_path);
    const auto bytes = read_plain_file(output_dir, output_file_name(i), options.max_module_bytes, what);
    if (!bytes) fail(ErrorKind::build, "{}: the build did not hand it over", what);
    if (kmod::detect_compression(*bytes) != kmod::Compression::none) {
      fail(ErrorKind::build, "{}: the build produced a compressed file; ckms compresses after signing", what);
    }

    const kmod::ModInfo info = kmod::read_modinfo(*bytes, what, options.max_module_bytes);
    const std::string expected_name = kbuild_module_name(planned.built_path);
    if (info.name != expected_name) {
      fail(ErrorKind::build, "{}: modinfo names it '{}', not '{}'", what, info.name, expected_name);
    }
    if (first_word(info.vermagic) != plan.kernel_release) {
      fail(ErrorKind::build, "{}: vermagic '{}' does not name kernel {}; it would not load there", what, info.vermagic,
           plan.kernel_release);
    }
    if (info.machine != plan.arch) {
      fail(ErrorKind::build, "{}: its code is for {} (ELF e_machine), not the kernel's {}", what, info.machine,
           plan.arch);
    }

    std::string content = *bytes;
    std::string signer;
    if (options.key != nullptr) {
      // A module that arrives signed (a Makefile that signs on its own) is re-signed with the
      // key ckms was given, which is the one nodes are told to trust.
      const std::string_view unsigned_part = kmod::strip_signature(content, what);
      content = kmod::sign_module(unsigned_part, *options.key, options.sign, what);
      signer = options.key->subject();
    }
    if (options.compression != kmod::Compression::none) {
      content = kmod::compress(content, options.compression, what);
    }

    if (planned.dest_name.empty() || planned.dest_name.starts_with('.') ||
        planned.dest_name.find('/') != std::string::npos) {
      fail(ErrorKind::build, "{}: DEST_MODULE_NAME '{}' is not a plain file name", what, planned.dest_name);
    }
    const std::string file_name = planned.dest_name + ".ko" + std::string(kmod::suffix(options.compression));
    if (!names.insert(file_name).second) {
      fail(ErrorKind::build, "{}: two modules would both be published as {}", what, file_name);
    }
    write_file(files_dir / file_name, content);

    artifact::ModuleFile file;
    file.file_name = file_name;
    file.module_name = info.name;
    file.vermagic = info.vermagic;
    file.srcversion = info.srcversion;
    file.depends = info.depends;
    file.signer = signer;
    file.install_location = planned.install_location;
    file.digest = ckms::digest_of(content);
    file.size = static_cast<std::int64_t>(content.size());
    files.push_back(std::move(file));
  }
  return in_load_order(std::move(files));
}

std::vector<artifact::ModuleFile> in_load_order(std::vector<artifact::ModuleFile> files) {
  std::map<std::string, std::size_t> by_name;
  for (std::size_t i = 0; i < files.size(); ++i) by_name[files[i].module_name] = i;

  // Depth-first, in declared order: each module is placed after what it needs from the set.
  enum class Mark { none, visiting, done };
  std::vector<Mark> marks(files.size(), Mark::none);
  std::vector<std::size_t> order;
  std::vector<std::string> path;
  const auto visit = [&](auto&& self, std::size_t i) -> void {
    if (marks[i] == Mark::done) return;
    if (marks[i] == Mark::visiting) {
      std::string cycle;
      for (const auto& name : path) cycle += name + " -> ";
      fail(ErrorKind::build, "modules depend on each other in a cycle: {}{}", cycle, files[i].module_name);
    }
    marks[i] = Mark::visiting;
    path.push_back(files[i].module_name);
    for (const auto& dependency : files[i].depends) {
      const auto it = by_name.find(dependency);
      if (it != by_name.end()) self(self, it->second);
    }
    path.pop_back();
    marks[i] = Mark::done;
    order.push_back(i);
  };
  for (std::size_t i = 0; i < files.size(); ++i) visit(visit, i);

  std::vector<artifact::ModuleFile> sorted;
  sorted.reserve(files.size());
  for (const std::size_t i : order) sorted.push_back(std::move(files[i]));
  return sorted;
}

}  // namespace ckms::builder
