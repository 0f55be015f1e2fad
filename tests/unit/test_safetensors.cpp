// safetensors reader/writer: round trips (single file, shards, 64-bit offsets) and a catalog of
// broken files, each of which must throw jamba::Error with one line naming the file and the
// tensor or field at fault.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/half.h"
#include "format/safetensors.h"
#include "support/expect_error.h"
#include "support/test_support.h"

namespace jamba {
namespace {

using test::TempDir;

template <typename T>
std::vector<std::byte> as_bytes(const std::vector<T>& values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

TensorToWrite f32_tensor(const std::string& name, std::vector<int64_t> shape, uint32_t seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return {name, DType::F32, shape, as_bytes(test::random_floats(static_cast<size_t>(n), seed))};
}

// A file from a literal header and `data_bytes` bytes of data (0, 1, 2, ...), for broken cases.
std::string raw_file(const std::string& header, size_t data_bytes = 0, uint64_t header_len = UINT64_MAX) {
  if (header_len == UINT64_MAX) header_len = header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header_len >> (8 * i)) & 0xff);
  out += header;
  for (size_t i = 0; i < data_bytes; ++i) out += static_cast<char>(i & 0xff);
  return out;
}

SafetensorsHeader parse_string(const std::string& file, const std::string& label = "bad.safetensors") {
  return parse_safetensors(reinterpret_cast<const std::byte*>(file.data()), file.size(), label);
}

using test::error_of;
using test::expect_error_contains;

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(SafetensorsRoundTrip, SingleFileValuesAreExact) {
  TempDir dir;
  std::vector<float> f32 = test::random_floats(12, 1);
  std::vector<uint16_t> f16, bf16;
  for (float v : test::random_floats(6, 2)) bf16.push_back(f32_to_bf16(v));
  for (uint16_t bits : {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x3555, 0x7c00}) f16.push_back(bits);
  std::vector<TensorToWrite> tensors = {
      {"model.embed_tokens.weight", DType::F32, {3, 4}, as_bytes(f32)},
      {"model.layers.0.mamba.D", DType::BF16, {6}, as_bytes(bf16)},
      {"model.final_layernorm.weight", DType::F16, {7}, as_bytes(f16)},
  };
  write_safetensors(dir.file("model.safetensors"), tensors, {{"format", "pt"}, {"note", "x\ny"}});

  ASSERT_TRUE(TensorStore::has_weights(dir.path()));
  TensorStore store = TensorStore::open(dir.path());
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.names(), (std::vector<std::string>{"model.embed_tokens.weight", "model.final_layernorm.weight",
                                                     "model.layers.0.mamba.D"}));
  for (const auto& t : tensors) {
    ASSERT_TRUE(store.contains(t.name));
    TensorView v = store.get(t.name);
    EXPECT_EQ(v.dtype, t.dtype) << t.name;
    EXPECT_EQ(v.shape, t.shape) << t.name;
    EXPECT_EQ(std::memcmp(v.data, t.bytes.data(), t.bytes.size()), 0) << t.name;
    EXPECT_EQ(store.file_of(t.name), dir.file("model.safetensors"));
  }
  // Through the fp32 loaders too.
  std::vector<float> back = to_f32(store.get("model.embed_tokens.weight"));
  EXPECT_EQ(back, f32);
  EXPECT_EQ(load_element(store.get("model.final_layernorm.weight"), 0), 1.0f);
  EXPECT_EQ(load_element(store.get("model.final_layernorm.weight"), 1), -2.0f);
  EXPECT_EQ(load_element(store.get("model.layers.0.mamba.D"), 3), bf16_to_f32(bf16[3]));

