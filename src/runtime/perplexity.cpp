#include "runtime/perplexity.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace jamba {
namespace {

// Releases a group's cache sequences however the group ends (a thrown error included).
struct SequencesGuard {
  HybridCache& cache;
  std::vector<SeqId> seqs;
  ~SequencesGuard() {
    for (SeqId s : seqs) cache.release_sequence(s);
  }
};

}  // namespace

double token_nll(const float* row, int64_t vocab, int32_t target) {
  float top = row[0];
  for (int64_t v = 0; v < vocab; ++v) {
    if (!std::isfinite(row[v])) fail("the model produced a non-finite logit (broken weights?)");
    top = std::max(top, row[v]);
  }
  double sum = 0;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - top);
  return std::log(sum) + top - static_cast<double>(row[target]);
}

NllTotals sum_nll(Engine& engine, std::span<const ScoredSequence> sequences, int64_t chunk,
                  const std::function<void(int64_t, int64_t)>& progress) {
  const int64_t V = engine.config().vocab_size;
  // Sequences with something to score, and the tokens each feeds (all but its last).
  std::vector<const ScoredSequence*> work;
  int64_t total = 0;
  for (const ScoredSequence& s : sequences) {
    if (s.first_scored == 0) fail("perplexity: the first token of a sequence has nothing to be scored from");
    if (static_cast<int64_t>(s.tokens.size()) > engine.max_context())
      fail("a sequence of ", s.tokens.size(), " tokens is longer than the context of ", engine.max_context(),
           " tokens (--ctx)");
    for (int32_t t : s.tokens)
      if (t < 0 || t >= V) fail("token id ", t, " is out of range (vocab_size ", V, ")");
    if (s.first_scored >= s.tokens.size()) continue;
    work.push_back(&s);
    total += static_cast<int64_t>(s.tokens.size()) - 1;
  }

  const int64_t step_tokens = chunk > 0 ? chunk : INT64_MAX;
  auto fed_length = [](const ScoredSequence* s) { return static_cast<int64_t>(s->tokens.size()) - 1; };
  HybridCache& cache = engine.cache();
  NllTotals totals;
  for (size_t begin = 0; begin < work.size();) {
    // A group: as many sequences as keep every forward within step_tokens (at least one).
    size_t end = begin + 1;
    int64_t group_tokens = std::min(fed_length(work[begin]), step_tokens);
    while (end < work.size() && group_tokens + std::min(fed_length(work[end]), step_tokens) <= step_tokens)
      group_tokens += std::min(fed_length(work[end++]), step_tokens);

    SequencesGuard guard{cache, {}};
    for (size_t i = begin; i < end; ++i) guard.seqs.push_back(cache.create_sequence());
    for (int64_t done = 0;; done += step_tokens) {
      std::vector<SequenceChunk> batch;
      std::vector<const ScoredSequence*> which;
      for (size_t i = begin; i < end; ++i) {
        const int64_t fed = fed_length(work[i]);
        if (done >= fed) continue;
        const int64_t n = std::min(step_tokens, fed - done);
        batch.push_back({guard.seqs[i - begin], std::span<const int32_t>(work[i]->tokens).subspan(done, n), true});
        which.push_back(work[i]);
      }
      if (batch.empty()) break;
      const auto logits = engine.step(batch);
      for (size_t b = 0; b < batch.size(); ++b) {
        const ScoredSequence& s = *which[b];
        const int64_t n = static_cast<int64_t>(batch[b].tokens.size());
        // Row j holds the logits after token done + j: they predict token done + j + 1, which
        // is already known, so no row outlives its chunk.
        for (int64_t j = 0; j < n; ++j) {
          const size_t target = static_cast<size_t>(done + j + 1);
          if (target < s.first_scored) continue;
          totals.nll_sum += token_nll(logits[b].data() + j * V, V, s.tokens[target]);
          ++totals.scored;
        }
        totals.evaluated += n;
      }
      if (progress) progress(totals.evaluated, total);
    }
    begin = end;
  }
  return totals;
}

}  // namespace jamba
