// The CPU kernels in portable C++, for any CPU (the compiler vectorises what it can for the
// baseline target); the fallback when the CPU has neither AVX-512 nor AVX2.
#include "ops/cpu/kernels.h"

#include <cstdint>
#if defined(__AVX512F__) || defined(__AVX2__)  // only when the whole build targets such a CPU
#include <immintrin.h>
#endif

namespace jamba::ops::cpu {
namespace generic {
#define JAMBA_CPU_ISA_NAME "generic"
#include "ops/cpu/simd.h"
#include "ops/cpu/kernels_impl.h"
}  // namespace generic

const Kernels* generic_kernels() { return &generic::kTable; }

}  // namespace jamba::ops::cpu
