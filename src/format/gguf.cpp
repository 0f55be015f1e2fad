#include "format/gguf.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <fstream>

#include "base/error.h"

namespace jamba {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr int kMaxDims = 4;              // GGML_MAX_DIMS
constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;

size_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    default: return 0;  // STRING, ARRAY
  }
}

bool is_known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::FLOAT64); }

uint64_t load_le(const std::byte* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | static_cast<uint64_t>(p[i]);
  return v;
}

// Decodes one packed scalar of type t at p into a GgufValue.
GgufValue decode_scalar(GgufValueType t, const std::byte* p) {
  GgufValue v;
  v.type = t;
  const size_t n = scalar_size(t);
  const uint64_t raw = load_le(p, n);
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::UINT16: case GgufValueType::UINT32: case GgufValueType::UINT64:
    case GgufValueType::BOOL:
      v.u = raw;
      break;
    case GgufValueType::INT8: v.i = static_cast<int8_t>(raw); break;
    case GgufValueType::INT16: v.i = static_cast<int16_t>(raw); break;
    case GgufValueType::INT32: v.i = static_cast<int32_t>(raw); break;
    case GgufValueType::INT64: v.i = static_cast<int64_t>(raw); break;
    case GgufValueType::FLOAT32: {
      const uint32_t bits = static_cast<uint32_t>(raw);
      float f;
      std::memcpy(&f, &bits, 4);
      v.f = f;
      break;
    }
    case GgufValueType::FLOAT64: {
      double d;
      std::memcpy(&d, &raw, 8);
      v.f = d;
      break;
    }
    default: break;
  }
  return v;
}

class Cursor {
 public:
  Cursor(const std::byte* bytes, uint64_t size, const std::string& label) : bytes_(bytes), size_(size), label_(label) {}

  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }

  [[noreturn]] void error(uint64_t at, const std::string& what) const { fail(label_, ": at byte ", at, ": ", what); }

  void need(uint64_t n, const char* what) const {
    if (n > left())
      error(pos_, cat("file is truncated in ", what, " (needs ", n, " bytes, ", left(), " left of ", size_, ")"));
  }
  const std::byte* take(uint64_t n, const char* what) {
    need(n, what);
    const std::byte* p = bytes_ + pos_;
    pos_ += n;
    return p;
  }
  uint32_t u32(const char* what) { return static_cast<uint32_t>(load_le(take(4, what), 4)); }
  uint64_t u64(const char* what) { return load_le(take(8, what), 8); }
  std::string string(const char* what) {
    const uint64_t at = pos_;
    const uint64_t length = u64(what);
    if (length > left())
      error(at, cat(what, " claims ", length, " bytes but only ", left(), " are left in the file"));
    const std::byte* p = take(length, what);
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(length));
  }

 private:
  const std::byte* bytes_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& label_;
};

GgufValue read_value(Cursor& in, uint32_t type_id, const std::string& key) {
  const uint64_t at = in.pos();
  if (!is_known_value_type(type_id))
    in.error(at, cat("metadata '", key, "' has unknown value type ", type_id, " (expected 0..12)"));
  const auto type = static_cast<GgufValueType>(type_id);
  if (type == GgufValueType::STRING) {
    GgufValue v;
    v.type = type;
    v.str = in.string("a metadata string");
    return v;
  }
  if (type != GgufValueType::ARRAY) return decode_scalar(type, in.take(scalar_size(type), "a metadata value"));

  GgufValue v;
  v.type = GgufValueType::ARRAY;
  const uint32_t element_id = in.u32("an array element type");
  if (!is_known_value_type(element_id))
    in.error(at, cat("metadata '", key, "' is an array of unknown value type ", element_id));
  v.element_type = static_cast<GgufValueType>(element_id);
  if (v.element_type == GgufValueType::ARRAY)
    in.error(at, cat("metadata '", key, "' is an array of arrays (not supported by GGUF readers)"));
  v.count = in.u64("an array length");
  if (v.element_type == GgufValueType::STRING) {
    // Every string takes at least its 8-byte length: bounds the count before reserving.
    if (v.count > in.left() / 8)
      in.error(at, cat("metadata '", key, "' claims ", v.count, " strings but only ", in.left(), " bytes are left"));
    v.strings.reserve(static_cast<size_t>(v.count));
    for (uint64_t i = 0; i < v.count; ++i) v.strings.push_back(in.string("an array string"));
    return v;
  }
  const size_t element_size = scalar_size(v.element_type);
  if (v.count > in.left() / element_size)
    in.error(at, cat("metadata '", key, "' claims ", v.count, " elements of ", element_size, " bytes but only ",
                     in.left(), " bytes are left"));
  v.elements = in.take(v.count * element_size, "an array");
  return v;
}

