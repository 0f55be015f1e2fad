// GGUF: ggml block formats (every dequantizer against hand-computed blocks, the Q8_0 / Q4_0
// quantizers against ggml's rounding rules), the container (writer -> reader round trip of every
// metadata type) and a catalog of broken files, each of which must throw one jamba::Error line
// naming the file and what is wrong; then the Jamba mapping (config from metadata, layouts that
// no period expresses, bad head_count_kv arrays, missing / misshapen / unknown tensors).
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/half.h"
#include "format/ggml_quants.h"
#include "format/gguf.h"
#include "format/gguf_jamba.h"
#include "format/tokenizer/spm_model_proto.h"
#include "model/gguf_export.h"
#include "model/layer_plan.h"
#include "model/model.h"
#include "support/expect_error.h"
#include "support/test_support.h"

namespace jamba {
namespace {

using test::error_of;
using test::expect_error_contains;
using test::TempDir;

std::string fixture(const std::string& name) { return test::fixtures_dir() + "/" + name; }

void put_half(std::vector<uint8_t>& b, size_t at, float v) {
  const uint16_t h = f32_to_f16(v);
  b[at] = static_cast<uint8_t>(h & 0xff);
  b[at + 1] = static_cast<uint8_t>(h >> 8);
}

std::vector<float> dequant(GgmlType type, const std::vector<uint8_t>& block, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(type, block.data(), n, out.data());
  return out;
}

// ---- block formats ----

TEST(GgmlQuants, Q8_0Block) {
  std::vector<uint8_t> b(34);
  put_half(b, 0, 0.5f);
  for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j * 8 - 128));
  const auto y = dequant(GgmlType::Q8_0, b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * static_cast<float>(j * 8 - 128)) << j;
}

TEST(GgmlQuants, Q4_0Block) {
  std::vector<uint8_t> b(18);
  put_half(b, 0, 0.25f);
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>((j & 0xF) | ((15 - j) << 4));
  const auto y = dequant(GgmlType::Q4_0, b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.25f * static_cast<float>(j - 8));            // low nibble: element j
    EXPECT_EQ(y[j + 16], 0.25f * static_cast<float>(15 - j - 8));  // high nibble: element j + 16
  }
}

TEST(GgmlQuants, Q4_1Block) {
  std::vector<uint8_t> b(20);
  put_half(b, 0, 2.0f);
  put_half(b, 2, -3.0f);
  for (int j = 0; j < 16; ++j) b[4 + j] = static_cast<uint8_t>(j | (j << 4));
  const auto y = dequant(GgmlType::Q4_1, b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 2.0f * j - 3.0f);
    EXPECT_EQ(y[j + 16], 2.0f * j - 3.0f);
  }
}

TEST(GgmlQuants, Q5_0AndQ5_1Blocks) {
  // qh bit k is the fifth bit of element k: set it for elements 3 and 20.
  const uint32_t qh = (1u << 3) | (1u << 20);
  std::vector<uint8_t> b0(22);
  put_half(b0, 0, 1.0f);
  std::memcpy(&b0[2], &qh, 4);
  for (int j = 0; j < 16; ++j) b0[6 + j] = static_cast<uint8_t>(7 | (9 << 4));
  const auto y0 = dequant(GgmlType::Q5_0, b0, 32);
  for (int k = 0; k < 32; ++k) {
    const int nibble = k < 16 ? 7 : 9;
    const int high = (k == 3 || k == 20) ? 16 : 0;
    EXPECT_EQ(y0[k], static_cast<float>(nibble + high - 16)) << k;
  }
  std::vector<uint8_t> b1(24);
  put_half(b1, 0, 0.5f);
  put_half(b1, 2, 1.0f);
  std::memcpy(&b1[4], &qh, 4);
  for (int j = 0; j < 16; ++j) b1[8 + j] = static_cast<uint8_t>(7 | (9 << 4));
  const auto y1 = dequant(GgmlType::Q5_1, b1, 32);
  for (int k = 0; k < 32; ++k) {
    const int q = (k < 16 ? 7 : 9) + ((k == 3 || k == 20) ? 16 : 0);
    EXPECT_EQ(y1[k], 0.5f * q + 1.0f) << k;
  }
}

