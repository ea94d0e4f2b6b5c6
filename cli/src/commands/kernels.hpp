#pragma once
// `ckms kernels`: the kernels a distribution's archive offers, and which of them a
// repository has no artifact (or no build image) for yet (builder/archive_status.hpp).

#include "app.hpp"

namespace ckms::cli {

void register_kernels_commands(App& app);

}  // namespace ckms::cli
