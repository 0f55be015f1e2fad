// libFuzzer target: the GGUF reader on arbitrary bytes, then what a loader does with an accepted
// header: the Jamba config from its metadata, the tensor-name mapping, converting every tensor's
// blocks to fp32, the tokenizer its vocabulary makes, and the whole file loaded as model weights
// (written to /dev/shm, mapped, sliced, dequantized and bound). jamba::Error is the expected way to
// reject input; any other exception, a crash, an out-of-bounds read, a leak, undefined behaviour
// or an allocation beyond -rss_limit_mb is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "base/error.h"
#include "format/ggml_quants.h"
#include "format/gguf.h"
#include "format/gguf_jamba.h"
#include "format/tokenizer/gguf_vocab.h"
#include "model/layer_plan.h"
#include "model/weights.h"

namespace {

// The file-based loader (mmap, expert slicing, dequantization, binding) on the same bytes.
void load_as_file(const uint8_t* data, size_t size) {
  static const std::string path = "/dev/shm/fuzz_gguf_" + std::to_string(getpid()) + ".gguf";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    const jamba::GgufWeightSource source(path);
    const jamba::LayerPlan plan = jamba::LayerPlan::from_config(source.config());
    (void)jamba::bind_weights(source, source.config(), plan);
  } catch (const jamba::Error&) {
  }
  std::remove(path.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy, so AddressSanitizer flags any read past the end.
  std::byte* bytes = new std::byte[size];
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>(data[i]);
  try {
    const jamba::GgufHeader header = jamba::parse_gguf(bytes, size, "fuzz.gguf");
    volatile std::byte sink{};
    for (const auto& [key, value] : header.metadata) {
      if (value.elements && value.count > 0) {
        sink = value.elements[0];
        sink = value.elements[value.count - 1];  // at least one byte per element
      }
    }
    for (const jamba::GgufTensorInfo& t : header.tensors) {
      const auto info = jamba::ggml_type_info(static_cast<uint32_t>(t.type));
      if (!info || info->block_size == 0) __builtin_trap();  // the reader must have rejected it
      if (static_cast<uint64_t>(jamba::ggml_row_bytes(*info, t.numel())) != t.bytes) __builtin_trap();
      if (t.bytes == 0) continue;
      const std::byte* p = bytes + header.data_start + t.offset;
      sink = p[0];
      sink = p[t.bytes - 1];
      (void)jamba::hf_name_for_gguf(t.name);
      if (info->dequantizable && t.numel() <= (int64_t{1} << 22)) {
        std::vector<float> out(static_cast<size_t>(t.numel()));
        jamba::dequantize_row(t.type, p, t.numel(), out.data());
      }
    }
    (void)sink;
    try {
      (void)jamba::jamba_config_from_gguf(header, "fuzz.gguf");
    } catch (const jamba::Error&) {
    }
    try {
      (void)jamba::tokenizer_from_gguf_header(header, "fuzz.gguf");
    } catch (const jamba::Error&) {
    }
    load_as_file(data, size);
  } catch (const jamba::Error&) {
  }
  delete[] bytes;
  return 0;
}
