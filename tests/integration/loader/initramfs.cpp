#include "initramfs.hpp"

#include <sstream>

#include <catch2/catch.hpp>

#include "guest_kernel.hpp"
#include "testkit.hpp"

namespace ckms::loader::test {
namespace fs = std::filesystem;

Initramfs::Initramfs(fs::path root) : root_(std::move(root)) { fs::create_directories(root_); }

fs::path Initramfs::inside(const fs::path& guest) const {
  REQUIRE(guest.is_absolute());
  const fs::path path = root_ / guest.relative_path();
  fs::create_directories(path.parent_path());
  return path;
}

void Initramfs::add_file(const fs::path& host, const fs::path& guest, bool executable) {
  const fs::path path = inside(guest);
  fs::copy_file(host, path, fs::copy_options::overwrite_existing);
  fs::permissions(path, executable ? fs::perms(0755) : fs::perms(0644));
}

void Initramfs::add_program(const fs::path& host, const fs::path& guest) {
  run_ok({"objcopy", "--strip-debug", host.string(), inside(guest).string()});
  fs::permissions(inside(guest), fs::perms(0755));
  // ldd fails on a static program (the node binary is one), which needs no libraries.
  const auto ldd = testkit::run({"ldd", host.string()});
  if (ldd.exit_code != 0 && (ldd.out + ldd.err).find("not a dynamic executable") != std::string::npos) return;
  std::istringstream lines(run_ok({"ldd", host.string()}));
  for (std::string line; std::getline(lines, line);) {
    // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    std::istringstream words(line);
    std::string word, library;
    while (words >> word) {
      if (word.starts_with("/")) {
        library = word;
        break;
      }
    }
    if (!library.empty() && !fs::exists(inside(library))) add_file(library, library, true);
  }
}

void Initramfs::add_symlink(const fs::path& target, const fs::path& guest) {
  const fs::path path = inside(guest);
  fs::remove(path);
  fs::create_symlink(target, path);
}

void Initramfs::add_text(const fs::path& guest, const std::string& content, bool executable) {
  const fs::path path = inside(guest);
  testkit::write_text(path, content);
  fs::permissions(path, executable ? fs::perms(0755) : fs::perms(0644));
}

std::uintmax_t Initramfs::pack(const fs::path& output) const {
  run_ok({"sh", "-c", "cd \"$1\" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet > \"$2\"", "sh",
          root_.string(), output.string()});
  return fs::file_size(output);
}

}  // namespace ckms::loader::test