std::string shape_of(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

}  // namespace

const char* gguf_value_type_name(GgufValueType type) {
  static const char* const names[] = {"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
                                      "BOOL",  "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"};
  const auto i = static_cast<uint32_t>(type);
  return i < 13 ? names[i] : "UNKNOWN";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::UINT16: case GgufValueType::INT16:
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::UINT64: case GgufValueType::INT64:
      return true;
    default: return false;
  }
}

std::string GgufValue::describe() const {
  if (type == GgufValueType::ARRAY) return cat("an array of ", count, " ", gguf_value_type_name(element_type));
  if (type == GgufValueType::STRING) return cat("a string of ", str.size(), " bytes");
  return cat("a ", gguf_value_type_name(type));
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

std::vector<int64_t> GgufTensorInfo::torch_shape() const { return std::vector<int64_t>(ne.rbegin(), ne.rend()); }

const GgufValue* GgufHeader::find(const std::string& key) const {
  auto it = metadata_index.find(key);
  return it == metadata_index.end() ? nullptr : &metadata[it->second].second;
}

const GgufTensorInfo* GgufHeader::tensor(const std::string& name) const {
  auto it = tensor_index.find(name);
  return it == tensor_index.end() ? nullptr : &tensors[it->second];
}

GgufHeader parse_gguf(const std::byte* bytes, uint64_t size, const std::string& label) {
  Cursor in(bytes, size, label);
  GgufHeader h;
  if (size < 4 || load_le(bytes, 4) != kMagic) {
    if (size < 4) fail(label, ": not a GGUF file (", size, " bytes, shorter than the magic)");
    fail(label, ": not a GGUF file (the first 4 bytes are not \"GGUF\")");
  }
  in.take(4, "the magic");
  h.version = in.u32("the version");
  if (h.version == 1) fail(label, ": GGUF version 1 is not supported (only versions 2 and 3; re-convert the file)");
  if (h.version != 2 && h.version != 3) {
    if ((h.version & 0xffffu) == 0 && h.version != 0)
      fail(label, ": GGUF version field reads ", h.version, ": a big-endian GGUF file, which is not supported");
    fail(label, ": GGUF version ", h.version, " is not supported (only versions 2 and 3)");
  }
  const uint64_t tensor_count = in.u64("the tensor count");
  const uint64_t kv_count = in.u64("the metadata count");
  // Minimum sizes: a KV is a key length (8), a type (4) and at least 1 byte of value; a tensor
  // info is a name length (8), n_dims (4), a type (4) and an offset (8).
  if (kv_count > in.left() / 13)
    in.error(16, cat("metadata count ", kv_count, " cannot fit in the ", in.left(), " bytes left (truncated or corrupt file)"));
  if (tensor_count > in.left() / 24)
    in.error(8, cat("tensor count ", tensor_count, " cannot fit in the ", in.left(), " bytes left (truncated or corrupt file)"));

  for (uint64_t k = 0; k < kv_count; ++k) {
    const uint64_t at = in.pos();
    std::string key = in.string("a metadata key");
    const uint32_t type = in.u32("a metadata value type");
    GgufValue value = read_value(in, type, key);
    if (h.metadata_index.count(key)) in.error(at, cat("metadata key '", key, "' appears twice"));
    h.metadata_index[key] = h.metadata.size();
    h.metadata.emplace_back(std::move(key), std::move(value));
  }

  if (const GgufValue* a = h.find("general.alignment")) {
    if (!a->is_integer() || a->type == GgufValueType::INT8 || a->type == GgufValueType::INT16 ||
        a->type == GgufValueType::INT32 || a->type == GgufValueType::INT64)
      fail(label, ": metadata 'general.alignment' must be an unsigned integer, found ", a->describe());
    if (a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > kMaxAlignment)
      fail(label, ": metadata 'general.alignment' is ", a->u, "; it must be a power of two up to 2^30");
    h.alignment = a->u;
  }

  for (uint64_t t = 0; t < tensor_count; ++t) {
    GgufTensorInfo info;
    info.info_offset = in.pos();
    info.name = in.string("a tensor name");
    const std::string what = cat("tensor '", info.name, "'");
    const uint32_t n_dims = in.u32("a tensor's dimension count");
    if (n_dims > kMaxDims) in.error(info.info_offset, cat(what, " has ", n_dims, " dimensions (at most 4)"));
    unsigned __int128 numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = in.u64("a tensor dimension");
      if (ne > static_cast<uint64_t>(INT64_MAX))
        in.error(info.info_offset, cat(what, " has dimension ", d, " = ", ne, ", beyond int64"));
      numel *= ne;
      if (numel > static_cast<unsigned __int128>(INT64_MAX))
        in.error(info.info_offset, cat(what, " has more than 2^63 elements"));
      info.ne.push_back(static_cast<int64_t>(ne));
    }
    const uint32_t type = in.u32("a tensor type");
    const auto type_info = ggml_type_info(type);
    if (!type_info) in.error(info.info_offset, cat(what, " has unknown ggml type ", type));
    if (type_info->block_size == 0)
      in.error(info.info_offset, cat(what, " has type ", type_info->name, ", which this engine cannot read"));
    info.type = static_cast<GgmlType>(type);
    const int64_t ne0 = info.ne.empty() ? 1 : info.ne[0];
    if (ne0 % type_info->block_size != 0)
      in.error(info.info_offset, cat(what, " of type ", type_info->name, " has ne[0] = ", ne0,
                                     ", not a multiple of its block size ", type_info->block_size));
    const unsigned __int128 bytes =
        numel / static_cast<unsigned __int128>(type_info->block_size) * static_cast<unsigned __int128>(type_info->block_bytes);
    if (bytes > size) in.error(info.info_offset, cat(what, " ", shape_of(info.ne), " needs more bytes than the file has"));
    info.bytes = static_cast<uint64_t>(bytes);
    info.offset = in.u64("a tensor offset");
    if (info.offset % h.alignment != 0)
      in.error(info.info_offset, cat(what, " has offset ", info.offset, ", not a multiple of the alignment ", h.alignment));
    if (h.tensor_index.count(info.name)) in.error(info.info_offset, cat("tensor name '", info.name, "' appears twice"));
    h.tensor_index[info.name] = h.tensors.size();
    h.tensors.push_back(std::move(info));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t end_of_infos = in.pos();
  const uint64_t padding = (h.alignment - end_of_infos % h.alignment) % h.alignment;
  h.data_start = end_of_infos + padding;
  if (h.tensors.empty()) return h;
  if (h.data_start > size)
    fail(label, ": file is truncated: the tensor data would start at byte ", h.data_start, " but the file has ", size);
  const uint64_t data_size = size - h.data_start;
  std::vector<const GgufTensorInfo*> by_offset;
  for (const GgufTensorInfo& info : h.tensors) {
    if (info.offset > data_size || info.bytes > data_size - info.offset)
      fail(label, ": tensor '", info.name, "' data [", h.data_start + info.offset, ", ",
           h.data_start + info.offset + info.bytes, ") lies beyond the end of the file (", size, " bytes)");
    by_offset.push_back(&info);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo* prev = by_offset[i - 1];
    if (prev->offset + prev->bytes > by_offset[i]->offset)
      fail(label, ": tensors '", prev->name, "' and '", by_offset[i]->name, "' overlap at data offset ",
           by_offset[i]->offset);
  }
  return h;
}

// ---- metadata access ----

void GgufMetadata::wrong(const std::string& key, const std::string& expected) const {
  const GgufValue* v = header_.find(key);
  fail(label_, ": metadata '", key, "' must be ", expected, v ? ", found " + v->describe() : std::string(", but it is missing"));
}

const GgufValue& GgufMetadata::get(const std::string& key) const {
  const GgufValue* v = header_.find(key);
  if (!v) fail(label_, ": metadata '", key, "' is missing");
  return *v;
}

namespace {

// value as int64 when it is an integer that fits; nullopt otherwise.
std::optional<int64_t> as_int64(const GgufValue& v) {
  if (!v.is_integer()) return std::nullopt;
  switch (v.type) {
    case GgufValueType::INT8: case GgufValueType::INT16: case GgufValueType::INT32: case GgufValueType::INT64:
      return v.i;
    default:
      if (v.u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
      return static_cast<int64_t>(v.u);
  }
}

}  // namespace

int64_t GgufMetadata::integer(const std::string& key, int64_t min, int64_t max) const {
  const GgufValue& v = get(key);
  const auto value = as_int64(v);
  if (!value) wrong(key, "an integer");
  if (*value < min || *value > max) fail(label_, ": metadata '", key, "' is ", *value, ", outside [", min, ", ", max, "]");
  return *value;
}

std::optional<int64_t> GgufMetadata::optional_integer(const std::string& key, int64_t min, int64_t max) const {
  if (!has(key)) return std::nullopt;
  return integer(key, min, max);
}

double GgufMetadata::number(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type == GgufValueType::FLOAT32 || v.type == GgufValueType::FLOAT64) return v.f;
  if (const auto i = as_int64(v)) return static_cast<double>(*i);
  wrong(key, "a number");
}

std::optional<double> GgufMetadata::optional_number(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return number(key);
}

std::string GgufMetadata::string(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufValueType::STRING) wrong(key, "a string");
  return v.str;
}

