#include "format/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "format/json_document.h"

namespace jamba {

namespace {

using json = nlohmann::json;

uint64_t read_le64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint64_t>(p[i]);
  return v;
}

std::string offsets_string(const SafetensorsEntry& e) { return cat("[", e.begin, ", ", e.end, "]"); }

// Streams the header JSON straight into SafetensorsEntry values (no DOM): memory stays
// proportional to what is kept, nesting deeper than the format allows is rejected at once, and
// duplicate keys (which a DOM would silently collapse) are seen. Throws Error on anything else.
class HeaderReader {
 public:
  HeaderReader(const std::string& label, SafetensorsHeader* out) : label_(label), out_(out) {}

  bool done() const { return where_ == Where::kDone; }

  // SAX interface (nlohmann::json::sax_parse).
  bool null() { unexpected("null"); }
  bool boolean(bool value) { unexpected(value ? "true" : "false"); }
  bool number_integer(json::number_integer_t value) {
    if (value < 0) unexpected(cat("a negative number ", value));
    return number_unsigned(static_cast<uint64_t>(value));
  }
  bool number_unsigned(json::number_unsigned_t value) {
    if (where_ == Where::kShape) {
      if (numbers_.size() == kMaxTensorRank)
        fail(prefix(), "shape has more than ", kMaxTensorRank, " dimensions");
      if (value > static_cast<uint64_t>(INT64_MAX))
        fail(prefix(), "shape dimension ", value, " is too large (limit 2^63-1)");
    } else if (where_ == Where::kOffsets) {
      if (numbers_.size() == 2) fail(prefix(), "data_offsets has more than 2 entries");
    } else {
      unexpected(cat("a number ", value));
    }
    numbers_.push_back(value);
    return true;
  }
  bool number_float(json::number_float_t, const std::string& text) {
    unexpected(cat("a non-integer number ", text));
  }
  bool string(std::string& value) {
    if (where_ == Where::kMetadata) {
      out_->metadata[key_] = std::move(value);
      return true;
    }
    if (where_ == Where::kTensor && field_ == kDtype) {
      if (!dtype_from_name(value, &entry_.dtype))
        fail(prefix(), "unknown dtype ", in_quotes(value, 40),
             " (expected a safetensors dtype such as F32, F16, BF16)");
      return true;
    }
    unexpected(cat("a string ", in_quotes(value, 40)));
  }
  bool binary(json::binary_t&) { unexpected("binary data"); }

  bool start_object(size_t) {
    if (where_ == Where::kTop) {
      where_ = Where::kRoot;
    } else if (where_ == Where::kRoot && key_ == "__metadata__") {
      where_ = Where::kMetadata;
    } else if (where_ == Where::kRoot) {
      where_ = Where::kTensor;
      entry_ = SafetensorsEntry{};
      entry_.name = key_;
      seen_ = 0;
    } else {
      unexpected("an object");
    }
    return true;
  }
  bool end_object() {
    if (where_ == Where::kMetadata) {
      where_ = Where::kRoot;
    } else if (where_ == Where::kTensor) {
      for (unsigned field : {kDtype, kShape, kOffsets})
        if (!(seen_ & field)) fail(prefix(), "missing field '", field_name(field), "'");
      out_->entries.push_back(std::move(entry_));
      where_ = Where::kRoot;
    } else {
      where_ = Where::kDone;  // the parser guarantees this is the top-level object closing
    }
    return true;
  }
  bool start_array(size_t) {
    if (where_ == Where::kTensor && field_ == kShape) {
      where_ = Where::kShape;
    } else if (where_ == Where::kTensor && field_ == kOffsets) {
      where_ = Where::kOffsets;
    } else {
      unexpected("an array");
    }
    numbers_.clear();
    return true;
  }
  bool end_array() {
    if (where_ == Where::kShape) {
      entry_.shape.assign(numbers_.begin(), numbers_.end());  // each checked <= INT64_MAX
    } else {  // kOffsets: the only other array we ever open
      if (numbers_.size() != 2)
        fail(prefix(), "data_offsets has ", numbers_.size(), " entries, expected 2 [begin, end]");
      entry_.begin = numbers_[0];
      entry_.end = numbers_[1];
    }
    where_ = Where::kTensor;
    return true;
  }
  bool key(std::string& name) {
    if (where_ == Where::kRoot) {
      if (!root_keys_.insert(name).second)
        fail(label_, ": duplicate key ", in_quotes(name), " in the header");
      key_ = std::move(name);
    } else if (where_ == Where::kMetadata) {
      if (out_->metadata.count(name))
        fail(label_, ": duplicate key ", in_quotes(name), " in __metadata__");
      key_ = std::move(name);
    } else {  // kTensor: keys never occur inside arrays
      field_ = name == "dtype" ? kDtype : name == "shape" ? kShape : name == "data_offsets" ? kOffsets : 0;
      if (field_ == 0)
        fail(prefix(), "unknown field ", in_quotes(name, 40), " (expected dtype, shape, data_offsets)");
      if (seen_ & field_) fail(prefix(), "duplicate field '", name, "'");
      seen_ |= field_;
    }
    return true;
  }
  bool parse_error(size_t, const std::string&, const json::exception& error) {
    fail(label_, ": header is not valid JSON: ", json_error_text(error));
  }

