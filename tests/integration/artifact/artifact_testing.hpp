#pragma once
// Shared by the artifact integration tests: one registry per test executable, module sets
// with made-up bytes (an artifact carries any bytes; the loader tests use real modules).

#include <filesystem>
#include <memory>
#include <string>

#include "ckms/artifact/module_artifact.hpp"
#include "ckms/oci/registry.hpp"
#include "registry_fixture.hpp"

namespace ckms::artifact::test {

// Started on first use and kept for the whole executable.
testkit::RegistryFixture& registry();

// A repository of that registry, named after the test so tests do not see each other's tags.
std::unique_ptr<oci::RegistryRepository> repository(const std::string& name);

// "hello" for one kernel: base.ko, and hello.ko depending on it.
BuiltModuleSet module_set(const std::filesystem::path& dir, const std::string& version, const std::string& release);

// The file of a blob in the registry's storage (docker-registry's filesystem driver).
std::filesystem::path registry_blob_file(const ckms::Digest& digest);

}  // namespace ckms::artifact::test
