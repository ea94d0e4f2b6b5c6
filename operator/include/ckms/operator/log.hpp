#pragma once
// Log lines on stderr: "time level message key=value ..." for people, or one JSON object
// per line (--json) for log collectors. Safe to call from every thread.

#include <iosfwd>
#include <mutex>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ckms::op {

class Logger {
 public:
  explicit Logger(bool json, std::ostream& out);
  void info(std::string_view message, const nlohmann::json& fields = nlohmann::json::object());
  void warn(std::string_view message, const nlohmann::json& fields = nlohmann::json::object());
  void error(std::string_view message, const nlohmann::json& fields = nlohmann::json::object());

 private:
  void write(std::string_view level, std::string_view message, const nlohmann::json& fields);
  bool json_;
  std::ostream& out_;
  std::mutex mutex_;
};

}  // namespace ckms::op
