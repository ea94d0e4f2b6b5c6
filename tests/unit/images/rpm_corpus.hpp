#pragma once
// The packages the RPM tests read, built with rpmbuild once per test process: the same
// kernel-devel look-alike with each payload compressor distributions use, one with an Epoch,
// one for another architecture.

#include <filesystem>
#include <vector>

#include "rpm_maker.hpp"

namespace ckms::testing {

struct RpmBuild {
  KernelRpmSpec spec;
  BuiltRpms rpms;
};

struct RpmCorpus {
  RpmBuild zstd;   // x86_64, Fedora's compressor
  RpmBuild xz;     // x86_64, RHEL's
  RpmBuild gzip;   // x86_64, with Epoch 3
  RpmBuild bzip2;  // aarch64

  std::vector<const RpmBuild*> builds() const { return {&zstd, &xz, &gzip, &bzip2}; }
};

const RpmCorpus& rpm_corpus();

}  // namespace ckms::testing
