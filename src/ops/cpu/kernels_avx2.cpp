// The CPU kernels for AVX2 + FMA + F16C (compiled with -mavx2 -mfma -mf16c).
// CMakeLists.txt sets this file's flags on x86-64; cpu_ops.cpp calls it only on a CPU that has
// them. Elsewhere it compiles to nothing.
#include "ops/cpu/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)

#include <cstdint>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace jamba::ops::cpu {
namespace avx2 {
#define JAMBA_CPU_ISA_NAME "avx2"
#include "ops/cpu/simd.h"
#include "ops/cpu/kernels_impl.h"
}  // namespace avx2

const Kernels* avx2_kernels() { return &avx2::kTable; }

}  // namespace jamba::ops::cpu

#else

const jamba::ops::cpu::Kernels* jamba::ops::cpu::avx2_kernels() { return nullptr; }

#endif