std::optional<std::string> GgufMetadata::optional_string(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return string(key);
}

std::optional<bool> GgufMetadata::optional_bool(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  const GgufValue& v = get(key);
  if (v.type != GgufValueType::BOOL) wrong(key, "true or false");
  return v.u != 0;
}

std::vector<int64_t> GgufMetadata::integer_array(const std::string& key, int64_t min, int64_t max) const {
  const GgufValue& v = get(key);
  if (!v.is_array() || v.element_type == GgufValueType::STRING || v.element_type == GgufValueType::BOOL ||
      v.element_type == GgufValueType::FLOAT32 || v.element_type == GgufValueType::FLOAT64)
    wrong(key, "an array of integers");
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(v.count));
  const size_t n = scalar_size(v.element_type);
  for (uint64_t i = 0; i < v.count; ++i) {
    const auto value = as_int64(decode_scalar(v.element_type, v.elements + i * n));
    if (!value || *value < min || *value > max)
      fail(label_, ": metadata '", key, "' element ", i, " is outside [", min, ", ", max, "]");
    out.push_back(*value);
  }
  return out;
}

std::vector<float> GgufMetadata::float_array(const std::string& key) const {
  const GgufValue& v = get(key);
  if (!v.is_array() || v.element_type != GgufValueType::FLOAT32) wrong(key, "an array of FLOAT32");
  std::vector<float> out(static_cast<size_t>(v.count));
  if (v.count) std::memcpy(out.data(), v.elements, out.size() * 4);  // little-endian host assumed, as mmap'd weights
  return out;
}