 private:
  enum class Where { kTop, kRoot, kMetadata, kTensor, kShape, kOffsets, kDone };
  static constexpr unsigned kDtype = 1, kShape = 2, kOffsets = 4;

  static const char* field_name(unsigned field) {
    return field == kDtype ? "dtype" : field == kShape ? "shape" : "data_offsets";
  }
  std::string prefix() const { return cat(label_, ": tensor ", in_quotes(entry_.name), ": "); }

  // A JSON value where the format does not allow one: say what was expected there.
  [[noreturn]] void unexpected(const std::string& found) const {
    switch (where_) {
      case Where::kTop: fail(label_, ": header is not a JSON object (found ", found, ")");
      case Where::kRoot:
        if (key_ == "__metadata__")
          fail(label_, ": __metadata__ must be an object of strings, found ", found);
        fail(label_, ": tensor ", in_quotes(key_), ": entry must be an object with dtype, shape and ",
             "data_offsets, found ", found);
      case Where::kMetadata:
        fail(label_, ": __metadata__ value for key ", in_quotes(key_), " must be a string, found ", found);
      case Where::kTensor:
        if (field_ == kDtype) fail(prefix(), "dtype must be a string, found ", found);
        if (field_ == kShape) fail(prefix(), "shape must be an array of non-negative integers, found ", found);
        fail(prefix(), "data_offsets must be an array of 2 non-negative integers, found ", found);
      case Where::kShape: fail(prefix(), "shape entries must be non-negative integers, found ", found);
      case Where::kOffsets:
        fail(prefix(), "data_offsets entries must be non-negative integers, found ", found);
      case Where::kDone: break;
    }
    fail(label_, ": unexpected ", found, " after the header object");
  }

