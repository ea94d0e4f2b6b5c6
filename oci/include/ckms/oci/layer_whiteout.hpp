#pragma once
// OCI whiteouts (image-spec layer.md#whiteouts): `.wh.NAME` hides NAME of the lower layers,
// `.wh..wh..opq` hides everything the lower layers put in its directory. They apply only to
// lower content: what this same layer adds is kept whatever order the entries come in.

#include <string>
#include <string_view>
#include <unordered_set>

#include "ckms/oci/layer_path.hpp"

namespace ckms::oci {

enum class WhiteoutKind {
  none,         // an ordinary entry
  remove,       // `.wh.NAME`
  opaque,       // `.wh..wh..opq`
  unsupported,  // other `.wh..wh.` names (aufs internals such as hard link directories)
};

struct Whiteout {
  WhiteoutKind kind = WhiteoutKind::none;
  std::string target;  // for `remove`: the name it hides, in the same directory
};

// Classifies an entry's last component; a whiteout of "", "." or ".." is refused, naming `what`.
Whiteout classify_whiteout(std::string_view base, std::string_view what);

// The normalised paths this layer has written so far.
class LayerAdditions {
 public:
  void add(std::string_view relative) { paths_.emplace(relative); }
  bool contains(std::string_view relative) const { return paths_.contains(std::string(relative)); }

 private:
  std::unordered_set<std::string> paths_;
};

// Removes `parent/name` unless this layer added it.
void apply_whiteout(int parent_fd, std::string_view parent, const std::string& name, const LayerAdditions& additions,
                    std::string_view what);

// Empties `directory` of everything this layer did not add, recursing into directories it
// did add. The directory itself is never followed if it is a symlink.
void apply_opaque(BeneathRoot& root, std::string_view directory, const LayerAdditions& additions,
                  std::string_view what);

}  // namespace ckms::oci
