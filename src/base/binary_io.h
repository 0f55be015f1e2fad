// Little helpers for the engine's own binary files (saved chat sessions): fixed-width integers
// and float arrays, with truncation reported as a jamba::Error naming the file.
#pragma once
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "base/error.h"

namespace jamba {

inline void write_u64(std::ostream& out, uint64_t value) { out.write(reinterpret_cast<const char*>(&value), 8); }

inline void write_floats(std::ostream& out, const std::vector<float>& values) {
  write_u64(out, values.size());
  out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
}

inline uint64_t read_u64(std::istream& in, const std::string& label) {
  uint64_t value = 0;
  if (!in.read(reinterpret_cast<char*>(&value), 8)) fail(label, ": file is truncated");
  return value;
}

// Reads a float array whose length must be `expected` (the model's shape), so a file made for
// another model is rejected before any large allocation.
inline std::vector<float> read_floats(std::istream& in, uint64_t expected, const std::string& label, const char* what) {
  const uint64_t count = read_u64(in, label);
  if (count != expected) fail(label, ": ", what, " holds ", count, " values; this model needs ", expected);
  std::vector<float> values(count);
  if (!in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(count * sizeof(float))))
    fail(label, ": file is truncated in ", what);
  return values;
}

}  // namespace jamba
