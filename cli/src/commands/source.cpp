// Source artifact commands (DKMS's mktarball/ldtarball): push a directory with dkms.conf as
// a reproducible tar+gzip artifact, pull one back into a directory.
#include "source.hpp"

#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ckms/artifact/source_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/base/temp_dir.hpp"
#include "ckms/oci/reference.hpp"
#include "targets.hpp"

namespace ckms::cli {
namespace fs = std::filesystem;

namespace {

struct PushArgs {
  std::string directory;
  std::string reference;
  RegistryFlags registry;
};

void run_push(App& app, const PushArgs& args) {
  const auto ref = oci::Reference::parse(args.reference);
  if (!ref.tag() || ref.digest()) {
    fail(ErrorKind::usage, "'{}' needs a tag (and no digest): REGISTRY/REPO:TAG or oci:DIR:TAG", args.reference);
  }
  TempDir scratch("ckms-source-");  // where the layer is packed before it is pushed
  // Packed before the target is opened, so a directory without dkms.conf creates nothing.
  const auto packed = artifact::pack_source(args.directory, scratch.path());
  auto target = open_target(ref, args.registry, true);
  const auto manifest = artifact::push_packed_source(*target, packed, *ref.tag());
  if (app.options().json) {
    print_json({{"reference", ref.str()},
                {"digest", manifest.digest.str()},
                {"sourceDigest", packed.digest.str()},
                {"size", packed.size}});
  } else {
    fmt::print("{}@{}\nsource {} ({} bytes)\n", ref.str(), manifest.digest.str(), packed.digest.str(), packed.size);
  }
}

struct PullArgs {
  std::string reference;
  std::string output;
  RegistryFlags registry;
};

void run_pull(App& app, const PullArgs& args) {
  const auto ref = oci::Reference::parse(args.reference);
  auto target = open_target(ref, args.registry, false);
  const auto fetched = artifact::fetch_source(*target, oci::selector_of(ref), args.output);
  if (app.options().json) {
    print_json({{"reference", ref.str()},
                {"digest", fetched.manifest.digest.str()},
                {"sourceDigest", fetched.layer_digest.str()},
                {"directory", args.output}});
  } else {
    fmt::print("{}@{} -> {}\nsource {}\n", ref.str(), fetched.manifest.digest.str(), args.output,
               fetched.layer_digest.str());
  }
}

}  // namespace

void register_source_commands(App& app) {
  auto* source = app.add_group("source", "DKMS source trees as OCI artifacts");

  static PushArgs push_args;
  auto* push = source->add_subcommand("push", "Pack a source tree (with dkms.conf) reproducibly and push it");
  push->add_option("directory", push_args.directory, "Source tree with dkms.conf at its top")->required();
  push->add_option("reference", push_args.reference, "Where to: REGISTRY/REPO:TAG or oci:DIR:TAG")->required();
  add_registry_flags(push, push_args.registry);
  app.on(push, [&app] { run_push(app, push_args); });

  static PullArgs pull_args;
  auto* pull = source->add_subcommand("pull", "Fetch a source artifact and unpack it into a new directory");
  pull->add_option("reference", pull_args.reference, "REGISTRY/REPO[:TAG|@DIGEST] or oci:DIR[:TAG]")->required();
  pull->add_option("-o,--output", pull_args.output, "Directory to create (absent or empty)")->required();
  add_registry_flags(pull, pull_args.registry);
  app.on(pull, [&app] { run_pull(app, pull_args); });
}

}  // namespace ckms::cli
