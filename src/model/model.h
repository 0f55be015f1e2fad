// A loaded model: validated config, layer plan, and the weights bound into the mmap'd files.
#pragma once
#include <memory>
#include <string>

#include "format/model_config.h"
#include "format/safetensors.h"
#include "format/weight_source.h"
#include "model/layer_plan.h"
#include "model/weights.h"

namespace jamba {

struct Model {
  std::string dir;  // the model directory, or the .gguf file
  ModelConfig config;
  LayerPlan plan;
  std::unique_ptr<WeightSource> store;  // owns the mappings (and converted buffers) the views point into
  Weights weights;

  // A directory: <dir>/config.json (+ generation_config.json) and the safetensors weights.
  // A GGUF file (llama.cpp's Jamba format): config from its metadata, weights from its tensors.
  static std::unique_ptr<Model> load(const std::string& dir_or_file);
};

// True when `path` names a file (to be read as GGUF) rather than a model directory.
bool is_gguf_model_path(const std::string& path);

}  // namespace jamba
