// The CPU kernels for AVX-512 F/BW/VL/DQ (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c).
// CMakeLists.txt sets this file's flags on x86-64; cpu_ops.cpp calls it only on a CPU that has
// them. Elsewhere it compiles to nothing.
#include "ops/cpu/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)

#include <cstdint>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace jamba::ops::cpu {
namespace avx512 {
#define JAMBA_CPU_ISA_NAME "avx512"
#include "ops/cpu/simd.h"
#include "ops/cpu/kernels_impl.h"
}  // namespace avx512

const Kernels* avx512_kernels() { return &avx512::kTable; }

}  // namespace jamba::ops::cpu

#else

const jamba::ops::cpu::Kernels* jamba::ops::cpu::avx512_kernels() { return nullptr; }

#endif
