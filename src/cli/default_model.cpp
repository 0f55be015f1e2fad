#include "cli/default_model.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "base/error.h"

namespace jamba::cli {

namespace fs = std::filesystem;

std::string default_model_dir() {
  if (const char* env = std::getenv("JAMBA_MODEL"); env != nullptr && *env != '\0') return env;
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / "../../models/jamba-demo");
    candidates.push_back(exe.parent_path() / "../share/jamba/models/jamba-demo");
  }
#ifdef JAMBA_SOURCE_DIR
  candidates.push_back(fs::path(JAMBA_SOURCE_DIR) / "models/jamba-demo");
#endif
  std::string tried;
  for (const fs::path& dir : candidates) {
    if (fs::is_regular_file(dir / "config.json", ec)) return fs::weakly_canonical(dir, ec).string();
    tried += (tried.empty() ? "" : ", ") + dir.lexically_normal().string();
  }
  fail("no model given (-m DIR or $JAMBA_MODEL) and the demo model was not found (looked in ", tried, ")");
}

}  // namespace jamba::cli