// The 12 scale bytes of a K-quant block from 8 (scale, min) pairs of 6 bits: pairs 0..3 in the
// low 6 bits of bytes 0..3 / 4..7, pairs 4..7 split into the nibbles of bytes 8..11 and the
// top 2 bits of bytes 0..7.
std::vector<uint8_t> pack_k_scales(const int sc[8], const int mn[8]) {
  std::vector<uint8_t> q(12, 0);
  for (int j = 0; j < 4; ++j) {
    q[j] = static_cast<uint8_t>(sc[j] & 63);
    q[j + 4] = static_cast<uint8_t>(mn[j] & 63);
  }
  for (int j = 4; j < 8; ++j) {
    q[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
    q[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
    q[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
  }
  return q;
}

TEST(GgmlQuants, Q4_KBlock) {
  const int sc[8] = {1, 2, 3, 63, 17, 33, 48, 5}, mn[8] = {0, 4, 62, 7, 50, 1, 18, 36};
  std::vector<uint8_t> b(144);
  put_half(b, 0, 0.5f);
  put_half(b, 2, 0.25f);
  const auto scales = pack_k_scales(sc, mn);
  std::copy(scales.begin(), scales.end(), b.begin() + 4);
  // qs: 4 chunks of 32 bytes; chunk c's low nibbles are sub-block 2c, high nibbles 2c+1.
  for (int i = 0; i < 128; ++i) b[16 + i] = static_cast<uint8_t>((i % 16) | (((i / 3) % 16) << 4));
  const auto y = dequant(GgmlType::Q4_K, b, 256);
  for (int s = 0; s < 8; ++s)
    for (int l = 0; l < 32; ++l) {
      const int byte = (s / 2) * 32 + l;
      const int q = s % 2 == 0 ? byte % 16 : (byte / 3) % 16;
      EXPECT_EQ(y[s * 32 + l], 0.5f * sc[s] * q - 0.25f * mn[s]) << s << " " << l;
    }
}

TEST(GgmlQuants, Q5_KBlock) {
  const int sc[8] = {9, 2, 3, 4, 40, 6, 7, 63}, mn[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<uint8_t> b(176);
  put_half(b, 0, 1.0f);
  put_half(b, 2, 0.5f);
  const auto scales = pack_k_scales(sc, mn);
  std::copy(scales.begin(), scales.end(), b.begin() + 4);
  for (int l = 0; l < 32; ++l) b[16 + l] = static_cast<uint8_t>(l * 37);      // qh: bit s of byte l = fifth bit
  for (int i = 0; i < 128; ++i) b[48 + i] = static_cast<uint8_t>(i * 11);      // qs
  const auto y = dequant(GgmlType::Q5_K, b, 256);
  for (int s = 0; s < 8; ++s)
    for (int l = 0; l < 32; ++l) {
      const uint8_t qs = static_cast<uint8_t>(((s / 2) * 32 + l) * 11);
      const int low = s % 2 == 0 ? qs & 0xF : qs >> 4;
      const int high = (static_cast<uint8_t>(l * 37) >> s) & 1;
      EXPECT_EQ(y[s * 32 + l], 1.0f * sc[s] * (low + 16 * high) - 0.5f * mn[s]) << s << " " << l;
    }
}

TEST(GgmlQuants, Q6_KBlock) {
  std::vector<uint8_t> b(210);
  for (int i = 0; i < 128; ++i) b[i] = static_cast<uint8_t>(i * 7);         // ql
  for (int i = 0; i < 64; ++i) b[128 + i] = static_cast<uint8_t>(i * 13);   // qh
  for (int i = 0; i < 16; ++i) b[192 + i] = static_cast<uint8_t>(static_cast<int8_t>(i * 3 - 20));
  put_half(b, 208, 0.125f);
  const auto y = dequant(GgmlType::Q6_K, b, 256);
  // Element e: half h = e / 128, r = e % 128, quarter k = r / 32, l = r % 32. Its low 4 bits are
  // ql[64h + l + 32 (k odd)] (low nibble for k < 2, high for k >= 2); its high 2 bits are bits
  // 2k..2k+1 of qh[32h + l]; its scale is scales[8h + l / 16 + 2k].
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
    const uint8_t ql = static_cast<uint8_t>((64 * h + l + (k % 2) * 32) * 7);
    const int low = k < 2 ? ql & 0xF : ql >> 4;
    const int high = (static_cast<uint8_t>((32 * h + l) * 13) >> (2 * k)) & 3;
    const int scale = static_cast<int8_t>(static_cast<uint8_t>((8 * h + l / 16 + 2 * k) * 3 - 20));
    EXPECT_EQ(y[e], 0.125f * scale * ((low | (high << 4)) - 32)) << e;
  }
}

TEST(GgmlQuants, HalfAndBf16Rows) {
  const uint16_t half[3] = {f32_to_f16(1.5f), f32_to_f16(-2.0f), f32_to_f16(0.0f)};
  const uint16_t bf[3] = {f32_to_bf16(3.0f), f32_to_bf16(-0.5f), f32_to_bf16(1e-3f)};
  float y[3];
  dequantize_row(GgmlType::F16, half, 3, y);
  EXPECT_EQ(y[0], 1.5f);
  EXPECT_EQ(y[1], -2.0f);
  dequantize_row(GgmlType::BF16, bf, 3, y);
  EXPECT_EQ(y[0], 3.0f);
  EXPECT_EQ(y[2], bf16_to_f32(f32_to_bf16(1e-3f)));
  const std::string e = error_of([] {
    float out[256];
    uint8_t blocks[84] = {};
    dequantize_row(GgmlType::Q2_K, blocks, 256, out);
  });
  expect_error_contains(e, {"Q2_K"});
}

TEST(GgmlQuants, Q8_0QuantizerRoundsAsGgml) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16) * 0.1f;
  std::vector<uint8_t> b(34);
  quantize_row_q8_0(x.data(), 32, b.data());
  const float amax = 1.6f;  // |x[0]|
  const float d = amax / 127.0f;
  EXPECT_EQ(static_cast<uint16_t>(b[0] | (b[1] << 8)), f32_to_f16(d));
  for (int j = 0; j < 32; ++j) EXPECT_EQ(static_cast<int8_t>(b[2 + j]), static_cast<int8_t>(std::roundf(x[j] / d))) << j;
  EXPECT_EQ(static_cast<int8_t>(b[2]), -127);
  // Half-way cases round away from zero (roundf), not to even: 2.5 units -> 3.
  std::vector<float> h(32, 0.0f);
  h[0] = 127.0f;
  h[1] = 2.5f;
  h[2] = -2.5f;
  quantize_row_q8_0(h.data(), 32, b.data());
  EXPECT_EQ(static_cast<int8_t>(b[3]), 3);
  EXPECT_EQ(static_cast<int8_t>(b[4]), -3);
  // All zeros: d = 0 and every q = 0.
  std::vector<float> zeros(32, 0.0f);
  quantize_row_q8_0(zeros.data(), 32, b.data());
  for (uint8_t v : b) EXPECT_EQ(v, 0);
}

TEST(GgmlQuants, Q4_0QuantizerUsesTheSignedMaximum) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);  // largest magnitude: -16 at j = 0
  std::vector<uint8_t> b(18);
  quantize_row_q4_0(x.data(), 32, b.data());
  const float d = -16.0f / -8.0f;  // 2: the extreme maps to -8
  EXPECT_EQ(static_cast<uint16_t>(b[0] | (b[1] << 8)), f32_to_f16(d));
  for (int j = 0; j < 16; ++j) {
    // q = min(15, trunc(x / d + 8.5))
    const int q0 = std::min(15, static_cast<int>(x[j] / d + 8.5f));
    const int q1 = std::min(15, static_cast<int>(x[j + 16] / d + 8.5f));
    EXPECT_EQ(b[2 + j], q0 | (q1 << 4)) << j;
  }
  // Round trip within half a step.
  std::vector<float> y(32);
  dequantize_row(GgmlType::Q4_0, b.data(), 32, y.data());
  for (int j = 0; j < 32; ++j) EXPECT_LE(std::fabs(y[j] - x[j]), d) << j;  // 15 (not 16) for the top, hence <= d
}

