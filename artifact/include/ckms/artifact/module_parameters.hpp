#pragma once
// Module parameters: `--param [MODULE.]NAME=VALUE` on the command line (or `parameters:` in
// a boot config), over the defaults the artifact carries, checked against the parameters
// each module declares (modinfo `parmtype=`) before anything is inserted, because the
// kernel only warns about a parameter it does not know and loads the module anyway.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ckms::artifact {

struct ParameterSetting {
  std::string module;  // normalised; empty: the one module of the artifact that declares `name`
  std::string name;
  std::string value;

  // "[MODULE.]NAME=VALUE"; usage error naming the text when malformed. Values cannot hold
  // '"' or control characters: the kernel's parameter parser has no escapes.
  static ParameterSetting parse(std::string_view text);
  std::string str() const;
};

using ParameterValues = std::map<std::string, std::string>;  // name -> value

// Per module (normalised name): the artifact's defaults, overridden by `settings`. Every
// name must be declared by its module (`declared`: module -> parameter names); a setting
// without a module must match exactly one module. Usage errors say which names exist.
std::map<std::string, ParameterValues> resolve_parameters(
    const std::vector<ParameterSetting>& settings, const std::map<std::string, std::vector<std::string>>& declared,
    const std::map<std::string, ParameterValues>& defaults);

// The string init_module takes: "greeting=hi repeat=3", a value with spaces in quotes.
std::string kernel_parameters(const ParameterValues& values);

}  // namespace ckms::artifact
