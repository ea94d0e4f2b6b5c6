// Kernel build image commands: build (toolchain + headers layers, pushed and tagged per
// kernel) and resolve (the reference a kernel's build image has under a template).
#include "image.hpp"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ckms/images/build_image.hpp"
#include "ckms/images/debian_packages.hpp"
#include "ckms/images/resolve.hpp"
#include "ckms/images/rpm_packages.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/temp_dir.hpp"
#include "ckms/base/time.hpp"
#include "ckms/oci/layer_create.hpp"
#include "ckms/oci/reference.hpp"
#include "targets.hpp"

namespace ckms::cli {
namespace fs = std::filesystem;

namespace {

struct BuildArgs {
  std::vector<std::string> kernels;
  std::string toolchain_tar;
  std::string base;
  std::string debs;
  std::string rpms;
  std::string apt_cache;
  std::string output;
  std::string reference_template;
  std::string compression = "gzip";
  RegistryFlags registry;
};

struct ResolveArgs {
  std::string reference_template;
  std::vector<std::string> kernels;
};

fs::path default_apt_cache() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') return fs::path(xdg) / "ckms/debs";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return fs::path(home) / ".cache/ckms/debs";
  return "/var/cache/ckms/debs";
}

oci::LayerCompression parse_compression(const std::string& name) {
  if (name == "gzip") return oci::LayerCompression::gzip;
  if (name == "zstd") return oci::LayerCompression::zstd;
  fail(ErrorKind::usage, "--compression must be gzip or zstd, not '{}'", name);
}

// Several kernels usually share one repository: open it once, so that the toolchain layer
// goes up once and a registry session is reused.
class Destinations {
 public:
  explicit Destinations(const RegistryFlags& flags) : flags_(flags) {}
  oci::Target& open(const oci::Reference& reference) {
    const std::string key =
        reference.is_layout() ? "oci:" + reference.layout().directory.string() : reference.registry().repository_str();
    auto& target = targets_[key];
    if (!target) target = open_target(reference, flags_, true);
    return *target;
  }

 private:
  const RegistryFlags& flags_;
  std::map<std::string, std::unique_ptr<oci::Target>> targets_;
};

void run_build(App& app, const BuildArgs& args) {
  if (args.toolchain_tar.empty() == args.base.empty()) {
    fail(ErrorKind::usage, "give exactly one of --toolchain-tar and --base");
  }
  if (!args.rpms.empty() && (!args.debs.empty() || !args.apt_cache.empty())) {
    fail(ErrorKind::usage, "--rpms takes kernel-devel packages from a directory; it excludes --debs and --apt-cache");
  }
  if (args.output.empty() == args.reference_template.empty()) {
    fail(ErrorKind::usage, "give exactly one of --output and --template");
  }
  const std::string reference_template =
      args.output.empty() ? args.reference_template : args.output + ":" + std::string(images::kReleasePlaceholder);
  if (!args.output.empty() && !oci::Reference::parse(args.output).is_layout()) {
    fail(ErrorKind::usage, "--output takes oci:DIR; use --template for registries");
  }
  // Checked before any work, so a bad template does not cost a toolchain layer.
  for (const auto& kernel : args.kernels) images::image_reference(reference_template, kernel);

  images::LayerOptions layer_options;
  layer_options.compression = parse_compression(args.compression);
  layer_options.source_date_epoch = ckms::source_date_epoch_from_environment();
  const bool progress = !app.options().quiet && !app.options().json;
  auto say = [&](const std::string& line) {
    if (progress) fmt::print(stderr, "{}\n", line);
  };

  // Packages first: a missing kernel should fail before minutes go into the toolchain layer.
  std::vector<images::HeadersTree> kernel_trees;
  if (!args.rpms.empty()) {
    const images::RpmDirectorySource rpms(args.rpms);
    for (const auto& kernel : args.kernels) {
      say(fmt::format("kernel {}: kernel-devel package", kernel));
      kernel_trees.push_back(images::rpm_headers_tree(kernel, rpms.kernel_devel(kernel)));
    }
  } else {
    std::unique_ptr<images::PackageSource> packages;
    if (!args.debs.empty()) {
      packages = std::make_unique<images::DirectorySource>(args.debs);
    } else {
      packages =
          std::make_unique<images::AptSource>(args.apt_cache.empty() ? default_apt_cache() : fs::path(args.apt_cache));
    }
    for (const auto& kernel : args.kernels) {
      say(fmt::format("kernel {}: headers packages", kernel));
      kernel_trees.push_back(images::debian_headers_tree(kernel, images::kernel_header_packages(kernel, *packages)));
    }
  }

  TempDir work("ckms-image-");
  images::Toolchain toolchain;
  if (!args.toolchain_tar.empty()) {
    say(fmt::format("toolchain: re-packing {}", args.toolchain_tar));
    toolchain = images::toolchain_from_tar(args.toolchain_tar, work.path() / "toolchain", layer_options);
  } else {
    const auto base = oci::Reference::parse(args.base);
    say(fmt::format("toolchain: layers of {}", base.str()));
    toolchain = images::toolchain_from_image(std::shared_ptr<oci::Target>(open_target(base, args.registry, false)),
                                             oci::selector_of(base));
  }

  Destinations destinations(args.registry);
  nlohmann::json results = nlohmann::json::array();
  for (std::size_t i = 0; i < args.kernels.size(); ++i) {
    const std::string& kernel = args.kernels[i];
    const auto& tree = kernel_trees[i];
    const std::string reference_text = images::image_reference(reference_template, kernel);
    const auto reference = oci::Reference::parse(reference_text);
    say(fmt::format("kernel {}: building {}", kernel, reference_text));
    const auto image = images::build_kernel_image(toolchain, kernel, tree, destinations.open(reference),
                                                  reference.tag().value_or(oci::sanitize_tag(kernel)),
                                                  work.path() / "kernels", layer_options);
    nlohmann::json package_list = nlohmann::json::array();
    for (const auto& package : tree.packages) {
      package_list.push_back({{"package", package.name}, {"version", package.version}});
    }
    results.push_back({{"kernel", kernel},
                       {"reference", reference_text},
                       {"digest", image.manifest.digest.str()},
                       {"headersLayer", image.headers_layer.digest.str()},
                       {"packages", package_list}});
    if (!app.options().json) fmt::print("{} {}@{}\n", kernel, reference_text, image.manifest.digest.str());
  }
  if (app.options().json) {
    nlohmann::json toolchain_layers = nlohmann::json::array();
    for (const auto& layer : toolchain.layers) toolchain_layers.push_back(layer.digest.str());
    print_json({{"images", results}, {"toolchainLayers", toolchain_layers}});
  }
}

void run_resolve(App& app, const ResolveArgs& args) {
  nlohmann::json results = nlohmann::json::array();
  for (const auto& kernel : args.kernels) {
    const std::string reference = images::image_reference(args.reference_template, kernel);
    if (app.options().json) {
      results.push_back({{"kernel", kernel}, {"reference", reference}});
    } else {
      fmt::print("{}\n", reference);
    }
  }
  if (app.options().json) print_json({{"images", results}});
}

}  // namespace