TEST(GgmlQuants, RandomRoundTripErrorBounds) {
  const std::vector<float> x = test::random_floats(32 * 64, 5);
  std::vector<uint8_t> q8(64 * 34), q4(64 * 18);
  quantize_row_q8_0(x.data(), 32 * 64, q8.data());
  quantize_row_q4_0(x.data(), 32 * 64, q4.data());
  std::vector<float> y8(x.size()), y4(x.size());
  dequantize_row(GgmlType::Q8_0, q8.data(), 32 * 64, y8.data());
  dequantize_row(GgmlType::Q4_0, q4.data(), 32 * 64, y4.data());
  for (int blk = 0; blk < 64; ++blk) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[blk * 32 + j]));
    for (int j = 0; j < 32; ++j) {
      const size_t i = static_cast<size_t>(blk * 32 + j);
      EXPECT_LE(std::fabs(y8[i] - x[i]), amax / 127 * 0.51f + 1e-3f * amax);
      EXPECT_LE(std::fabs(y4[i] - x[i]), amax / 8 * 1.01f + 1e-3f * amax);
    }
  }
}

TEST(GgmlQuants, PlainKQuantizersRoundTrip) {
  const std::vector<float> x = test::random_floats(256 * 8, 11);
  std::vector<uint8_t> q4(8 * 144), q6(8 * 210);
  quantize_row_q4_k_plain(x.data(), 256 * 8, q4.data());
  quantize_row_q6_k_plain(x.data(), 256 * 8, q6.data());
  std::vector<float> y4(x.size()), y6(x.size());
  dequantize_row(GgmlType::Q4_K, q4.data(), 256 * 8, y4.data());
  dequantize_row(GgmlType::Q6_K, q6.data(), 256 * 8, y6.data());
  for (int blk = 0; blk < 8; ++blk) {
    float amax = 0;
    for (int j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(x[static_cast<size_t>(blk * 256 + j)]));
    for (int j = 0; j < 256; ++j) {
      const size_t i = static_cast<size_t>(blk * 256 + j);
      // 4 bits over a sub-block's range (<= 2 amax), plus the 6-bit rounding of scale and min.
      EXPECT_LE(std::fabs(y4[i] - x[i]), 2 * amax / 15 * 0.5f + 2 * amax / 63 + 1e-3f * amax) << i;
      EXPECT_LE(std::fabs(y6[i] - x[i]), amax / 31 * 0.5f + amax / 127 + 1e-3f * amax) << i;
    }
  }
  // Zeros stay zeros.
  std::vector<float> zeros(256, 0.0f), out(256, 1.0f);
  quantize_row_q4_k_plain(zeros.data(), 256, q4.data());
  dequantize_row(GgmlType::Q4_K, q4.data(), 256, out.data());
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

// ---- container ----

std::vector<std::byte> bytes_of(const std::string& path) {
  const std::string s = test::read_file(path);
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

TEST(Gguf, WriterReaderRoundTripOfEveryType) {
  TempDir dir;
  GgufWriter w;
  w.add("general.alignment", gguf_u32(64));
  w.add("a.u32", gguf_u32(4000000000u));
  w.add("a.i32", gguf_i32(-7));
  w.add("a.u64", gguf_u64(1ull << 40));
  w.add("a.f32", gguf_f32(0.25f));
  w.add("a.bool", gguf_bool(true));
  w.add("a.str", gguf_string("h\xc3\xa9llo"));
  w.add("a.strs", gguf_string_array({"x", "", "yz"}));
  w.add("a.i32s", gguf_i32_array({0, -1, 4}));
  w.add("a.f32s", gguf_f32_array({1.5f, -2.0f}));
  std::vector<float> values = test::random_floats(64 * 3, 9);
  std::vector<std::byte> f32(values.size() * 4);
  std::memcpy(f32.data(), values.data(), f32.size());
  w.add_tensor({"t.f32", {64, 3}, GgmlType::F32, f32, {}});
  std::vector<std::byte> q8(3 * 2 * 34);
  quantize_row_q8_0(values.data(), 64 * 3, q8.data());
  w.add_tensor({"t.q8", {64, 3}, GgmlType::Q8_0, q8, {}});
  w.add_tensor({"t.one", {5}, GgmlType::F16, {}, [] { return std::vector<std::byte>(10, std::byte{1}); }});
  w.write(dir.file("x.gguf"));

  const GgufFile file(dir.file("x.gguf"));
  const GgufHeader& h = file.header();
  EXPECT_EQ(h.version, 3u);
  EXPECT_EQ(h.alignment, 64u);
  EXPECT_EQ(h.data_start % 64, 0u);
  const GgufMetadata m = file.metadata();
  EXPECT_EQ(m.integer("a.u32", 0, INT64_MAX), 4000000000);
  EXPECT_EQ(m.integer("a.i32", -10, 10), -7);
  EXPECT_EQ(m.integer("a.u64", 0, INT64_MAX), 1ll << 40);
  EXPECT_EQ(m.number("a.f32"), 0.25);
  EXPECT_EQ(m.optional_bool("a.bool"), true);
  EXPECT_EQ(m.string("a.str"), "h\xc3\xa9llo");
  EXPECT_EQ(m.string_array("a.strs"), (std::vector<std::string>{"x", "", "yz"}));
  EXPECT_EQ(m.integer_array("a.i32s", -5, 5), (std::vector<int64_t>{0, -1, 4}));
  EXPECT_EQ(m.float_array("a.f32s"), (std::vector<float>{1.5f, -2.0f}));
  ASSERT_EQ(h.tensors.size(), 3u);
  const GgufTensorInfo* t = h.tensor("t.f32");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->torch_shape(), (std::vector<int64_t>{3, 64}));
  EXPECT_EQ(std::memcmp(file.data(*t), values.data(), values.size() * 4), 0);
  EXPECT_EQ(h.tensor("t.q8")->bytes, q8.size());
  EXPECT_EQ(std::memcmp(file.data(*h.tensor("t.q8")), q8.data(), q8.size()), 0);
  for (const GgufTensorInfo& info : h.tensors) EXPECT_EQ(info.offset % 64, 0u) << info.name;

  // Typed access errors name the key.
  expect_error_contains(error_of([&] { m.string("a.u32"); }), {"x.gguf", "'a.u32'", "a string", "UINT32"});
  expect_error_contains(error_of([&] { m.integer("a.i32", 0, 10); }), {"'a.i32'", "-7", "outside"});
  expect_error_contains(error_of([&] { m.integer("missing.key", 0, 1); }), {"'missing.key'", "missing"});
  // Version 2 has the same layout (v3 only allowed big-endian files): it reads the same.
  std::vector<std::byte> v2 = bytes_of(dir.file("x.gguf"));
  v2[4] = std::byte{2};
  const GgufHeader h2 = parse_gguf(v2.data(), v2.size(), "v2.gguf");
  EXPECT_EQ(h2.version, 2u);
  EXPECT_EQ(h2.tensors.size(), 3u);
  // Re-writing a parsed file's metadata copies numeric arrays.
  GgufWriter copy;
  for (const auto& [key, value] : h.metadata) copy.add(key, value);
  copy.write(dir.file("y.gguf"));
  const GgufFile again(dir.file("y.gguf"));
  EXPECT_EQ(again.metadata().integer_array("a.i32s", -5, 5), (std::vector<int64_t>{0, -1, 4}));
}

// Raw GGUF bytes for the broken-file catalog.
class Raw {
 public:
  Raw& u32(uint32_t v) { return le(v, 4); }
  Raw& u64(uint64_t v) { return le(v, 8); }
  Raw& str(const std::string& s) {
    u64(s.size());
    bytes_ += s;
    return *this;
  }
  Raw& raw(const std::string& s) {
    bytes_ += s;
    return *this;
  }
  Raw& header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) { return raw("GGUF").u32(version).u64(tensors).u64(kvs); }
  Raw& pad(size_t alignment = 32) {
    while (bytes_.size() % alignment) bytes_.push_back('\0');
    return *this;
  }
  // A tensor info: name, ne, type, offset.
  Raw& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  Raw& zeros(size_t n) {
    bytes_.append(n, '\0');
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  Raw& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  std::string bytes_;
};

std::string parse_error(const std::string& bytes) {
  return error_of([&] {
    std::vector<std::byte> b(bytes.size());
    std::memcpy(b.data(), bytes.data(), bytes.size());
    parse_gguf(b.data(), b.size(), "bad.gguf");
  });
}

TEST(Gguf, BrokenFileCatalog) {
  struct Case {
    const char* what;
    std::string bytes;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {"empty", "", {"bad.gguf", "not a GGUF file"}},
      {"bad magic", Raw().raw("GGML").u32(3).u64(0).u64(0).bytes(), {"not a GGUF file"}},
      {"truncated header", Raw().raw("GGUF").u32(3).u64(0).bytes(), {"truncated", "metadata count"}},
      {"version 1", Raw().header(0, 0, 1).bytes(), {"version 1", "not supported"}},
      {"version 9", Raw().header(0, 0, 9).bytes(), {"version 9"}},
      {"big endian", Raw().header(0, 0, 0x03000000).bytes(), {"big-endian"}},
      {"huge kv count", Raw().header(0, 1ull << 60).bytes(), {"metadata count", "cannot fit"}},
      {"huge tensor count", Raw().header(1ull << 60, 0).bytes(), {"tensor count", "cannot fit"}},
      {"huge key length", Raw().header(0, 1).u64(1ull << 62).zeros(20).bytes(), {"metadata key", "claims"}},
      {"huge string value", Raw().header(0, 1).str("k").u32(8).u64(1ull << 40).zeros(20).bytes(), {"claims"}},
      {"huge array", Raw().header(0, 1).str("k").u32(9).u32(4).u64(1ull << 61).zeros(20).bytes(),
       {"'k'", "claims", "elements"}},
      {"huge string array", Raw().header(0, 1).str("k").u32(9).u32(8).u64(1ull << 40).zeros(20).bytes(),
       {"'k'", "strings"}},
      {"unknown value type", Raw().header(0, 1).str("k").u32(13).zeros(8).bytes(), {"'k'", "unknown value type 13"}},
      {"nested array", Raw().header(0, 1).str("k").u32(9).u32(9).u64(1).zeros(16).bytes(), {"'k'", "array of arrays"}},
      {"duplicate key", Raw().header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).bytes(), {"'k'", "twice"}},
      {"truncated value", Raw().header(0, 1).str("k").u32(10).u32(1).bytes(), {"truncated", "metadata value"}},
      {"bad alignment", Raw().header(0, 1).str("general.alignment").u32(4).u32(48).bytes(), {"general.alignment", "power of two"}},
      {"alignment type", Raw().header(0, 1).str("general.alignment").u32(8).str("32").bytes(), {"general.alignment", "unsigned"}},
      {"too many dims", Raw().header(1, 0).tensor("t", {1, 1, 1, 1, 1}, 0, 0).pad().zeros(4).bytes(), {"'t'", "5 dimensions"}},
      {"unknown tensor type", Raw().header(1, 0).tensor("t", {4}, 31, 0).pad().zeros(16).bytes(), {"'t'", "unknown ggml type 31"}},
      {"unsupported tensor type", Raw().header(1, 0).tensor("t", {256}, 16, 0).pad().zeros(128).bytes(),
       {"'t'", "IQ2_XXS", "cannot read"}},
      {"ne0 not a block multiple", Raw().header(1, 0).tensor("t", {33}, 8, 0).pad().zeros(64).bytes(),
       {"'t'", "Q8_0", "multiple of its block size 32"}},
      {"dimension beyond int64", Raw().header(1, 0).tensor("t", {1ull << 63}, 0, 0).pad().bytes(), {"'t'", "beyond int64"}},
      {"element count overflow", Raw().header(1, 0).tensor("t", {1ull << 40, 1ull << 40}, 0, 0).pad().bytes(), {"'t'", "2^63"}},
      {"tensor larger than the file", Raw().header(1, 0).tensor("t", {1ull << 40}, 0, 0).pad().bytes(), {"'t'", "more bytes than the file"}},
      {"unaligned offset", Raw().header(1, 0).tensor("t", {4}, 0, 8).pad().zeros(64).bytes(), {"'t'", "offset 8", "alignment 32"}},
      {"data out of range", Raw().header(1, 0).tensor("t", {8}, 0, 32).pad().zeros(40).bytes(), {"'t'", "beyond the end"}},
      {"data section missing", Raw().header(1, 0).tensor("tensor_name", {1}, 0, 0).bytes(), {"truncated", "tensor data"}},
      {"overlapping tensors",
       Raw().header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 32).pad().zeros(96).bytes(), {"'a'", "'b'", "overlap"}},
      {"duplicate tensor", Raw().header(2, 0).tensor("a", {4}, 0, 0).tensor("a", {4}, 0, 32).pad().zeros(64).bytes(),
       {"'a'", "twice"}},
      {"truncated tensor info", Raw().header(1, 0).str("t").u32(2).u64(4).zeros(20).bytes(), {"truncated"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    expect_error_contains(parse_error(c.bytes), c.needles);
  }
  // A valid minimal file parses (so each case above fails for its own reason).
  EXPECT_NO_THROW({
    const std::string ok = Raw().header(1, 1).str("k").u32(4).u32(1).tensor("t", {8}, 0, 0).pad().zeros(32).bytes();
    std::vector<std::byte> b(ok.size());
    std::memcpy(b.data(), ok.data(), ok.size());
    parse_gguf(b.data(), b.size(), "ok.gguf");
  });
}

TEST(Gguf, EveryTruncationOfAValidFileFailsCleanly) {
  TempDir dir;
  GgufWriter w;
  w.add("general.architecture", gguf_string("jamba"));
  w.add("k.list", gguf_string_array({"a", "bb"}));
  w.add("k.ints", gguf_i32_array({1, 2, 3}));
  std::vector<std::byte> data(8 * 4, std::byte{0});
  w.add_tensor({"t", {8}, GgmlType::F32, data, {}});
  w.write(dir.file("ok.gguf"));
  const std::vector<std::byte> whole = bytes_of(dir.file("ok.gguf"));
  for (size_t n = 0; n < whole.size(); ++n) {
    std::vector<std::byte> cut(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
    try {
      parse_gguf(cut.data(), cut.size(), "cut.gguf");
      ADD_FAILURE() << "a file cut at " << n << " of " << whole.size() << " bytes parsed";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.gguf"), std::string::npos);
    }
  }
}

// ---- Jamba mapping ----

// Rewrites a GGUF file: metadata through `meta` (return false to drop a key, or change it),
// tensors through `tensor` (return false to drop).
void rewrite(const std::string& in, const std::string& out,
             const std::function<bool(const std::string&, GgufValue&)>& meta,
             const std::function<bool(GgufTensorToWrite&)>& tensor = nullptr) {
  const GgufFile file(in);
  GgufWriter w;
  for (const auto& [key, value] : file.header().metadata) {
    GgufValue v = value;
    if (meta(key, v)) w.add(key, v);
  }
  for (const GgufTensorInfo& info : file.header().tensors) {
    GgufTensorToWrite t{info.name, info.ne, info.type,
                        std::vector<std::byte>(file.data(info), file.data(info) + info.bytes), {}};
    if (!tensor || tensor(t)) w.add_tensor(std::move(t));
  }
  w.write(out);
}

class GgufJamba : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    export_gguf(fixture("gqa_moe_bf16"), dir_->file("gqa.gguf"), "f32");
    export_gguf(fixture("jamba_layout_bf16_sharded"), dir_->file("layout.gguf"), "bf16");
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string file(const std::string& name) { return dir_->file(name); }
  static std::string load_error(const std::string& path) { return error_of([&] { Model::load(path); }); }
  static TempDir* dir_;
};
TempDir* GgufJamba::dir_ = nullptr;

TEST_F(GgufJamba, ConfigMatchesConfigJson) {
  for (const auto& [name, gguf] : {std::pair{"gqa_moe_bf16", "gqa.gguf"}, std::pair{"jamba_layout_bf16_sharded", "layout.gguf"}}) {
    SCOPED_TRACE(name);
    const ModelConfig want = load_model_config(fixture(name));
    const GgufFile f(file(gguf));
    const ModelConfig got = jamba_config_from_gguf(f.header(), file(gguf));
    EXPECT_EQ(got.vocab_size, want.vocab_size);
    EXPECT_EQ(got.hidden_size, want.hidden_size);
    EXPECT_EQ(got.intermediate_size, want.intermediate_size);
    EXPECT_EQ(got.num_hidden_layers, want.num_hidden_layers);
    EXPECT_EQ(got.num_attention_heads, want.num_attention_heads);
    EXPECT_EQ(got.num_key_value_heads, want.num_key_value_heads);
    EXPECT_EQ(got.head_dim, want.head_dim);
    EXPECT_EQ(got.num_experts, want.num_experts);
    EXPECT_EQ(got.num_experts_per_tok, want.num_experts_per_tok);
    EXPECT_EQ(got.mamba_d_state, want.mamba_d_state);
    EXPECT_EQ(got.mamba_d_conv, want.mamba_d_conv);
    EXPECT_EQ(got.mamba_expand, want.mamba_expand);
    EXPECT_EQ(got.mamba_dt_rank, want.mamba_dt_rank);
    EXPECT_EQ(got.rms_norm_eps, static_cast<double>(static_cast<float>(want.rms_norm_eps)));
    EXPECT_EQ(got.max_position_embeddings, want.max_position_embeddings);
    EXPECT_EQ(got.tie_word_embeddings, want.tie_word_embeddings);
    EXPECT_EQ(got.bos_token_id, want.bos_token_id);
    EXPECT_EQ(got.pad_token_id, want.pad_token_id);
    EXPECT_EQ(got.eos_token_ids, want.eos_token_ids);
    for (int64_t i = 0; i < want.num_hidden_layers; ++i) {
      EXPECT_EQ(got.is_attention_layer(i), want.is_attention_layer(i)) << i;
      EXPECT_EQ(got.is_moe_layer(i), want.is_moe_layer(i)) << i;
    }
  }
}

TEST_F(GgufJamba, NamesMapBothWays) {
  EXPECT_EQ(hf_name_for_gguf("blk.12.ssm_in.weight"), "model.layers.12.mamba.in_proj.weight");
  EXPECT_EQ(hf_name_for_gguf("blk.3.ssm_a"), "model.layers.3.mamba.A");
  EXPECT_EQ(hf_name_for_gguf("token_embd.weight"), "model.embed_tokens.weight");
  EXPECT_EQ(hf_name_for_gguf("blk.01.ssm_a"), "");  // no leading zeros
  EXPECT_EQ(hf_name_for_gguf("blk.1x.ssm_a"), "");
  EXPECT_EQ(hf_name_for_gguf("rope_freqs.weight"), "");
  EXPECT_EQ(gguf_name_for_hf("model.layers.7.mamba.A_log"), "blk.7.ssm_a");
  EXPECT_EQ(gguf_name_for_hf("model.layers.0.feed_forward.router.weight"), "blk.0.ffn_gate_inp.weight");
  EXPECT_EQ(gguf_name_for_hf("lm_head.weight"), "output.weight");
}

TEST_F(GgufJamba, WeightsMatchTheSafetensors) {
  // bf16 export of a bf16 checkpoint: the same bits, A = -exp(A_log) as the binder computes it,
  // experts as slices of the stacked tensors, conv taps reshaped.
  auto from_gguf = Model::load(file("layout.gguf"));
  auto from_st = Model::load(fixture("jamba_layout_bf16_sharded"));
  ASSERT_EQ(from_gguf->plan.layers.size(), from_st->plan.layers.size());
  for (const std::string& name : from_st->store->names()) {
    if (name.find("A_log") != std::string::npos) continue;
    SCOPED_TRACE(name);
    ASSERT_TRUE(from_gguf->store->contains(name));
    EXPECT_EQ(to_f32(from_gguf->store->get(name)), to_f32(from_st->store->get(name)));
  }
  for (size_t i = 0; i < from_st->weights.layers.size(); ++i) {
    EXPECT_EQ(from_gguf->weights.layers[i].mamba.A, from_st->weights.layers[i].mamba.A) << i;
    EXPECT_EQ(from_gguf->weights.layers[i].mamba.conv_weight, from_st->weights.layers[i].mamba.conv_weight) << i;
  }
  // Expert slices point into the mapping (no copy) for plain types.
  const auto* gguf_source = dynamic_cast<const GgufWeightSource*>(from_gguf->store.get());
  ASSERT_NE(gguf_source, nullptr);
  const GgufTensorInfo* stacked = gguf_source->file().header().tensor("blk.1.ffn_up_exps.weight");
  ASSERT_NE(stacked, nullptr);
  EXPECT_EQ(from_gguf->store->get("model.layers.1.feed_forward.experts.0.up_proj.weight").data, gguf_source->file().data(*stacked));
  EXPECT_EQ(from_gguf->store->stored_name("model.layers.1.feed_forward.experts.0.up_proj.weight"), "blk.1.ffn_up_exps.weight");
}

TEST_F(GgufJamba, QuantizedTensorsKeepTheirBlocks) {
  export_gguf(fixture("jamba_layout_bf16_sharded"), file("q8.gguf"), "q8_0");
  auto m = Model::load(file("q8.gguf"));
  const GgufFile f(file("q8.gguf"));
  int quantized = 0;
  for (const GgufTensorInfo& t : f.header().tensors) {
    if (t.type != GgmlType::Q8_0) continue;
    ++quantized;
    const std::string hf = hf_name_for_gguf(t.name);
    if (hf.find('*') != std::string::npos) continue;
    const auto q = m->store->quantized(hf);
    ASSERT_TRUE(q.has_value()) << t.name;
    EXPECT_EQ(q->type, GgmlType::Q8_0);
    EXPECT_EQ(q->shape, t.torch_shape());
    EXPECT_EQ(q->row_bytes, t.ne[0] / 32 * 34);
    EXPECT_EQ(std::memcmp(q->blocks, f.data(t), t.bytes), 0);
    // The fp32 view is the reference dequantization of those blocks.
    const TensorView v = m->store->get(hf);
    EXPECT_EQ(v.dtype, DType::F32);
    std::vector<float> want(static_cast<size_t>(t.numel()));
    dequantize_row(GgmlType::Q8_0, q->blocks, t.numel(), want.data());
    EXPECT_EQ(to_f32(v), want);
  }
  EXPECT_GT(quantized, 0);
  // Small tensors stay F32 whatever the requested type.
  for (const char* name : {"blk.0.ssm_a", "blk.0.ssm_d", "blk.0.ssm_conv1d.weight", "blk.1.ffn_gate_inp.weight", "output_norm.weight"}) {
    const GgufTensorInfo* t = f.header().tensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->type, GgmlType::F32) << name;
  }
}