const std::vector<std::string>& GgufMetadata::string_array(const std::string& key) const {
  const GgufValue& v = get(key);
  if (!v.is_array() || v.element_type != GgufValueType::STRING) wrong(key, "an array of strings");
  return v.strings;
}

// ---- file ----

GgufFile::GgufFile(const std::string& path) : file_(path) { header_ = parse_gguf(file_.data(), file_.size(), path); }

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  if (!in.read(magic, 4)) return false;
  return std::memcmp(magic, "GGUF", 4) == 0;
}

// ---- writing ----

GgufValue gguf_u32(uint32_t v) {
  GgufValue g;
  g.type = GgufValueType::UINT32;
  g.u = v;
  return g;
}
GgufValue gguf_i32(int32_t v) {
  GgufValue g;
  g.type = GgufValueType::INT32;
  g.i = v;
  return g;
}
GgufValue gguf_u64(uint64_t v) {
  GgufValue g;
  g.type = GgufValueType::UINT64;
  g.u = v;
  return g;
}
GgufValue gguf_f32(float v) {
  GgufValue g;
  g.type = GgufValueType::FLOAT32;
  g.f = v;
  return g;
}
GgufValue gguf_bool(bool v) {
  GgufValue g;
  g.type = GgufValueType::BOOL;
  g.u = v ? 1 : 0;
  return g;
}
GgufValue gguf_string(std::string v) {
  GgufValue g;
  g.type = GgufValueType::STRING;
  g.str = std::move(v);
  return g;
}
GgufValue gguf_string_array(std::vector<std::string> v) {
  GgufValue g;
  g.type = GgufValueType::ARRAY;
  g.element_type = GgufValueType::STRING;
  g.count = v.size();
  g.strings = std::move(v);
  return g;
}

