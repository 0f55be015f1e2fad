// Causal GQA attention over fp32 q/k/v (no positional encoding: Jamba's attention).
//
// Rows are packed (query t, head g of the kv group) pairs, ρ = t·group + g, so all query heads
// that read one kv head share each K/V load (FlashAttention-3's PackGQA); row ρ sees keys
// 0 .. P + t.
//
// attention_decode (flash-decoding): grid (split, kv head, row block of ≤ 8 rows). A block walks
// its key range in tiles of 128 keys: (1) one thread per key computes the scores of all its
// rows (its K row read with 16-byte loads, q broadcast from shared memory), (2) one warp per
// row updates the running max/sum (online softmax) and turns scores into probabilities, (3)
// threads split into (key phase, 4-float column) accumulate P·V with coalesced V rows. Partial
// (max, sum, unnormalised output) per split go to scratch and a combine kernel merges them; one
// split writes the output directly.
//
// attention_prefill: FlashAttention-2 structure in fp32 SIMT: a block owns 32 packed rows of one
// kv head (8 per warp), loops over 32-key tiles of K/V in shared memory up to its causal limit;
// lane = key for the scores, lane = head dimension for P·V; online softmax in registers.
#include <algorithm>
#include <cmath>

#include "ops/cuda/common.cuh"

namespace jamba::cuda {
namespace {

constexpr int kDecThreads = 128;
constexpr int kDecTile = 128;  // keys per tile = threads
constexpr int kMaxHd = 256;

struct DecodeArgs {
  const float *q, *k, *v;
  int64_t T, P, nh, nkv, hd, group;
  float scale;
  int64_t keys_per_split, nsplit;
  float* out;        // final output (nsplit == 1)
  float* part_o;     // [nsplit, T·nh, hd]
  float* part_ml;    // [nsplit, T·nh, 2] (max, sum)
};

template <int R>
__global__ void __launch_bounds__(kDecThreads) attention_decode_kernel(DecodeArgs a) {
  __shared__ __align__(16) float qs[R][kMaxHd];
  __shared__ float sc[R][kDecTile];
  __shared__ float m_run[R], l_run[R], alpha[R];
  __shared__ __align__(16) float red[kDecThreads * R * 4];
  __shared__ int64_t row_sh[R];

  const int tid = threadIdx.x;
  const int64_t split = blockIdx.x;
  const int64_t kvh = blockIdx.y;
  const int64_t row0 = static_cast<int64_t>(blockIdx.z) * R;
  const int64_t rows_total = a.T * a.group;
  const int64_t hd = a.hd;
  const int hd4 = static_cast<int>(hd / 4);
  const int64_t kv_stride = a.nkv * hd;

  // Rows of this block: output row index and causal limit.
  int64_t out_row[R];
  int64_t visible[R];
  int64_t block_limit = 0;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int64_t rho = row0 + r;
    if (rho < rows_total) {
      const int64_t t = rho / a.group;
      const int64_t h = kvh * a.group + rho % a.group;
      out_row[r] = t * a.nh + h;
      visible[r] = a.P + t + 1;
      block_limit = visible[r] > block_limit ? visible[r] : block_limit;
    } else {
      out_row[r] = -1;
      visible[r] = 0;
    }
  }
  for (int i = tid; i < R * hd; i += kDecThreads) {
    const int r = static_cast<int>(i / hd);
    const int64_t d = i % hd;
    int64_t orow = -1;
#pragma unroll
    for (int rr = 0; rr < R; ++rr)
      if (rr == r) orow = out_row[rr];
    qs[r][d] = orow >= 0 ? a.q[orow * hd + d] : 0.0f;
  }
  if (tid < R) m_run[tid] = -INFINITY, l_run[tid] = 0.0f;
#pragma unroll
  for (int r = 0; r < R; ++r)
    if (tid == r) row_sh[r] = out_row[r];

  const int64_t k_begin = split * a.keys_per_split;
  int64_t k_end = k_begin + a.keys_per_split;
  if (k_end > block_limit) k_end = block_limit;