TEST(GgufJambaLayout, PerLayerListsWhenNoPeriodFits) {
  TempDir dir;
  GgufWriter w;
  w.add("general.architecture", gguf_string("jamba"));
  w.add("jamba.block_count", gguf_u32(5));
  w.add("jamba.context_length", gguf_u32(64));
  w.add("jamba.embedding_length", gguf_u32(8));
  w.add("jamba.feed_forward_length", gguf_u32(16));
  w.add("jamba.attention.head_count", gguf_u32(2));
  w.add("jamba.attention.head_count_kv", gguf_i32_array({0, 1, 1, 0, 0}));  // layers 1 and 2: no period
  w.add("jamba.ssm.conv_kernel", gguf_u32(4));
  w.add("jamba.ssm.inner_size", gguf_u32(16));
  w.add("jamba.ssm.state_size", gguf_u32(4));
  w.add("jamba.ssm.time_step_rank", gguf_u32(1));
  w.add("jamba.attention.layer_norm_rms_epsilon", gguf_f32(1e-5f));
  w.add("jamba.expert_count", gguf_u32(4));
  w.add("jamba.expert_used_count", gguf_u32(2));
  w.add_tensor({"token_embd.weight", {8, 10}, GgmlType::F32, std::vector<std::byte>(320), {}});
  w.add_tensor({"blk.0.ffn_gate_inp.weight", {8, 4}, GgmlType::F32, std::vector<std::byte>(128), {}});
  w.add_tensor({"blk.4.ffn_gate_inp.weight", {8, 4}, GgmlType::F32, std::vector<std::byte>(128), {}});
  w.write(dir.file("l.gguf"));
  const GgufFile f(dir.file("l.gguf"));
  const ModelConfig c = jamba_config_from_gguf(f.header(), "l.gguf");
  EXPECT_EQ(c.attention_layer_list, (std::vector<bool>{false, true, true, false, false}));
  EXPECT_TRUE(c.moe_layer_list.empty());  // MoE at 0 and 4: period 4, offset 0
  EXPECT_EQ(c.expert_layer_period, 4);
  EXPECT_EQ(c.expert_layer_offset, 0);
  const LayerPlan plan = LayerPlan::from_config(c);
  EXPECT_EQ(plan.attention_layers, 2);
  EXPECT_EQ(plan.moe_layers, 2);
  EXPECT_EQ(plan.layers[1].mixer, Mixer::Attention);
  EXPECT_EQ(plan.layers[4].ffn, Ffn::MoE);
  EXPECT_EQ(c.tie_word_embeddings, true);  // no output.weight
  EXPECT_EQ(c.vocab_size, 10);
}

