// Real Debian *-dkms packages built by `ckms build` (fixture build image, fixture key) and
// by `dkms build` on this host against the same headers, one package after the other. The
// table of what each tool built goes to stdout and to <build dir>/dkms-corpus-build.txt.
// What DKMS builds, ckms must build, with the same module files.
//
// The packages are small ones of the corpus (tests/corpus/fetch-dkms-packages.sh) whose
// dkms.conf covers the common styles: kbuild M= builds, a MAKE of the package's own
// Makefile, several modules, BUILD_EXCLUSIVE_CONFIG/KERNEL and shell logic over .config.
// The cloud kernel has no V4L2, so v4l2loopback excludes itself there (both tools must
// agree) and is built against the generic flavour of the same ABI, whose headers
// scripts/install-deps.sh installs for exactly this.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "build_fixture.hpp"
#include "ckms/artifact/module_artifact.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/layout.hpp"

namespace fs = std::filesystem;
using namespace ckms::builder::test;
using ckms::testkit::run;

namespace {

enum class Flavour { cloud, generic };

struct Case {
  std::string package;
  Flavour flavour;
};

const std::vector<Case> kCases = {
    {"v4l2loopback-dkms", Flavour::generic}, {"v4l2loopback-dkms", Flavour::cloud},
    {"vpoll-dkms", Flavour::cloud},          {"acpi-call-dkms", Flavour::cloud},
    {"lime-forensics-dkms", Flavour::cloud}, {"rapiddisk-dkms", Flavour::cloud},
    {"dm-writeboost-dkms", Flavour::cloud},  {"nat-rtsp-dkms", Flavour::cloud},
    {"dpdk-kmods-dkms", Flavour::cloud},     {"langford-dkms", Flavour::cloud},
};

// What one tool did with one package: "built", "excluded" or "failed", and the module
// files it produced (compression suffix dropped: DKMS compresses as the kernel's config
// says, ckms as --compress says).
struct Outcome {
  std::string status;
  std::set<std::string> modules;
  double seconds = 0;
  std::string detail;  // the log tail of a failure
};

struct Row {
  std::string package;
  std::string release;
  Outcome dkms;
  Outcome ckms;
  std::string same_bytes = "-";  // "yes"/"no" when both built, signed with the same key
};

std::string module_file(std::string name) {
  for (const std::string suffix : {".xz", ".zst", ".gz"}) {
    if (name.ends_with(suffix)) name.resize(name.size() - suffix.size());
  }
  return name;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// An image for the generic flavour of the fixture's newest ABI, made like the fixture's.
std::string generic_image_template(const fs::path& dir, const std::string& release) {
  INFO("headers of " << release << " are not installed; run scripts/install-deps.sh");
  REQUIRE(fs::exists("/usr/src/linux-headers-" + release + "/Makefile"));
  ckms::testkit::RunOptions options;
  options.timeout_seconds = 1800;
  const auto built = run_ckms(
      {"image", "build", "--toolchain-tar", toolchain_tar().string(), "--output", "oci:" + dir.string(), "--apt-cache",
       (ckms::testkit::download_cache() / "debs").string(), "--compression", "zstd", "--kernel", release},
      options);
  INFO(built.out << built.err);
  REQUIRE(built.exit_code == 0);
  return "oci:" + dir.string() + ":{release}";
}

Outcome ckms_outcome(const BuildRun& run_, const std::string& release) {
  const auto& k = run_.kernel(release);
  Outcome out;
  out.status = k.at("status").get<std::string>();
  out.seconds = k.at("seconds").get<double>();
  if (k.contains("modules")) {
    for (const auto& m : k.at("modules")) out.modules.insert(module_file(m.at("file").get<std::string>()));
  }
  if (out.status == "failed") {
    out.detail = k.value("reason", "");
    if (k.contains("logTail")) out.detail += "\n" + k.at("logTail").dump();
  }
  return out;
}

// `dkms add` + `dkms build` with the fixture's key, in a mount namespace whose
// /var/lib/dkms is a fresh tmpfs (as in build_hello_test): the host's DKMS state is never
// touched. The built modules are copied to `dir/modules`.
Outcome dkms_outcome(const fs::path& tree, const std::string& name, const std::string& version,
                     const std::string& release, const fs::path& dir, const BuildFixture& f) {
  fs::create_directories(dir / "src");
  fs::create_directories(dir / "install");
  fs::create_directories(dir / "modules");
  fs::copy(tree, dir / "src" / (name + "-" + version), fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  const std::string trees = " --sourcetree " + shell_quote((dir / "src").string()) + " --installtree " +
                            shell_quote((dir / "install").string());
  const std::string keys =
      "mok_signing_key=" + shell_quote(f.key.string()) + " mok_certificate=" + shell_quote(f.cert.string());
  const std::string mv = " -m " + shell_quote(name) + " -v " + shell_quote(version);
  const std::string built = "/var/lib/dkms/" + name + "/" + version + "/" + release + "/x86_64/module";
  // 77 is DKMS's "BUILD_EXCLUSIVE does not match"; the script passes it on.
  const std::string script = "set -e; mount -t tmpfs ckms-test /var/lib/dkms; " + keys + " dkms add" + mv + trees +
                             "; rc=0; " + keys + " dkms build" + mv + " -k " + shell_quote(release) + trees +
                             " || rc=$?; if [ $rc -eq 0 ]; then cp " + shell_quote(built) + "/* " +
                             shell_quote((dir / "modules").string()) + "/; fi; exit $rc";
  ckms::testkit::RunOptions options;
  options.timeout_seconds = 900;
  const auto start = std::chrono::steady_clock::now();
  const auto r = run({"unshare", "--mount", "sh", "-c", script}, options);
  Outcome out;
  out.seconds = seconds_since(start);
  out.status = r.exit_code == 0 ? "built" : r.exit_code == 77 ? "excluded" : "failed";
  if (out.status == "failed") out.detail = r.out.substr(r.out.size() > 3000 ? r.out.size() - 3000 : 0) + r.err;
  for (const auto& entry : fs::directory_iterator(dir / "modules")) {
    out.modules.insert(module_file(entry.path().filename().string()));
  }
  return out;
}

std::string layer_bytes(ckms::oci::Target& target, const ckms::oci::Descriptor& layer) {
  auto reader = target.fetch(layer);
  return ckms::read_all(*reader, 256 << 20, layer.digest.str());
}

// Whether each module ckms published is byte for byte the file dkms built.
std::string same_bytes(const fs::path& layout_dir, const std::string& version, const std::string& release,
                       const fs::path& dkms_modules) {
  ckms::oci::Layout layout(layout_dir, ckms::oci::Layout::Mode::open_existing);
  const auto resolved = ckms::artifact::resolve_module(layout, version, release);
  for (const auto& layer : resolved.manifest.layers) {
    const auto title = layer.annotation("org.opencontainers.image.title");
    if (!title || !fs::exists(dkms_modules / *title)) return "no";
    if (layer_bytes(layout, layer) != ckms::testkit::read_text(dkms_modules / *title)) return "no";
  }
  return "yes";
}

std::string joined(const std::set<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : " ") + item;
  return out.empty() ? "-" : out;
}

std::string table(const std::vector<Row>& rows) {
  std::ostringstream out;
  const auto line = [&](const std::string& package, const std::string& release, const std::string& dkms,
                        const std::string& ckms, const std::string& bytes, const std::string& modules) {
    out << std::left << std::setw(22) << package << std::setw(22) << release << std::setw(16) << dkms << std::setw(16)
        << ckms << std::setw(6) << bytes << modules << "\n";
  };
  const auto status = [](const Outcome& o) {
    std::ostringstream s;
    s << o.status << " " << std::fixed << std::setprecision(1) << o.seconds << "s";
    return s.str();
  };
  line("PACKAGE", "KERNEL", "DKMS", "CKMS", "SAME", "MODULES (dkms | ckms when they differ)");
  for (const auto& row : rows) {
    const std::string modules = row.dkms.modules == row.ckms.modules
                                    ? joined(row.ckms.modules)
                                    : joined(row.dkms.modules) + " | " + joined(row.ckms.modules);
    line(row.package, row.release, status(row.dkms), status(row.ckms), row.same_bytes, modules);
  }
  return out.str();
}

}  // namespace

TEST_CASE("Debian's *-dkms packages: ckms builds every one that dkms builds", "[build][corpus]") {
  if (::geteuid() != 0) {
    WARN("skipped: dkms on the host needs root (unshare --mount, /var/lib/dkms)");
    return;
  }
  REQUIRE(ckms::testkit::have_program("dkms"));
  const auto& f = build_fixture();
  ckms::testkit::TempDir dir("ckms-build-corpus");
  const std::string cloud = f.releases.back();
  const std::string generic = cloud.substr(0, cloud.size() - std::string("-cloud-amd64").size()) + "-amd64";
  REQUIRE(cloud.ends_with("-cloud-amd64"));
  const std::string generic_template = generic_image_template(dir / "generic-images", generic);

  const auto start = std::chrono::steady_clock::now();
  std::vector<Row> rows;
  for (const auto& c : kCases) {
    const std::string release = c.flavour == Flavour::cloud ? cloud : generic;
    const fs::path tree = corpus_tree(c.package);
    const fs::path work = dir / (c.package + "-" + release);
    fs::create_directories(work);
    const fs::path out = work / "out";
    const BuildRun built = ckms_build_json(
        {tree.string(), "--kernel", release, "--image-template",
         c.flavour == Flavour::cloud ? f.image_template() : generic_template, "--sign-key", f.key.string(),
         "--sign-cert", f.cert.string(), "--cache-dir", f.cache_dir.string(), "--output", "oci:" + out.string()},
        {.timeout_seconds = 900});
    Row row{c.package, release, {}, ckms_outcome(built, release), "-"};
    const auto& k = built.kernel(release);
    const std::string name = k.at("name").get<std::string>();
    const std::string version = k.at("version").get<std::string>();
    // The corpus names each tree as DKMS does, <name>-<version>: ckms read the same.
    CHECK(tree.filename() == name + "-" + version);
    row.dkms = dkms_outcome(tree, name, version, release, work / "dkms", f);
    if (row.dkms.status == "built" && row.ckms.status == "built") {
      row.same_bytes = same_bytes(out, version, release, work / "dkms/modules");
    }
    std::cout << "[corpus] " << c.package << " on " << release << ": dkms " << row.dkms.status << ", ckms "
              << row.ckms.status << std::endl;
    rows.push_back(std::move(row));
  }
  const double total = seconds_since(start);

  const std::string text = table(rows);
  std::cout << "\n" << text << "total " << std::fixed << std::setprecision(0) << total << " s\n" << std::endl;
  ckms::testkit::write_text(fs::path(CKMS_BINARY_DIR) / "dkms-corpus-build.txt", text);

  for (const auto& row : rows) {
    INFO(row.package << " on " << row.release << "\ndkms: " << row.dkms.status << " " << row.dkms.detail
                     << "\nckms: " << row.ckms.status << " " << row.ckms.detail);
    // Every exclusion is DKMS's own rule: both tools exclude alike.
    CHECK((row.dkms.status == "excluded") == (row.ckms.status == "excluded"));
    if (row.dkms.status == "built") {
      CHECK(row.ckms.status == "built");
      CHECK(row.ckms.modules == row.dkms.modules);
    }
  }
  // Sanity floor: the set means something only when most of it builds.
  const auto find = [&](const std::string& package, const std::string& release) -> const Row& {
    for (const auto& row : rows) {
      if (row.package == package && row.release == release) return row;
    }
    FAIL("no row for " << package << " on " << release);
    throw std::logic_error("unreachable");
  };
  const Row& v4l2 = find("v4l2loopback-dkms", generic);
  CHECK(v4l2.dkms.status == "built");
  CHECK(v4l2.ckms.status == "built");
  CHECK(v4l2.ckms.modules == std::set<std::string>{"v4l2loopback.ko"});
  CHECK(find("v4l2loopback-dkms", cloud).ckms.status == "excluded");
  const auto built_by_both = std::count_if(rows.begin(), rows.end(), [](const Row& row) {
    return row.dkms.status == "built" && row.ckms.status == "built";
  });
  CHECK(built_by_both >= 6);
}
