// Where `jamba` finds a model when no -m is given: the demo model that ships in the repository
// (models/jamba-demo), so a fresh checkout generates text with no download.
#pragma once
#include <string>

namespace jamba::cli {

// $JAMBA_MODEL if set; else models/jamba-demo next to the build (build/bin/jamba -> ../../models)
// or an install (bin/jamba -> ../share/jamba/models); else the source tree this binary was built
// from. Throws Error naming every place it looked when none holds a config.json.
std::string default_model_dir();

}  // namespace jamba::cli
