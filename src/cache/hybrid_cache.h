// HybridCache: where per-sequence state lives. Attention layers keep K/V rows (one per token);
// Mamba layers keep a constant-size state per sequence: the last K-1 conv inputs and the fp32
// SSM state [Di, N]. Snapshots copy the Mamba states and remember the KV length, so a sequence
// can be rolled back to (or a new one started from) any snapshotted position.
#pragma once
#include <cstdint>
#include <istream>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "format/model_config.h"
#include "model/layer_plan.h"

namespace jamba {

using SeqId = int64_t;

struct MambaState {
  std::vector<float> conv;  // [K-1, Di], oldest row first
  std::vector<float> ssm;   // [Di, N], fp32 always
};

struct CacheSnapshot {
  int64_t length = 0;
  std::vector<MambaState> mamba;  // one per Mamba layer
};

class HybridCache {
 public:
  // max_tokens: the context cap per sequence (prompt + generated).
  HybridCache(const ModelConfig& config, const LayerPlan& plan, int64_t max_tokens);

  SeqId create_sequence();
  void release_sequence(SeqId seq);
  bool has_sequence(SeqId seq) const { return sequences_.count(seq) != 0; }
  SeqId fork_sequence(SeqId seq);  // a new sequence with a copy of seq's whole cache

  int64_t length(SeqId seq) const;  // tokens this sequence has processed
  int64_t max_tokens() const { return max_tokens_; }

  // Attention slot `slot`: rows [0, length) are committed; append() adds rows for the forward in
  // progress, which commit() then counts. Rows are [nkv * hd].
  void append_kv(SeqId seq, int64_t slot, const float* keys, const float* values, int64_t rows);
  const float* keys(SeqId seq, int64_t slot) const;
  const float* values(SeqId seq, int64_t slot) const;
  MambaState& mamba(SeqId seq, int64_t slot);
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

  // Bytes held now (KV rows + Mamba states) over all sequences.
  int64_t kv_bytes() const;
  int64_t state_bytes() const;
  int64_t kv_row_floats() const { return kv_row_; }

 private:
  struct Sequence {
    int64_t length = 0;
    std::vector<std::vector<float>> keys, values;  // per attention slot, [rows, nkv*hd]
    std::vector<MambaState> mamba;                 // per Mamba slot
  };
  Sequence& get(SeqId seq);
  const Sequence& get(SeqId seq) const;

  int64_t max_tokens_;
  int64_t kv_row_;  // nkv * hd
  int64_t attention_layers_, mamba_layers_;
  int64_t conv_floats_, ssm_floats_;
  SeqId next_id_ = 0;
  std::map<SeqId, Sequence> sequences_;
};

}  // namespace jamba
