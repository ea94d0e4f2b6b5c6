#pragma once
// All-or-nothing insertion: whatever this load inserted is removed again, newest first,
// unless the load reaches keep().

#include <string>
#include <vector>

#include "ckms/loader/kernel.hpp"

namespace ckms::loader::detail {

class Insertion {
 public:
  explicit Insertion(Kernel& kernel) : kernel_(kernel) {}
  ~Insertion();
  Insertion(const Insertion&) = delete;
  Insertion& operator=(const Insertion&) = delete;

  // On failure, rolls back and throws the kernel's error with what the rollback did.
  void insert(const ModuleImage& image, const std::string& parameters);
  void keep() { inserted_.clear(); }
  // Removes what was inserted, newest first; says what it removed and what it could not.
  std::string rollback() noexcept;

  const std::vector<std::string>& inserted() const { return inserted_; }

 private:
  Kernel& kernel_;
  std::vector<std::string> inserted_;
};

// An in-tree module file as the kernel takes it: the file itself when uncompressed, its
// decompressed bytes otherwise.
ModuleImage in_tree_image(const std::string& name, const std::filesystem::path& path);

}  // namespace ckms::loader::detail