  const std::string& label_;
  SafetensorsHeader* out_;
  Where where_ = Where::kTop;
  std::string key_;              // current key at the top level or inside __metadata__
  std::set<std::string> root_keys_;
  SafetensorsEntry entry_;       // tensor being read
  unsigned seen_ = 0;            // fields of entry_ seen so far
  unsigned field_ = 0;           // field whose value comes next
  std::vector<uint64_t> numbers_;
};

// Shape, dtype size and offsets must agree, inside a data section of `data_size` bytes.
void check_entry(const SafetensorsEntry& e, uint64_t data_size, const std::string& label) {
  const std::string where = cat(label, ": tensor ", in_quotes(e.name), ": ");
  // Left-to-right signed products, as TensorView::numel computes them: overflow here would be
  // undefined behaviour there.
  int64_t numel = 1;
  for (int64_t d : e.shape)
    if (__builtin_mul_overflow(numel, d, &numel))
      fail(where, "shape ", shape_string(e.shape), " has more elements than fit in 64 bits");
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(numel), dtype_size(e.dtype), &nbytes))
    fail(where, "shape ", shape_string(e.shape), " x ", dtype_name(e.dtype), " needs more than 2^64 bytes");
  if (e.begin > e.end)
    fail(where, "data_offsets ", offsets_string(e), " are reversed (begin > end)");
  if (e.end - e.begin != nbytes)
    fail(where, "data_offsets ", offsets_string(e), " span ", e.end - e.begin, " bytes but shape ",
         shape_string(e.shape), " x ", dtype_name(e.dtype), " needs ", nbytes);
  if (e.end > data_size)
    fail(where, "data_offsets ", offsets_string(e), " run past the end of the data section (",
         data_size, " bytes): the file is truncated or the offsets are wrong");
}

// Shard names come from an untrusted index: they must name a file directly in the model dir.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find("..") == std::string::npos &&
         name.find('\0') == std::string::npos;
}

std::string join_path(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

}  // namespace

SafetensorsHeader parse_safetensors(const std::byte* bytes, uint64_t size, const std::string& label) {
  if (size < 8)
    fail(label, ": file is ", size, " bytes, too short for a safetensors file (which starts with ",
         "an 8-byte header length)");
  const uint64_t header_len = read_le64(bytes);
  if (header_len > kMaxSafetensorsHeaderBytes)
    fail(label, ": header length ", header_len, " exceeds the ", kMaxSafetensorsHeaderBytes,
         "-byte limit (not a safetensors file, or a corrupt one)");
  if (header_len > size - 8)
    fail(label, ": header length ", header_len, " runs past the end of the file (", size,
         " bytes): the file is truncated or not a safetensors file");

  SafetensorsHeader header;
  header.data_start = 8 + header_len;
  const uint64_t data_size = size - header.data_start;

  HeaderReader reader(label, &header);
  const char* text = reinterpret_cast<const char*>(bytes + 8);
  json::sax_parse(text, text + header_len, &reader, json::input_format_t::json, /*strict=*/true,
                  /*ignore_comments=*/false);
  if (!reader.done()) fail(label, ": header is not a complete JSON object");

  for (const auto& e : header.entries) check_entry(e, data_size, label);

  // Overlap check over non-empty spans in begin order (empty tensors own no bytes, so they may
  // sit anywhere, even inside another tensor's span). Gaps between tensors and unused bytes at
  // the end are tolerated: the official reader rejects them, but they are harmless here (no read
  // can leave the data section) and rejecting them buys no safety.
  std::sort(header.entries.begin(), header.entries.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end != b.end ? a.end < b.end : a.name < b.name;
  });
  const SafetensorsEntry* furthest = nullptr;  // non-empty span reaching furthest so far
  for (const auto& e : header.entries) {
    if (e.begin == e.end) continue;
    if (furthest != nullptr && e.begin < furthest->end)
      fail(label, ": tensors ", in_quotes(furthest->name), " ", offsets_string(*furthest), " and ",
           in_quotes(e.name), " ", offsets_string(e), " overlap in the data section");
    if (furthest == nullptr || e.end > furthest->end) furthest = &e;
  }
  return header;
}