namespace {
template <typename T>
GgufArrayToWrite pack_array(GgufValueType type, const std::vector<T>& v) {
  GgufArrayToWrite a{type, std::vector<std::byte>(v.size() * sizeof(T)), v.size()};
  if (!v.empty()) std::memcpy(a.bytes.data(), v.data(), a.bytes.size());
  return a;
}
}  // namespace

GgufArrayToWrite gguf_i32_array(const std::vector<int32_t>& v) { return pack_array(GgufValueType::INT32, v); }
GgufArrayToWrite gguf_u32_array(const std::vector<uint32_t>& v) { return pack_array(GgufValueType::UINT32, v); }
GgufArrayToWrite gguf_f32_array(const std::vector<float>& v) { return pack_array(GgufValueType::FLOAT32, v); }

void GgufWriter::add(const std::string& key, GgufValue value) {
  if (value.type == GgufValueType::ARRAY && value.element_type != GgufValueType::STRING) {
    // A numeric array read from a file: copy its elements.
    if (value.element_type == GgufValueType::ARRAY || (value.count > 0 && value.elements == nullptr))
      fail("GgufWriter: numeric array '", key, "' has no elements to write");
    GgufArrayToWrite array{value.element_type, {}, value.count};
    array.bytes.assign(value.elements, value.elements + value.count * scalar_size(value.element_type));
    add(key, std::move(array));
    return;
  }
  for (const Entry& e : entries_)
    if (e.key == key) fail("GgufWriter: metadata key '", key, "' added twice");
  if (key == "general.alignment") {
    if (value.type != GgufValueType::UINT32 || value.u == 0 || (value.u & (value.u - 1)) != 0)
      fail("GgufWriter: general.alignment must be a UINT32 power of two");
    alignment_ = static_cast<uint32_t>(value.u);
  }
  entries_.push_back({key, std::move(value), std::nullopt});
}

void GgufWriter::add(const std::string& key, GgufArrayToWrite array) {
  for (const Entry& e : entries_)
    if (e.key == key) fail("GgufWriter: metadata key '", key, "' added twice");
  if (array.bytes.size() != array.count * scalar_size(array.element_type))
    fail("GgufWriter: array '", key, "' has ", array.bytes.size(), " bytes for ", array.count, " elements");
  GgufValue v;
  v.type = GgufValueType::ARRAY;
  v.element_type = array.element_type;
  v.count = array.count;
  entries_.push_back({key, std::move(v), std::move(array)});
}

void GgufWriter::add_tensor(GgufTensorToWrite tensor) {
  if (tensor.name.size() >= 64) fail("GgufWriter: tensor name '", tensor.name, "' is 64 bytes or longer (ggml's limit)");
  for (const GgufTensorToWrite& t : tensors_)
    if (t.name == tensor.name) fail("GgufWriter: tensor '", tensor.name, "' added twice");
  const auto info = ggml_type_info(static_cast<uint32_t>(tensor.type));
  if (!info || info->block_size == 0) fail("GgufWriter: tensor '", tensor.name, "' has an unsupported type");
  if (tensor.ne.empty() || tensor.ne.size() > kMaxDims) fail("GgufWriter: tensor '", tensor.name, "' needs 1 to 4 dims");
  int64_t numel = 1;
  for (int64_t d : tensor.ne) numel *= d;
  if (tensor.ne[0] % info->block_size != 0 ||
      (!tensor.produce && static_cast<int64_t>(tensor.bytes.size()) != ggml_row_bytes(*info, numel)))
    fail("GgufWriter: tensor '", tensor.name, "' ", shape_of(tensor.ne), " of type ", info->name, " has ",
         tensor.bytes.size(), " bytes, which does not match its shape");
  tensors_.push_back(std::move(tensor));
}