  SafetensorsFile file(dir.file("model.safetensors"));
  EXPECT_EQ(file.header().metadata.at("format"), "pt");
  EXPECT_EQ(file.header().metadata.at("note"), "x\ny");
  // Entries come back in data order, and the data section starts 8-byte aligned.
  EXPECT_EQ(file.header().entries[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(file.header().entries[1].begin, 48u);
  EXPECT_EQ(file.header().data_start % 8, 0u);
}

TEST(SafetensorsRoundTrip, HeaderIsPaddedWithSpaces) {
  TempDir dir;
  for (int name_len = 1; name_len <= 9; ++name_len) {
    const std::string path = dir.file("t.safetensors");
    write_safetensors(path, {f32_tensor(std::string(name_len, 'w'), {1}, 3)});
    const std::string bytes = test::read_file(path);
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);  // little-endian host
    EXPECT_EQ(n % 8, 0u);
    EXPECT_EQ(bytes.size(), 8 + n + 4);
    EXPECT_EQ(bytes[8], '{');
    const std::string header = bytes.substr(8, n);
    EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));
  }
}

TEST(SafetensorsRoundTrip, ScalarsEmptyTensorsAndAllDtypes) {
  TempDir dir;
  std::vector<TensorToWrite> tensors = {
      {"f64", DType::F64, {2}, std::vector<std::byte>(16, std::byte{1})},
      {"i64", DType::I64, {1}, std::vector<std::byte>(8, std::byte{2})},
      {"scalar", DType::F32, {}, as_bytes(std::vector<float>{42.5f})},
      {"empty", DType::F32, {0, 4}, {}},
      {"u8", DType::U8, {3}, std::vector<std::byte>(3, std::byte{7})},
      {"bool", DType::BOOL, {1}, std::vector<std::byte>(1, std::byte{1})},
      {"e4m3", DType::F8_E4M3, {1}, std::vector<std::byte>(1, std::byte{9})},
  };
  write_safetensors(dir.file("model.safetensors"), tensors);
  TensorStore store = TensorStore::open(dir.path() + "/");  // a trailing slash is fine
  EXPECT_EQ(store.size(), tensors.size());
  TensorView scalar = store.get("scalar");
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(load_element(scalar, 0), 42.5f);
  EXPECT_EQ(store.get("empty").numel(), 0);
  EXPECT_EQ(store.get("e4m3").dtype, DType::F8_E4M3);
}

TEST(SafetensorsRoundTrip, EmptyTensorMaySitInsideAnotherSpan) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})";
  SafetensorsHeader h = parse_string(raw_file(header, 8));
  ASSERT_EQ(h.entries.size(), 2u);
  EXPECT_EQ(h.entries[0].name, "a");
  EXPECT_EQ(h.entries[1].name, "z");
}

TEST(SafetensorsRoundTrip, EntriesSortedByOffsetNotByName) {
  const std::string header =
      R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
  SafetensorsHeader h = parse_string(raw_file(header, 4));
  ASSERT_EQ(h.entries.size(), 2u);
  EXPECT_EQ(h.entries[0].name, "b");
  EXPECT_EQ(h.entries[1].name, "a");
  EXPECT_EQ(h.data_start, 8 + header.size());
}

TEST(SafetensorsRoundTrip, ShardedCheckpoint) {
  TempDir dir;
  auto a = f32_tensor("model.embed_tokens.weight", {4, 2}, 10);
  auto b = f32_tensor("model.layers.0.input_layernorm.weight", {2}, 11);
  auto c = f32_tensor("lm_head.weight", {4, 2}, 12);
  write_safetensors(dir.file("model-00001-of-00002.safetensors"), {a, b});
  write_safetensors(dir.file("model-00002-of-00002.safetensors"), {c});
  test::write_file(dir.file("model.safetensors.index.json"), R"({
    "metadata": {"total_size": 72},
    "weight_map": {
      "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
      "model.layers.0.input_layernorm.weight": "model-00001-of-00002.safetensors",
      "lm_head.weight": "model-00002-of-00002.safetensors"
    },
    "something_new": [1, 2, 3]
  })");
  ASSERT_TRUE(TensorStore::has_weights(dir.path()));
  TensorStore store = TensorStore::open(dir.path());
  EXPECT_EQ(store.size(), 3u);
  for (const auto* t : {&a, &b, &c}) {
    TensorView v = store.get(t->name);
    EXPECT_EQ(v.shape, t->shape);
    EXPECT_EQ(std::memcmp(v.data, t->bytes.data(), t->bytes.size()), 0) << t->name;
  }
  EXPECT_EQ(store.file_of("lm_head.weight"), dir.file("model-00002-of-00002.safetensors"));
  EXPECT_EQ(store.file_of("model.embed_tokens.weight"), dir.file("model-00001-of-00002.safetensors"));
}

