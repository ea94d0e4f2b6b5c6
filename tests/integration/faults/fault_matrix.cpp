// Every fault of fault_proxy.hpp against every operation that moves content over the
// network, through a fault-injecting proxy in front of a real docker-registry. An operation
// either succeeds with exactly the source's content or fails cleanly (an error naming what it
// worked on, nothing half-written visible); no store may ever hold a blob whose bytes do not
// match its digest. Prints the table of docs/reliability.md and writes it to
// <build dir>/fault-table.txt. CKMS_FAULT_ITERATIONS runs each cell more often.

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/error.hpp"
#include "ckms/kmod/modinfo.hpp"
#include "ckms/kmod/sign.hpp"
#include "ckms/loader/cache.hpp"
#include "ckms/oci/layout.hpp"
#include "ckms/oci/manifest.hpp"
#include "ckms/oci/media_types.hpp"
#include "ckms/oci/registry.hpp"
#include "fault_proxy.hpp"
#include "faults_support.hpp"
#include "hello_module.hpp"

using namespace ckms;
using namespace ckms::faults;
namespace fs = std::filesystem;

namespace {

// What one operation run ended as. `problems` are corruption: a store holding wrong bytes,
// or a success whose content differs from the source. `unclean` is a failure without an
// error naming what it worked on, or with unfinished files left visible.
struct Outcome {
  bool ok = false;
  std::string message;
  std::vector<std::string> problems;
  std::vector<std::string> unclean;
};

struct Context {
  std::string proxy;  // host:port of the fault proxy
  std::string run;    // unique per run, for repository and directory names
  fs::path scratch;
};

using Operation = std::function<Outcome(const Context&)>;

std::string file_text(const fs::path& file) { return testkit::read_text(file); }

void expect_named(Outcome& outcome, const std::string& name) {
  if (outcome.message.find(name) == std::string::npos) {
    outcome.unclean.push_back("error does not name " + name + ": " + outcome.message);
  }
}

// The artifact `tag` of a registry repository read back directly (not through the proxy):
// its files must be the material's.
void check_registry_artifact(Outcome& outcome, const std::string& repository, bool must_exist) {
  oci::RegistryRepository direct(registry().reference(repository), fast_options());
  std::optional<oci::Descriptor> root;
  try {
    root = direct.resolve("v1");
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::not_found && !must_exist) return;
    outcome.problems.push_back(repository + ":v1 unreadable: " + e.what());
    return;
  }
  try {
    const auto manifest = oci::ImageManifest::parse(oci::fetch_bytes(direct, *root), repository);
    for (const auto& layer : manifest.layers) {
      auto reader = direct.fetch(layer);
      const std::string bytes = ckms::read_all(*reader, 8 << 20, layer.digest.str());
      const auto title = layer.annotation(oci::annotation::kTitle).value_or("");
      if (bytes != file_text(material().files_dir / title)) {
        outcome.problems.push_back(repository + ": layer " + title + " differs from the source file");
      }
    }
    if (root->digest != material().root->digest) outcome.problems.push_back(repository + ": root digest differs");
  } catch (const Error& e) {
    outcome.problems.push_back(repository + ":v1 is tagged but incomplete: " + e.what());
  }
}

Outcome from_cli(const testkit::RunResult& result, const std::string& name) {
  Outcome outcome;
  outcome.ok = result.exit_code == 0;
  outcome.message = result.err;
  if (!outcome.ok) {
    if (result.exit_code >= 128 || result.exit_code < 0) outcome.unclean.push_back("died: " + result.err);
    expect_named(outcome, name);
  }
  return outcome;
}

