#include "runtime/executor.h"

namespace jamba {
namespace {

class HostExecutor final : public Executor {
 public:
  explicit HostExecutor(const ops::Backend& ops) : ops_(ops) {}
  std::string describe() const override { return ops_.name; }
  std::shared_ptr<CacheMemory> cache_memory() override { return host_cache_memory(); }
  std::vector<std::vector<float>> forward(const Model& model, HybridCache& cache,
                                          const std::vector<SequenceChunk>& chunks) override {
    return jamba::forward(model, ops_, cache, chunks);
  }

 private:
  const ops::Backend& ops_;
};

}  // namespace

std::unique_ptr<Executor> host_executor(const ops::Backend& ops) { return std::make_unique<HostExecutor>(ops); }

}  // namespace jamba
