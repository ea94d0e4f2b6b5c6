#include "ckms/builder/build_log.hpp"

namespace ckms::builder {
namespace {

bool reports_error(std::string_view line) {
  if (line.find("error:") != std::string_view::npos) return true;  // gcc, clang, ld, `#error`
  if (line.find("undefined reference to") != std::string_view::npos) return true;
  if (line.starts_with("ERROR:")) return true;  // modpost: undefined symbols, missing MODULE_LICENSE
  // make: `make[1]: *** No rule to make target 'x'.  Stop.`
  return line.find("*** ") != std::string_view::npos && line.ends_with("Stop.");
}

}  // namespace

std::vector<std::string> first_error_lines(std::string_view log, std::size_t limit) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < log.size() && lines.size() < limit) {
    std::size_t end = log.find('\n', pos);
    if (end == std::string_view::npos) end = log.size();
    std::string_view line = log.substr(pos, end - pos);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (reports_error(line)) lines.emplace_back(line);
    pos = end + 1;
  }
  return lines;
}

}  // namespace ckms::builder