Outcome copy_registry_to_layout(const Context& c) {
  const fs::path layout = c.scratch / "layout";
  const std::string source = c.proxy + "/faults/src:v1";
  Outcome outcome =
      from_cli(run_ckms({"copy", "--plain-http", source, "oci:" + layout.string() + ":v1"}), "faults/src");
  for (auto& p : layout_problems(layout)) outcome.problems.push_back(p);
  if (fs::exists(layout / "oci-layout")) {
    oci::Layout copied(layout, oci::Layout::Mode::open_existing);
    const auto tags = copied.tags();
    const bool tagged = std::find(tags.begin(), tags.end(), "v1") != tags.end();
    if (outcome.ok && (!tagged || copied.resolve("v1").digest != material().root->digest)) {
      outcome.problems.push_back("copied layout lacks v1 or holds another root");
    }
    if (!outcome.ok && tagged) outcome.unclean.push_back("failed copy tagged v1");
  } else if (outcome.ok) {
    outcome.problems.push_back("copy succeeded without a layout");
  }
  return outcome;
}

Outcome copy_layout_to_registry(const Context& c) {
  const std::string repository = "faults/copy-" + c.run;
  Outcome outcome = from_cli(run_ckms({"copy", "--plain-http", "oci:" + material().layout.string() + ":v1",
                                       c.proxy + "/" + repository + ":v1"}),
                             repository);
  check_registry_artifact(outcome, repository, outcome.ok);
  return outcome;
}

Outcome push_files(const Context& c) {
  const std::string repository = "faults/push-" + c.run;
  std::vector<std::string> args = {"push", "--plain-http", c.proxy + "/" + repository + ":v1", "--artifact-type",
                                   "application/vnd.ckms.test.v1"};
  for (const auto& name : material().names) args.push_back((material().files_dir / name).string());
  Outcome outcome = from_cli(run_ckms(args), repository);
  check_registry_artifact(outcome, repository, outcome.ok);
  return outcome;
}

Outcome pull_files(const Context& c) {
  const fs::path out = c.scratch / "pulled";
  Outcome outcome =
      from_cli(run_ckms({"pull", "--plain-http", c.proxy + "/faults/src:v1", "-o", out.string()}), "faults/src");
  for (const auto& file : temp_files(out)) outcome.unclean.push_back("left over: " + file);
  // Whatever is there under a final name must be complete, success or not.
  if (fs::exists(out)) {
    for (const auto& entry : fs::directory_iterator(out)) {
      const auto name = entry.path().filename().string();
      if (name.starts_with(".")) continue;
      if (!fs::exists(material().files_dir / name) ||
          file_text(entry.path()) != file_text(material().files_dir / name)) {
        outcome.problems.push_back("pulled file " + name + " differs from the source");
      }
    }
  }
  if (outcome.ok) {
    for (const auto& name : material().names) {
      if (!fs::exists(out / name)) outcome.problems.push_back("pull succeeded without " + name);
    }
  }
  return outcome;
}

// The publish step of `ckms build` (the build itself needs runc and build images): the
// module's layers, config and manifest, its per-kernel tag, then the rebuilt index.
Outcome publish_module(const Context& c) {
  const std::string repository = "faults/module";
  const std::string release = "6.1.0-" + c.run + "-faults-amd64";
  Outcome outcome;
  try {
    oci::RegistryRepository proxied(via(c.proxy, repository), fast_options());
    artifact::publish_module(proxied, module_set(c.scratch, "1.0", release));
    artifact::update_module_index(proxied, "1.0");
    outcome.ok = true;
  } catch (const Error& e) {
    outcome.message = e.what();
    expect_named(outcome, repository);
  }
  oci::RegistryRepository direct(registry().reference(repository), fast_options());
  try {
    const auto resolved = artifact::resolve_module(direct, "1.0", release);
    auto reader = direct.fetch(resolved.manifest.layers.at(0));
    if (ckms::read_all(*reader, 8 << 20, "layer") != file_text(c.scratch / ("files-1.0-" + release) / "faulty.ko")) {
      outcome.problems.push_back("published layer differs from the module file");
    }
    if (outcome.ok) {
      const auto kernels = artifact::published_kernels(direct, "1.0");
      if (std::find(kernels.begin(), kernels.end(), release) == kernels.end()) {
        outcome.problems.push_back("index lacks " + release);
      }
    }
  } catch (const Error& e) {
    // A failed publish may stop before its tag; a successful one must be readable.
    if (outcome.ok || e.kind() != ErrorKind::not_found) outcome.problems.push_back(e.what());
  }
  return outcome;
}

