// The fast CPU backend: SIMD kernels compiled for several instruction sets, one picked at run
// time, and OpenMP threads. "cpu" is the best set this CPU has; "cpu-avx2", "cpu-generic" force
// a lower one (for tests and comparisons). JAMBA_CPU_ISA=generic|avx2|avx512 in the environment
// caps what "cpu" picks.
#pragma once
#include "ops/ops.h"

namespace jamba::ops {

enum class CpuIsa { Generic = 0, Avx2 = 1, Avx512 = 2 };
constexpr CpuIsa kAllCpuIsas[] = {CpuIsa::Generic, CpuIsa::Avx2, CpuIsa::Avx512};

const char* cpu_isa_name(CpuIsa isa);  // "generic", "avx2", "avx512"
// Compiled into this binary and usable on this CPU and OS (AVX-512: F, BW, VL, DQ; AVX2: with
// FMA and F16C).
bool cpu_isa_supported(CpuIsa isa);
CpuIsa best_cpu_isa();  // the highest supported, capped by JAMBA_CPU_ISA

const Backend& cpu_backend();             // "cpu": best_cpu_isa()
const Backend& cpu_backend(CpuIsa isa);   // "cpu-<isa>"; throws Error when not supported

// "cpu-bf16": the AVX-512 kernels, but bf16 weights are multiplied with bf16 dot products
// (AVX512-BF16), the activations rounded to bf16 first (8 significant bits: relative error
// <= 2^-8 each): up to twice the prefill matmul rate, for an output error of about
// 2^-8 / sqrt(3) ~ 2.3e-3 of ||x * w|| (at most 2^-8 * sum |x w|) instead of fp32 rounding —
// DESIGN.md's "bf16 compute" tier, not the 1e-4 fp32 parity target. Not a default; nullptr
// where the CPU (or build) has no AVX512-BF16.
const Backend* cpu_bf16_backend();

}  // namespace jamba::ops
