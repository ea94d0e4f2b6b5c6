#pragma once
// `ckms image build` and `ckms image resolve`: kernel build images (images/).

#include "app.hpp"

namespace ckms::cli {

void register_image_commands(App& app);

}  // namespace ckms::cli
