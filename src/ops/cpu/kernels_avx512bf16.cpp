// The bf16-dot-product matmul (compiled with the AVX-512 flags plus -mavx512bf16); only the
// "cpu-bf16" backend calls it, on a CPU that has AVX512-BF16. Elsewhere it compiles to nothing.
#include "ops/cpu/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>

namespace jamba::ops::cpu {
namespace avx512bf16 {
#define JAMBA_CPU_NO_TABLE
#include "ops/cpu/simd.h"
#include "ops/cpu/kernels_impl.h"
#include "ops/cpu/kernels_bf16_impl.h"
}  // namespace avx512bf16

const Bf16DotKernels* avx512bf16_kernels() {
  static const Bf16DotKernels table = {avx512bf16::round_rows_bf16, avx512bf16::matmul_bf16_dot};
  return &table;
}

}  // namespace jamba::ops::cpu

#else

const jamba::ops::cpu::Bf16DotKernels* jamba::ops::cpu::avx512bf16_kernels() { return nullptr; }

#endif
