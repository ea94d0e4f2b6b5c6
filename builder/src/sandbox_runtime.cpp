// Finding the OCI runtime. runc first: crun 1.x fails to set up cgroups on hybrid
// (v1 + v2) hosts where runc works, so crun is only used when asked for.

#include "ckms/base/error.hpp"
#include "ckms/base/process.hpp"
#include "ckms/builder/sandbox_run.hpp"

namespace ckms::builder {

std::filesystem::path detect_runtime(const std::optional<std::string>& override_runtime) {
  const std::string wanted = override_runtime.value_or("runc");
  if (auto found = find_program(wanted)) return *found;
  fail(ErrorKind::not_found, "OCI runtime {} not found in PATH (install runc, or pass a path)", wanted);
}

}  // namespace ckms::builder