TEST(GgufJambaLayout, ManyLayersStayLinear) {
  // 100000 Mamba layers (the config limit) and a scalar head_count_kv of 0: the layout search
  // must be linear (a cubic search over periods and offsets would hang here).
  GgufHeader h;
  auto put = [&](const std::string& key, GgufValue v) {
    h.metadata_index[key] = h.metadata.size();
    h.metadata.emplace_back(key, std::move(v));
  };
  put("general.architecture", gguf_string("jamba"));
  put("jamba.block_count", gguf_u32(100000));
  put("jamba.context_length", gguf_u32(64));
  put("jamba.embedding_length", gguf_u32(8));
  put("jamba.feed_forward_length", gguf_u32(8));
  put("jamba.attention.head_count", gguf_u32(2));
  put("jamba.attention.head_count_kv", gguf_u32(0));
  put("jamba.ssm.conv_kernel", gguf_u32(4));
  put("jamba.ssm.inner_size", gguf_u32(16));
  put("jamba.ssm.state_size", gguf_u32(4));
  put("jamba.ssm.time_step_rank", gguf_u32(1));
  put("jamba.attention.layer_norm_rms_epsilon", gguf_f32(1e-5f));
  GgufTensorInfo embd;
  embd.name = "token_embd.weight";
  embd.ne = {8, 10};
  h.tensor_index[embd.name] = 0;
  h.tensors.push_back(embd);
  const ModelConfig c = jamba_config_from_gguf(h, "many.gguf");
  EXPECT_EQ(c.num_hidden_layers, 100000);
  EXPECT_TRUE(c.attention_layer_list.empty());
  EXPECT_FALSE(c.is_attention_layer(0));
  EXPECT_FALSE(c.is_attention_layer(99999));
}

