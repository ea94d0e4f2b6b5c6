#include "ckms/artifact/names.hpp"

#include <algorithm>

namespace ckms::artifact {
namespace {

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

}  // namespace

bool is_plain_file_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) { return c == '/' || is_control(c); });
}

bool is_module_name(std::string_view name) {
  if (name.empty() || name.size() > 55) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return is_alnum(c) || c == '_' || c == '-'; });
}

bool is_plain_token(std::string_view text) {
  return is_plain_file_name(text) && std::none_of(text.begin(), text.end(), [](char c) { return c == ' '; });
}

bool is_install_location(std::string_view location) {
  if (location.size() > 4096) return false;
  std::size_t start = 0;
  while (start < location.size()) {
    const auto end = std::min(location.find('/', start), location.size());
    const auto component = location.substr(start, end - start);
    if (!component.empty() && !is_plain_file_name(component)) return false;
    start = end + 1;
  }
  return true;
}

bool is_parameter_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return is_alnum(c) || c == '_'; });
}

bool is_printable(std::string_view text) { return std::none_of(text.begin(), text.end(), is_control); }

}  // namespace ckms::artifact
