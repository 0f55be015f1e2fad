// Where an Engine's forwards run: on the host through an op table (src/ops), or on a GPU that
// holds its own copy of the weights (src/gpu). The executor also says where the cache's floats
// must live, so the forward finds K/V and Mamba states next to its kernels.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "cache/hybrid_cache.h"
#include "model/forward.h"
#include "model/model.h"
#include "ops/ops.h"

namespace jamba {

class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::string describe() const = 0;  // e.g. "cpu" or "cuda (NVIDIA H100 ..., fast matmuls)"
  virtual std::shared_ptr<CacheMemory> cache_memory() = 0;
  // model/forward.h's contract, over a cache whose memory is cache_memory().
  virtual std::vector<std::vector<float>> forward(const Model& model, HybridCache& cache,
                                                  const std::vector<SequenceChunk>& chunks) = 0;
};

// The host forward over an op table.
std::unique_ptr<Executor> host_executor(const ops::Backend& ops);

}  // namespace jamba