TEST_F(GgufJamba, BrokenModelCatalog) {
  const std::string src = file("gqa.gguf");
  auto meta_case = [&](const std::string& name, const std::function<bool(const std::string&, GgufValue&)>& meta) {
    const std::string out = file(name + ".gguf");
    rewrite(src, out, meta);
    return load_error(out);
  };
  auto tensor_case = [&](const std::string& name, const std::function<bool(GgufTensorToWrite&)>& t) {
    const std::string out = file(name + ".gguf");
    rewrite(src, out, [](const std::string&, GgufValue&) { return true; }, t);
    return load_error(out);
  };
  const ModelConfig c = load_model_config(fixture("gqa_moe_bf16"));
  const int64_t L = c.num_hidden_layers;

  expect_error_contains(meta_case("arch", [](const std::string& k, GgufValue& v) {
                          if (k == "general.architecture") v.str = "llama";
                          return true;
                        }),
                        {"arch.gguf", "general.architecture", "'llama'", "jamba"});
  expect_error_contains(meta_case("no_blocks", [](const std::string& k, GgufValue&) { return k != "jamba.block_count"; }),
                        {"'jamba.block_count'", "missing"});
  expect_error_contains(meta_case("kv_short", [&](const std::string& k, GgufValue& v) {
                          if (k == "jamba.attention.head_count_kv") v.count = static_cast<uint64_t>(L - 1);
                          return true;
                        }),
                        {"'jamba.attention.head_count_kv'", std::to_string(L - 1) + " entries", "block_count"});
  expect_error_contains(meta_case("kv_type", [&](const std::string& k, GgufValue& v) {
                          if (k == "jamba.attention.head_count_kv") v = gguf_string("4");
                          return true;
                        }),
                        {"'jamba.attention.head_count_kv'", "integer"});
  expect_error_contains(meta_case("kv_negative", [&](const std::string& k, GgufValue& v) {
                          if (k == "jamba.attention.head_count_kv") {
                            static std::vector<int32_t> bad;
                            bad.assign(static_cast<size_t>(L), -1);
                            v.elements = reinterpret_cast<const std::byte*>(bad.data());
                          }
                          return true;
                        }),
                        {"'jamba.attention.head_count_kv'", "element 0", "outside"});
  expect_error_contains(meta_case("kv_varies", [&](const std::string& k, GgufValue& v) {
                          if (k == "jamba.attention.head_count_kv") {
                            static std::vector<int32_t> vary;
                            vary.assign(static_cast<size_t>(L), 0);
                            vary[0] = 1;
                            vary[static_cast<size_t>(L - 1)] = 2;
                            v.elements = reinterpret_cast<const std::byte*>(vary.data());
                          }
                          return true;
                        }),
                        {"head_count", "differs between attention layers"});
  expect_error_contains(meta_case("experts", [](const std::string& k, GgufValue& v) {
                          if (k == "jamba.expert_count") v.u = 1;
                          return true;
                        }),
                        {"'jamba.expert_count'", "MoE"});
  expect_error_contains(meta_case("inner", [](const std::string& k, GgufValue& v) {
                          if (k == "jamba.ssm.inner_size") v.u += 1;
                          return true;
                        }),
                        {"'jamba.ssm.inner_size'", "multiple"});
  // A tensor missing: the binder names our name and the file's.
  expect_error_contains(tensor_case("missing", [](GgufTensorToWrite& t) { return t.name != "blk.0.ssm_x.weight"; }),
                        {"missing tensor", "blk.0.ssm_x.weight"});
  // A tensor with the wrong shape.
  expect_error_contains(tensor_case("shape", [](GgufTensorToWrite& t) {
                          if (t.name == "blk.0.ssm_dt.weight") std::swap(t.ne[0], t.ne[1]);
                          return true;
                        }),
                        {"blk.0.ssm_dt.weight", "shape", "the config needs"});
  // An unknown tensor.
  expect_error_contains(tensor_case("unknown", [](GgufTensorToWrite& t) {
                          if (t.name == "blk.0.ssm_d") t.name = "blk.0.ssm_q";
                          return true;
                        }),
                        {"'blk.0.ssm_q'", "not part of"});
  // A layer beyond block_count.
  expect_error_contains(tensor_case("layer", [&](GgufTensorToWrite& t) {
                          if (t.name == "blk.0.ssm_d") t.name = cat("blk.", L, ".ssm_d");
                          return true;
                        }),
                        {cat("blk.", L, ".ssm_d"), "block_count"});
  // Stacked experts of the wrong count.
  expect_error_contains(tensor_case("exps", [](GgufTensorToWrite& t) {
                          if (t.name.find("ffn_up_exps") != std::string::npos) {
                            t.ne[2] -= 1;
                            t.bytes.resize(t.bytes.size() / static_cast<size_t>(t.ne[2] + 1) * static_cast<size_t>(t.ne[2]));
                          }
                          return true;
                        }),
                        {"ffn_up_exps", "experts", "expert_count"});
  // A non-weight type where a matrix is expected.
  expect_error_contains(tensor_case("int", [](GgufTensorToWrite& t) {
                          if (t.name == "blk.0.ssm_x.weight") t.type = GgmlType::I32;
                          return true;
                        }),
                        {"blk.0.ssm_x.weight", "dtype I32"});
  // NaN in a norm.
  expect_error_contains(tensor_case("nan", [](GgufTensorToWrite& t) {
                          if (t.name == "output_norm.weight") {
                            const float nan = std::nanf("");
                            std::memcpy(t.bytes.data(), &nan, 4);
                          }
                          return true;
                        }),
                        {"output_norm.weight", "NaN"});
}

