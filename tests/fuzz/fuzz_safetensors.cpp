// libFuzzer target: the safetensors header parser and the shard index parser on arbitrary
// bytes. jamba::Error is the expected way to reject input; any other exception, a crash, an
// out-of-bounds read, a leak or undefined behaviour is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "format/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Copy into an exact-size heap buffer so AddressSanitizer flags any read past the end.
  std::byte* bytes = new std::byte[size];
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>(data[i]);
  try {
    const jamba::SafetensorsHeader header = jamba::parse_safetensors(bytes, size, "fuzz.safetensors");
    // An accepted header must describe bytes inside the buffer: touch the first and last byte
    // of every tensor, and check what a consumer would compute from the entry.
    volatile std::byte sink{};
    for (const auto& entry : header.entries) {
      if (entry.end == entry.begin) continue;
      sink = bytes[header.data_start + entry.begin];
      sink = bytes[header.data_start + entry.end - 1];
      jamba::TensorView view;
      view.dtype = entry.dtype;
      view.shape = entry.shape;
      if (static_cast<uint64_t>(view.numel()) * jamba::dtype_size(entry.dtype) != entry.end - entry.begin)
        __builtin_trap();
    }
    (void)sink;
  } catch (const jamba::Error&) {
  }
  try {
    jamba::parse_safetensors_index(std::string(reinterpret_cast<const char*>(data), size), "fuzz.index.json");
  } catch (const jamba::Error&) {
  }
  delete[] bytes;
  return 0;
}
