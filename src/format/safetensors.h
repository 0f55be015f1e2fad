// safetensors: single files and sharded checkpoints (model.safetensors.index.json), mmap'd.
// Every header field is validated before any tensor is used: header length, JSON syntax, dtype
// names, shapes, data_offsets, shape x dtype size == byte span, spans inside the data section
// and not overlapping. Errors name the file and the tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "format/weight_source.h"
#include "tensor/tensor.h"

namespace jamba {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;          // in file order of data offsets
  std::map<std::string, std::string> metadata;    // "__metadata__" (string -> string)
  uint64_t data_start = 0;                        // 8 + header length
};

// Parses and validates the header of a complete safetensors file held in `bytes` (the whole
// file). `label` (normally the path) prefixes every error message. Never reads out of bounds.
SafetensorsHeader parse_safetensors(const std::byte* bytes, uint64_t size, const std::string& label);

// Largest header accepted (the official reader's limit too): parsing cost stays bounded.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull * 1000 * 1000;
// Most dimensions a tensor shape may have (PyTorch and NumPy stop at 64 too).
constexpr size_t kMaxTensorRank = 64;

// model.safetensors.index.json, validated: `weight_map` is an object of tensor name -> shard
// file name, and every shard name is a plain file name (no '/', '\\' or "..").
struct SafetensorsIndex {
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  std::vector<std::string> shards;                // distinct shard names, sorted
};
SafetensorsIndex parse_safetensors_index(const std::string& text, const std::string& label);

// One mmap'd safetensors file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  const std::string& path() const { return file_.path(); }
  const SafetensorsHeader& header() const { return header_; }
  // Points into the mapping. Throws when the data is not aligned to the element size: the
  // format does not promise alignment (the official writer gets it by padding the header to 8
  // bytes and storing tensors in decreasing dtype size), and consumers cast the pointer.
  TensorView view(const SafetensorsEntry& entry) const;

 private:
  MappedFile file_;
  SafetensorsHeader header_;
};

// All tensors of a checkpoint directory: `model.safetensors`, or the shards listed by
// `model.safetensors.index.json` (every shard of the weight_map is opened; a tensor must be in
// the shard the index names, and no tensor may appear twice).
class TensorStore : public WeightSource {
 public:
  // `dir` is a model directory. Throws Error naming the missing / broken file.
  static TensorStore open(const std::string& dir);
  // True when `dir` holds model.safetensors or model.safetensors.index.json.
  static bool has_weights(const std::string& dir);

  bool contains(const std::string& name) const override { return index_.count(name) != 0; }
  // Throws Error("<dir>: missing tensor <name>") when absent.
  TensorView get(const std::string& name) const override;
  // Which file a tensor lives in (for messages).
  const std::string& file_of(const std::string& name) const override;
  std::vector<std::string> names() const override;  // sorted
  size_t size() const { return index_.size(); }

 private:
  struct Location {
    const SafetensorsFile* file;
    const SafetensorsEntry* entry;
  };
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Location> index_;
};

// Writes a safetensors file (used by tests and tools to build good and broken checkpoints).
// The header is padded with spaces so the data section starts at a multiple of 8 bytes, as the
// official writer does; tensors are stored in the given order, back to back, so put larger
// dtypes first if every tensor must be aligned. Throws Error on inconsistent input.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;  // must be numel * dtype_size bytes
};
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The same file written tensor by tensor, for checkpoints too big to hold in memory twice:
// `fill(i, out)` writes tensor i's numel * dtype_size bytes into `out` just before it is saved.
struct TensorHeader {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
};
void write_safetensors_streamed(const std::string& path, const std::vector<TensorHeader>& tensors,
                                const std::function<void(size_t index, std::byte* out)>& fill,
                                const std::map<std::string, std::string>& metadata = {});

}  // namespace jamba
