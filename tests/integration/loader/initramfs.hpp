#pragma once
// The guest's root file system for the loader's VM test: a cpio "newc" archive, every
// entry owned by 0:0, holding busybox, dynamically linked host programs with every library
// `ldd` lists (at the same paths, so the host's dynamic loader finds them in the guest),
// kernel modules and text files.

#include <filesystem>
#include <string>

namespace ckms::loader::test {

class Initramfs {
 public:
  explicit Initramfs(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }

  void add_file(const std::filesystem::path& host, const std::filesystem::path& guest, bool executable = false);
  // The program (stripped of debug info) and its shared libraries.
  void add_program(const std::filesystem::path& host, const std::filesystem::path& guest);
  void add_symlink(const std::filesystem::path& target, const std::filesystem::path& guest);
  void add_text(const std::filesystem::path& guest, const std::string& content, bool executable = false);

  // Writes the archive; returns its size in bytes.
  std::uintmax_t pack(const std::filesystem::path& output) const;

 private:
  std::filesystem::path inside(const std::filesystem::path& guest) const;
  std::filesystem::path root_;
};

}  // namespace ckms::loader::test
