#include "runtime/machine.h"

#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <memory>

namespace jamba {

double measure_read_bandwidth(int64_t bytes, int reps) {
  const int64_t n = bytes / static_cast<int64_t>(sizeof(uint64_t));
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[n]);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) buffer[i] = static_cast<uint64_t>(i);  // first touch by the reading thread
  double best = 0;
  uint64_t sink = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t total = 0;
    // Eight independent sums so the adds do not serialise; the compiler vectorises each.
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (int64_t i = 0; i < n - 7; i += 8) {
      total += (buffer[i] ^ buffer[i + 1]) + (buffer[i + 2] ^ buffer[i + 3]) + (buffer[i + 4] ^ buffer[i + 5]) +
               (buffer[i + 6] ^ buffer[i + 7]);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sink += total;
    best = std::max(best, static_cast<double>(n) * sizeof(uint64_t) / s);
  }
  // Keep the sums observable so the loop is not optimised away.
  if (sink == 42) best += 1e-9;
  return best;
}

int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace jamba
