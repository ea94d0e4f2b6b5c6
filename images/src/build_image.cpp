#include "ckms/images/build_image.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>
#include <utility>

#include "ckms/base/error.hpp"
#include "ckms/base/time.hpp"
#include "ckms/images/decompress.hpp"
#include "ckms/oci/copy.hpp"
#include "ckms/oci/layer_unpack.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/reference.hpp"

namespace ckms::images {
namespace fs = std::filesystem;
namespace mt = oci::media_type;

namespace {

std::int64_t file_mtime(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) fail_errno(file.string());
  return st.st_mtim.tv_sec;
}

// A staging directory that is gone again when the build step ends, whatever happened.
class Staging {
 public:
  explicit Staging(fs::path path) : path_(std::move(path)) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~Staging() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

oci::Descriptor layer_descriptor(const oci::CreatedLayer& layer) {
  oci::Descriptor descriptor = oci::Descriptor::for_content(layer.media_type, "");
  descriptor.digest = layer.digest;
  descriptor.size = static_cast<std::int64_t>(layer.size);
  return descriptor;
}

// Makes a layer of `tree` at `blob` and returns it; the blob file is the caller's to push.
oci::CreatedLayer make_layer(const fs::path& tree, const fs::path& blob, const LayerOptions& options,
                             std::int64_t default_epoch) {
  oci::CreateOptions create;
  create.compression = options.compression;
  create.source_date_epoch = options.source_date_epoch.value_or(default_epoch);
  return oci::create_layer(tree, blob, create);
}

void push_bytes_if_missing(oci::Target& destination, const oci::Descriptor& descriptor, std::string_view bytes) {
  if (!destination.exists(descriptor)) oci::push_bytes(destination, descriptor, bytes);
}

// The linux/amd64 manifest of `reference`, choosing from an index when it names one.
oci::Descriptor amd64_manifest(oci::Target& source, std::string_view reference) {
  const oci::Descriptor root = source.resolve(reference);
  if (!mt::is_index(root.media_type)) return root;
  const auto index = oci::ImageIndex::parse(oci::fetch_bytes(source, root), source.describe());
  for (const auto& manifest : index.manifests) {
    if (manifest.platform && manifest.platform->os == "linux" &&
        manifest.platform->architecture == kBuildArchitecture) {
      return manifest;
    }
  }
  fail(ErrorKind::not_found, "{} {}: the index has no linux/amd64 image", source.describe(), reference);
}

}  // namespace

Toolchain toolchain_from_tar(const fs::path& rootfs_tar, const fs::path& work_dir, const LayerOptions& options) {
  fs::create_directories(work_dir);
  const fs::path blob = work_dir / "toolchain.layer";
  const oci::CreatedLayer layer = [&] {
    Staging rootfs(work_dir / "toolchain-rootfs");
    ckms::FileReader file(rootfs_tar);
    auto tar = decompressing(file, rootfs_tar.string());
    oci::UnpackOptions unpack;
    unpack.layer_name = rootfs_tar.string();
    oci::apply_layer(*tar, rootfs.path(), unpack);
    return make_layer(rootfs.path(), blob, options, file_mtime(rootfs_tar));
  }();
  Toolchain toolchain;
  toolchain.store = std::make_shared<oci::Layout>(work_dir / "store", oci::Layout::Mode::create_if_missing);
  toolchain.layers.push_back(layer_descriptor(layer));
  oci::push_file(*toolchain.store, toolchain.layers.back(), blob);
  fs::remove(blob);
  toolchain.config.env = {std::string(kDefaultPath)};
  toolchain.config.diff_ids = {layer.diff_id};
  // The file name stays out: renaming the tarball must not change the image digests.
  toolchain.config.history_comments = {"toolchain root filesystem"};
  return toolchain;
}

Toolchain toolchain_from_image(std::shared_ptr<oci::Target> source, std::string_view reference) {
  const oci::Descriptor descriptor = amd64_manifest(*source, reference);
  const std::string where = fmt::format("{} {}", source->describe(), reference);
  if (!mt::is_manifest(descriptor.media_type)) {
    fail(ErrorKind::usage, "{}: not an image manifest ({})", where, descriptor.media_type);
  }
  const auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(*source, descriptor), where);
  Toolchain toolchain;
  toolchain.config = oci::ImageConfig::parse(oci::fetch_bytes(*source, manifest.config), where);
  if (toolchain.config.os != "linux" || toolchain.config.architecture != kBuildArchitecture) {
    fail(ErrorKind::usage, "{}: a {}/{} image cannot build linux/amd64 kernel modules", where, toolchain.config.os,
         toolchain.config.architecture);
  }
  if (toolchain.config.diff_ids.size() != manifest.layers.size()) {
    fail(ErrorKind::integrity, "{}: {} layers but {} diff_ids in its config", where, manifest.layers.size(),
         toolchain.config.diff_ids.size());
  }
  toolchain.layers = manifest.layers;
  toolchain.store = std::move(source);
  return toolchain;
}

