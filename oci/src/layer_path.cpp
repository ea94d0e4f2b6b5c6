#include "ckms/oci/layer_path.hpp"

#include <climits>

#include "ckms/base/error.hpp"

namespace ckms::oci {

std::string normalize_entry_name(std::string_view name, std::size_t max_length, std::string_view what) {
  if (name.find('\0') != std::string_view::npos) {
    fail(ErrorKind::refused, "{}: name contains a NUL byte", what);
  }
  if (name.size() > max_length) {
    fail(ErrorKind::refused, "{}: name is {} bytes, longer than the {} allowed", what, name.size(), max_length);
  }
  // OCI says names are relative; archives made with `tar -C dir .` or by GNU tar from "/"
  // carry "./" or "/" prefixes that mean the same thing, so those alone are tolerated.
  while (name.starts_with('/')) name.remove_prefix(1);
  if (name.starts_with("./")) name.remove_prefix(2);
  if (name == ".") name = {};
  if (name.ends_with('/')) name.remove_suffix(1);

  std::string out;
  out.reserve(name.size());
  while (!name.empty()) {
    const std::size_t slash = name.find('/');
    const std::string_view component = name.substr(0, slash);
    if (component == "..") fail(ErrorKind::refused, "{}: name has a '..' component", what);
    // "a/./b" and "a//b" name the same file as "a/b": accepting them would let two entries
    // that look different alias one path, so a name must already be in its single form.
    if (component.empty() || component == ".") {
      fail(ErrorKind::refused, "{}: name is not normalised (empty or '.' component)", what);
    }
    if (component.size() > NAME_MAX) {
      fail(ErrorKind::refused, "{}: a component is {} bytes, longer than NAME_MAX", what, component.size());
    }
    if (!out.empty()) out.push_back('/');
    out.append(component);
    if (slash == std::string_view::npos) break;
    name.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace ckms::oci
