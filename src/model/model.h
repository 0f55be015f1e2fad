// A loaded model: validated config, layer plan, and the weights bound into the mmap'd files.
#pragma once
#include <memory>
#include <string>

#include "format/model_config.h"
#include "format/safetensors.h"
#include "model/layer_plan.h"
#include "model/weights.h"

namespace jamba {

struct Model {
  std::string dir;
  ModelConfig config;
  LayerPlan plan;
  TensorStore store;  // owns the mappings the weight views point into
  Weights weights;

  // Loads <dir>/config.json (+ generation_config.json) and the safetensors weights.
  static std::unique_ptr<Model> load(const std::string& dir);
};

}  // namespace jamba