TEST(SafetensorsRoundTrip, SingleFileWinsOverIndex) {
  TempDir dir;
  write_safetensors(dir.file("model.safetensors"), {f32_tensor("x", {2}, 1)});
  test::write_file(dir.file("model.safetensors.index.json"), "not even json");
  EXPECT_EQ(TensorStore::open(dir.path()).size(), 1u);
}

// A tensor more than 4 GiB into the file (sparse, so it costs no disk): offsets and pointer
// arithmetic must be 64-bit all the way.
TEST(SafetensorsRoundTrip, SixtyFourBitOffsets) {
  TempDir dir;
  const uint64_t gap = (uint64_t{5} << 30) + 4;  // 5 GiB + 4 bytes of zeros first
  const std::vector<float> values = {1.5f, -2.25f, 3.0f};
  std::string header = R"({"pad":{"dtype":"U8","shape":[)" + std::to_string(gap) +
                       R"(],"data_offsets":[0,)" + std::to_string(gap) + R"(]},"w":{"dtype":"F32","shape":[3],)" +
                       R"("data_offsets":[)" + std::to_string(gap) + "," + std::to_string(gap + 12) + "]}}";
  header.append((8 - header.size() % 8) % 8, ' ');
  const std::string path = dir.file("model.safetensors");
  test::write_file(path, raw_file(header));
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const off_t data_start = static_cast<off_t>(8 + header.size());
  if (::ftruncate(fd, data_start + static_cast<off_t>(gap) + 12) != 0) {
    ::close(fd);
    GTEST_SKIP() << "filesystem cannot hold a sparse 5 GiB file";
  }
  ASSERT_EQ(::pwrite(fd, values.data(), 12, data_start + static_cast<off_t>(gap)), 12);
  ::close(fd);

  TensorStore store = TensorStore::open(dir.path());
  TensorView w = store.get("w");
  EXPECT_EQ(to_f32(w), values);
  EXPECT_EQ(store.get("pad").numel(), static_cast<int64_t>(gap));
}

TEST(SafetensorsRoundTrip, MisalignedTensorIsRefusedAtView) {
  TempDir dir;
  // 3 BF16 values (6 bytes) and then an F32 tensor at data offset 6: parses, but cannot be cast.
  write_safetensors(dir.file("model.safetensors"),
                    {{"b", DType::BF16, {3}, std::vector<std::byte>(6)}, f32_tensor("f", {2}, 4)});
  TensorStore store = TensorStore::open(dir.path());
  EXPECT_NO_THROW(store.get("b"));
  expect_error_contains(error_of([&] { store.get("f"); }),
                        {"model.safetensors", "'f'", "not 4-byte aligned"});
}

TEST(SafetensorsRoundTrip, WriterRejectsInconsistentInput) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  expect_error_contains(error_of([&] { write_safetensors(path, {{"a", DType::F32, {3}, std::vector<std::byte>(8)}}); }),
                        {"x.safetensors", "'a'"});
  expect_error_contains(error_of([&] { write_safetensors(path, {f32_tensor("a", {1}, 1), f32_tensor("a", {1}, 2)}); }),
                        {"'a'", "repeated"});
  expect_error_contains(error_of([&] { write_safetensors(path, {f32_tensor("__metadata__", {1}, 1)}); }),
                        {"__metadata__"});
}

// ---------------------------------------------------------------------------------------------
// Broken single files: each case must throw an Error naming the file and what is wrong.

struct BrokenCase {
  const char* what;
  std::string bytes;
  std::vector<std::string> needles;
};