SafetensorsIndex parse_safetensors_index(const std::string& text, const std::string& label) {
  const json doc = parse_json_document(text, label);
  if (!doc.is_object()) fail(label, ": top level must be a JSON object, found ", describe_json(doc));
  auto metadata = doc.find("metadata");
  if (metadata != doc.end() && !metadata->is_object() && !metadata->is_null())
    fail(label, ": 'metadata' must be an object, found ", describe_json(*metadata));
  auto map = doc.find("weight_map");
  if (map == doc.end()) fail(label, ": missing 'weight_map' (the tensor name -> shard file table)");
  if (!map->is_object())
    fail(label, ": 'weight_map' must be an object of tensor name -> shard file name, found ",
         describe_json(*map));
  if (map->empty()) fail(label, ": 'weight_map' is empty: no tensors");

  SafetensorsIndex index;
  std::set<std::string> shards;
  for (const auto& [name, shard] : map->items()) {
    if (!shard.is_string())
      fail(label, ": weight_map entry for tensor ", in_quotes(name), " must be a shard file name, found ",
           describe_json(shard));
    const std::string& file = shard.get_ref<const std::string&>();
    if (!is_plain_file_name(file))
      fail(label, ": weight_map puts tensor ", in_quotes(name), " in shard ", in_quotes(file),
           ", which is not a plain file name inside the model directory");
    index.weight_map.emplace(name, file);
    shards.insert(file);
  }
  index.shards.assign(shards.begin(), shards.end());
  return index;
}

SafetensorsFile::SafetensorsFile(const std::string& path)
    : file_(path), header_(parse_safetensors(file_.data(), file_.size(), path)) {}

TensorView SafetensorsFile::view(const SafetensorsEntry& entry) const {
  // Entries come from header_, so this holds; checked anyway because a foreign entry would
  // point outside the mapping.
  if (entry.end < entry.begin || header_.data_start + entry.end > file_.size())
    fail(path(), ": tensor ", in_quotes(entry.name), " does not belong to this file");
  const std::byte* data = file_.data() + header_.data_start + entry.begin;
  const size_t element = dtype_size(entry.dtype);
  if (entry.end > entry.begin && reinterpret_cast<uintptr_t>(data) % element != 0)
    fail(path(), ": tensor ", in_quotes(entry.name), " data is not ", element, "-byte aligned (file offset ",
         header_.data_start + entry.begin, " for ", dtype_name(entry.dtype),
         "); re-save the file with the official safetensors writer, which aligns every tensor");
  TensorView view;
  view.dtype = entry.dtype;
  view.shape = entry.shape;
  view.data = data;
  view.device = Device::CPU;
  return view;
}

bool TensorStore::has_weights(const std::string& dir) {
  return file_exists(join_path(dir, "model.safetensors")) ||
         file_exists(join_path(dir, "model.safetensors.index.json"));
}

TensorStore TensorStore::open(const std::string& dir_arg) {
  TensorStore store;
  store.dir_ = dir_arg;
  while (store.dir_.size() > 1 && store.dir_.back() == '/') store.dir_.pop_back();
  const std::string& dir = store.dir_;

  const std::string single = join_path(dir, "model.safetensors");
  if (file_exists(single)) {
    store.files_.push_back(std::make_unique<SafetensorsFile>(single));
    for (const auto& entry : store.files_.back()->header().entries)
      store.index_.emplace(entry.name, Location{store.files_.back().get(), &entry});
    return store;
  }

  const std::string index_path = join_path(dir, "model.safetensors.index.json");
  if (!file_exists(index_path)) fail(dir, ": no model.safetensors or model.safetensors.index.json");
  std::error_code ec;
  const auto index_size = std::filesystem::file_size(index_path, ec);
  if (!ec && index_size > kMaxSafetensorsHeaderBytes)
    fail(index_path, ": ", index_size, " bytes is too large for an index (limit ",
         kMaxSafetensorsHeaderBytes, ")");
  const SafetensorsIndex index = parse_safetensors_index(read_text_file(index_path), index_path);

  std::map<const SafetensorsFile*, std::string> shard_of;
  for (const std::string& shard : index.shards) {
    const std::string path = join_path(dir, shard);
    if (!file_exists(path)) {
      auto named_by = std::find_if(index.weight_map.begin(), index.weight_map.end(),
                                   [&](const auto& kv) { return kv.second == shard; });
      fail(index_path, ": shard ", in_quotes(shard), " (listed for tensor ", in_quotes(named_by->first),
           ") does not exist: ", path);
    }
    store.files_.push_back(std::make_unique<SafetensorsFile>(path));
    const SafetensorsFile* file = store.files_.back().get();
    shard_of[file] = shard;
    for (const auto& entry : file->header().entries) {
      auto [it, inserted] = store.index_.emplace(entry.name, Location{file, &entry});
      if (!inserted)
        fail(dir, ": tensor ", in_quotes(entry.name), " is present in two shards: ",
             it->second.file->path(), " and ", path);
    }
  }
  // Every tensor in a shard is where the index says, and every indexed tensor exists.
  for (const auto& [name, location] : store.index_) {
    auto listed = index.weight_map.find(name);
    if (listed == index.weight_map.end())
      fail(location.file->path(), ": tensor ", in_quotes(name), " is not listed in the weight_map of ",
           index_path);
    if (listed->second != shard_of[location.file])
      fail(index_path, ": weight_map puts tensor ", in_quotes(name), " in shard ", in_quotes(listed->second),
           " but it is in ", location.file->path());
  }
  for (const auto& [name, shard] : index.weight_map)
    if (!store.index_.count(name))
      fail(index_path, ": weight_map puts tensor ", in_quotes(name), " in shard ", in_quotes(shard), ", but ",
           join_path(dir, shard), " has no such tensor");
  return store;
}

