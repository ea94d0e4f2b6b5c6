#pragma once
// The examples/hello module built once per test run against the newest installed cloud
// kernel headers, plus the kernel's own sign-file and keys made by `openssl req`: the
// reference implementations the kmod library is compared with.

#include <filesystem>
#include <string>
#include <vector>

namespace ckms::kmod::test {

struct BuiltModule {
  std::string release;       // e.g. 6.1.0-56-cloud-amd64
  std::filesystem::path ko;  // unsigned ckms_hello.ko; do not modify
};

// Builds on first use; later calls return the same module. Fails the test when no cloud
// headers are installed (scripts/install-deps.sh installs them).
const BuiltModule& hello_module();

// /usr/lib/linux-kbuild-*/scripts/sign-file, the newest.
std::filesystem::path sign_file_program();

struct KeyPair {
  std::filesystem::path key;
  std::filesystem::path cert;
};

// A key and certificate from `openssl req` with the kernel's x509.genkey settings.
KeyPair openssl_req_key(const std::filesystem::path& dir, const std::string& name, int bits);

std::string read_bytes(const std::filesystem::path& file);
void write_bytes(const std::filesystem::path& file, const std::string& bytes);

// Runs a program and fails the test (with its output) unless it exits 0; returns stdout.
std::string run_ok(const std::vector<std::string>& argv);

}  // namespace ckms::kmod::test