  // P·V layout: thread = (phase rp, float4 column cc).
  const int cpr = hd4;                       // float4 columns per row
  const int rp_count = kDecThreads / cpr;    // ≥ 2 for hd ≤ 256
  const int rp = tid / cpr, cc = tid % cpr;
  const bool pv_active = rp < rp_count;
  float acc[R][4];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = 0.0f;
  __syncthreads();

  for (int64_t kt = k_begin; kt < k_end; kt += kDecTile) {
    const int nkeys = static_cast<int>(k_end - kt < kDecTile ? k_end - kt : kDecTile);
    // (1) scores: thread tid ↔ key kt + tid.
    {
      float s[R];
#pragma unroll
      for (int r = 0; r < R; ++r) s[r] = 0.0f;
      if (tid < nkeys) {
        const float4* kp = reinterpret_cast<const float4*>(a.k + (kt + tid) * kv_stride + kvh * hd);
        for (int d4 = 0; d4 < hd4; d4 += 8) {
          float4 kv[8];
#pragma unroll
          for (int i = 0; i < 8; ++i) kv[i] = d4 + i < hd4 ? __ldg(kp + d4 + i) : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
          for (int i = 0; i < 8; ++i) {
            if (d4 + i >= hd4) break;
#pragma unroll
            for (int r = 0; r < R; ++r) {
              const float4 qv = *reinterpret_cast<const float4*>(&qs[r][(d4 + i) * 4]);
              s[r] = fmaf(qv.x, kv[i].x, s[r]);
              s[r] = fmaf(qv.y, kv[i].y, s[r]);
              s[r] = fmaf(qv.z, kv[i].z, s[r]);
              s[r] = fmaf(qv.w, kv[i].w, s[r]);
            }
          }
        }
      }
#pragma unroll
      for (int r = 0; r < R; ++r) sc[r][tid] = (tid < nkeys && kt + tid < visible[r]) ? s[r] * a.scale : -INFINITY;
    }
    __syncthreads();
    // (2) online softmax, one warp per row.
    for (int r = tid / 32; r < R; r += kDecThreads / 32) {
      const int lane = tid & 31;
      float mx = -INFINITY;
      for (int i = lane; i < kDecTile; i += 32) mx = fmaxf(mx, sc[r][i]);
      mx = warp_max(mx);
      const float m_old = m_run[r];
      const float m_new = fmaxf(m_old, mx);
      float sum = 0.0f;
      for (int i = lane; i < kDecTile; i += 32) {
        const float p = m_new == -INFINITY ? 0.0f : expf(sc[r][i] - m_new);
        sc[r][i] = p;
        sum += p;
      }
      sum = warp_sum(sum);
      __syncwarp();  // every lane has read m_run[r] before lane 0 rewrites it
      if (lane == 0) {
        const float al = m_new == -INFINITY ? 1.0f : expf(m_old - m_new);
        alpha[r] = al;
        l_run[r] = l_run[r] * al + sum;
        m_run[r] = m_new;
      }
    }
    __syncthreads();
    // (3) P·V.
    if (pv_active) {
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const float al = alpha[r];
        acc[r][0] *= al, acc[r][1] *= al, acc[r][2] *= al, acc[r][3] *= al;
      }
      const float4* vbase = reinterpret_cast<const float4*>(a.v + kt * kv_stride + kvh * hd) + cc;
      const int64_t vstride4 = kv_stride / 4;
      int j = rp;
      for (; j + 3 * rp_count < nkeys; j += 4 * rp_count) {
        float4 vv[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) vv[i] = __ldg(vbase + (j + i * rp_count) * vstride4);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
#pragma unroll
          for (int r = 0; r < R; ++r) {
            const float p = sc[r][j + i * rp_count];
            acc[r][0] = fmaf(p, vv[i].x, acc[r][0]);
            acc[r][1] = fmaf(p, vv[i].y, acc[r][1]);
            acc[r][2] = fmaf(p, vv[i].z, acc[r][2]);
            acc[r][3] = fmaf(p, vv[i].w, acc[r][3]);
          }
        }
      }
      for (; j < nkeys; j += rp_count) {
        const float4 vv = __ldg(vbase + j * vstride4);
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const float p = sc[r][j];
          acc[r][0] = fmaf(p, vv.x, acc[r][0]);
          acc[r][1] = fmaf(p, vv.y, acc[r][1]);
          acc[r][2] = fmaf(p, vv.z, acc[r][2]);
          acc[r][3] = fmaf(p, vv.w, acc[r][3]);
        }
      }
    }
    __syncthreads();
  }

  // Reduce the phases: red[rp][r][cc*4 + v].
  if (pv_active) {
#pragma unroll
    for (int r = 0; r < R; ++r)
      *reinterpret_cast<float4*>(&red[(static_cast<int64_t>(rp) * R + r) * hd + cc * 4]) =
          make_float4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
  }
  __syncthreads();
  for (int64_t i = tid; i < R * hd; i += kDecThreads) {
    const int r = static_cast<int>(i / hd);
    const int64_t d = i % hd;
    if (row_sh[r] < 0) continue;
    float o = 0.0f;
    for (int p = 0; p < rp_count; ++p) o += red[(static_cast<int64_t>(p) * R + r) * hd + d];
    if (a.nsplit == 1) {
      a.out[row_sh[r] * hd + d] = o / l_run[r];
    } else {
      a.part_o[(split * (a.T * a.nh) + row_sh[r]) * hd + d] = o;
    }
  }
  if (a.nsplit > 1 && tid < R && row_sh[tid] >= 0) {
    float* ml = a.part_ml + (split * (a.T * a.nh) + row_sh[tid]) * 2;
    ml[0] = m_run[tid];
    ml[1] = l_run[tid];
  }
}