namespace {

class Out {
 public:
  explicit Out(const std::string& path) : path_(path), file_(path, std::ios::binary | std::ios::trunc) {
    if (!file_) fail(path, ": cannot open for writing");
  }
  void bytes(const void* p, size_t n) {
    file_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    pos_ += n;
  }
  void le(uint64_t v, size_t n) {
    unsigned char b[8];
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    bytes(b, n);
  }
  void string(const std::string& s) {
    le(s.size(), 8);
    bytes(s.data(), s.size());
  }
  void pad(uint64_t alignment) {
    static const char zeros[64] = {};
    uint64_t n = (alignment - pos_ % alignment) % alignment;
    while (n > 0) {
      const uint64_t k = std::min<uint64_t>(n, sizeof zeros);
      bytes(zeros, k);
      n -= k;
    }
  }
  void close() {
    file_.close();
    if (!file_) fail(path_, ": write failed (disk full?)");
  }

 private:
  std::string path_;
  std::ofstream file_;
  uint64_t pos_ = 0;
};

int64_t expected_bytes(const GgufTensorToWrite& t) {
  int64_t numel = 1;
  for (int64_t d : t.ne) numel *= d;
  return ggml_row_bytes(*ggml_type_info(static_cast<uint32_t>(t.type)), numel);
}

void write_scalar(Out& out, const GgufValue& v) {
  switch (v.type) {
    case GgufValueType::UINT8: case GgufValueType::UINT16: case GgufValueType::UINT32: case GgufValueType::UINT64:
    case GgufValueType::BOOL:
      out.le(v.u, scalar_size(v.type));
      break;
    case GgufValueType::INT8: case GgufValueType::INT16: case GgufValueType::INT32: case GgufValueType::INT64:
      out.le(static_cast<uint64_t>(v.i), scalar_size(v.type));
      break;
    case GgufValueType::FLOAT32: {
      const float f = static_cast<float>(v.f);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      out.le(bits, 4);
      break;
    }
    case GgufValueType::FLOAT64: {
      uint64_t bits;
      std::memcpy(&bits, &v.f, 8);
      out.le(bits, 8);
      break;
    }
    case GgufValueType::STRING: out.string(v.str); break;
    default: break;
  }
}

}  // namespace

void GgufWriter::write(const std::string& path) const {
  Out out(path);
  out.le(kMagic, 4);
  out.le(3, 4);
  out.le(tensors_.size(), 8);
  out.le(entries_.size(), 8);
  for (const Entry& e : entries_) {
    out.string(e.key);
    out.le(static_cast<uint32_t>(e.value.type), 4);
    if (e.value.type != GgufValueType::ARRAY) {
      write_scalar(out, e.value);
      continue;
    }
    out.le(static_cast<uint32_t>(e.value.element_type), 4);
    out.le(e.value.count, 8);
    if (e.array) {
      out.bytes(e.array->bytes.data(), e.array->bytes.size());
    } else {
      for (const std::string& s : e.value.strings) out.string(s);
    }
  }
  uint64_t offset = 0;
  for (const GgufTensorToWrite& t : tensors_) {
    out.string(t.name);
    out.le(t.ne.size(), 4);
    for (int64_t d : t.ne) out.le(static_cast<uint64_t>(d), 8);
    out.le(static_cast<uint32_t>(t.type), 4);
    out.le(offset, 8);
    offset += static_cast<uint64_t>(expected_bytes(t));
    offset += (alignment_ - offset % alignment_) % alignment_;
  }
  out.pad(alignment_);
  for (const GgufTensorToWrite& t : tensors_) {
    if (t.produce) {
      const std::vector<std::byte> bytes = t.produce();
      if (static_cast<int64_t>(bytes.size()) != expected_bytes(t))
        fail("GgufWriter: tensor '", t.name, "' produced ", bytes.size(), " bytes, expected ", expected_bytes(t));
      out.bytes(bytes.data(), bytes.size());
    } else {
      out.bytes(t.bytes.data(), t.bytes.size());
    }
    out.pad(alignment_);
  }
  out.close();
}

}  // namespace jamba
