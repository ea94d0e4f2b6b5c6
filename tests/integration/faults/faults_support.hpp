#pragma once
// Shared by the fault, crash and concurrency tests: one real registry per executable, the
// content every operation moves, and the checks that a store holds nothing damaged.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/oci/descriptor.hpp"
#include "ckms/oci/registry.hpp"
#include "registry_fixture.hpp"
#include "testkit.hpp"

namespace ckms::faults {

// Started on first use and kept for the whole executable.
testkit::RegistryFixture& registry();
int registry_port();

// Fast retries and a short stall timeout, so faults cost seconds, not minutes.
oci::RegistryOptions fast_options();

// A reference to `repository` through `authority` (a proxy, or the registry itself).
oci::RegistryReference via(const std::string& authority, const std::string& repository);

// Three files (1.5 MiB streamed, 200 KiB and a few bytes buffered), pushed once as an
// artifact into the layout source_layout() tagged v1 and to the registry as faults/src:v1.
struct Material {
  std::filesystem::path files_dir;
  std::vector<std::string> names;
  std::filesystem::path layout;         // oci:<layout>:v1
  std::optional<oci::Descriptor> root;  // always set once made
};
const Material& material();

// A module set of made-up bytes for one kernel release.
artifact::BuiltModuleSet module_set(const std::filesystem::path& dir, const std::string& version,
                                    const std::string& release);

// Every blob in the registry's storage whose bytes do not hash to its name.
std::vector<std::string> registry_problems();

// What `ckms verify` reports for a layout, plus files in it that are not part of the
// layout's format (left-over temp files): empty when the layout is sound.
std::vector<std::string> layout_problems(const std::filesystem::path& layout);

// Files under `dir` whose names say they are unfinished (".name.XXXXXX", "*.tmp").
std::vector<std::string> temp_files(const std::filesystem::path& dir);

// Runs the ckms binary.
testkit::RunResult run_ckms(const std::vector<std::string>& args, int timeout_seconds = 120);

// Number from the environment, or `fallback`.
int env_int(const char* name, int fallback);

}  // namespace ckms::faults