// One block per output row (t, h): merge the splits. Every thread recomputes the split weights
// from part_ml (nsplit is unbounded at long contexts, so no shared array of them).
__global__ void attention_combine_kernel(int64_t nsplit, int64_t rows, int64_t hd, const float* __restrict__ part_o,
                                         const float* __restrict__ part_ml, float* out) {
  const int64_t row = blockIdx.x;
  float mx = -INFINITY;
  for (int64_t s = 0; s < nsplit; ++s) mx = fmaxf(mx, part_ml[(s * rows + row) * 2]);
  float total = 0.0f;
  for (int64_t s = 0; s < nsplit; ++s) {
    const float m = part_ml[(s * rows + row) * 2];
    if (m != -INFINITY) total += expf(m - mx) * part_ml[(s * rows + row) * 2 + 1];
  }
  const float inv_total = 1.0f / total;
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.0f;
    for (int64_t s = 0; s < nsplit; ++s) {
      const float m = part_ml[(s * rows + row) * 2];
      if (m != -INFINITY) o = fmaf(expf(m - mx), part_o[(s * rows + row) * hd + d], o);
    }
    out[row * hd + d] = o * inv_total;
  }
}

// ---------------------------------------------------------------------------------------------
constexpr int kPreThreads = 128;
constexpr int kPreRows = 32;  // packed rows per block, 8 per warp
constexpr int kPreKeys = 32;  // keys per tile = lanes

struct PrefillArgs {
  const float *q, *k, *v;
  int64_t T, P, nh, nkv, hd, hdp, group;
  float scale;
  float* out;
};