std::string tensor_json(const std::string& name, const std::string& dtype, const std::string& shape,
                        const std::string& offsets) {
  return "\"" + name + R"(":{"dtype":)" + dtype + R"(,"shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
}

std::vector<BrokenCase> broken_cases() {
  const std::string ok = tensor_json("w", "\"F32\"", "[4]", "[0,16]");
  std::vector<BrokenCase> cases = {
      {"empty file", "", {"bad.safetensors", "0 bytes", "too short"}},
      {"5 bytes", std::string(5, '\x01'), {"bad.safetensors", "5 bytes", "too short"}},
      {"header length beyond file", raw_file("{}", 0, 100), {"bad.safetensors", "header length 100", "past the end"}},
      {"header length huge", raw_file("{}", 0, uint64_t{1} << 63), {"bad.safetensors", "header length 9223372036854775808", "limit"}},
      {"header length just over 100 MB", raw_file("{}", 0, 100000001), {"header length 100000001", "limit"}},
      {"data truncated mid-tensor", raw_file("{" + ok + "}", 10), {"bad.safetensors", "'w'", "[0, 16]", "truncated"}},
      {"empty header", raw_file(""), {"bad.safetensors", "not valid JSON"}},
      {"bad JSON", raw_file(R"({"w": {"dtype": )"), {"bad.safetensors", "not valid JSON", "line 1"}},
      {"bad JSON on line 2", raw_file("{\n  \"w\" 5}"), {"bad.safetensors", "not valid JSON", "line 2"}},
      {"trailing garbage", raw_file("{} x"), {"bad.safetensors", "not valid JSON"}},
      {"invalid UTF-8", raw_file("{\"w\xff\":{}}"), {"bad.safetensors", "not valid JSON"}},
      {"JSON array", raw_file("[1, 2]"), {"bad.safetensors", "not a JSON object", "an array"}},
      {"JSON string", raw_file("\"hi\""), {"bad.safetensors", "not a JSON object"}},
      {"deep nesting", raw_file(std::string(5000, '[') + std::string(5000, ']')), {"bad.safetensors", "not a JSON object"}},
      {"deep nesting in tensor", raw_file(R"({"w":{"shape":[[[[[[[[1]]]]]]]]}})"), {"'w'", "shape entries"}},
      {"unknown dtype", raw_file("{" + tensor_json("w", "\"F33\"", "[4]", "[0,16]") + "}", 16), {"bad.safetensors", "'w'", "unknown dtype 'F33'"}},
      {"lowercase dtype", raw_file("{" + tensor_json("w", "\"f32\"", "[4]", "[0,16]") + "}", 16), {"'w'", "unknown dtype 'f32'"}},
      {"dtype not a string", raw_file("{" + tensor_json("w", "5", "[4]", "[0,16]") + "}", 16), {"'w'", "dtype must be a string"}},
      {"negative shape", raw_file("{" + tensor_json("w", "\"F32\"", "[-4]", "[0,16]") + "}", 16), {"'w'", "shape", "-4"}},
      {"float shape", raw_file("{" + tensor_json("w", "\"F32\"", "[2.5]", "[0,10]") + "}", 16), {"'w'", "shape", "2.5"}},
      {"float shape 4.0", raw_file("{" + tensor_json("w", "\"F32\"", "[4.0]", "[0,16]") + "}", 16), {"'w'", "shape", "4.0"}},
      {"string shape", raw_file("{" + tensor_json("w", "\"F32\"", "[\"4\"]", "[0,16]") + "}", 16), {"'w'", "shape", "'4'"}},
      {"shape not array", raw_file("{" + tensor_json("w", "\"F32\"", "4", "[0,16]") + "}", 16), {"'w'", "shape must be an array"}},
      {"shape too deep", raw_file("{" + tensor_json("w", "\"F32\"", "[[4]]", "[0,16]") + "}", 16), {"'w'", "shape entries"}},
      {"shape rank 65", raw_file("{" + tensor_json("w", "\"F32\"", "[" + [] { std::string s = "1"; for (int i = 0; i < 64; ++i) s += ",1"; return s; }() + "]", "[0,4]") + "}", 4), {"'w'", "more than 64 dimensions"}},
      {"shape dim above int64", raw_file("{" + tensor_json("w", "\"F32\"", "[10000000000000000000]", "[0,16]") + "}", 16), {"'w'", "too large"}},
      {"shape dim above uint64", raw_file("{" + tensor_json("w", "\"F32\"", "[100000000000000000000]", "[0,16]") + "}", 16), {"'w'", "shape"}},
      {"shape product overflow", raw_file("{" + tensor_json("w", "\"F32\"", "[4294967296,4294967296]", "[0,16]") + "}", 16), {"'w'", "[4294967296, 4294967296]", "64 bits"}},
      {"shape product overflow before a zero", raw_file("{" + tensor_json("w", "\"F32\"", "[4294967296,4294967296,0]", "[0,0]") + "}"), {"'w'", "64 bits"}},
      {"byte size overflow", raw_file("{" + tensor_json("w", "\"F64\"", "[4611686018427387904]", "[0,16]") + "}", 16), {"'w'", "2^64 bytes"}},
      {"wrong span size", raw_file("{" + tensor_json("w", "\"F32\"", "[4]", "[0,12]") + "}", 16), {"bad.safetensors", "'w'", "[0, 12] span 12 bytes but shape [4] x F32 needs 16"}},
      {"offsets reversed", raw_file("{" + tensor_json("w", "\"F32\"", "[4]", "[16,0]") + "}", 16), {"'w'", "[16, 0]", "reversed"}},
      {"offsets beyond data", raw_file("{" + tensor_json("w", "\"F32\"", "[4]", "[16,32]") + "}", 16), {"'w'", "[16, 32]", "past the end of the data section (16 bytes)"}},
      {"offsets near 2^64", raw_file("{" + tensor_json("w", "\"U8\"", "[0]", "[18446744073709551615,18446744073709551615]") + "}", 16), {"'w'", "past the end"}},
      {"64-bit span beyond data", raw_file("{" + tensor_json("w", "\"F32\"", "[2147483648]", "[0,8589934592]") + "}", 16), {"'w'", "8589934592", "past the end"}},
      {"one offset", raw_file("{" + tensor_json("w", "\"F32\"", "[4]", "[16]") + "}", 16), {"'w'", "data_offsets has 1 entries"}},
      {"three offsets", raw_file("{" + tensor_json("w", "\"F32\"", "[4]", "[0,16,32]") + "}", 16), {"'w'", "more than 2 entries"}},
      {"negative offset", raw_file("{" + tensor_json("w", "\"F32\"", "[4]", "[-16,0]") + "}", 16), {"'w'", "data_offsets entries", "-16"}},
      {"offsets not array", raw_file("{" + tensor_json("w", "\"F32\"", "[4]", "{}") + "}", 16), {"'w'", "data_offsets must be an array"}},
      {"overlapping tensors",
       raw_file("{" + tensor_json("a", "\"F32\"", "[4]", "[0,16]") + "," + tensor_json("b", "\"F32\"", "[2]", "[8,16]") + "}", 16),
       {"bad.safetensors", "'a' [0, 16]", "'b' [8, 16]", "overlap"}},
      {"same span twice",
       raw_file("{" + tensor_json("a", "\"F32\"", "[4]", "[0,16]") + "," + tensor_json("b", "\"F32\"", "[4]", "[0,16]") + "}", 16),
       {"'a'", "'b'", "overlap"}},
      {"duplicate tensor key",
       raw_file("{" + ok + "," + tensor_json("w", "\"F32\"", "[4]", "[16,32]") + "}", 32), {"bad.safetensors", "duplicate key 'w'"}},
      {"duplicate field", raw_file(R"({"w":{"dtype":"F32","dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 16), {"'w'", "duplicate field 'dtype'"}},
      {"unknown field", raw_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16],"offsets":[0,16]}})", 16), {"'w'", "unknown field 'offsets'"}},
      {"missing dtype", raw_file(R"({"w":{"shape":[4],"data_offsets":[0,16]}})", 16), {"'w'", "missing field 'dtype'"}},
      {"missing data_offsets", raw_file(R"({"w":{"dtype":"F32","shape":[4]}})", 16), {"'w'", "missing field 'data_offsets'"}},
      {"entry not object", raw_file(R"({"w":[1,2]})"), {"'w'", "entry must be an object"}},
      {"metadata not object", raw_file(R"({"__metadata__":"pt"})"), {"__metadata__", "object of strings"}},
      {"metadata value not string", raw_file(R"({"__metadata__":{"format":1}})"), {"__metadata__", "'format'", "must be a string"}},
      {"metadata nested", raw_file(R"({"__metadata__":{"a":{}}})"), {"__metadata__", "'a'"}},
      {"duplicate metadata key", raw_file(R"({"__metadata__":{"a":"1","a":"2"}})"), {"duplicate key 'a'", "__metadata__"}},
      {"duplicate metadata", raw_file(R"({"__metadata__":{},"__metadata__":{}})"), {"duplicate key '__metadata__'"}},
      {"name with newline", raw_file("{" + tensor_json("a\\nb", "\"F99\"", "[4]", "[0,16]") + "}", 16), {"'a\\nb'", "F99"}},
  };
  return cases;
}

