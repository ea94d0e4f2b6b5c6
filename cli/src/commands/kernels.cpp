// `ckms kernels --distro debian [--flavour F]... [--repository REPO --version V]
// [--image-template T] [--missing] [--debs DIR | --apt-lists DIR]`: wiring to
// images/archive_kernels.hpp and builder/archive_status.hpp.
#include "kernels.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/builder/archive_status.hpp"
#include "ckms/images/archive_kernels.hpp"
#include "targets.hpp"

namespace ckms::cli {
namespace {

struct KernelsArgs {
  std::string distro;
  std::vector<std::string> flavours;
  std::string repository;
  std::string version;
  std::string image_template;
  bool missing = false;
  std::string debs;
  std::string apt_lists{images::kDefaultAptListsDir};
  RegistryFlags registry;
};

std::vector<images::ArchiveKernel> offered_kernels(const KernelsArgs& args) {
  if (args.distro != "debian") fail(ErrorKind::usage, "--distro '{}': only debian is known", args.distro);
  const auto packages = args.debs.empty() ? images::apt_list_kernel_packages(args.apt_lists)
                                          : images::deb_directory_kernel_packages(args.debs);
  return images::archive_kernels(packages, args.flavours);
}

builder::ArchiveStatusQuery status_query(const KernelsArgs& args) {
  if (args.repository.empty() != args.version.empty()) {
    fail(ErrorKind::usage, "--repository and --version go together: the artifact tag is VERSION-RELEASE");
  }
  if (args.missing && args.repository.empty()) {
    fail(ErrorKind::usage, "--missing needs --repository and --version: missing from where");
  }
  builder::ArchiveStatusQuery query{.kernels = offered_kernels(args), .version = args.version};
  if (!args.repository.empty()) query.repository = oci::Reference::parse(args.repository);
  if (!args.image_template.empty()) query.image_template = args.image_template;
  query.open_target = [&args](const oci::Reference& reference) { return open_target(reference, args.registry, false); };
  return query;
}

// One kernel a line, the release first, so that a pipeline can take the first column.
void print_status(const builder::KernelArchiveStatus& status) {
  std::string line = status.kernel.release;
  if (status.published) line += *status.published ? " published" : " missing";
  if (status.image_found) line += *status.image_found ? " image-found" : " image-missing";
  if (!status.kernel.headers) line += " no-headers";
  fmt::print("{}\n", line);
}

void run_kernels(App& app, const KernelsArgs& args) {
  auto statuses = builder::archive_status(status_query(args));
  if (args.missing) std::erase_if(statuses, [](const auto& status) { return !status.missing(); });
  if (app.options().json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& status : statuses) list.push_back(status.to_json());
    print_json({{"kernels", list}});
    return;
  }
  for (const auto& status : statuses) print_status(status);
}

}  // namespace

void register_kernels_commands(App& app) {
  auto args = std::make_shared<KernelsArgs>();
  auto* kernels = app.root().add_subcommand(
      "kernels", "The kernel releases a distribution's archive offers, and which still lack an artifact");
  kernels->add_option("--distro", args->distro, "Distribution whose archive to read (debian)")->required();
  kernels->add_option("--flavour", args->flavours, "Kernel flavour, e.g. cloud-amd64; repeatable (default: all)");
  kernels->add_option("--repository", args->repository, "Artifact repository to look in (REPO or oci:DIR)");
  kernels->add_option("--version", args->version, "Module version whose per-kernel tags to look for");
  kernels->add_option("--image-template", args->image_template,
                      "Build image reference with {release}: say which kernels have one");
  kernels->add_flag("--missing", args->missing, "Only the kernels the repository has no artifact for");
  kernels->add_option("--debs", args->debs, "Read the kernels from the .deb files in DIR instead of apt's indexes");
  kernels->add_option("--apt-lists", args->apt_lists, "apt's lists directory")->capture_default_str();
  add_registry_flags(kernels, args->registry);
  app.on(kernels, [&app, args] { run_kernels(app, *args); });
}

}  // namespace ckms::cli