// DPL: head-dim elements per lane in P·V (hd ≤ 32·DPL).
template <int DPL>
__global__ void __launch_bounds__(kPreThreads) attention_prefill_kernel(PrefillArgs a) {
  extern __shared__ __align__(16) float smem[];
  const int64_t hdp = a.hdp;         // hd rounded up to 4
  const int64_t kstride = hdp + 4;   // padded K rows: conflict-free float4 reads by lane = key
  float* Qs = smem;                          // [32][hdp]
  float* Ks = Qs + kPreRows * hdp;           // [32][hdp + 4]
  float* Vs = Ks + kPreKeys * kstride;       // [32][hdp]
  float* Ps = Vs + kPreKeys * hdp;           // [32][32]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t kvh = blockIdx.y;
  const int64_t rows_total = a.T * a.group;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kPreRows;
  const int64_t hd = a.hd;
  const int64_t kv_stride = a.nkv * hd;

  // Causal limit of the block = that of its last valid row.
  const int64_t last = (row0 + kPreRows < rows_total ? row0 + kPreRows : rows_total) - 1;
  const int64_t block_limit = a.P + last / a.group + 1;

  for (int64_t i = tid; i < kPreRows * hdp; i += kPreThreads) {
    const int64_t r = i / hdp, d = i % hdp;
    const int64_t rho = row0 + r;
    float val = 0.0f;
    if (rho < rows_total && d < hd) {
      const int64_t t = rho / a.group, h = kvh * a.group + rho % a.group;
      val = a.q[(t * a.nh + h) * hd + d];
    }
    Qs[i] = val;
  }

  // This warp's rows.
  int64_t visible[8];
  int64_t out_row[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int64_t rho = row0 + warp * 8 + i;
    if (rho < rows_total) {
      const int64_t t = rho / a.group;
      visible[i] = a.P + t + 1;
      out_row[i] = t * a.nh + kvh * a.group + rho % a.group;
    } else {
      visible[i] = 0;
      out_row[i] = -1;
    }
  }
  float m[8], l[8], o[8][DPL];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int c = 0; c < DPL; ++c) o[i][c] = 0.0f;
  }

  for (int64_t kt = 0; kt < block_limit; kt += kPreKeys) {
    __syncthreads();  // previous tile's readers are done (and Qs is written, first time)
    for (int64_t i = tid; i < kPreKeys * hdp; i += kPreThreads) {
      const int64_t j = i / hdp, d = i % hdp;
      const int64_t key = kt + j;
      const bool ok = key < block_limit && d < hd;
      Ks[j * kstride + d] = ok ? a.k[key * kv_stride + kvh * hd + d] : 0.0f;
      Vs[j * hdp + d] = ok ? a.v[key * kv_stride + kvh * hd + d] : 0.0f;
    }
    __syncthreads();

    // Scores: lane = key.
    float s[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) s[i] = 0.0f;
    const float* krow = Ks + lane * kstride;
    for (int64_t d = 0; d < hdp; d += 4) {
      const float4 kv = *reinterpret_cast<const float4*>(krow + d);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const float4 qv = *reinterpret_cast<const float4*>(Qs + (warp * 8 + i) * hdp + d);
        s[i] = fmaf(qv.x, kv.x, s[i]);
        s[i] = fmaf(qv.y, kv.y, s[i]);
        s[i] = fmaf(qv.z, kv.z, s[i]);
        s[i] = fmaf(qv.w, kv.w, s[i]);
      }
    }
    const int64_t key = kt + lane;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float si = key < visible[i] ? s[i] * a.scale : -INFINITY;
      const float mt = warp_max(si);
      const float m_new = fmaxf(m[i], mt);
      const float p = m_new == -INFINITY ? 0.0f : expf(si - m_new);
      const float al = m_new == -INFINITY ? 1.0f : expf(m[i] - m_new);
      l[i] = l[i] * al + warp_sum(p);
      m[i] = m_new;
