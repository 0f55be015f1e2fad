// GGUF (llama.cpp's model file), versions 2 and 3, little-endian: reader and writer.
//
// Layout: "GGUF" u32 version, u64 tensor_count, u64 kv_count; kv_count metadata entries
// (string key, u32 value type, value); tensor_count tensor infos (string name, u32 n_dims,
// u64 ne[n_dims], u32 ggml type, u64 offset); zero padding to `general.alignment` (default 32);
// the tensor data, each tensor at data_start + offset. Strings are u64 length + bytes (no NUL);
// arrays are u32 element type + u64 count + elements. ne[0] is the fastest-varying dimension:
// a PyTorch [out, in] matrix is ne = [in, out].
//
// parse_gguf validates everything before anything is used: magic, version, every count against
// the bytes left (so no allocation exceeds a small multiple of the file size), string and array
// lengths, value types, nested arrays (rejected, as ggml does), duplicate keys and tensor names,
// alignment (a power of two), dimensions (1..4, each >= 0, products without overflow), tensor
// types (known, and of a layout this engine implements), ne[0] a multiple of the block size,
// offsets aligned, every tensor's bytes inside the file and no two tensors overlapping. Errors
// name the file, the key or tensor, and the byte offset.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "format/ggml_quants.h"

namespace jamba {

enum class GgufValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* gguf_value_type_name(GgufValueType type);

// One metadata value. Scalars keep their type and value; numeric arrays keep a pointer to their
// elements in the file (read with the accessors); string arrays are copied out.
struct GgufValue {
  GgufValueType type = GgufValueType::UINT8;
  // Scalars (also used for each element by the array accessors).
  uint64_t u = 0;      // UINT*, BOOL
  int64_t i = 0;       // INT*
  double f = 0;        // FLOAT*
  std::string str;     // STRING
  // Arrays.
  GgufValueType element_type = GgufValueType::UINT8;
  uint64_t count = 0;
  const std::byte* elements = nullptr;  // numeric arrays: count packed little-endian elements
  std::vector<std::string> strings;     // string arrays

  bool is_integer() const;  // any of the 8 integer types
  bool is_array() const { return type == GgufValueType::ARRAY; }
  std::string describe() const;  // "UINT32 7", "ARRAY of 32 INT32", ... for messages
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] fastest
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;      // relative to data_start
  uint64_t bytes = 0;       // computed from ne and type
  uint64_t info_offset = 0; // where its info starts in the file (for messages)

  int64_t numel() const;
  // PyTorch order (reversed ne): what a safetensors file would call the shape.
  std::vector<int64_t> torch_shape() const;
};

struct GgufHeader {
  uint32_t version = 3;
  std::vector<std::pair<std::string, GgufValue>> metadata;  // file order
  std::map<std::string, size_t> metadata_index;             // key -> position in metadata
  std::vector<GgufTensorInfo> tensors;                      // file order
  std::map<std::string, size_t> tensor_index;
  uint64_t alignment = 32;
  uint64_t data_start = 0;

  const GgufValue* find(const std::string& key) const;
  const GgufTensorInfo* tensor(const std::string& name) const;
};

// Parses and validates a whole GGUF file held in `bytes`. `label` (normally the path) prefixes
// every error. Never reads out of bounds; GgufValue::elements point into `bytes`.
GgufHeader parse_gguf(const std::byte* bytes, uint64_t size, const std::string& label);

// Typed metadata access with errors naming the file and the key.
class GgufMetadata {
 public:
  GgufMetadata(const GgufHeader& header, std::string label) : header_(header), label_(std::move(label)) {}
  bool has(const std::string& key) const { return header_.find(key) != nullptr; }
  // Integers of any width and signedness; the value must fit int64 and lie in [min, max].
  int64_t integer(const std::string& key, int64_t min, int64_t max) const;
  std::optional<int64_t> optional_integer(const std::string& key, int64_t min, int64_t max) const;
  double number(const std::string& key) const;  // FLOAT32/FLOAT64 (or an integer)
  std::optional<double> optional_number(const std::string& key) const;
  std::string string(const std::string& key) const;
  std::optional<std::string> optional_string(const std::string& key) const;
  std::optional<bool> optional_bool(const std::string& key) const;
  // An integer array (any integer element type), each element in [min, max].
  std::vector<int64_t> integer_array(const std::string& key, int64_t min, int64_t max) const;
  std::vector<float> float_array(const std::string& key) const;  // FLOAT32 elements
  const std::vector<std::string>& string_array(const std::string& key) const;
  const std::string& label() const { return label_; }
  [[noreturn]] void wrong(const std::string& key, const std::string& expected) const;

 private:
  const GgufValue& get(const std::string& key) const;
  const GgufHeader& header_;
  std::string label_;
};

// One mmap'd GGUF file.
class GgufFile {
 public:
  explicit GgufFile(const std::string& path);
  const std::string& path() const { return file_.path(); }
  const GgufHeader& header() const { return header_; }
  GgufMetadata metadata() const { return GgufMetadata(header_, path()); }
  // The tensor's bytes in the mapping.
  const std::byte* data(const GgufTensorInfo& info) const { return file_.data() + header_.data_start + info.offset; }

 private:
  MappedFile file_;
  GgufHeader header_;
};

// True when the file at `path` starts with the GGUF magic (false when unreadable).
bool is_gguf_file(const std::string& path);

// ---- writing ----

// Metadata value builders for the writer.
GgufValue gguf_u32(uint32_t v);
GgufValue gguf_i32(int32_t v);
GgufValue gguf_u64(uint64_t v);
GgufValue gguf_f32(float v);
GgufValue gguf_bool(bool v);
GgufValue gguf_string(std::string v);
GgufValue gguf_string_array(std::vector<std::string> v);
// Numeric arrays own their bytes through the writer (GgufValue::elements is not used).
struct GgufArrayToWrite {
  GgufValueType element_type;
  std::vector<std::byte> bytes;  // count * element size, little-endian
  uint64_t count;
};
GgufArrayToWrite gguf_i32_array(const std::vector<int32_t>& v);
GgufArrayToWrite gguf_u32_array(const std::vector<uint32_t>& v);
GgufArrayToWrite gguf_f32_array(const std::vector<float>& v);

struct GgufTensorToWrite {
  std::string name;
  std::vector<int64_t> ne;   // ggml order
  GgmlType type;
  std::vector<std::byte> bytes;  // exactly the size ne and type call for; or empty and:
  // called once while writing, so a large model is converted one tensor at a time
  std::function<std::vector<std::byte>()> produce;
};

// Collects metadata and tensors in order and writes a GGUF v3 file laid out as ggml writes it
// (tensors back to back, each padded to the alignment). Throws Error on inconsistent input
// (sizes, duplicate names, names of 64 bytes or more, which ggml rejects) or on I/O failure.
class GgufWriter {
 public:
  void add(const std::string& key, GgufValue value);  // numeric arrays: elements copied from value.elements
  void add(const std::string& key, GgufArrayToWrite array);
  void add_tensor(GgufTensorToWrite tensor);
  void write(const std::string& path) const;
  size_t tensor_count() const { return tensors_.size(); }

 private:
  struct Entry {
    std::string key;
    GgufValue value;
    std::optional<GgufArrayToWrite> array;
  };
  std::vector<Entry> entries_;
  std::vector<GgufTensorToWrite> tensors_;
  uint32_t alignment_ = 32;
};

}  // namespace jamba
