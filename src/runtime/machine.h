// What the machine itself can do, measured in the same run as a benchmark so results are read
// against this machine's limits rather than a datasheet.
#pragma once
#include <cstdint>

namespace jamba {

// Read bandwidth in bytes/s: every thread sums its share of a `bytes` buffer (larger than the
// last-level cache), best of `reps` passes after one to fault the pages in.
double measure_read_bandwidth(int64_t bytes = int64_t{1} << 30, int reps = 5);

// Peak resident set size of this process so far, in bytes.
int64_t peak_rss_bytes();

}  // namespace jamba