#pragma unroll
      for (int c = 0; c < DPL; ++c) o[i][c] *= al;
      Ps[(warp * 8 + i) * kPreKeys + lane] = p;
    }
    __syncwarp();
    // P·V: lane = head-dim element lane + 32c.
    for (int j = 0; j < kPreKeys; j += 4) {
      float vv[4][DPL];
#pragma unroll
      for (int jj = 0; jj < 4; ++jj)
#pragma unroll
        for (int c = 0; c < DPL; ++c) {
          const int64_t d = lane + 32 * c;
          vv[jj][c] = d < hdp ? Vs[(j + jj) * hdp + d] : 0.0f;
        }
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const float4 p4 = *reinterpret_cast<const float4*>(Ps + (warp * 8 + i) * kPreKeys + j);
#pragma unroll
        for (int c = 0; c < DPL; ++c) {
          o[i][c] = fmaf(p4.x, vv[0][c], o[i][c]);
          o[i][c] = fmaf(p4.y, vv[1][c], o[i][c]);
          o[i][c] = fmaf(p4.z, vv[2][c], o[i][c]);
          o[i][c] = fmaf(p4.w, vv[3][c], o[i][c]);
        }
      }
    }
    __syncwarp();
  }

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    if (out_row[i] < 0) continue;
    const float inv = 1.0f / l[i];
#pragma unroll
    for (int c = 0; c < DPL; ++c) {
      const int64_t d = lane + 32 * c;
      if (d < hd) a.out[out_row[i] * hd + d] = o[i][c] * inv;
    }
  }
}

void check_shape(const char* op, int64_t T, int64_t P, int64_t nh, int64_t nkv, int64_t hd) {
  require(T >= 0 && P >= 0 && nh > 0 && nkv > 0 && nh % nkv == 0 && hd > 0 && hd <= kMaxHd, op, "bad shape T=", T,
          " P=", P, " nh=", nh, " nkv=", nkv, " hd=", hd, " (nh must be a multiple of nkv, hd ≤ ", kMaxHd, ")");
}

template <int DPL>
void launch_prefill(const PrefillArgs& a, Context::Impl& d) {
  const size_t smem = static_cast<size_t>(kPreRows * a.hdp + kPreKeys * (a.hdp + 4) + kPreKeys * a.hdp +
                                          kPreRows * kPreKeys) * sizeof(float);
  require(smem <= d.max_smem_optin, "attention_prefill", "needs ", smem, " bytes of shared memory, device allows ",
          d.max_smem_optin);
  static size_t raised = 0;  // per instantiation
  if (smem > 48 * 1024 && smem > raised) {
    JAMBA_CUDA_CHECK(cudaFuncSetAttribute(attention_prefill_kernel<DPL>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(smem)));
    raised = smem;
  }
  const int64_t rows_total = a.T * a.group;
  dim3 grid(static_cast<unsigned>(ceil_div(rows_total, kPreRows)), static_cast<unsigned>(a.nkv));
  attention_prefill_kernel<DPL><<<grid, kPreThreads, smem, d.stream>>>(a);
  JAMBA_LAUNCH_CHECK("attention_prefill");
}

template <int R>
int decode_blocks_per_sm() {
  static int occ = 0;
  if (occ == 0) {
    JAMBA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, attention_decode_kernel<R>, kDecThreads, 0));
    if (occ < 1) occ = 1;
  }
  return occ;
}