// The hello module, built against the host's headers and signed with a key made here,
// published once directly (not through the proxy) as `ckms build` would: the loader checks
// a module's signature and vermagic before it commits anything, so it needs a real one.
struct LoaderArtifact {
  std::string release;
  fs::path cert;
};

const LoaderArtifact& loader_artifact() {
  static testkit::TempDir dir("ckms-faults-module");
  static const LoaderArtifact made = [] {
    const auto& hello = kmod::test::hello_module();
    const auto pair = kmod::test::openssl_req_key(dir.path(), "faults", 2048);
    const auto key = kmod::SigningKey::load(pair.key, pair.cert);
    const fs::path files = dir / "files";
    fs::create_directories(files);
    const std::string module = kmod::sign_module(testkit::read_text(hello.ko), key, {}, "ckms_hello.ko");
    testkit::write_text(files / "ckms_hello.ko", module);
    const auto info = kmod::read_modinfo(module, "ckms_hello.ko");
    artifact::ModuleConfig config{.name = "ckms-hello", .version = "2.0", .kernel_release = hello.release};
    config.files = {artifact::ModuleFile{.file_name = "ckms_hello.ko",
                                         .module_name = info.name,
                                         .vermagic = info.vermagic,
                                         .srcversion = info.srcversion,
                                         .signer = key.subject()}};
    config.provenance.ckms_version = "test";
    config.provenance.created = "2026-01-01T00:00:00Z";
    oci::RegistryRepository direct(registry().reference("faults/loader"), fast_options());
    artifact::publish_module(direct, {.config = config, .files_dir = files, .cache_key = "cache-loader"});
    artifact::update_module_index(direct, "2.0");
    return LoaderArtifact{hello.release, pair.cert};
  }();
  return made;
}

// What a node does before insertion, which the host kernel cannot do: `ckms load
// --fetch-only` resolves the artifact for its kernel, fetches it into the cache, verifies
// digests, signature and vermagic, and commits.
Outcome loader_fetch(const Context& c) {
  const auto& artifact = loader_artifact();
  const std::string repository = "faults/loader";
  const fs::path cache_dir = c.scratch / "cache";
  const auto reference = oci::Reference::parse(c.proxy + "/" + repository);
  Outcome outcome = from_cli(run_ckms({"load", "--fetch-only", "--plain-http", "--kernel", artifact.release, "--trust",
                                       artifact.cert.string(), "--cache-dir", cache_dir.string(), "--state-dir",
                                       (c.scratch / "state").string(), c.proxy + "/" + repository + ":2.0"}),
                             repository);
  for (auto& p : layout_problems(cache_dir)) outcome.problems.push_back(p);
  if (outcome.ok) {
    try {
      loader::ModuleCache cache(cache_dir);
      const auto cached = cache.resolve(loader::repository_key(reference), "2.0", artifact.release);
      if (cached.config.kernel_release != artifact.release) outcome.problems.push_back("cache holds another kernel");
    } catch (const Error& e) {
      outcome.problems.push_back(std::string("fetched artifact not in the cache: ") + e.what());
    }
  }
  return outcome;
}

struct Row {
  int tried = 0, succeeded = 0, failed_cleanly = 0, unclean = 0, corrupted = 0, injected = 0;
};

}  // namespace

