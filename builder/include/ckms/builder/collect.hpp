#pragma once
// Collecting what a sandboxed build left in its output dir, on the host: each planned
// module is read without following links, checked (an ELF module named as planned, whose
// vermagic names the kernel it was built for), signed as scripts/sign-file would sign it,
// optionally compressed, and written under the name it is published with. The result is
// ordered for loading: modules that others in the set depend on come first.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/builder/build_plan.hpp"
#include "ckms/kmod/compress.hpp"
#include "ckms/kmod/sign.hpp"

namespace ckms::builder {

struct CollectOptions {
  const kmod::SigningKey* key = nullptr;  // null: publish unsigned
  kmod::SignOptions sign;
  kmod::Compression compression = kmod::Compression::none;
  // A module is tens of MiB at most; a build output far larger is refused unread.
  std::uint64_t max_module_bytes = std::uint64_t{512} << 20;
};

// The module name kbuild gives a built file (KBUILD_MODNAME): its base name with every
// '-' turned into '_'.
std::string kbuild_module_name(std::string_view built_path);

// Reads module i of `plan` from `output_dir` (named output_file_name(i), see
// build_script.hpp) and writes it to `files_dir` as <dest_name>.ko[.xz|.zst]. Fails with a
// build error naming the kernel and the module when a file is missing, not a module, built
// for another kernel or named otherwise; files_dir then holds nothing worth publishing.
std::vector<artifact::ModuleFile> collect_modules(const BuildPlan& plan, const std::filesystem::path& output_dir,
                                                  const std::filesystem::path& files_dir,
                                                  const CollectOptions& options);

// Orders `files` so that every module comes after the modules of the set it depends on
// (modinfo depends=), keeping the declared order otherwise; in-tree dependencies are the
// kernel's business. A dependency cycle is a build error.
std::vector<artifact::ModuleFile> in_load_order(std::vector<artifact::ModuleFile> files);

}  // namespace ckms::builder
