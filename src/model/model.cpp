#include "model/model.h"

namespace jamba {

std::unique_ptr<Model> Model::load(const std::string& dir) {
  auto model = std::make_unique<Model>();
  model->dir = dir;
  model->config = load_model_config(dir);
  model->plan = LayerPlan::from_config(model->config);
  model->store = TensorStore::open(dir);
  model->weights = bind_weights(model->store, model->config, model->plan);
  return model;
}

}  // namespace jamba
