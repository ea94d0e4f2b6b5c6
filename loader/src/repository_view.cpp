#include "repository_view.hpp"

#include "ckms/base/error.hpp"

namespace ckms::loader::detail {

RepositoryView::RepositoryView(oci::Layout& layout, std::string repository)
    : layout_(layout), repository_(std::move(repository)), prefix_(repository_ + ":") {}

std::string RepositoryView::describe() const { return fmt::format("cache {} ({})", layout_.describe(), repository_); }

oci::Descriptor RepositoryView::resolve(std::string_view tag_or_digest) {
  if (ckms::Digest::try_parse(tag_or_digest)) return layout_.resolve(tag_or_digest);
  try {
    return layout_.resolve(prefix_ + std::string(tag_or_digest));
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    fail(ErrorKind::not_found, "{}: no tag '{}'", describe(), tag_or_digest);
  }
}

bool RepositoryView::exists(const oci::Descriptor& descriptor) { return layout_.exists(descriptor); }

std::unique_ptr<ckms::Reader> RepositoryView::fetch(const oci::Descriptor& descriptor) {
  return layout_.fetch(descriptor);
}

// The view is for reading: the cache is written only through Staging::commit.
oci::Stored RepositoryView::push(const oci::Descriptor& descriptor, ckms::Reader&, const ckms::ProgressFn&) {
  fail(ErrorKind::internal, "{}: read-only view, cannot store {}", describe(), descriptor.digest.str());
}

void RepositoryView::tag(const oci::Descriptor&, std::string_view tag) {
  fail(ErrorKind::internal, "{}: read-only view, cannot tag '{}'", describe(), tag);
}

std::vector<std::string> RepositoryView::tags() {
  std::vector<std::string> out;
  for (const auto& name : layout_.tags()) {
    if (name.starts_with(prefix_)) out.push_back(name.substr(prefix_.size()));
  }
  return out;
}

std::vector<oci::Descriptor> RepositoryView::referrers(const oci::Descriptor& subject,
                                                       std::optional<std::string_view> artifact_type) {
  return layout_.referrers(subject, artifact_type);
}

}  // namespace ckms::loader::detail
