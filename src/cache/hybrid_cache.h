// HybridCache: where per-sequence state lives. Attention layers keep K/V rows (one per token);
// Mamba layers keep a constant-size state per sequence: the last K-1 conv inputs and the fp32
// SSM state [Di, N]. Snapshots copy the Mamba states (to host memory) and remember the KV
// length, so a sequence can be rolled back to (or a new one started from) any snapshotted
// position.
//
// The floats live in a CacheMemory: host memory by default, device memory when the forward runs
// on a GPU (src/gpu), so the kernels read K/V and states where they are. Pointers the cache hands
// out or takes (keys(), mamba(), append_kv) are in that memory; snapshots and saved sessions are
// host data whatever the memory.
#pragma once
#include <cstdint>
#include <istream>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "format/model_config.h"
#include "model/layer_plan.h"

namespace jamba {

using SeqId = int64_t;

// Where the cache's floats are allocated, and how they are copied in, out and within.
class CacheMemory {
 public:
  virtual ~CacheMemory() = default;
  virtual float* allocate(int64_t floats) = 0;  // zero-filled; throws Error when out of memory
  virtual void release(float* p) noexcept = 0;
  virtual void fill_zero(float* p, int64_t floats) = 0;
  virtual void copy(float* dst, const float* src, int64_t floats) = 0;  // both in this memory
  virtual void upload(float* dst, const float* host, int64_t floats) = 0;
  virtual void download(float* host, const float* src, int64_t floats) const = 0;
};

// Plain host memory.
std::shared_ptr<CacheMemory> host_cache_memory();

// A Mamba layer's state of one sequence, in host memory (snapshots, saved sessions).
struct MambaState {
  std::vector<float> conv;  // [K-1, Di], oldest row first
  std::vector<float> ssm;   // [Di, N], fp32 always
};

// The same, where the cache keeps it (the forward updates it in place).
struct MambaStateRef {
  float* conv;
  float* ssm;
};

// Every sequence's state of one Mamba layer, in one array each: sequence s's conv state is at
// conv + state_index(s) * conv_stride (floats), its SSM state at ssm + state_index(s) * ssm_stride.
// Batched decode kernels take the base and one index per row. Valid until a sequence is created
// (the arrays grow then).
struct MambaPool {
  float* conv;
  float* ssm;
  int64_t conv_stride, ssm_stride;
};

struct CacheSnapshot {
  int64_t length = 0;
  std::vector<MambaState> mamba;  // one per Mamba layer
};

class HybridCache {
 public:
  // max_tokens: the context cap per sequence (prompt + generated).
  HybridCache(const ModelConfig& config, const LayerPlan& plan, int64_t max_tokens,
              std::shared_ptr<CacheMemory> memory = host_cache_memory());
  ~HybridCache();
  HybridCache(const HybridCache&) = delete;
  HybridCache& operator=(const HybridCache&) = delete;

  SeqId create_sequence();
  void release_sequence(SeqId seq);
  bool has_sequence(SeqId seq) const { return sequences_.count(seq) != 0; }
  SeqId fork_sequence(SeqId seq);  // a new sequence with a copy of seq's whole cache

  int64_t length(SeqId seq) const;  // tokens this sequence has processed
  int64_t max_tokens() const { return max_tokens_; }

  // Attention slot `slot`: rows [0, length) are committed; append_kv() adds rows for the forward
  // in progress (from pointers in the cache's memory; append_kv_from_host from host memory),
  // which commit() then counts. Rows are [nkv * hd].
  void append_kv(SeqId seq, int64_t slot, const float* keys, const float* values, int64_t rows);
  void append_kv_from_host(SeqId seq, int64_t slot, const float* keys, const float* values, int64_t rows);
  const float* keys(SeqId seq, int64_t slot) const;
  const float* values(SeqId seq, int64_t slot) const;
  MambaStateRef mamba(SeqId seq, int64_t slot);
  MambaPool mamba_pool(int64_t slot);
  int64_t state_index(SeqId seq) const;
  void commit(SeqId seq, int64_t new_tokens);

  CacheSnapshot snapshot(SeqId seq) const;
  // Rolls seq back to a snapshot taken from it (or from the sequence it was forked from) at a
  // length <= its current length: drops later KV rows and restores the Mamba states.
  void restore(SeqId seq, const CacheSnapshot& snapshot);

  // Binary image of one sequence (length, KV rows, Mamba states), for saved sessions.
  void write_sequence(SeqId seq, std::ostream& out) const;
  // Reads an image written by write_sequence into a new sequence. Throws Error naming `label`
  // when the file is truncated or was made for a model of other shapes.
  SeqId read_sequence(std::istream& in, const std::string& label);
  void write_snapshot(const CacheSnapshot& snapshot, std::ostream& out) const;
  CacheSnapshot read_snapshot(std::istream& in, const std::string& label) const;

  // Bytes of KV rows held now (committed) and of Mamba states, over all sequences.
  int64_t kv_bytes() const;
  int64_t state_bytes() const;
  int64_t kv_row_floats() const { return kv_row_; }

 private:
  // One allocation in the cache's memory, released with it.
  class Block {
   public:
    Block() = default;
    Block(CacheMemory* memory, int64_t floats);
    Block(Block&& other) noexcept;
    Block& operator=(Block&& other) noexcept;
    ~Block();
    float* data() const { return data_; }
    int64_t size() const { return size_; }

   private:
    CacheMemory* memory_ = nullptr;
    float* data_ = nullptr;
    int64_t size_ = 0;
  };
  struct KvSlot {
    Block keys, values;  // capacity rows each
    int64_t rows = 0;    // rows written (committed + appended by the forward in progress)
  };
  struct Sequence {
    int64_t length = 0;
    std::vector<KvSlot> kv;  // per attention slot
    int64_t state = -1;      // index into the Mamba pools
  };
  Sequence& get(SeqId seq);
  const Sequence& get(SeqId seq) const;
  Sequence new_sequence();  // with zeroed Mamba states at a free pool index
  void grow_pools();
  KvSlot& kv_slot_for_append(SeqId seq, int64_t slot, int64_t rows);
  void grow(KvSlot& kv, int64_t rows);
  void set_mamba(Sequence& s, const std::vector<MambaState>& states);
  // memory_'s copies, skipping empty ones (an empty KV slot has no allocation yet).
  void copy(float* dst, const float* src, int64_t floats) {
    if (floats > 0) memory_->copy(dst, src, floats);
  }
  void upload(float* dst, const float* host, int64_t floats) {
    if (floats > 0) memory_->upload(dst, host, floats);
  }
  void download(float* host, const float* src, int64_t floats) const {
    if (floats > 0) memory_->download(host, src, floats);
  }
  void zero(float* p, int64_t floats) {
    if (floats > 0) memory_->fill_zero(p, floats);
  }
  std::vector<MambaState> get_mamba(const Sequence& s) const;

  std::shared_ptr<CacheMemory> memory_;
  int64_t max_tokens_;
  int64_t kv_row_;  // nkv * hd
  int64_t attention_layers_, mamba_layers_;
  int64_t conv_floats_, ssm_floats_;
  SeqId next_id_ = 0;
  // Mamba states of all sequences: per Mamba slot, pool_capacity_ states; free indices listed.
  std::vector<Block> conv_pool_, ssm_pool_;
  int64_t pool_capacity_ = 0;
  std::vector<int64_t> free_states_;
  std::map<SeqId, Sequence> sequences_;
};

}  // namespace jamba