void register_image_commands(App& app) {
  auto* image = app.root().add_subcommand("image", "Kernel build images: toolchain plus a kernel's headers");
  image->require_subcommand(1);

  static BuildArgs build_args;
  auto* build = image->add_subcommand("build", "Build and push one kernel build image per --kernel");
  build->add_option("-k,--kernel", build_args.kernels, "Kernel release, e.g. 6.1.0-56-cloud-amd64 (repeatable)")
      ->required();
  build->add_option("--toolchain-tar", build_args.toolchain_tar,
                    "Root filesystem tarball for the shared toolchain layer (e.g. from mmdebstrap)")
      ->check(CLI::ExistingFile);
  build->add_option("--base", build_args.base, "Existing image whose layers and config are the toolchain");
  build->add_option("--debs", build_args.debs, "Directory of .deb files to use instead of apt-get download")
      ->check(CLI::ExistingDirectory);
  build->add_option("--rpms", build_args.rpms,
                    "Directory of .rpm files holding kernel-devel for each --kernel (Fedora, RHEL and kin)")
      ->check(CLI::ExistingDirectory);
  build->add_option("--apt-cache", build_args.apt_cache,
                    "Where apt-get download keeps packages (default: $XDG_CACHE_HOME/ckms/debs)");
  build->add_option("-o,--output", build_args.output, "OCI layout oci:DIR; each image is tagged with its release");
  build->add_option("--template", build_args.reference_template,
                    "Image reference with {release}, e.g. REGISTRY/ckms/kernel-build:{release}");
  build->add_option("--compression", build_args.compression, "Layer compression: gzip or zstd");
  add_registry_flags(build, build_args.registry);
  app.on(build, [&app] { run_build(app, build_args); });

  static ResolveArgs resolve_args;
  auto* resolve = image->add_subcommand("resolve", "Print the build image reference of kernel releases");
  resolve->add_option("--template", resolve_args.reference_template,
                      "Image reference with {release}, e.g. REGISTRY/ckms/kernel-build:{release}")
      ->required();
  resolve->add_option("release", resolve_args.kernels, "Kernel release(s)")->required();
  app.on(resolve, [&app] { run_resolve(app, resolve_args); });
}

}  // namespace ckms::cli