oci::ImageConfig kernel_image_config(const Toolchain& toolchain, std::string_view release, std::string_view source_dir,
                                     const ckms::Digest& headers_diff_id, std::string comment, std::int64_t created,
                                     std::string_view kernel_arch) {
  oci::ImageConfig config = toolchain.config;
  config.architecture = std::string(kBuildArchitecture);
  config.os = "linux";
  config.created = rfc3339(created);
  config.labels[std::string(kLabelKernelRelease)] = std::string(release);
  config.labels[std::string(kLabelKernelSourceDir)] = std::string(source_dir);
  config.labels[std::string(kLabelKernelArch)] = std::string(kernel_arch);
  config.labels[std::string(kLabelBuildPlatform)] = fmt::format("linux/{}", kBuildArchitecture);
  const bool has_path =
      std::any_of(config.env.begin(), config.env.end(), [](const std::string& e) { return e.starts_with("PATH="); });
  if (!has_path) config.env.insert(config.env.begin(), std::string(kDefaultPath));
  // History is one entry per layer; a base image whose history also lists empty layers
  // cannot be extended entry for entry, so its history is left out rather than made wrong.
  if (config.history_comments.size() == config.diff_ids.size()) {
    config.history_comments.push_back(std::move(comment));
  } else {
    config.history_comments.clear();
  }
  config.diff_ids.push_back(headers_diff_id);
  return config;
}

std::string debian_architecture(std::string_view oci_architecture) {
  static const std::map<std::string_view, std::string_view> renamed = {
      {"386", "i386"}, {"ppc64le", "ppc64el"}, {"mips64le", "mips64el"}};
  static const std::set<std::string_view> alike = {"amd64", "arm64", "riscv64", "s390x"};
  if (const auto it = renamed.find(oci_architecture); it != renamed.end()) return std::string(it->second);
  if (alike.contains(oci_architecture)) return std::string(oci_architecture);
  fail(ErrorKind::usage, "architecture '{}': not one Debian builds kernels for (amd64, arm64, 386, ppc64le, ...)",
       oci_architecture);
}

HeadersTree debian_headers_tree(std::string_view release, const std::vector<PackageFile>& packages,
                                std::string_view arch) {
  HeadersTree tree{fmt::format("/usr/src/linux-headers-{}", release), {}, std::string(arch)};
  for (const auto& package : packages) {
    tree.packages.push_back(
        {package.file, package.control.package(), package.control.version(), package.control.build_time, &unpack_deb});
  }
  return tree;
}

KernelImage build_kernel_image(const Toolchain& toolchain, std::string_view release,
                               const std::vector<PackageFile>& packages, oci::Target& destination, std::string_view tag,
                               const fs::path& work_dir, const LayerOptions& options) {
  return build_kernel_image(toolchain, release, debian_headers_tree(release, packages), destination, tag, work_dir,
                            options);
}

KernelImage build_kernel_image(const Toolchain& toolchain, std::string_view release, const HeadersTree& headers,
                               oci::Target& destination, std::string_view tag, const fs::path& work_dir,
                               const LayerOptions& options) {
  if (headers.packages.empty()) fail(ErrorKind::usage, "kernel {}: no headers packages", release);
  fs::create_directories(work_dir);
  const std::string name = oci::sanitize_tag(release);
  const fs::path blob = work_dir / ("headers-" + name + ".layer");
  std::int64_t build_time = 0;
  std::string comment = "kernel headers:";
  const oci::CreatedLayer layer = [&] {
    Staging tree(work_dir / ("headers-" + name));
    for (const auto& package : headers.packages) {
      package.unpack(package.file, tree.path());
      build_time = std::max(build_time, package.build_time);
      comment += fmt::format(" {}={}", package.name, package.version);
    }
    const fs::path source_dir = tree.path() / fs::path(headers.source_dir).relative_path();
    if (!fs::is_directory(source_dir)) {
      fail(ErrorKind::integrity, "kernel {}: the packages hold no {}", release, headers.source_dir);
    }
    return make_layer(tree.path(), blob, options, build_time);
  }();

  const oci::Descriptor headers_layer = layer_descriptor(layer);
  // Children before parents, so the destination never holds a manifest with missing blobs.
  // A toolchain layer the destination's registry holds in another repository (the base
  // image's, or the image of a kernel built before this one) is mounted from there.
  for (const auto& shared : toolchain.layers) {
    oci::CopyResult copied{.root = shared};
    oci::copy_graph(*toolchain.store, destination, shared, {}, copied);
  }
  oci::push_file(destination, headers_layer, blob);
  fs::remove(blob);

  const std::int64_t created = options.source_date_epoch.value_or(build_time);
  const std::string config_bytes = kernel_image_config(toolchain, release, headers.source_dir, layer.diff_id,
                                                       std::move(comment), created, headers.arch)
                                       .serialize();
  oci::ImageManifest manifest{.media_type = std::string(mt::kOciManifest),
                              .artifact_type = std::nullopt,
                              .config = oci::Descriptor::for_content(std::string(mt::kOciConfig), config_bytes),
                              .layers = toolchain.layers,
                              .subject = std::nullopt,
                              .annotations = {{std::string(kLabelKernelRelease), std::string(release)}}};
  manifest.layers.push_back(headers_layer);
  push_bytes_if_missing(destination, manifest.config, config_bytes);

  const std::string manifest_bytes = manifest.serialize();
  oci::Descriptor manifest_descriptor = oci::Descriptor::for_content(std::string(mt::kOciManifest), manifest_bytes);
  oci::Platform platform;
  platform.architecture = std::string(kBuildArchitecture);
  manifest_descriptor.platform = platform;
  push_bytes_if_missing(destination, manifest_descriptor, manifest_bytes);
  destination.tag(manifest_descriptor, tag);
  return KernelImage{std::string(release), std::move(manifest_descriptor), headers_layer};
}

}  // namespace ckms::images
