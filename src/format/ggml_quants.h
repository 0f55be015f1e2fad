// ggml's tensor types as GGUF files store them: the type ids, block sizes and byte sizes of
// ggml-common.h, a reference dequantizer per supported block format, and the reference Q8_0 /
// Q4_0 quantizers (ggml's rounding rules, so files we write hold the bytes llama.cpp's
// converter and llama-quantize would write for the same floats).
//
// Layouts (QK = elements per block; `half` is IEEE fp16, little-endian):
//   Q4_0 (QK 32, 18 B): half d; u8 qs[16]            x = (nibble - 8) * d
//   Q4_1 (QK 32, 20 B): half d, m; u8 qs[16]         x = nibble * d + m
//   Q5_0 (QK 32, 22 B): half d; u8 qh[4]; u8 qs[16]  x = (nibble | bit5 << 4) - 16) * d
//   Q5_1 (QK 32, 24 B): half d, m; u8 qh[4]; u8 qs[16]
//   Q8_0 (QK 32, 34 B): half d; i8 qs[32]            x = q * d
//   Q4_K (QK 256, 144 B): half d, dmin; u8 scales[12] (8 6-bit scale/min pairs); u8 qs[128]
//   Q5_K (QK 256, 176 B): half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
//   Q6_K (QK 256, 210 B): u8 ql[128]; u8 qh[64]; i8 scales[16]; half d
// In the 32-blocks, byte j's low nibble is element j and its high nibble element j + 16.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace jamba {

// ggml_type ids as stored in GGUF tensor infos (ggml.h). Gaps are ids ggml has retired.
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct GgmlTypeInfo {
  const char* name;      // ggml's spelling: "Q4_K"
  int64_t block_size;    // elements per block (1 for plain types); 0 when the size is not known here
  int64_t block_bytes;   // bytes per block
  bool dequantizable;    // dequantize_row() handles it
};

// nullopt for ids ggml never had (or retired). A known type with block_size 0 is one whose name
// we can report but whose layout this engine does not implement (IQ*, TQ*, ...).
std::optional<GgmlTypeInfo> ggml_type_info(uint32_t type);
std::string ggml_type_name(uint32_t type);  // "Q4_K", or "type 31" for unknown ids

// Byte size of `count` elements (count must be a multiple of the block size; checked by callers).
inline int64_t ggml_row_bytes(const GgmlTypeInfo& info, int64_t count) {
  return count / info.block_size * info.block_bytes;
}

// Converts `count` elements (a multiple of the block size) starting at `blocks` to fp32.
// Throws Error for types that are not dequantizable.
void dequantize_row(GgmlType type, const void* blocks, int64_t count, float* out);

// ggml's reference quantizers (quantize_row_q8_0_ref / quantize_row_q4_0_ref): count must be a
// multiple of 32; `out` receives count / 32 blocks.
void quantize_row_q8_0(const float* x, int64_t count, void* out);
void quantize_row_q4_0(const float* x, int64_t count, void* out);

// Plain K-quant writers (count a multiple of 256): per-sub-block min/max scales rounded to the
// 6-bit (Q4_K) / 8-bit (Q6_K) grids, no search. Valid blocks that llama.cpp reads, but less
// accurate than llama-quantize's optimised K-quants: for round trips and interoperability tests.
void quantize_row_q4_k_plain(const float* x, int64_t count, void* out);
void quantize_row_q6_k_plain(const float* x, int64_t count, void* out);

}  // namespace jamba
