#pragma once
// Early boot: after `ckms install` or `ckms uninstall` changed a module needed in early boot
// (InstallRecord::initramfs), the initramfs of that kernel release is built again by the
// tree's own generator, whose ckms hook (loader/initramfs/) puts the installed modules in.
// ckms never writes an initramfs itself: initramfs-tools and dracut own the format.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ckms::loader {

// The command that builds the initramfs of `release` for the tree at `root`: Debian's
// `update-initramfs -u -k R` when the tree has initramfs-tools, else `dracut --force --kver R`,
// through `chroot ROOT` for a root other than "/". not_found naming both generators when the
// tree has neither.
std::vector<std::string> initramfs_command(const std::filesystem::path& root, std::string_view release);

// Runs initramfs_command; an io error naming the command, its exit code and its last words
// when it fails. Returns the command run.
std::vector<std::string> regenerate_initramfs(const std::filesystem::path& root, std::string_view release);

}  // namespace ckms::loader
