#include "model/model.h"

#include <filesystem>

#include "format/gguf.h"
#include "format/gguf_jamba.h"
#include "model/quantize.h"

namespace jamba {

bool is_gguf_model_path(const std::string& path) {
  // Model directories are directories; any file given as a model must be a GGUF file (and the
  // GGUF reader says so clearly when it is not).
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::unique_ptr<Model> Model::load(const std::string& dir_or_file) {
  auto model = std::make_unique<Model>();
  model->dir = dir_or_file;
  if (is_gguf_model_path(dir_or_file)) {
    auto source = std::make_unique<GgufWeightSource>(dir_or_file);
    model->config = source->config();
    model->store = std::move(source);
  } else {
    model->config = load_model_config(dir_or_file);
    model->store = std::make_unique<TensorStore>(TensorStore::open(dir_or_file));
    QuantizationConfig quantization;
    if (read_quantization_config(dir_or_file, &quantization))
      model->store = make_quantized_source(std::move(model->store), quantization);
  }
  model->plan = LayerPlan::from_config(model->config);
  model->weights = bind_weights(*model->store, model->config, model->plan);
  return model;
}

}  // namespace jamba