TEST(SafetensorsBroken, Catalog) {
  for (const auto& c : broken_cases()) {
    SCOPED_TRACE(c.what);
    const std::string message = error_of([&] { parse_string(c.bytes); });
    EXPECT_EQ(message.rfind("bad.safetensors: ", 0), 0u) << message;
    expect_error_contains(message, c.needles);
  }
}

// The same catalog through the file path: the label is then the path.
TEST(SafetensorsBroken, CatalogThroughFiles) {
  TempDir dir;
  for (const auto& c : broken_cases()) {
    SCOPED_TRACE(c.what);
    const std::string path = dir.file("model.safetensors");
    test::write_file(path, c.bytes);
    const std::string message = error_of([&] { TensorStore::open(dir.path()); });
    EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
  }
}

TEST(SafetensorsBroken, ValidMinimalFilesParse) {
  EXPECT_TRUE(parse_string(raw_file("{}")).entries.empty());
  EXPECT_TRUE(parse_string(raw_file("{}       ")).entries.empty());
  EXPECT_TRUE(parse_string(raw_file(R"({"__metadata__":{}})")).metadata.empty());
  // Unused trailing bytes after the last tensor are tolerated.
  EXPECT_EQ(parse_string(raw_file(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 64)).entries.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Directories and shard indexes.

class SafetensorsIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_safetensors(dir.file("s1.safetensors"), {f32_tensor("a", {2}, 1), f32_tensor("b", {2}, 2)});
    write_safetensors(dir.file("s2.safetensors"), {f32_tensor("c", {2}, 3)});
  }
  void write_index(const std::string& text) { test::write_file(dir.file("model.safetensors.index.json"), text); }
  std::string open_error() { return error_of([&] { TensorStore::open(dir.path()); }); }
  std::string index_path() const { return dir.file("model.safetensors.index.json"); }

  TempDir dir;
};

