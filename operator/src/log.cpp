#include "ckms/operator/log.hpp"

#include <ostream>

#include <fmt/format.h>

#include "ckms/base/time.hpp"

namespace ckms::op {

Logger::Logger(bool json, std::ostream& out) : json_(json), out_(out) {}

void Logger::info(std::string_view message, const nlohmann::json& fields) { write("info", message, fields); }
void Logger::warn(std::string_view message, const nlohmann::json& fields) { write("warn", message, fields); }
void Logger::error(std::string_view message, const nlohmann::json& fields) { write("error", message, fields); }

void Logger::write(std::string_view level, std::string_view message, const nlohmann::json& fields) {
  std::string line;
  if (json_) {
    nlohmann::json record = fields.is_object() ? fields : nlohmann::json::object();
    record["time"] = rfc3339_now();
    record["level"] = level;
    record["msg"] = message;
    line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = fmt::format("{} {} {}", rfc3339_now(), level, message);
    if (fields.is_object())
      for (const auto& [key, value] : fields.items())
        line += fmt::format(" {}={}", key, value.is_string() ? value.get<std::string>() : value.dump());
  }
  std::lock_guard lock(mutex_);
  out_ << line << '\n' << std::flush;
}

}  // namespace ckms::op