TensorView TensorStore::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(dir_, ": missing tensor ", name);
  return it->second.file->view(*it->second.entry);
}

const std::string& TensorStore::file_of(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(dir_, ": missing tensor ", name);
  return it->second.file->path();
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& kv : index_) out.push_back(kv.first);
  return out;
}

void write_safetensors_streamed(const std::string& path, const std::vector<TensorHeader>& tensors,
                                const std::function<void(size_t index, std::byte* out)>& fill,
                                const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  std::vector<uint64_t> sizes;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__" || !names.insert(t.name).second)
      fail(path, ": cannot write tensor ", in_quotes(t.name), ": name is reserved or repeated");
    int64_t numel = 1;
    for (int64_t d : t.shape)
      if (d < 0 || __builtin_mul_overflow(numel, d, &numel))
        fail(path, ": cannot write tensor ", in_quotes(t.name), ": bad shape ", shape_string(t.shape));
    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(numel), dtype_size(t.dtype), &nbytes))
      fail(path, ": cannot write tensor ", in_quotes(t.name), ": bad shape ", shape_string(t.shape));
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + nbytes}}};
    sizes.push_back(nbytes);
    offset += nbytes;
  }
  // Pad with spaces (still valid JSON) so the data section starts 8-byte aligned.
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(path, ": cannot open for writing: ", std::strerror(errno));
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  out.write(len, 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  std::vector<std::byte> buffer;
  for (size_t i = 0; i < tensors.size(); ++i) {
    buffer.resize(sizes[i]);
    fill(i, buffer.data());
    out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
  }
  out.close();
  if (!out) fail(path, ": write failed: ", std::strerror(errno));
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorHeader> headers;
  for (const auto& t : tensors) {
    headers.push_back({t.name, t.dtype, t.shape});
    int64_t numel = 1;
    for (int64_t d : t.shape)
      if (d < 0 || __builtin_mul_overflow(numel, d, &numel))
        fail(path, ": cannot write tensor ", in_quotes(t.name), ": bad shape ", shape_string(t.shape));
    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(numel), dtype_size(t.dtype), &nbytes) || nbytes != t.bytes.size())
      fail(path, ": cannot write tensor ", in_quotes(t.name), ": shape ", shape_string(t.shape), " x ",
           dtype_name(t.dtype), " does not match the ", t.bytes.size(), " bytes given");
  }
  write_safetensors_streamed(
      path, headers, [&](size_t i, std::byte* out) { std::memcpy(out, tensors[i].bytes.data(), tensors[i].bytes.size()); },
      metadata);
}

}  // namespace jamba
