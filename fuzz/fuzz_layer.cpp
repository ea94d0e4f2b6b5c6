// Layers come from registries; applying one must never write outside the target directory,
// whatever the tar holds (.. paths, absolute paths, symlinks or hard links pointing out,
// entries written through an earlier symlink). Each input is applied to a fresh target at
// <root>/jail/target; afterwards <root> and <root>/jail must hold nothing but the target,
// and nothing below the target may be a hard link to a file outside it.
//
// As root the process first moves into a user namespace of its own where it is still root
// (over its own files), but where the kernel refuses device nodes, so an input cannot create
// a device node on the host (layer_rootless.hpp skips them).
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <utility>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/oci/layer_path.hpp"
#include "ckms/oci/layer_unpack.hpp"

namespace fs = std::filesystem;

namespace {

fs::path g_root;
int g_root_fd = -1;
std::map<std::pair<dev_t, ino_t>, std::pair<nlink_t, nlink_t>> g_links;  // found, st_nlink

int count_links(const char*, const struct stat* st, int type, struct FTW*) {
  if (type == FTW_F && S_ISREG(st->st_mode) && st->st_nlink > 1) {
    auto& [found, expected] = g_links[{st->st_dev, st->st_ino}];
    ++found;
    expected = st->st_nlink;
  }
  return 0;
}

[[noreturn]] void escaped(const std::string& what) {
  std::fprintf(stderr, "layer escaped its target: %s\n", what.c_str());
  std::abort();
}

// The only entry of `dir` must be `only`.
void expect_only(const fs::path& dir, const fs::path& only) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path() != only) escaped(entry.path().string());
  }
}

void write_file(const char* file, const char* text) {
  std::FILE* f = std::fopen(file, "w");
  if (f == nullptr || std::fputs(text, f) < 0 || std::fclose(f) != 0) {
    std::perror(file);
    std::exit(1);
  }
}

void remove_root() {
  std::error_code ec;
  fs::remove_all(g_root, ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (::geteuid() == 0) {
    if (::unshare(CLONE_NEWUSER) != 0) {
      std::perror("fuzz_layer: unshare(CLONE_NEWUSER); not applying layers as root without it");
      std::exit(1);
    }
    // Only root itself can be mapped from inside; chown to other ids becomes a noted skip.
    write_file("/proc/self/uid_map", "0 0 1\n");
    write_file("/proc/self/setgroups", "deny\n");
    write_file("/proc/self/gid_map", "0 0 1\n");
  }
  std::string tmpl = (fs::temp_directory_path() / "ckms-fuzz-layer-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("fuzz_layer: mkdtemp");
    std::exit(1);
  }
  g_root = tmpl;
  g_root_fd = ::open(tmpl.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  std::atexit(remove_root);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path jail = g_root / "jail";
  const fs::path target = jail / "target";
  // The library's own removal: std::filesystem's is quadratic in depth, and chmods nothing.
  ckms::remove_tree_at(g_root_fd, "jail", "fuzz");
  fs::create_directories(target);

  ckms::StringReader layer(std::string(reinterpret_cast<const char*>(data), size));
  ckms::oci::UnpackOptions options;
  options.layer_name = "fuzz";
  // Small limits keep each run fast; they are enforced before anything is written.
  options.limits.max_total_bytes = 4 << 20;
  options.limits.max_file_bytes = 1 << 20;
  options.limits.max_entries = 4096;
  // Both ways of resolving paths beneath the target, chosen by something the input decides.
  options.resolve = size % 2 == 0 ? ckms::ResolveStrategy::automatic : ckms::ResolveStrategy::component_walk;
  try {
    (void)ckms::oci::apply_layer(layer, target, options);
  } catch (const ckms::Error&) {
  }

  expect_only(g_root, jail);
  expect_only(jail, target);
  // Files created by the layer have a link count of 1 unless the layer linked them to each
  // other; a link to a file outside makes the count exceed the links found inside. nftw
  // rather than std::filesystem: its iterators copy the whole path per step, which made
  // deep trees (thousands of levels) take a minute.
  g_links.clear();
  if (::nftw(target.c_str(), count_links, 64, FTW_PHYS) != 0) escaped("cannot walk the target");
  for (const auto& [inode, counts] : g_links) {
    if (counts.first != counts.second) escaped("hard link to a file outside the target");
  }
  return 0;
}