TEST_CASE("every operation survives every network fault or fails cleanly, and nothing is corrupted", "[faults]") {
  material();
  const int iterations = std::max(env_int("CKMS_FAULT_ITERATIONS", 1), 1);
  const std::vector<Fault> faults = {Fault::none,       Fault::reset,      Fault::status_500, Fault::status_502,
                                     Fault::status_503, Fault::status_429, Fault::truncate,   Fault::stall,
                                     Fault::flip,       Fault::slow};
  const std::vector<std::pair<std::string, Operation>> operations = {
      {"copy registry->layout", copy_registry_to_layout},
      {"copy layout->registry", copy_layout_to_registry},
      {"push files", push_files},
      {"pull artifact", pull_files},
      {"publish module+index", publish_module},
      {"loader fetch", loader_fetch},
  };

  std::map<Fault, Row> rows;
  std::vector<std::string> findings;
  int run_number = 0;
  for (const Fault fault : faults) {
    for (const auto& [op_name, operation] : operations) {
      for (int i = 0; i < iterations; ++i) {
        ++run_number;
        FaultPlan plan;
        plan.fault = fault;
        plan.seed = static_cast<unsigned>(run_number * 7919);
        testkit::TempDir scratch("ckms-faults-run");
        Outcome outcome;
        int injected = 0;
        {
          FaultProxy proxy(registry_port(), plan);
          outcome = operation(Context{proxy.authority(), std::to_string(run_number), scratch.path()});
          injected = proxy.injected();
        }
        for (auto& p : registry_problems()) outcome.problems.push_back(p);
        Row& row = rows[fault];
        ++row.tried;
        row.injected += injected;
        if (!outcome.problems.empty()) {
          ++row.corrupted;
        } else if (!outcome.unclean.empty()) {
          ++row.unclean;
        } else if (outcome.ok) {
          ++row.succeeded;
        } else {
          ++row.failed_cleanly;
        }
        for (const auto& p : outcome.problems)
          findings.push_back(fmt::format("{} / {}: CORRUPTED: {}", fault_name(fault), op_name, p));
        for (const auto& u : outcome.unclean)
          findings.push_back(fmt::format("{} / {}: UNCLEAN: {}", fault_name(fault), op_name, u));
        if (!outcome.ok && outcome.problems.empty() && outcome.unclean.empty()) {
          findings.push_back(
              fmt::format("{} / {}: failed cleanly: {}", fault_name(fault), op_name, outcome.message.substr(0, 300)));
        }
      }
    }
  }

  std::string table = fmt::format("{:<20} {:>8} {:>7} {:>9} {:>14} {:>8} {:>10}\n", "fault", "injected", "tried",
                                  "succeeded", "failed cleanly", "unclean", "corrupted");
  Row total;
  for (const Fault fault : faults) {
    const Row& r = rows[fault];
    table += fmt::format("{:<20} {:>8} {:>7} {:>9} {:>14} {:>8} {:>10}\n", fault_name(fault), r.injected, r.tried,
                         r.succeeded, r.failed_cleanly, r.unclean, r.corrupted);
    total.injected += r.injected;
    total.tried += r.tried;
    total.succeeded += r.succeeded;
    total.failed_cleanly += r.failed_cleanly;
    total.unclean += r.unclean;
    total.corrupted += r.corrupted;
  }
  table += fmt::format("{:<20} {:>8} {:>7} {:>9} {:>14} {:>8} {:>10}\n", "total", total.injected, total.tried,
                       total.succeeded, total.failed_cleanly, total.unclean, total.corrupted);
  std::cout << "\n" << table;
  for (const auto& f : findings) std::cout << "  " << f << "\n";
  std::ofstream(fs::path(CKMS_BINARY_DIR) / "fault-table.txt") << table;

  CHECK(total.corrupted == 0);
  CHECK(total.unclean == 0);
  // Faults that a retry can ride out must not make an operation fail.
  for (const Fault fault :
       {Fault::none, Fault::status_500, Fault::status_502, Fault::status_503, Fault::status_429, Fault::slow}) {
    INFO(fault_name(fault));
    CHECK(rows[fault].succeeded == rows[fault].tried);
  }
  // Every fault that is not a property of the whole link was injected at least once.
  for (const Fault fault : faults) {
    if (fault == Fault::none || fault == Fault::slow) continue;
    INFO(fault_name(fault));
    CHECK(rows[fault].injected > 0);
  }
}