template <int R>
void launch_decode(DecodeArgs a, int64_t splits, Context::Impl& d) {
  const int64_t rows_total = a.T * a.group;
  const int64_t row_blocks = ceil_div(rows_total, R);
  const int64_t keys = a.P + a.T;
  if (splits <= 0) {
    const int64_t base = a.nkv * row_blocks;
    const int64_t want = ceil_div(static_cast<int64_t>(decode_blocks_per_sm<R>()) * d.sm_count, base);
    const int64_t most = ceil_div(keys, 2 * kDecTile);  // at least two tiles a split
    splits = want < most ? want : most;
  }
  // The combine kernel keeps one weight per split in shared memory: at most 8192 splits.
  splits = std::max<int64_t>(1, std::min<int64_t>({splits, keys, 8192}));
  a.keys_per_split = ceil_div(keys, splits);
  a.nsplit = ceil_div(keys, a.keys_per_split);
  require(a.nsplit < (int64_t{1} << 31) && a.nkv < 65536 && row_blocks < 65536, "attention_decode",
          "grid too large");
  ScratchFrame frame(d);
  if (a.nsplit > 1) {
    // Partials are indexed by output row t·nh + h.
    const size_t rows_out = static_cast<size_t>(a.T * a.nh);
    const size_t o_need = align_up(static_cast<size_t>(a.nsplit) * rows_out * a.hd * 4, 256);
    const size_t ml_need = align_up(static_cast<size_t>(a.nsplit) * rows_out * 2 * 4, 256);
    d.reserve(d.scratch_top + o_need + ml_need);
    a.part_o = frame.push<float>(o_need / 4);
    a.part_ml = frame.push<float>(ml_need / 4);
  }
  dim3 grid(static_cast<unsigned>(a.nsplit), static_cast<unsigned>(a.nkv), static_cast<unsigned>(row_blocks));
  attention_decode_kernel<R><<<grid, kDecThreads, 0, d.stream>>>(a);
  JAMBA_LAUNCH_CHECK("attention_decode");
  if (a.nsplit > 1) {
    const int64_t rows_out = a.T * a.nh;
    const int threads = a.hd >= 128 ? 128 : 64;
    attention_combine_kernel<<<static_cast<unsigned>(rows_out), threads, 0, d.stream>>>(
        a.nsplit, rows_out, a.hd, a.part_o, a.part_ml, a.out);
    JAMBA_LAUNCH_CHECK("attention_decode");
  }
}

}  // namespace

void attention_decode(Context& ctx, const float* q, const float* k, const float* v, int64_t T, int64_t P, int64_t nh,
                      int64_t nkv, int64_t hd, float scale, float* out, int64_t splits) {
  check_shape("attention_decode", T, P, nh, nkv, hd);
  require(hd % 4 == 0 && aligned16(k) && aligned16(v), "attention_decode",
          "needs hd % 4 == 0 and 16-byte aligned k/v (hd=", hd, ")");
  if (T == 0) return;
  auto& d = ctx.impl();
  const int64_t group = nh / nkv;
  DecodeArgs a{q, k, v, T, P, nh, nkv, hd, group, scale, 0, 0, out, nullptr, nullptr};
  const int64_t rows = T * group;
  if (rows <= 1)
    launch_decode<1>(a, splits, d);
  else if (rows <= 2)
    launch_decode<2>(a, splits, d);
  else if (rows <= 4)
    launch_decode<4>(a, splits, d);
  else
    launch_decode<8>(a, splits, d);
}

void attention_prefill(Context& ctx, const float* q, const float* k, const float* v, int64_t T, int64_t P, int64_t nh,
                       int64_t nkv, int64_t hd, float scale, float* out) {
  check_shape("attention_prefill", T, P, nh, nkv, hd);
  if (T == 0) return;
  auto& d = ctx.impl();
  const int64_t group = nh / nkv;
  require(ceil_div(T * group, kPreRows) < (int64_t{1} << 31) && nkv < 65536, "attention_prefill", "grid too large");
  PrefillArgs a{q, k, v, T, P, nh, nkv, hd, (hd + 3) / 4 * 4, group, scale, out};
  if (hd <= 32)
    launch_prefill<1>(a, d);
  else if (hd <= 64)
    launch_prefill<2>(a, d);
  else if (hd <= 128)
    launch_prefill<4>(a, d);
  else
    launch_prefill<8>(a, d);
}

void attention(Context& ctx, const float* q, const float* k, const float* v, int64_t T, int64_t P, int64_t nh,
               int64_t nkv, int64_t hd, float scale, float* out) {
  check_shape("attention", T, P, nh, nkv, hd);
  if (T == 0) return;
  const int64_t group = nh / nkv;
  const bool decode_ok = hd % 4 == 0 && aligned16(k) && aligned16(v);
  if (decode_ok && (T == 1 || T * group <= 16))
    attention_decode(ctx, q, k, v, T, P, nh, nkv, hd, scale, out, 0);
  else
    attention_prefill(ctx, q, k, v, T, P, nh, nkv, hd, scale, out);
}

}  // namespace jamba::cuda
