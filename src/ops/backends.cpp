#include "base/error.h"
#include "ops/cpu/cpu_backend.h"
#include "ops/ops.h"

namespace jamba::ops {

// ref, cpu (the best instruction set here), then cpu-<isa> for each lower one this CPU has and
// cpu-bf16 where it runs, so the generic op test covers every kernel build the machine can run.
std::vector<const Backend*> all_backends() {
  std::vector<const Backend*> backends = {&reference_backend(), &cpu_backend()};
  for (CpuIsa isa : kAllCpuIsas)
    if (isa < best_cpu_isa() && cpu_isa_supported(isa)) backends.push_back(&cpu_backend(isa));
  if (const Backend* bf16 = cpu_bf16_backend()) backends.push_back(bf16);
  return backends;
}

const Backend& backend_by_name(const std::string& name) {
  std::vector<const Backend*> known_backends = all_backends();
  known_backends.push_back(&cpu_backend(best_cpu_isa()));  // its explicit name too
  std::string known;
  for (const Backend* b : known_backends) {
    if (name == b->name) return *b;
    known += known.empty() ? b->name : std::string(", ") + b->name;
  }
  fail("unknown backend '", name, "' (known: ", known, ")");
}

}  // namespace jamba::ops
