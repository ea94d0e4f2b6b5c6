#pragma once
// The image configuration (image-spec config.md), as far as ckms reads and writes it:
// platform, labels, the command environment and the rootfs diff_ids.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ckms/base/digest.hpp"

namespace ckms::oci {

struct ImageConfig {
  std::string architecture = "amd64";
  std::string os = "linux";
  std::optional<std::string> created;
  std::vector<std::string> env;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::vector<Digest> diff_ids;
  std::vector<std::string> history_comments;  // one history entry per layer when non-empty

  static ImageConfig parse(std::string_view bytes, std::string_view where);
  std::string serialize() const;
};

}  // namespace ckms::oci
