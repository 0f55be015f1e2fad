#include "cache/hybrid_cache.h"

#include "base/binary_io.h"
#include "base/error.h"

namespace jamba {

HybridCache::HybridCache(const ModelConfig& config, const LayerPlan& plan, int64_t max_tokens)
    : max_tokens_(max_tokens),
      kv_row_(config.num_key_value_heads * config.head_dim),
      attention_layers_(plan.attention_layers),
      mamba_layers_(plan.mamba_layers),
      conv_floats_((config.mamba_d_conv - 1) * config.d_inner()),
      ssm_floats_(config.d_inner() * config.mamba_d_state) {}

SeqId HybridCache::create_sequence() {
  Sequence s;
  s.keys.resize(attention_layers_);
  s.values.resize(attention_layers_);
  s.mamba.resize(mamba_layers_);
  for (auto& m : s.mamba) {
    m.conv.assign(conv_floats_, 0.0f);  // HF zero-pads the conv history at the start
    m.ssm.assign(ssm_floats_, 0.0f);
  }
  sequences_.emplace(next_id_, std::move(s));
  return next_id_++;
}

void HybridCache::release_sequence(SeqId seq) { sequences_.erase(seq); }

SeqId HybridCache::fork_sequence(SeqId seq) {
  Sequence copy = get(seq);
  sequences_.emplace(next_id_, std::move(copy));
  return next_id_++;
}

HybridCache::Sequence& HybridCache::get(SeqId seq) {
  auto it = sequences_.find(seq);
  if (it == sequences_.end()) fail("cache: unknown sequence ", seq);
  return it->second;
}

const HybridCache::Sequence& HybridCache::get(SeqId seq) const {
  auto it = sequences_.find(seq);
  if (it == sequences_.end()) fail("cache: unknown sequence ", seq);
  return it->second;
}

int64_t HybridCache::length(SeqId seq) const { return get(seq).length; }

void HybridCache::append_kv(SeqId seq, int64_t slot, const float* keys, const float* values, int64_t rows) {
  Sequence& s = get(seq);
  s.keys[slot].insert(s.keys[slot].end(), keys, keys + rows * kv_row_);
  s.values[slot].insert(s.values[slot].end(), values, values + rows * kv_row_);
}

const float* HybridCache::keys(SeqId seq, int64_t slot) const { return get(seq).keys[slot].data(); }
const float* HybridCache::values(SeqId seq, int64_t slot) const { return get(seq).values[slot].data(); }
MambaState& HybridCache::mamba(SeqId seq, int64_t slot) { return get(seq).mamba[slot]; }

void HybridCache::commit(SeqId seq, int64_t new_tokens) {
  Sequence& s = get(seq);
  s.length += new_tokens;
  for (const auto& k : s.keys)
    if (static_cast<int64_t>(k.size()) != s.length * kv_row_) fail("cache: KV rows out of step with the sequence length");
}

CacheSnapshot HybridCache::snapshot(SeqId seq) const {
  const Sequence& s = get(seq);
  return {s.length, s.mamba};
}

void HybridCache::restore(SeqId seq, const CacheSnapshot& snap) {
  Sequence& s = get(seq);
  if (snap.length > s.length)
    fail("cache: cannot restore sequence ", seq, " to length ", snap.length, "; it holds only ", s.length);
  if (static_cast<int64_t>(snap.mamba.size()) != mamba_layers_) fail("cache: snapshot is from another model");
  s.length = snap.length;
  for (auto& k : s.keys) k.resize(snap.length * kv_row_);
  for (auto& v : s.values) v.resize(snap.length * kv_row_);
  s.mamba = snap.mamba;
}

void HybridCache::write_snapshot(const CacheSnapshot& snapshot, std::ostream& out) const {
  write_u64(out, static_cast<uint64_t>(snapshot.length));
  for (const MambaState& m : snapshot.mamba) {
    write_floats(out, m.conv);
    write_floats(out, m.ssm);
  }
}

CacheSnapshot HybridCache::read_snapshot(std::istream& in, const std::string& label) const {
  CacheSnapshot snapshot;
  snapshot.length = static_cast<int64_t>(read_u64(in, label));
  if (snapshot.length < 0 || snapshot.length > max_tokens_)
    fail(label, ": a saved position of ", snapshot.length, " tokens exceeds the context of ", max_tokens_);
  snapshot.mamba.resize(mamba_layers_);
  for (MambaState& m : snapshot.mamba) {
    m.conv = read_floats(in, conv_floats_, label, "a conv state");
    m.ssm = read_floats(in, ssm_floats_, label, "an SSM state");
  }
  return snapshot;
}

void HybridCache::write_sequence(SeqId seq, std::ostream& out) const {
  const Sequence& s = get(seq);
  write_snapshot({s.length, s.mamba}, out);
  for (int64_t a = 0; a < attention_layers_; ++a) {
    write_floats(out, s.keys[a]);
    write_floats(out, s.values[a]);
  }
}

SeqId HybridCache::read_sequence(std::istream& in, const std::string& label) {
  CacheSnapshot state = read_snapshot(in, label);
  Sequence s;
  s.length = state.length;
  s.mamba = std::move(state.mamba);
  const uint64_t kv_floats = static_cast<uint64_t>(s.length * kv_row_);
  for (int64_t a = 0; a < attention_layers_; ++a) {
    s.keys.push_back(read_floats(in, kv_floats, label, "attention keys"));
    s.values.push_back(read_floats(in, kv_floats, label, "attention values"));
  }
  sequences_.emplace(next_id_, std::move(s));
  return next_id_++;
}

int64_t HybridCache::kv_bytes() const {
  int64_t total = 0;
  for (const auto& [id, s] : sequences_)
    for (int64_t a = 0; a < attention_layers_; ++a)
      total += static_cast<int64_t>((s.keys[a].size() + s.values[a].size()) * sizeof(float));
  return total;
}

int64_t HybridCache::state_bytes() const {
  return static_cast<int64_t>(sequences_.size()) * mamba_layers_ * (conv_floats_ + ssm_floats_) *
         static_cast<int64_t>(sizeof(float));
}

}  // namespace jamba
