#include "rpm_corpus.hpp"

namespace ckms::testing {

const RpmCorpus& rpm_corpus() {
  static const testkit::TempDir dir("ckms-rpm-corpus");
  static const RpmCorpus corpus = [] {
    auto build = [](const std::string& name, KernelRpmSpec spec) {
      return RpmBuild{spec, build_kernel_rpms(dir / name, spec)};
    };
    return RpmCorpus{build("zstd", {}), build("xz", {.payload = "w2.xzdio"}),
                     build("gzip", {.epoch = 3, .payload = "w9.gzdio"}),
                     build("bzip2", {.payload = "w9.bzdio", .target = "aarch64"})};
  }();
  return corpus;
}

}  // namespace ckms::testing
