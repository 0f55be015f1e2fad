#include "base/error.h"
#include "ops/ops.h"

namespace jamba::ops {

std::vector<const Backend*> all_backends() { return {&reference_backend()}; }

const Backend& backend_by_name(const std::string& name) {
  std::string known;
  for (const Backend* b : all_backends()) {
    if (name == b->name) return *b;
    known += known.empty() ? b->name : std::string(", ") + b->name;
  }
  fail("unknown backend '", name, "' (known: ", known, ")");
}

}  // namespace jamba::ops
