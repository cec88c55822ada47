#include "support/models.hpp"

#include <ATen/ATen.h>
#include <torch/optim/adam.h>

#include "lmlab/nn/transformer_options.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"
#include "support/test_support.hpp"

namespace lmlab::test {

toml::table tiny_options() {
  return toml::table{{"d_model", 16}, {"n_layers", 2}, {"n_heads", 4}, {"init_std", 0.1}};
}

toml::table resolve_model(const std::string& family, const toml::table& options) {
  return resolve_plugin<Architecture>(builtin_plugins(), family, options, "model");
}

std::shared_ptr<Architecture> make_model(const std::string& family, const toml::table& options, std::int64_t vocab,
                                         std::int64_t context, std::uint64_t seed) {
  at::manual_seed(seed);
  auto model = make_plugin<Architecture>(builtin_plugins(), family, resolve_model(family, options),
                                         ArchitectureContext{vocab, context});
  model->eval();
  return model;
}

ModelInput input_for(const Architecture& model, const at::Tensor& tokens, const at::Tensor& padding_mask) {
  ModelInput in;
  in.tokens = tokens;
  in.padding_mask = padding_mask;
  if (model.capabilities().has_encoder) {
    in.encoder_tokens = tokens;
    in.encoder_padding_mask = padding_mask;
  }
  return in;
}

namespace {

std::int64_t norm_parameters(const ParameterShape& s) { return s.d_model + (s.bias && !s.rmsnorm ? s.d_model : 0); }

std::int64_t attention_parameters(const ParameterShape& s) {
  const std::int64_t C = s.d_model, kv = s.kv_heads * (s.d_model / s.heads), b = s.bias ? 1 : 0;
  return C * C + 2 * C * kv + C * C + b * (C + 2 * kv + C);
}

}  // namespace

std::int64_t expected_block_parameters(const ParameterShape& s, bool cross_attention) {
  const std::int64_t C = s.d_model, F = s.d_ff, b = s.bias ? 1 : 0, up = s.gated ? 2 * F : F;
  const std::int64_t mlp = C * up + b * up + F * C + b * C;
  return (cross_attention ? 3 : 2) * norm_parameters(s) + (cross_attention ? 2 : 1) * attention_parameters(s) + mlp;
}

std::int64_t expected_single_stack_parameters(const ParameterShape& s, bool pooler) {
  const std::int64_t V = s.vocab, C = s.d_model;
  return V * C + (s.learned_positions ? s.context * C : 0) + s.layers * expected_block_parameters(s, false) +
         (s.pre_norm ? norm_parameters(s) : 0) + (s.tied ? 0 : V * C) + (pooler ? C * C + (s.bias ? C : 0) : 0) +
         s.relative_buckets * s.heads;
}

std::int64_t expected_encoder_decoder_parameters(const ParameterShape& s, std::int64_t encoder_layers,
                                                 std::int64_t decoder_layers, bool shared_embeddings) {
  const std::int64_t V = s.vocab, C = s.d_model;
  return V * C * (shared_embeddings ? 1 : 2) + (s.learned_positions ? 2 * s.context * C : 0) +
         encoder_layers * expected_block_parameters(s, false) + decoder_layers * expected_block_parameters(s, true) +
         (s.pre_norm ? 2 * norm_parameters(s) : 0) + (s.tied ? 0 : V * C) + 2 * s.relative_buckets * s.heads;
}

std::shared_ptr<Objective> make_objective(const std::string& name, const toml::table& options, std::int64_t vocab) {
  static const ByteTokenizer tokenizer;
  const Registry& registry = builtin_plugins();
  ObjectiveContext context{vocab, &tokenizer, {}};
  toml::table own = options;
  if (registry.get<Objective>(name).info.traits.composite) {
    // As the host builds them: `tasks` names the objectives, each configured by the sub-table of
    // its own name, which is not one of the composite's options.
    if (const toml::array* tasks = options["tasks"].as_array()) {
      for (const auto& item : *tasks) {
        const std::string task = item.value<std::string>().value_or("");
        const toml::table* task_options = options[task].as_table();
        context.tasks.push_back({task, make_objective(task, task_options ? *task_options : toml::table{}, vocab)});
        own.erase(task);
      }
    }
  }
  return make_plugin<Objective>(registry, name, resolve_plugin<Objective>(registry, name, own, "objective"), context);
}

LossCurve train_on(Objective& objective, Architecture& model, const at::Tensor& block, int steps, double lr) {
  model.train();
  torch::optim::Adam optimizer(model.parameters(), torch::optim::AdamOptions(lr));
  LossCurve curve;
  for (int step = 0; step < steps; ++step) {
    const LossOutput out = objective.compute(model, block);
    optimizer.zero_grad();
    out.loss.backward();
    optimizer.step();
    (step == 0 ? curve.first : curve.last) = out.loss.item<double>();
  }
  return curve;
}

std::int64_t parameter_count(const Architecture& model) { return nn::count_parameters(model); }

}  // namespace lmlab::test
