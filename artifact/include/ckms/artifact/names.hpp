#pragma once
// What counts as a safe name in an artifact. Everything here comes from whoever pushed the
// artifact, and a loader turns these strings into file paths and module names.

#include <string_view>

namespace ckms::artifact {

// A file name the loader may create in a directory of its own: not empty, no '/', not "."
// or "..", no control characters (NUL, newline), at most 255 bytes (NAME_MAX).
bool is_plain_file_name(std::string_view name);

// A kernel module name as modinfo's name= and depends= carry it: [A-Za-z0-9_-], at most
// 55 characters (the kernel's MODULE_NAME_LEN less its NUL).
bool is_module_name(std::string_view name);

// A single token for a package name, version or kernel release: a plain file name (the
// loader builds /lib/modules/<release> from it) without whitespace.
bool is_plain_token(std::string_view text);

// DKMS's DEST_MODULE_LOCATION: "/"-separated components (empty ones, as in "/extra/", are
// ignored) that are each a plain file name: nothing leaves /lib/modules/<release>.
bool is_install_location(std::string_view location);

// The kernel's module_param names: [A-Za-z0-9_], at most 64 bytes.
bool is_parameter_name(std::string_view name);

// Text without control characters (a parameter value, a signer subject).
bool is_printable(std::string_view text);

}  // namespace ckms::artifact