TEST(SpmModelProto, RoundTripAndErrors) {
  tok::SpmModel m;
  m.pieces = {{"<unk>", 0.0f, 2}, {"<s>", 0.0f, 3}, {"\xe2\x96\x81the", -1.5f, 1}, {"<0x41>", 0.0f, 6}};
  m.model_type = 2;
  m.byte_fallback = true;
  m.add_dummy_prefix = false;
  const tok::SpmModel back = tok::parse_spm_model(tok::serialize_spm_model(m), "x");
  ASSERT_EQ(back.pieces.size(), 4u);
  EXPECT_EQ(back.pieces[2].piece, "\xe2\x96\x81the");
  EXPECT_EQ(back.pieces[2].score, -1.5f);
  EXPECT_EQ(back.pieces[3].type, 6);
  EXPECT_EQ(back.model_type, 2);
  EXPECT_TRUE(back.byte_fallback);
  EXPECT_FALSE(back.add_dummy_prefix);
  expect_error_contains(error_of([] { tok::parse_spm_model(std::string("\x0a\xff\xff\xff\xff\x0f", 6), "bad.model"); }),
                        {"bad.model", "past the end"});
  expect_error_contains(error_of([] { tok::parse_spm_model(std::string("\x08", 1), "bad.model"); }), {"bad.model", "truncated"});
}

}  // namespace
}  // namespace jamba
