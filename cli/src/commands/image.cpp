// Kernel build image commands: build (toolchain + headers layers, pushed and tagged per
// kernel) and resolve (the reference a kernel's build image has under a template).
#include "image.hpp"

#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ckms/base/error.hpp"
#include "ckms/base/time.hpp"
#include "ckms/images/build_images.hpp"
#include "ckms/images/resolve.hpp"
#include "ckms/oci/layer_create.hpp"
#include "ckms/oci/reference.hpp"
#include "targets.hpp"

namespace ckms::cli {

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
  std::string arch;
  RegistryFlags registry;
};

struct ResolveArgs {
  std::string reference_template;
  std::vector<std::string> kernels;
};

oci::LayerCompression parse_compression(const std::string& name) {
  if (name == "gzip") return oci::LayerCompression::gzip;
  if (name == "zstd") return oci::LayerCompression::zstd;
  fail(ErrorKind::usage, "--compression must be gzip or zstd, not '{}'", name);
}

// Progress on stderr as the pipeline goes; each image's line on stdout as it is pushed.
class ImageOutput final : public images::BuildImagesObserver {
 public:
  explicit ImageOutput(const GlobalOptions& options) : options_(options) {}
  void step(std::string_view what) override {
    if (!options_.quiet && !options_.json) fmt::print(stderr, "{}\n", what);
  }
  void built(const images::BuiltImage& built) override {
    if (!options_.json) fmt::print("{} {}@{}\n", built.kernel, built.reference, built.image.manifest.digest.str());
  }

 private:
  const GlobalOptions& options_;
};

nlohmann::json summary_json(const images::BuildImagesSummary& summary) {
  nlohmann::json results = nlohmann::json::array();
  for (const auto& built : summary.images) {
    nlohmann::json package_list = nlohmann::json::array();
    for (const auto& package : built.packages) {
      package_list.push_back({{"package", package.name}, {"version", package.version}});
    }
    results.push_back({{"kernel", built.kernel},
                       {"reference", built.reference},
                       {"digest", built.image.manifest.digest.str()},
                       {"headersLayer", built.image.headers_layer.digest.str()},
                       {"packages", package_list}});
  }
  nlohmann::json toolchain_layers = nlohmann::json::array();
  for (const auto& layer : summary.toolchain_layers) toolchain_layers.push_back(layer.digest.str());
  return {{"images", results}, {"toolchainLayers", toolchain_layers}};
}

images::BuildImagesOptions build_options(const BuildArgs& args) {
  if (args.toolchain_tar.empty() == args.base.empty()) {
    fail(ErrorKind::usage, "give exactly one of --toolchain-tar and --base");
  }
  if (!args.rpms.empty() && (!args.debs.empty() || !args.apt_cache.empty())) {
    fail(ErrorKind::usage, "--rpms takes kernel-devel packages from a directory; it excludes --debs and --apt-cache");
  }
  if (args.output.empty() == args.reference_template.empty()) {
    fail(ErrorKind::usage, "give exactly one of --output and --template");
  }
  if (!args.output.empty() && !oci::Reference::parse(args.output).is_layout()) {
    fail(ErrorKind::usage, "--output takes oci:DIR; use --template for registries");
  }
  images::BuildImagesOptions options{
      .kernels = args.kernels,
      .toolchain_tar = args.toolchain_tar,
      .rpms = args.rpms,
      .debs = args.debs,
      .apt_cache = args.apt_cache,
      .arch = args.arch,
      .reference_template =
          args.output.empty() ? args.reference_template : args.output + ":" + std::string(images::kReleasePlaceholder),
      .layer_options = {.compression = parse_compression(args.compression),
                        .source_date_epoch = ckms::source_date_epoch_from_environment()},
      .open_target = [&registry = args.registry](const oci::Reference& reference, bool for_push) {
        return open_target(reference, registry, for_push);
      }};
  if (!args.base.empty()) options.base = oci::Reference::parse(args.base);
  return options;
}

void run_build(App& app, const BuildArgs& args) {
  ImageOutput output(app.options());
  const auto summary = images::build_images(build_options(args), output);
  if (app.options().json) print_json(summary_json(summary));
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
  auto* image = app.add_group("image", "Kernel build images: toolchain plus a kernel's headers");

  static BuildArgs build_args;
  auto* build = image->add_subcommand("build", "Build and push one kernel build image per --kernel");
  build->add_option("-k,--kernel", build_args.kernels, "Kernel release, e.g. 6.1.0-56-cloud-amd64 (repeatable)")
      ->required();
  build
      ->add_option("--toolchain-tar", build_args.toolchain_tar,
                   "Root filesystem tarball for the shared toolchain layer (e.g. from mmdebstrap)")
      ->check(CLI::ExistingFile);
  build->add_option("--base", build_args.base, "Existing image whose layers and config are the toolchain");
  build->add_option("--debs", build_args.debs, "Directory of .deb files to use instead of apt-get download")
      ->check(CLI::ExistingDirectory);
  build
      ->add_option("--rpms", build_args.rpms,
                   "Directory of .rpm files holding kernel-devel for each --kernel (Fedora, RHEL and kin)")
      ->check(CLI::ExistingDirectory);
  build->add_option("--apt-cache", build_args.apt_cache,
                    "Where apt-get download keeps packages (default: $XDG_CACHE_HOME/ckms/debs)");
  build->add_option("-o,--output", build_args.output, "OCI layout oci:DIR; each image is tagged with its release");
  build->add_option("--template", build_args.reference_template,
                    "Image reference with {release}, e.g. REGISTRY/ckms/kernel-build:{release}");
  build->add_option("--compression", build_args.compression, "Layer compression: gzip or zstd");
  build->add_option("--arch", build_args.arch,
                    "Architecture of the kernels (OCI name, e.g. arm64): their headers are that "
                    "architecture's, the toolchain cross-compiles for it; default amd64");
  add_registry_flags(build, build_args.registry);
  app.on(build, [&app] { run_build(app, build_args); });

  static ResolveArgs resolve_args;
  auto* resolve = image->add_subcommand("resolve", "Print the build image reference of kernel releases");
  resolve
      ->add_option("--template", resolve_args.reference_template,
                   "Image reference with {release}, e.g. REGISTRY/ckms/kernel-build:{release}")
      ->required();
  resolve->add_option("release", resolve_args.kernels, "Kernel release(s)")->required();
  app.on(resolve, [&app] { run_resolve(app, resolve_args); });
}

}  // namespace ckms::cli
