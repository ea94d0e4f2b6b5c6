#include "ckms/artifact/module_parameters.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ckms/base/error.hpp"
#include "ckms/kmod/modinfo.hpp"

namespace ckms::artifact {
namespace {

bool is_name(std::string_view text) {
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool is_value(std::string_view text) {
  return std::none_of(text.begin(), text.end(),
                      [](char c) { return c == '"' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// The kernel compares parameter names with '-' and '_' equal (parameq).
std::string normalize_parameter(std::string_view name) { return kmod::normalize_module_name(name); }

std::vector<std::string> all_declared(const std::map<std::string, std::vector<std::string>>& declared) {
  std::vector<std::string> out;
  for (const auto& [module, names] : declared) {
    for (const auto& name : names) out.push_back(module + "." + name);
  }
  return out;
}

}  // namespace

ParameterSetting ParameterSetting::parse(std::string_view text) {
  const auto equals = text.find('=');
  if (equals == std::string_view::npos) {
    fail(ErrorKind::usage, "parameter '{}' is not NAME=VALUE or MODULE.NAME=VALUE", text);
  }
  const std::string_view key = text.substr(0, equals);
  ParameterSetting setting;
  setting.value = std::string(text.substr(equals + 1));
  const auto dot = key.find('.');
  if (dot != std::string_view::npos) {
    setting.module = kmod::normalize_module_name(key.substr(0, dot));
    setting.name = std::string(key.substr(dot + 1));
    if (!is_name(setting.module))
      fail(ErrorKind::usage, "parameter '{}': '{}' is not a module name", text, key.substr(0, dot));
  } else {
    setting.name = std::string(key);
  }
  if (!is_name(setting.name))
    fail(ErrorKind::usage, "parameter '{}': '{}' is not a parameter name", text, setting.name);
  setting.name = normalize_parameter(setting.name);
  if (!is_value(setting.value)) {
    fail(ErrorKind::usage, "parameter '{}': a value cannot hold '\"' or control characters", text);
  }
  return setting;
}

std::string ParameterSetting::str() const {
  return module.empty() ? fmt::format("{}={}", name, value) : fmt::format("{}.{}={}", module, name, value);
}

std::map<std::string, ParameterValues> resolve_parameters(
    const std::vector<ParameterSetting>& settings, const std::map<std::string, std::vector<std::string>>& declared,
    const std::map<std::string, ParameterValues>& defaults) {
  const auto declares = [&](const std::string& module, const std::string& name) {
    const auto it = declared.find(module);
    if (it == declared.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(),
                       [&](const std::string& d) { return normalize_parameter(d) == name; });
  };

  std::map<std::string, ParameterValues> out;
  for (const auto& [module, values] : defaults) {
    const std::string m = kmod::normalize_module_name(module);
    for (const auto& [name, value] : values) {
      if (!declares(m, normalize_parameter(name))) {
        fail(ErrorKind::integrity, "the artifact's default parameter {}.{} is not a parameter of module {}", module,
             name, module);
      }
      out[m][normalize_parameter(name)] = value;
    }
  }
  for (const auto& setting : settings) {
    std::string module = setting.module;
    if (module.empty()) {
      std::vector<std::string> owners;
      for (const auto& [m, names] : declared) {
        if (declares(m, setting.name)) owners.push_back(m);
      }
      if (owners.size() > 1) {
        fail(ErrorKind::usage, "parameter '{}' is declared by {}: write MODULE.{}={}", setting.str(),
             fmt::join(owners, " and "), setting.name, setting.value);
      }
      if (owners.empty()) {
        fail(ErrorKind::usage, "no module of the artifact has a parameter '{}' (it has: {})", setting.name,
             declared.empty() ? std::string("none") : fmt::format("{}", fmt::join(all_declared(declared), ", ")));
      }
      module = owners.front();
    } else if (!declared.contains(module)) {
      fail(ErrorKind::usage, "parameter '{}': the artifact has no module {}", setting.str(), module);
    } else if (!declares(module, setting.name)) {
      fail(ErrorKind::usage, "module {} has no parameter '{}' (it has: {})", module, setting.name,
           declared.at(module).empty() ? std::string("none") : fmt::format("{}", fmt::join(declared.at(module), ", ")));
    }
    out[module][setting.name] = setting.value;
  }
  return out;
}

std::string kernel_parameters(const ParameterValues& values) {
  std::string out;
  for (const auto& [name, value] : values) {
    if (!out.empty()) out += ' ';
    const bool quote = value.find(' ') != std::string::npos;
    out += quote ? fmt::format("{}=\"{}\"", name, value) : fmt::format("{}={}", name, value);
  }
  return out;
}

}  // namespace ckms::artifact
