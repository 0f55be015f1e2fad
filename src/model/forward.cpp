// The model as the equations of reference/hf_jamba.md §2, written against the op table.
// Matmuls run over all tokens of the batch at once; the conv, scan and attention run per
// sequence, because they read and write that sequence's cache.
#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "base/error.h"

namespace jamba {
namespace {

using Buffer = std::vector<float>;

using Segment = BatchSegment;

void copy_columns(const float* src, int64_t rows, int64_t src_cols, int64_t first_col, int64_t cols, float* dst) {
  for (int64_t r = 0; r < rows; ++r)
    std::copy_n(src + r * src_cols + first_col, cols, dst + r * cols);
}

void add_into(float* acc, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += x[i];
}

void attention_mixer(const Model& m, const ops::Backend& ops, HybridCache& cache, const LayerSpec& spec,
                     const AttentionWeights& w, const std::vector<Segment>& segments, const Buffer& x,
                     int64_t rows, Buffer& out) {
  const ModelConfig& c = m.config;
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, hd = c.head_dim;
  Buffer q(rows * nh * hd), k(rows * nkv * hd), v(rows * nkv * hd), o(rows * nh * hd);
  ops.matmul(x.data(), rows, w.q_proj, nullptr, q.data());
  ops.matmul(x.data(), rows, w.k_proj, nullptr, k.data());
  ops.matmul(x.data(), rows, w.v_proj, nullptr, v.data());
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (const Segment& s : segments) {
    // K/V are cached before head repetition, exactly as HF does.
    cache.append_kv(s.seq, spec.attention_slot, k.data() + s.row * nkv * hd, v.data() + s.row * nkv * hd, s.count);
    ops.attention(q.data() + s.row * nh * hd, cache.keys(s.seq, spec.attention_slot),
                  cache.values(s.seq, spec.attention_slot), s.count, s.past, nh, nkv, hd, scale,
                  o.data() + s.row * nh * hd);
  }
  ops.matmul(o.data(), rows, w.o_proj, nullptr, out.data());
}

void mamba_mixer(const Model& m, const ops::Backend& ops, HybridCache& cache, const LayerSpec& spec,
                 const MambaWeights& w, const std::vector<Segment>& segments, const Buffer& x, int64_t rows,
                 Buffer& out) {
  const ModelConfig& c = m.config;
  const int64_t Di = c.d_inner(), N = c.mamba_d_state, K = c.mamba_d_conv, R = c.mamba_dt_rank;
  const float eps = static_cast<float>(c.rms_norm_eps);

  // in_proj -> [xs | z]: the first half feeds the conv and scan, the second half is the gate.
  Buffer xz(rows * 2 * Di);
  ops.matmul(x.data(), rows, w.in_proj, w.in_proj_bias.empty() ? nullptr : w.in_proj_bias.data(), xz.data());
  Buffer xs(rows * Di), z(rows * Di), u(rows * Di);
  copy_columns(xz.data(), rows, 2 * Di, 0, Di, xs.data());
  copy_columns(xz.data(), rows, 2 * Di, Di, Di, z.data());

  for (const Segment& s : segments) {
    const MambaStateRef state = cache.mamba(s.seq, spec.mamba_slot);
    ops.causal_conv1d_silu(xs.data() + s.row * Di, s.count, Di, w.conv_weight.data(), K,
                           w.conv_bias.empty() ? nullptr : w.conv_bias.data(), state.conv,
                           u.data() + s.row * Di);
  }

  // x_proj -> [dt | B | C], each RMSNorm'd (Jamba's difference from plain Mamba-1).
  const int64_t dbc_cols = R + 2 * N;
  Buffer dbc(rows * dbc_cols), dt_low(rows * R), B(rows * N), C(rows * N);
  ops.matmul(u.data(), rows, w.x_proj, nullptr, dbc.data());
  copy_columns(dbc.data(), rows, dbc_cols, 0, R, dt_low.data());
  copy_columns(dbc.data(), rows, dbc_cols, R, N, B.data());
  copy_columns(dbc.data(), rows, dbc_cols, R + N, N, C.data());
  ops.rmsnorm(dt_low.data(), rows, R, w.dt_norm.data(), eps, dt_low.data());
  ops.rmsnorm(B.data(), rows, N, w.b_norm.data(), eps, B.data());
  ops.rmsnorm(C.data(), rows, N, w.c_norm.data(), eps, C.data());

  Buffer delta(rows * Di);
  ops.matmul(dt_low.data(), rows, w.dt_proj, w.dt_bias.data(), delta.data());
  ops.softplus(delta.data(), rows * Di, delta.data());

  Buffer y(rows * Di);
  for (const Segment& s : segments) {
    const MambaStateRef state = cache.mamba(s.seq, spec.mamba_slot);
    const int64_t r = s.row;
    ops.selective_scan(u.data() + r * Di, delta.data() + r * Di, w.A.data(), B.data() + r * N, C.data() + r * N,
                       w.D.data(), z.data() + r * Di, s.count, Di, N, state.ssm, y.data() + r * Di);
  }
  ops.matmul(y.data(), rows, w.out_proj, w.out_proj_bias.empty() ? nullptr : w.out_proj_bias.data(), out.data());
}

void dense_ffn(const ops::Backend& ops, const FfnWeights& w, const float* x, int64_t rows, int64_t I, float* out) {
  Buffer gate(rows * I), up(rows * I);
  ops.matmul(x, rows, w.gate_proj, nullptr, gate.data());
  ops.matmul(x, rows, w.up_proj, nullptr, up.data());
  ops.silu_mul(gate.data(), up.data(), rows * I, gate.data());
  ops.matmul(gate.data(), rows, w.down_proj, nullptr, out);
}

void moe_ffn(const Model& m, const ops::Backend& ops, const MoeWeights& w, const Buffer& x, int64_t rows, Buffer& out) {
  const ModelConfig& c = m.config;
  const int64_t H = c.hidden_size, E = c.num_experts, k = c.num_experts_per_tok, I = c.intermediate_size;
  Buffer router_logits(rows * E);
  ops.matmul(x.data(), rows, w.router, nullptr, router_logits.data());
  std::vector<int32_t> ids(rows * k);
  Buffer weights(rows * k);
  ops.moe_route(router_logits.data(), rows, E, k, ids.data(), weights.data());

  std::fill(out.begin(), out.end(), 0.0f);
  // Each expert runs once on the rows routed to it; in increasing expert order like HF's eager path.
  for (int64_t e = 0; e < E; ++e) {
    std::vector<int64_t> picked_rows;
    std::vector<float> picked_weights;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < k; ++j)
        if (ids[r * k + j] == e) {
          picked_rows.push_back(r);
          picked_weights.push_back(weights[r * k + j]);
        }
    if (picked_rows.empty()) continue;
    const int64_t n = static_cast<int64_t>(picked_rows.size());
    Buffer xin(n * H), yout(n * H);
    for (int64_t i = 0; i < n; ++i) std::copy_n(x.data() + picked_rows[i] * H, H, xin.data() + i * H);
    dense_ffn(ops, w.experts[e], xin.data(), n, I, yout.data());
    for (int64_t i = 0; i < n; ++i) {
      float* dst = out.data() + picked_rows[i] * H;
      for (int64_t h = 0; h < H; ++h) dst[h] += picked_weights[i] * yout[i * H + h];
    }
  }
}

}  // namespace

