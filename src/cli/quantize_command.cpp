// `jamba quantize`: a Hugging Face Jamba directory -> a weight-only int8 / int4 checkpoint in
// the same layout (format: model/quantize.h), loadable by every command.
#include <cinttypes>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/commands.h"
#include "model/model.h"
#include "model/quantize.h"

namespace jamba::cli {

int run_quantize(const CommonOptions& common, const QuantizeOptions& options) {
  if (is_gguf_model_path(common.model_dir))
    fail(common.model_dir, ": a GGUF file; quantize reads a Hugging Face model directory");
  const int bits = options.type == "int8" ? 8 : options.type == "int4" ? 4 : 0;
  if (bits == 0) fail("--type must be int8 or int4, not '", options.type, "'");
  const int64_t group = bits == 8 ? (options.group == 0 ? 0 : -1) : (options.group == 0 ? 32 : options.group);
  if (group < 0) fail("--group applies to --type int4 only");
  const QuantizeResult r = quantize_checkpoint(common.model_dir, options.output, bits, group);
  if (common.json) {
    const nlohmann::json doc = {{"output", options.output},      {"type", options.type},
                                {"group_size", group},           {"quantized", r.quantized},
                                {"copied", r.copied},            {"not_quantized", r.skipped},
                                {"bytes_in", r.bytes_in},        {"bytes_out", r.bytes_out}};
    std::printf("%s\n", doc.dump().c_str());
    return 0;
  }
  std::printf("wrote %s: %" PRId64 " matrices in %s%s, %" PRId64 " tensors copied, %.1f MiB -> %.1f MiB\n",
              options.output.c_str(), r.quantized, options.type.c_str(),
              bits == 4 ? (group == 32 ? " (groups of 32)" : " (groups of 64)") : " (one scale per row)", r.copied,
              r.bytes_in / 1048576.0, r.bytes_out / 1048576.0);
  for (const std::string& name : r.skipped)
    std::printf("not quantized (k is not a multiple of %" PRId64 "): %s\n", group, name.c_str());
  return 0;
}

}  // namespace jamba::cli
