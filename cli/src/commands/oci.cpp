// Registry and layout commands: copy, inspect, tags, push, pull, verify.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>

#include <nlohmann/json.hpp>

#include "app.hpp"
#include "ckms/base/error.hpp"
#include "ckms/oci/copy.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/printable.hpp"
#include "ckms/oci/registry.hpp"
#include "progress.hpp"
#include "targets.hpp"

namespace ckms::cli {
namespace fs = std::filesystem;
namespace mt = oci::media_type;

namespace {

struct CopyArgs {
  std::string source, destination;
  bool referrers = false;
  RegistryFlags registry;
};

void run_copy(const App& app, const CopyArgs& args) {
  const auto source_ref = oci::Reference::parse(args.source);
  const auto destination_ref = oci::Reference::parse(args.destination);
  auto source = open_target(source_ref, args.registry, false);
  auto destination = open_target(destination_ref, args.registry, true);
  ProgressPrinter progress(const_cast<App&>(app).options().quiet);
  oci::CopyOptions options{.observer = &progress, .include_referrers = args.referrers};
  std::optional<std::string> tag = destination_ref.tag();
  if (!tag && !destination_ref.digest()) tag = source_ref.tag();
  const auto result = oci::copy(*source, oci::selector_of(source_ref), *destination,
                                tag ? std::optional<std::string_view>(*tag) : std::nullopt, options);
  if (const_cast<App&>(app).options().json) {
    print_json({{"digest", result.root.digest.str()},
                {"mediaType", result.root.media_type},
                {"blobsMounted", result.blobs_mounted},
                {"blobsPresent", result.blobs_present},
                {"blobsUploaded", result.blobs_uploaded},
                {"bytesUploaded", result.bytes_uploaded}});
  } else {
    fmt::print("{} -> {}\n{} ({} mounted, {} already present, {} uploaded: {})\n", source_ref.str(),
               destination_ref.str(), result.root.digest.str(), result.blobs_mounted, result.blobs_present,
               result.blobs_uploaded, human_size(result.bytes_uploaded));
  }
}

struct InspectArgs {
  std::string reference;
  bool raw = false;
  RegistryFlags registry;
};

void run_inspect(App& app, const InspectArgs& args) {
  const auto ref = oci::Reference::parse(args.reference);
  auto target = open_target(ref, args.registry, false);
  const auto descriptor = target->resolve(oci::selector_of(ref));
  const std::string bytes = oci::fetch_bytes(*target, descriptor);
  if (args.raw) {
    std::cout << bytes;
    return;
  }
  const auto document = nlohmann::json::parse(bytes);
  if (app.options().json) {
    print_json({{"reference", ref.str()},
                {"digest", descriptor.digest.str()},
                {"mediaType", descriptor.media_type},
                {"size", descriptor.size},
                {"manifest", document}});
    return;
  }
  fmt::print("Reference:     {}\nDigest:        {}\nMedia type:    {}\nSize:          {}\n", ref.str(),
             descriptor.digest.str(), oci::printable(descriptor.media_type), descriptor.size);
  if (mt::is_index(descriptor.media_type)) {
    const auto index = oci::ImageIndex::parse(bytes, ref.str());
    if (index.artifact_type) fmt::print("Artifact type: {}\n", oci::printable(*index.artifact_type));
    fmt::print("Manifests:\n");
    for (const auto& m : index.manifests) {
      std::string platform;
      if (m.platform) {
        platform = m.platform->os + "/" + m.platform->architecture;
        if (!m.platform->os_version.empty()) platform += " " + m.platform->os_version;
      }
      fmt::print("  {}  {:>10}  {}\n", m.digest.str(), human_size(static_cast<std::uint64_t>(m.size)),
                 oci::printable(platform));
    }
  } else {
    const auto manifest = oci::ImageManifest::parse(bytes, ref.str());
    if (manifest.artifact_type) fmt::print("Artifact type: {}\n", oci::printable(*manifest.artifact_type));
    fmt::print("Config:        {} {}\nLayers:\n", manifest.config.digest.str(),
               oci::printable(manifest.config.media_type));
    for (const auto& layer : manifest.layers) {
      fmt::print("  {}  {:>10}  {}  {}\n", layer.digest.str(), human_size(static_cast<std::uint64_t>(layer.size)),
                 oci::printable(layer.media_type),
                 oci::printable(layer.annotation(oci::annotation::kTitle).value_or("")));
    }
  }
}

struct TagsArgs {
  std::string repository;
  RegistryFlags registry;
};

void run_tags(App& app, const TagsArgs& args) {
  const auto ref = oci::Reference::parse(args.repository);
  auto target = open_target(ref, args.registry, false);
  const auto tags = target->tags();
  if (app.options().json) {
    print_json({{"repository", ref.str()}, {"tags", tags}});
    return;
  }
  for (const auto& t : tags) fmt::print("{}\n", oci::printable(t));
}

struct PushArgs {
  std::string reference;
  std::vector<std::string> files;
  std::string artifact_type;
  std::vector<std::string> annotations;
  RegistryFlags registry;
};

// FILE or FILE:MEDIATYPE, as oras takes them.
std::pair<fs::path, std::string> split_file_argument(const std::string& argument) {
  const auto colon = argument.rfind(':');
  if (colon != std::string::npos && argument.find('/', colon) != std::string::npos && !fs::exists(argument)) {
    return {argument.substr(0, colon), argument.substr(colon + 1)};
  }
  if (colon != std::string::npos && !fs::exists(argument) && oci::is_valid_media_type(argument.substr(colon + 1))) {
    return {argument.substr(0, colon), argument.substr(colon + 1)};
  }
  return {argument, "application/octet-stream"};
}

void run_push(App& app, const PushArgs& args) {
  const auto ref = oci::Reference::parse(args.reference);
  if (!ref.tag()) fail(ErrorKind::usage, "push needs a tag in '{}'", args.reference);
  if (!oci::is_valid_media_type(args.artifact_type)) {
    fail(ErrorKind::usage, "--artifact-type '{}' is not a media type (type/subtype)", args.artifact_type);
  }
  // Checked before the target is opened, which creates a layout: a failed push leaves nothing.
  std::set<std::string> titles;
  for (const auto& argument : args.files) {
    const fs::path file = split_file_argument(argument).first;
    if (!fs::is_regular_file(file)) fail(ErrorKind::not_found, "{}: not a regular file", file.string());
    if (!titles.insert(file.filename().string()).second) {
      fail(ErrorKind::usage, "{}: a second file named {}; layer titles must differ", file.string(),
           file.filename().string());
    }
  }
  auto target = open_target(ref, args.registry, true);
  ProgressPrinter progress(app.options().quiet);
  oci::ImageManifest manifest{.artifact_type = args.artifact_type,
                              .config = oci::Descriptor::for_content(std::string(mt::kOciEmpty), mt::kEmptyJson)};
  oci::push_bytes(*target, manifest.config, mt::kEmptyJson);
  for (const auto& argument : args.files) {
    const auto [file, media_type] = split_file_argument(argument);
    const std::string title = file.filename().string();
    oci::Descriptor layer{.media_type = media_type,
                          .digest = ckms::digest_of_file(file),
                          .size = static_cast<std::int64_t>(fs::file_size(file)),
                          .annotations = {{std::string(oci::annotation::kTitle), title}}};
    progress.started(layer);
    oci::push_file(*target, layer, file, [&](std::uint64_t n) { progress.advanced(layer, n); });
    progress.finished(layer, oci::CopyObserver::Outcome::copied);
    manifest.layers.push_back(layer);
  }
  for (const auto& annotation : args.annotations) {
    const auto eq = annotation.find('=');
    if (eq == std::string::npos) fail(ErrorKind::usage, "--annotation '{}' is not KEY=VALUE", annotation);
    manifest.annotations[annotation.substr(0, eq)] = annotation.substr(eq + 1);
  }
  const std::string bytes = manifest.serialize();
  const auto descriptor = oci::Descriptor::for_content(std::string(mt::kOciManifest), bytes);
  oci::push_bytes(*target, descriptor, bytes);
  target->tag(descriptor, *ref.tag());
  if (app.options().json) {
    print_json({{"reference", ref.str()}, {"digest", descriptor.digest.str()}, {"layers", manifest.layers.size()}});
  } else {
    fmt::print("{}@{}\n", ref.str(), descriptor.digest.str());
  }
}

struct PullArgs {
  std::string reference;
  std::string output;
  RegistryFlags registry;
};

// Layer titles come from whoever pushed the artifact: only a plain file name may be written,
// without control characters (a newline in a file name breaks every script that lists it).
void check_title(const std::string& title, const std::string& where) {
  const bool control =
      std::any_of(title.begin(), title.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  if (title.empty() || title == "." || title == ".." || title.find('/') != std::string::npos || control) {
    fail(ErrorKind::refused, "{}: layer title {:?} is not a plain file name; refusing to write it", where, title);
  }
}

// Every title checked, and none twice (the second would overwrite the first), before a byte
// is written.
void check_titles(const oci::ImageManifest& manifest, const std::string& where) {
  std::set<std::string> seen;
  for (const auto& layer : manifest.layers) {
    const auto title = layer.annotation(oci::annotation::kTitle);
    if (!title) continue;
    check_title(*title, where);
    if (!seen.insert(*title).second) {
      fail(ErrorKind::refused, "{}: two layers are titled {:?}; refusing to write either", where, *title);
    }
  }
}

void run_pull(App& app, const PullArgs& args) {
  const auto ref = oci::Reference::parse(args.reference);
  auto target = open_target(ref, args.registry, false);
  auto descriptor = target->resolve(oci::selector_of(ref));
  if (mt::is_index(descriptor.media_type)) {
    const auto index = oci::ImageIndex::parse(oci::fetch_bytes(*target, descriptor), ref.str());
    if (index.manifests.size() != 1) {
      fail(ErrorKind::usage, "{} is an index of {} manifests; pull one of them by digest", ref.str(),
           index.manifests.size());
    }
    descriptor = index.manifests.front();
  }
  const auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(*target, descriptor), ref.str());
  check_titles(manifest, ref.str());
  fs::create_directories(args.output);
  ProgressPrinter progress(app.options().quiet);
  nlohmann::json files = nlohmann::json::array();
  for (const auto& layer : manifest.layers) {
    const auto title = layer.annotation(oci::annotation::kTitle);
    if (!title) {
      fmt::print(stderr, "skipping layer {}: it has no {} annotation\n", layer.digest.str(), oci::annotation::kTitle);
      continue;
    }
    auto reader = target->fetch(layer);
    ckms::AtomicFile out(fs::path(args.output) / *title);
    out.write_from(*reader, [&](std::uint64_t n) { progress.advanced(layer, n); });
    out.commit(layer.digest, layer.size);
    progress.finished(layer, oci::CopyObserver::Outcome::copied);
    files.push_back({{"file", *title}, {"digest", layer.digest.str()}, {"size", layer.size}});
  }
  if (app.options().json) {
    print_json({{"reference", ref.str()}, {"digest", descriptor.digest.str()}, {"files", files}});
  } else {
    for (const auto& f : files) {
      fmt::print("{}\n", oci::printable((fs::path(args.output) / f["file"].get<std::string>()).string()));
    }
  }
}

struct VerifyArgs {
  std::string layout;
  bool gc = false;
};

void run_verify(App& app, const VerifyArgs& args) {
  const auto ref = oci::Reference::parse(args.layout);
  oci::Layout layout(ref.layout().directory, oci::Layout::Mode::open_existing);
  const auto problems = layout.verify();
  const std::size_t removed = args.gc && problems.empty() ? layout.gc() : 0;
  if (app.options().json) {
    print_json({{"layout", ref.str()}, {"problems", problems}, {"removed", removed}});
  } else {
    for (const auto& p : problems) fmt::print("{}\n", oci::printable(p));
    fmt::print("{}: {} problem(s){}\n", ref.str(), problems.size(),
               args.gc ? fmt::format(", {} unreferenced blob(s) removed", removed) : "");
  }
  if (!problems.empty())
    fail(ErrorKind::integrity, "{}: {} blob(s) or reference(s) are damaged", ref.str(), problems.size());
}

struct LoginArgs {
  std::string host;
  RegistryFlags registry;
};

void run_login(App& app, const LoginArgs& args) {
  if (args.registry.username.empty() || !args.registry.password_stdin) {
    fail(ErrorKind::usage, "login needs --username and --password-stdin");
  }
  auto reference = oci::Reference::parse(args.host + "/ckms/login-check").registry();
  oci::RegistryOptions options;
  options.plain_http = args.registry.plain_http;
  options.insecure_registries = args.registry.insecure_registries;
  if (!args.registry.ca_cert.empty()) options.ca_cert = args.registry.ca_cert;
  if (!args.registry.auth_file.empty()) options.auth_file = args.registry.auth_file;
  std::string password;
  std::getline(std::cin, password);
  const auto file = oci::login(reference.registry,
                               oci::Credentials{.username = args.registry.username, .password = password}, options);
  if (app.options().json) {
    print_json({{"registry", reference.registry}, {"authFile", file.string()}});
  } else {
    fmt::print("Login succeeded: {} (credentials in {})\n", reference.registry, file.string());
  }
}

void run_logout(App& app, const LoginArgs& args) {
  const bool removed = oci::logout(
      args.host, args.registry.auth_file.empty() ? std::nullopt : std::optional<fs::path>(args.registry.auth_file));
  if (!removed) fail(ErrorKind::not_found, "not logged in to {}", args.host);
  if (app.options().json) {
    print_json({{"registry", args.host}, {"removed", true}});
  } else {
    fmt::print("Removed credentials for {}\n", args.host);
  }
}

}  // namespace

void register_oci_commands(App& app) {
  auto& root = app.root();

  static CopyArgs copy_args;
  auto* copy =
      root.add_subcommand("copy", "Copy an image or artifact (with whole indexes) between registries and OCI layouts");
  copy->add_option("source", copy_args.source, "Source: REGISTRY/REPO[:TAG|@DIGEST] or oci:DIR[:TAG]")->required();
  copy->add_option("destination", copy_args.destination, "Destination, same forms")->required();
  copy->add_flag("--referrers", copy_args.referrers, "Also copy manifests that refer to it (signatures, SBOMs)");
  add_registry_flags(copy, copy_args.registry);
  app.on(copy, [&app] { run_copy(app, copy_args); });

  static InspectArgs inspect_args;
  auto* inspect = root.add_subcommand("inspect", "Show a manifest or index");
  inspect->add_option("reference", inspect_args.reference, "REGISTRY/REPO[:TAG|@DIGEST] or oci:DIR[:TAG]")->required();
  inspect->add_flag("--raw", inspect_args.raw, "Print the manifest bytes exactly as stored");
  add_registry_flags(inspect, inspect_args.registry);
  app.on(inspect, [&app] { run_inspect(app, inspect_args); });

  static TagsArgs tags_args;
  auto* tags = root.add_subcommand("tags", "List the tags of a repository or OCI layout");
  tags->add_option("repository", tags_args.repository, "REGISTRY/REPO or oci:DIR")->required();
  add_registry_flags(tags, tags_args.registry);
  app.on(tags, [&app] { run_tags(app, tags_args); });

  static PushArgs push_args;
  auto* push = root.add_subcommand("push", "Push files as an OCI artifact (one layer per file, titled by its name)");
  push->add_option("reference", push_args.reference, "Where to: REGISTRY/REPO:TAG or oci:DIR:TAG")->required();
  push->add_option("files", push_args.files, "FILE[:MEDIATYPE]...")->required();
  push->add_option("--artifact-type", push_args.artifact_type, "The manifest's artifactType")->required();
  push->add_option("--annotation", push_args.annotations, "KEY=VALUE manifest annotation (repeatable)");
  add_registry_flags(push, push_args.registry);
  app.on(push, [&app] { run_push(app, push_args); });

  static PullArgs pull_args;
  auto* pull = root.add_subcommand(
      "pull", "Pull an artifact's files into a directory (names from org.opencontainers.image.title)");
  pull->add_option("reference", pull_args.reference, "REGISTRY/REPO[:TAG|@DIGEST] or oci:DIR[:TAG]")->required();
  pull->add_option("-o,--output", pull_args.output, "Directory to write the files to")->required();
  add_registry_flags(pull, pull_args.registry);
  app.on(pull, [&app] { run_pull(app, pull_args); });

  static VerifyArgs verify_args;
  auto* verify = root.add_subcommand("verify", "Re-hash every blob of an OCI layout and check every reference");
  verify->add_option("layout", verify_args.layout, "oci:DIR")->required();
  verify->add_flag("--gc", verify_args.gc, "Then delete blobs nothing references");
  app.on(verify, [&app] { run_verify(app, verify_args); });

  static LoginArgs login_args;
  auto* login = root.add_subcommand("login", "Check credentials against a registry and store them");
  login->add_option("registry", login_args.host, "host[:port]")->required();
  add_registry_flags(login, login_args.registry);
  app.on(login, [&app] { run_login(app, login_args); });

  static LoginArgs logout_args;
  auto* logout = root.add_subcommand("logout", "Remove stored credentials for a registry");
  logout->add_option("registry", logout_args.host, "host[:port]")->required();
  logout->add_option("--authfile", logout_args.registry.auth_file, "Credentials file");
  app.on(logout, [&app] { run_logout(app, logout_args); });
}

}  // namespace ckms::cli