std::vector<BatchSegment> plan_batch(const Model& m, const HybridCache& cache, const std::vector<SequenceChunk>& chunks) {
  std::vector<BatchSegment> segments;
  std::set<SeqId> seen;
  int64_t row = 0;
  for (const SequenceChunk& chunk : chunks) {
    if (!cache.has_sequence(chunk.seq)) fail("forward: unknown sequence ", chunk.seq);
    if (!seen.insert(chunk.seq).second) fail("forward: sequence ", chunk.seq, " appears twice in one batch");
    if (chunk.tokens.empty()) fail("forward: sequence ", chunk.seq, " has an empty chunk");
    for (int32_t t : chunk.tokens)
      if (t < 0 || t >= m.config.vocab_size)
        fail("token id ", t, " is out of range (vocab_size ", m.config.vocab_size, ")");
    const int64_t past = cache.length(chunk.seq);
    const int64_t count = static_cast<int64_t>(chunk.tokens.size());
    if (past + count > cache.max_tokens())
      fail("sequence would hold ", past + count, " tokens, more than the context of ", cache.max_tokens());
    segments.push_back({chunk.seq, row, count, past});
    row += count;
  }
  return segments;
}

std::vector<std::vector<float>> forward(const Model& m, const ops::Backend& ops, HybridCache& cache,
                                        const std::vector<SequenceChunk>& chunks) {
  const ModelConfig& c = m.config;
  const Weights& W = m.weights;
  const int64_t H = c.hidden_size, V = c.vocab_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const std::vector<Segment> segments = plan_batch(m, cache, chunks);
  int64_t rows = 0;
  for (const Segment& s : segments) rows += s.count;

  // h = embed[ids]: no scaling, no positions (Jamba has no positional encoding).
  Buffer h(rows * H), x(rows * H), out(rows * H);
  for (size_t i = 0; i < chunks.size(); ++i)
    for (int64_t t = 0; t < segments[i].count; ++t)
      load_row(W.embed_tokens, chunks[i].tokens[t], h.data() + (segments[i].row + t) * H);

  for (size_t i = 0; i < m.plan.layers.size(); ++i) {
    const LayerSpec& spec = m.plan.layers[i];
    const LayerWeights& lw = W.layers[i];
    ops.rmsnorm(h.data(), rows, H, lw.input_norm.data(), eps, x.data());
    if (spec.mixer == Mixer::Attention)
      attention_mixer(m, ops, cache, spec, lw.attention, segments, x, rows, out);
    else
      mamba_mixer(m, ops, cache, spec, lw.mamba, segments, x, rows, out);
    add_into(h.data(), out.data(), rows * H);

    ops.rmsnorm(h.data(), rows, H, lw.pre_ff_norm.data(), eps, x.data());
    if (spec.ffn == Ffn::MoE)
      moe_ffn(m, ops, lw.moe, x, rows, out);
    else
      dense_ffn(ops, lw.dense, x.data(), rows, c.intermediate_size, out.data());
    add_into(h.data(), out.data(), rows * H);
  }
  for (const Segment& s : segments) cache.commit(s.seq, s.count);

  // Final norm and lm_head only on the rows whose logits were asked for.
  std::vector<std::vector<float>> logits(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Segment& s = segments[i];
    const int64_t first = chunks[i].all_logits ? s.row : s.row + s.count - 1;
    const int64_t n = s.row + s.count - first;
    Buffer normed(n * H);
    ops.rmsnorm(h.data() + first * H, n, H, W.final_norm.data(), eps, normed.data());
    logits[i].resize(n * V);
    ops.matmul(normed.data(), n, W.lm_head, nullptr, logits[i].data());
  }
  return logits;
}

}  // namespace jamba
