#pragma once
// Times as ckms writes them: RFC 3339 in UTC with whole seconds ("2026-01-02T03:04:05Z"), the
// form Kubernetes writes and the OCI image spec's `created` takes.

#include <cstdint>
#include <optional>
#include <string>

namespace ckms {

std::string rfc3339(std::int64_t seconds_since_epoch);
std::string rfc3339_now();

// SOURCE_DATE_EPOCH (reproducible-builds.org) when it is set; a usage error unless it is a
// non-negative decimal number of seconds and nothing else.
std::optional<std::int64_t> source_date_epoch_from_environment();

}  // namespace ckms
