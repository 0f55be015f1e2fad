#include "cache/hybrid_cache.h"

#include <algorithm>
#include <cstring>

#include "base/binary_io.h"
#include "base/error.h"

namespace jamba {

namespace {

class HostMemory final : public CacheMemory {
 public:
  float* allocate(int64_t floats) override { return new float[static_cast<size_t>(floats)](); }
  void release(float* p) noexcept override { delete[] p; }
  void fill_zero(float* p, int64_t floats) override { std::fill_n(p, floats, 0.0f); }
  void copy(float* dst, const float* src, int64_t floats) override { copy_floats(dst, src, floats); }
  void upload(float* dst, const float* host, int64_t floats) override { copy_floats(dst, host, floats); }
  void download(float* host, const float* src, int64_t floats) const override { copy_floats(host, src, floats); }

 private:
  static void copy_floats(float* dst, const float* src, int64_t floats) {
    if (floats > 0) std::memcpy(dst, src, static_cast<size_t>(floats) * sizeof(float));
  }
};

// KV rows are allocated in doubling steps from this many rows, so appending a token is O(1)
// amortised and a short sequence does not reserve its whole context.
constexpr int64_t kFirstKvRows = 256;

}  // namespace

std::shared_ptr<CacheMemory> host_cache_memory() {
  static const std::shared_ptr<CacheMemory> memory = std::make_shared<HostMemory>();
  return memory;
}

HybridCache::Block::Block(CacheMemory* memory, int64_t floats)
    : memory_(memory), data_(floats > 0 ? memory->allocate(floats) : nullptr), size_(floats) {}

HybridCache::Block::Block(Block&& other) noexcept
    : memory_(other.memory_), data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

HybridCache::Block& HybridCache::Block::operator=(Block&& other) noexcept {
  if (this != &other) {
    if (data_) memory_->release(data_);
    memory_ = other.memory_;
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

HybridCache::Block::~Block() {
  if (data_) memory_->release(data_);
}

HybridCache::HybridCache(const ModelConfig& config, const LayerPlan& plan, int64_t max_tokens,
                         std::shared_ptr<CacheMemory> memory)
    : memory_(std::move(memory)),
      max_tokens_(max_tokens),
      kv_row_(config.num_key_value_heads * config.head_dim),
      attention_layers_(plan.attention_layers),
      mamba_layers_(plan.mamba_layers),
      conv_floats_((config.mamba_d_conv - 1) * config.d_inner()),
      ssm_floats_(config.d_inner() * config.mamba_d_state),
      conv_pool_(static_cast<size_t>(mamba_layers_)),
      ssm_pool_(static_cast<size_t>(mamba_layers_)) {}

// Sequences and pools hold Blocks that release into memory_, which therefore goes last.
HybridCache::~HybridCache() {
  sequences_.clear();
  conv_pool_.clear();
  ssm_pool_.clear();
}

// Doubles the pools (at least 4 states), keeping every state where it was.
void HybridCache::grow_pools() {
  const int64_t capacity = std::max<int64_t>(4, pool_capacity_ * 2);
  for (int64_t m = 0; m < mamba_layers_; ++m) {
    Block conv(memory_.get(), capacity * conv_floats_), ssm(memory_.get(), capacity * ssm_floats_);
    copy(conv.data(), conv_pool_[m].data(), pool_capacity_ * conv_floats_);
    copy(ssm.data(), ssm_pool_[m].data(), pool_capacity_ * ssm_floats_);
    conv_pool_[m] = std::move(conv);
    ssm_pool_[m] = std::move(ssm);
  }
  for (int64_t i = capacity - 1; i >= pool_capacity_; --i) free_states_.push_back(i);
  pool_capacity_ = capacity;
}

HybridCache::Sequence HybridCache::new_sequence() {
  if (free_states_.empty()) grow_pools();
  Sequence s;
  s.kv.resize(attention_layers_);
  s.state = free_states_.back();
  free_states_.pop_back();
  for (int64_t m = 0; m < mamba_layers_; ++m) {  // HF zero-pads the conv history at the start
    zero(conv_pool_[m].data() + s.state * conv_floats_, conv_floats_);
    zero(ssm_pool_[m].data() + s.state * ssm_floats_, ssm_floats_);
  }
  return s;
}

SeqId HybridCache::create_sequence() {
  sequences_.emplace(next_id_, new_sequence());
  return next_id_++;
}

void HybridCache::release_sequence(SeqId seq) {
  auto it = sequences_.find(seq);
  if (it == sequences_.end()) return;
  free_states_.push_back(it->second.state);
  sequences_.erase(it);
}

SeqId HybridCache::fork_sequence(SeqId seq) {
  const Sequence& from = get(seq);  // checked before a pool index is taken
  Sequence forked = new_sequence();  // may grow the pools: state pointers are taken after it
  forked.length = from.length;
  for (int64_t a = 0; a < attention_layers_; ++a) {
    const KvSlot& src = from.kv[a];
    KvSlot& dst = forked.kv[a];
    grow(dst, src.rows);
    copy(dst.keys.data(), src.keys.data(), src.rows * kv_row_);
    copy(dst.values.data(), src.values.data(), src.rows * kv_row_);
    dst.rows = src.rows;
  }
  for (int64_t m = 0; m < mamba_layers_; ++m) {
    const MambaStateRef src = mamba(seq, m);
    copy(conv_pool_[m].data() + forked.state * conv_floats_, src.conv, conv_floats_);
    copy(ssm_pool_[m].data() + forked.state * ssm_floats_, src.ssm, ssm_floats_);
  }
  sequences_.emplace(next_id_, std::move(forked));
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

// Makes room for `rows` rows in total, keeping the rows already written.
void HybridCache::grow(KvSlot& kv, int64_t rows) {
  const int64_t capacity = kv.keys.size() / std::max<int64_t>(kv_row_, 1);
  if (rows <= capacity) return;
  int64_t next = std::max(capacity * 2, kFirstKvRows);
  next = std::max(rows, std::min(next, max_tokens_));
  Block keys(memory_.get(), next * kv_row_), values(memory_.get(), next * kv_row_);
  copy(keys.data(), kv.keys.data(), kv.rows * kv_row_);
  copy(values.data(), kv.values.data(), kv.rows * kv_row_);
  kv.keys = std::move(keys);
  kv.values = std::move(values);
}

HybridCache::KvSlot& HybridCache::kv_slot_for_append(SeqId seq, int64_t slot, int64_t rows) {
  Sequence& s = get(seq);
  if (slot < 0 || slot >= attention_layers_) fail("cache: attention slot ", slot, " out of range");
  KvSlot& kv = s.kv[slot];
  if (kv.rows + rows > max_tokens_)
    fail("cache: sequence ", seq, " would hold ", kv.rows + rows, " tokens, more than the context of ", max_tokens_);
  grow(kv, kv.rows + rows);
  return kv;
}

void HybridCache::append_kv(SeqId seq, int64_t slot, const float* keys, const float* values, int64_t rows) {
  KvSlot& kv = kv_slot_for_append(seq, slot, rows);
  copy(kv.keys.data() + kv.rows * kv_row_, keys, rows * kv_row_);
  copy(kv.values.data() + kv.rows * kv_row_, values, rows * kv_row_);
  kv.rows += rows;
}

void HybridCache::append_kv_from_host(SeqId seq, int64_t slot, const float* keys, const float* values, int64_t rows) {
  KvSlot& kv = kv_slot_for_append(seq, slot, rows);
  upload(kv.keys.data() + kv.rows * kv_row_, keys, rows * kv_row_);
  upload(kv.values.data() + kv.rows * kv_row_, values, rows * kv_row_);
  kv.rows += rows;
}

const float* HybridCache::keys(SeqId seq, int64_t slot) const { return get(seq).kv.at(slot).keys.data(); }
const float* HybridCache::values(SeqId seq, int64_t slot) const { return get(seq).kv.at(slot).values.data(); }

MambaStateRef HybridCache::mamba(SeqId seq, int64_t slot) {
  const int64_t i = get(seq).state;
  return {conv_pool_.at(slot).data() + i * conv_floats_, ssm_pool_.at(slot).data() + i * ssm_floats_};
}

MambaPool HybridCache::mamba_pool(int64_t slot) {
  return {conv_pool_.at(slot).data(), ssm_pool_.at(slot).data(), conv_floats_, ssm_floats_};
}

int64_t HybridCache::state_index(SeqId seq) const { return get(seq).state; }

void HybridCache::commit(SeqId seq, int64_t new_tokens) {
  Sequence& s = get(seq);
  s.length += new_tokens;
  for (const KvSlot& kv : s.kv)
    if (kv.rows != s.length) fail("cache: KV rows out of step with the sequence length");
}

std::vector<MambaState> HybridCache::get_mamba(const Sequence& s) const {
  std::vector<MambaState> states(mamba_layers_);
  for (int64_t m = 0; m < mamba_layers_; ++m) {
    states[m].conv.resize(conv_floats_);
    states[m].ssm.resize(ssm_floats_);
    download(states[m].conv.data(), conv_pool_[m].data() + s.state * conv_floats_, conv_floats_);
    download(states[m].ssm.data(), ssm_pool_[m].data() + s.state * ssm_floats_, ssm_floats_);
  }
  return states;
}

void HybridCache::set_mamba(Sequence& s, const std::vector<MambaState>& states) {
  for (const MambaState& m : states)  // all checked before any is written
    if (static_cast<int64_t>(m.conv.size()) != conv_floats_ || static_cast<int64_t>(m.ssm.size()) != ssm_floats_)
      fail("cache: snapshot is from another model");
  for (int64_t m = 0; m < mamba_layers_; ++m) {
    upload(conv_pool_[m].data() + s.state * conv_floats_, states[m].conv.data(), conv_floats_);
    upload(ssm_pool_[m].data() + s.state * ssm_floats_, states[m].ssm.data(), ssm_floats_);
  }
}

CacheSnapshot HybridCache::snapshot(SeqId seq) const {
  const Sequence& s = get(seq);
  return {s.length, get_mamba(s)};
}

void HybridCache::restore(SeqId seq, const CacheSnapshot& snap) {
  Sequence& s = get(seq);
  if (snap.length > s.length)
    fail("cache: cannot restore sequence ", seq, " to length ", snap.length, "; it holds only ", s.length);
  if (static_cast<int64_t>(snap.mamba.size()) != mamba_layers_) fail("cache: snapshot is from another model");
  set_mamba(s, snap.mamba);
  s.length = snap.length;
  for (KvSlot& kv : s.kv) kv.rows = snap.length;
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
  write_snapshot({s.length, get_mamba(s)}, out);
  std::vector<float> rows(static_cast<size_t>(s.length * kv_row_));
  for (const KvSlot& kv : s.kv) {
    download(rows.data(), kv.keys.data(), s.length * kv_row_);
    write_floats(out, rows);
    download(rows.data(), kv.values.data(), s.length * kv_row_);
    write_floats(out, rows);
  }
}

SeqId HybridCache::read_sequence(std::istream& in, const std::string& label) {
  // Everything is read (and checked) before a pool index is taken.
  const CacheSnapshot state = read_snapshot(in, label);
  const uint64_t kv_floats = static_cast<uint64_t>(state.length * kv_row_);
  std::vector<std::vector<float>> keys, values;
  for (int64_t a = 0; a < attention_layers_; ++a) {
    keys.push_back(read_floats(in, kv_floats, label, "attention keys"));
    values.push_back(read_floats(in, kv_floats, label, "attention values"));
  }
  Sequence s = new_sequence();
  set_mamba(s, state.mamba);
  s.length = state.length;
  for (int64_t a = 0; a < attention_layers_; ++a) {
    KvSlot& kv = s.kv[a];
    grow(kv, s.length);
    upload(kv.keys.data(), keys[a].data(), s.length * kv_row_);
    upload(kv.values.data(), values[a].data(), s.length * kv_row_);
    kv.rows = s.length;
  }
  sequences_.emplace(next_id_, std::move(s));
  return next_id_++;
}

int64_t HybridCache::kv_bytes() const {
  int64_t total = 0;
  for (const auto& [id, s] : sequences_)
    for (const KvSlot& kv : s.kv) total += 2 * kv.rows * kv_row_ * static_cast<int64_t>(sizeof(float));
  return total;
}

int64_t HybridCache::state_bytes() const {
  return static_cast<int64_t>(sequences_.size()) * mamba_layers_ * (conv_floats_ + ssm_floats_) *
         static_cast<int64_t>(sizeof(float));
}

}  // namespace jamba