TEST_F(SafetensorsIndexTest, Valid) {
  write_index(R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"}})");
  TensorStore store = TensorStore::open(dir.path());
  EXPECT_EQ(store.names(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(SafetensorsIndexTest, NoWeightsAtAll) {
  TempDir empty;
  EXPECT_FALSE(TensorStore::has_weights(empty.path()));
  expect_error_contains(error_of([&] { TensorStore::open(empty.path()); }),
                        {empty.path() + ": no model.safetensors or model.safetensors.index.json"});
}

TEST_F(SafetensorsIndexTest, MissingTensorNamesDirAndTensor) {
  write_index(R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"}})");
  TensorStore store = TensorStore::open(dir.path());
  EXPECT_FALSE(store.contains("lm_head.weight"));
  expect_error_contains(error_of([&] { store.get("lm_head.weight"); }),
                        {dir.path(), "missing tensor lm_head.weight"});
  expect_error_contains(error_of([&] { store.file_of("lm_head.weight"); }), {"lm_head.weight"});
}

TEST_F(SafetensorsIndexTest, MissingShardFile) {
  write_index(R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors","d":"s3.safetensors"}})");
  expect_error_contains(open_error(), {index_path(), "shard 's3.safetensors'", "'d'", "does not exist"});
}

TEST_F(SafetensorsIndexTest, IndexNamesTensorAbsentFromShard) {
  write_index(R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors","zz":"s2.safetensors"}})");
  expect_error_contains(open_error(), {index_path(), "'zz'", "s2.safetensors", "no such tensor"});
}

TEST_F(SafetensorsIndexTest, TensorInShardButNotInIndex) {
  write_index(R"({"weight_map":{"a":"s1.safetensors","c":"s2.safetensors"}})");
  expect_error_contains(open_error(), {dir.file("s1.safetensors"), "'b'", "not listed"});
}

TEST_F(SafetensorsIndexTest, TensorInOtherShardThanIndexSays) {
  write_index(R"({"weight_map":{"a":"s1.safetensors","b":"s2.safetensors","c":"s2.safetensors"}})");
  expect_error_contains(open_error(), {index_path(), "'b'", "'s2.safetensors'", dir.file("s1.safetensors")});
}

TEST_F(SafetensorsIndexTest, TensorInTwoShards) {
  write_safetensors(dir.file("s2.safetensors"), {f32_tensor("c", {2}, 3), f32_tensor("a", {2}, 4)});
  write_index(R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"}})");
  expect_error_contains(open_error(), {"'a'", "two shards", dir.file("s1.safetensors"), dir.file("s2.safetensors")});
}

TEST_F(SafetensorsIndexTest, PathTraversal) {
  for (const std::string shard : {"../s1.safetensors", "sub/s1.safetensors", "/etc/passwd", "..", ".", "",
                                  "a\\\\b.safetensors"}) {
    SCOPED_TRACE(shard);
    write_index(R"({"weight_map":{"a":")" + shard + R"("}})");
    expect_error_contains(open_error(), {index_path(), "'a'", "not a plain file name"});
  }
}

TEST_F(SafetensorsIndexTest, BrokenShardNamesTheShard) {
  test::write_file(dir.file("s2.safetensors"), raw_file("{", 0));
  write_index(R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"}})");
  expect_error_contains(open_error(), {dir.file("s2.safetensors"), "not valid JSON"});
}

TEST_F(SafetensorsIndexTest, BrokenIndexFiles) {
  struct Case {
    std::string text;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {"{", {"invalid JSON"}},
      {"[]", {"top level must be a JSON object", "an array"}},
      {"{}", {"missing 'weight_map'"}},
      {R"({"weight_map": []})", {"'weight_map' must be an object", "an array"}},
      {R"({"weight_map": {}})", {"'weight_map' is empty"}},
      {R"({"weight_map": {"a": 5}})", {"'a'", "must be a shard file name", "an integer 5"}},
      {R"({"weight_map": {"a": null}})", {"'a'", "null"}},
      {R"({"weight_map": {"a": "s1.safetensors", "a": "s2.safetensors"}})", {"duplicate key 'a'"}},
      {R"({"metadata": 5, "weight_map": {"a": "s1.safetensors"}})", {"'metadata' must be an object"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    write_index(c.text);
    const std::string message = open_error();
    EXPECT_EQ(message.rfind(index_path() + ": ", 0), 0u) << message;
    expect_error_contains(message, c.needles);
  }
}

TEST(SafetensorsIndexParse, ShardsAreDistinctAndSorted) {
  SafetensorsIndex index = parse_safetensors_index(
      R"({"weight_map":{"x":"b.safetensors","y":"a.safetensors","z":"b.safetensors"}})", "idx.json");
  EXPECT_EQ(index.shards, (std::vector<std::string>{"a.safetensors", "b.safetensors"}));
  EXPECT_EQ(index.weight_map.at("y"), "a.safetensors");
}

}  // namespace
}  // namespace jamba
