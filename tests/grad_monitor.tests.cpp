// grad_monitor: its per-layer numbers against direct computations, that measuring draws nothing
// from the generators, every = N, the known effect of post-norm on the gradients near the output
// (Xiong et al. 2020), and the rows an end-to-end run writes.
#include <cmath>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/optim/adamw.h>

#include "experiment/experiment_loader.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/regulariser.hpp"
#include "results/run_file.hpp"
#include "training/trainer.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/test_support.hpp"

namespace grad_monitor_tests {

namespace fs = std::filesystem;

namespace {

std::shared_ptr<lmlab::Regulariser> make(const toml::table& options = {}) {
  const auto& plugins = lmlab::test::builtin_plugins();
  return lmlab::make_plugin<lmlab::Regulariser>(
      plugins, "grad_monitor", lmlab::resolve_plugin<lmlab::Regulariser>(plugins, "grad_monitor", options, "regularisers"),
      lmlab::RegulariserContext{10, 0.0});
}

/// The rows a regulariser logs, by column.
class Rows final : public lmlab::RegulariserLog {
 public:
  void append(const lmlab::RunFile::Row& row) override {
    for (const auto& [key, value] : row) {
      if (key == "layer") layer.push_back(std::get<std::string>(value));
      else if (key == "step") step.push_back(std::get<std::int64_t>(value));
      else values[key].push_back(std::get<double>(value));
    }
  }
  std::vector<std::string> layer;
  std::vector<std::int64_t> step;
  std::map<std::string, std::vector<double>> values;

  double at(const std::string& column, const std::string& name) const {
    for (std::size_t i = 0; i < layer.size(); ++i) {
      if (layer[i] == name) return values.at(column)[i];
    }
    FAIL("no layer " << name);
    return 0;
  }
};

/// sqrt of the summed squares of `tensors`.
double norm_of(const std::vector<at::Tensor>& tensors) {
  double sum = 0;
  for (const auto& t : tensors) sum += t.to(at::kDouble).square().sum().item<double>();
  return std::sqrt(sum);
}

/// The parameters (or their gradients) whose names start with `prefix` + ".".
std::vector<at::Tensor> under(lmlab::Architecture& model, const std::string& prefix, bool grads) {
  std::vector<at::Tensor> out;
  for (const auto& item : model.named_parameters()) {
    if (item.key().rfind(prefix + ".", 0) == 0) out.push_back(grads ? item.value().grad() : item.value().detach());
  }
  return out;
}

}  // namespace

TEST_CASE("grad_monitor: per-layer norms, update ratio and activation RMS equal direct computations",
          "[grad_monitor]") {
  auto model = lmlab::test::make_model("causal_decoder", lmlab::test::tiny_options());  // eval mode
  at::manual_seed(2);
  const at::Tensor block = at::randint(40, {3, 9}, at::kLong);  // (B, T+1)
  lmlab::test::make_objective("causal_lm", {}, 40)->compute(*model, block).loss.backward();
  const std::vector<std::string> layers = {"embeddings", "blocks.0", "blocks.1", "final_norm"};
  std::map<std::string, double> grad_norm, weight_norm;
  std::map<std::string, std::vector<at::Tensor>> before;
  for (const auto& layer : layers) {
    grad_norm[layer] = norm_of(under(*model, layer, true));
    before[layer] = under(*model, layer, false);
    for (auto& t : before[layer]) t = t.clone();
    weight_norm[layer] = norm_of(before[layer]);
  }

  const auto monitor = make();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.0));
  const lmlab::StepInfo info{1, 1e-2, true, &block};
  monitor->before_step(*model, info);
  optimizer.step();
  monitor->after_step(*model, info);
  Rows rows;
  monitor->log(*model, info, rows);
  CHECK_FALSE(model->is_training());  // the extra forward left the mode as it found it

  // One group per block, and one each for the embeddings and the final norm (the head is tied).
  CHECK(rows.layer == layers);
  CHECK(rows.step == std::vector<std::int64_t>(4, 1));
  at::Tensor activations_rms;  // (2)
  {
    at::NoGradGuard no_grad;
    lmlab::ModelInput in{block.narrow(1, 0, 8)};
    in.return_layers = true;
    const auto outputs = model->forward(in).layers;  // 2 x (B, T, C)
    REQUIRE(outputs.size() == 2);
    activations_rms = at::stack({outputs[0].square().mean().sqrt(), outputs[1].square().mean().sqrt()});  // (2)
  }
  for (const auto& layer : layers) {
    INFO(layer);
    std::vector<at::Tensor> delta;
    const auto after = under(*model, layer, false);
    for (std::size_t i = 0; i < after.size(); ++i) delta.push_back(after[i] - before[layer][i]);  // same shape
    CHECK(rows.at("grad_norm", layer) == Approx(grad_norm[layer]).epsilon(1e-9));
    CHECK(rows.at("weight_norm", layer) == Approx(weight_norm[layer]).epsilon(1e-9));
    CHECK(rows.at("update_ratio", layer) == Approx(norm_of(delta) / weight_norm[layer]).epsilon(1e-6));
    CHECK(rows.at("update_ratio", layer) > 0.0);
  }
  CHECK(rows.at("act_rms", "blocks.0") == Approx(activations_rms[0].item<double>()).epsilon(1e-6));
  CHECK(rows.at("act_rms", "blocks.1") == Approx(activations_rms[1].item<double>()).epsilon(1e-6));
  CHECK(std::isnan(rows.at("act_rms", "embeddings")));
  CHECK(std::isnan(rows.at("act_rms", "final_norm")));
  // Written once: a second log adds nothing.
  monitor->log(*model, info, rows);
  CHECK(rows.layer.size() == 4);
}

TEST_CASE("grad_monitor: an encoder-decoder's layers; measuring draws nothing from the generator",
          "[grad_monitor]") {
  toml::table options = lmlab::test::tiny_options();
  options.insert_or_assign("residual_dropout", 0.3);
  auto model = lmlab::test::make_model("encoder_decoder", options);
  model->train();
  at::manual_seed(4);
  const at::Tensor block = at::randint(40, {2, 7}, at::kLong);  // (B, T+1)
  model->forward(lmlab::test::input_for(*model, block.narrow(1, 0, 6))).logits.square().mean().backward();
  const auto monitor = make();
  const lmlab::StepInfo info{3, 1e-2, true, &block};
  monitor->before_step(*model, info);
  // Dropout is active in training; the monitor's forward runs in eval mode, so it draws nothing.
  at::manual_seed(9);
  monitor->after_step(*model, info);
  const double next = at::rand({1}).item<double>();
  at::manual_seed(9);
  CHECK(next == at::rand({1}).item<double>());
  CHECK(model->is_training());
  Rows rows;
  monitor->log(*model, info, rows);
  std::vector<std::string> blocks;
  for (std::size_t i = 0; i < rows.layer.size(); ++i) {
    const bool numbered = rows.layer[i].find('.') != std::string::npos;
    if (numbered) blocks.push_back(rows.layer[i]);
    // The blocks' outputs exist (encoder first, then decoder); the rest have none.
    CHECK(std::isnan(rows.values["act_rms"][i]) != numbered);
  }
  CHECK(blocks == std::vector<std::string>{"encoder.0", "encoder.1", "decoder.0", "decoder.1"});
}

TEST_CASE("grad_monitor: every = N measures every N steps and writes at the next log", "[grad_monitor]") {
  auto model = lmlab::test::make_model("causal_decoder", lmlab::test::tiny_options());
  const at::Tensor block = at::randint(40, {2, 5}, at::kLong);  // (B, T+1)
  lmlab::test::make_objective("causal_lm", {}, 40)->compute(*model, block).loss.backward();
  const auto monitor = make(toml::table{{"every", 2}});
  Rows rows;
  for (std::int64_t step = 1; step <= 5; ++step) {
    const lmlab::StepInfo info{step, 1e-2, step == 5, &block};
    monitor->before_step(*model, info);
    monitor->after_step(*model, info);
    if (info.log_now) monitor->log(*model, info, rows);
  }
  CHECK(rows.step == std::vector<std::int64_t>{2, 2, 2, 2, 4, 4, 4, 4});
}

TEST_CASE("grad_monitor: post-norm's gradients grow towards the output, pre-norm's do not (Xiong et al. 2020)",
          "[grad_monitor]") {
  // At initialisation, as in the paper: the original Transformer's Xavier init, embeddings
  // scaled by sqrt(d_model) and sinusoidal positions; 12 blocks of width 64. The last block's
  // gradient norm over the first's, averaged over three seeds (model and batch), post-norm and
  // pre-norm on the same models' weights and batches. (With the defaults, GPT-2's init and
  // unscaled embeddings of std 0.02, post-norm's first norm divides the block 0 gradients by
  // that small scale instead, and the ratio turns around; see docs/regularisers.md.)
  auto ratio = [](const std::string& norm_position, std::uint64_t seed) {
    const toml::table options{{"d_model", 64},          {"n_layers", 12},     {"n_heads", 4},
                              {"norm_position", norm_position}, {"init", "xavier"}, {"scale_embeddings", true},
                              {"positions", "sinusoidal"}};
    auto model = lmlab::test::make_model("causal_decoder", options, 64, 32, seed);
    model->train();
    at::manual_seed(7 + seed);
    const at::Tensor block = at::randint(64, {16, 33}, at::kLong);  // (B, T+1)
    lmlab::test::make_objective("causal_lm", {}, 64)->compute(*model, block).loss.backward();
    const auto monitor = make();
    const lmlab::StepInfo info{1, 0.0, true, &block};
    monitor->before_step(*model, info);
    monitor->after_step(*model, info);
    Rows rows;
    monitor->log(*model, info, rows);
    return rows.at("grad_norm", "blocks.11") / rows.at("grad_norm", "blocks.0");
  };
  double post = 0, pre = 0;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    post += ratio("post", seed) / 3;
    pre += ratio("pre", seed) / 3;
  }
  WARN(fmt::format("grad norm of block 11 / block 0 at initialisation, mean of 3 seeds: post-norm {:.3f}, "
                   "pre-norm {:.3f}",
                   post, pre));
  CHECK(post > 2.0 * pre);
  // Pre-norm's gradients shrink with depth (the residual stream grows, the blocks' share of it
  // falls); post-norm's do not.
  CHECK(pre < 0.7);
  CHECK(post > 0.9);
}

TEST_CASE("grad_monitor: a run writes its group, one row per layer per log step", "[grad_monitor]") {
  lmlab::test::TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  // grad_monitor twice, around a clip to 0.1: the first sees the gradients before it, the second after.
  const std::string regularisers = R"([[regularisers]]
name = "grad_monitor"

[[regularisers]]
name = "grad_clip"
max_norm = 0.1

[[regularisers]]
name = "grad_monitor"
every = 1
)";
  lmlab::test::write_file(dir / "e.toml", lmlab::test::SmallExperiment{.corpus = dir / "corpus",
                                                                       .results = dir / "results",
                                                                       .name = "grad_monitor_test",
                                                                       .seed = 3,
                                                                       .block_size = 16,
                                                                       .d_model = 16,
                                                                       .n_layers = 2,
                                                                       .regularisers = regularisers,
                                                                       .steps = 4,
                                                                       .lr = 1e-3,
                                                                       .warmup = 0,
                                                                       .eval_every = 4,
                                                                       .log_every = 2,
                                                                       .prompt_tokens = 4,
                                                                       .max_new_tokens = 2}
                                                  .text());
  lmlab::Registry registry;
  lmlab::PluginLoader loader{registry};
  auto runs = lmlab::load_runs(dir / "e.toml", {}, loader, registry);
  REQUIRE(runs.size() == 1);
  std::ostringstream sink;
  lmlab::RunOptions options;
  options.out = &sink;
  options.live = false;
  const lmlab::RunSummary s = lmlab::run_experiment(runs.front(), registry, options);
  INFO(sink.str());
  REQUIRE(s.status == lmlab::RunStatus::complete);
  // Listed twice, the groups are numbered by position. Four layers: embeddings, two blocks, the final norm.
  const auto steps = lmlab::run_file::read_ints(s.run_file, "grad_monitor.0/step");
  CHECK(steps == std::vector<std::int64_t>{2, 2, 2, 2, 4, 4, 4, 4});
  const auto layers = lmlab::run_file::read_strings(s.run_file, "grad_monitor.0/layer");
  CHECK(layers == std::vector<std::string>{"embeddings", "blocks.0", "blocks.1", "final_norm", "embeddings", "blocks.0",
                                           "blocks.1", "final_norm"});
  const auto act = lmlab::run_file::read_floats(s.run_file, "grad_monitor.0/act_rms");
  REQUIRE(act.size() == 8);
  CHECK(std::isnan(act[0]));
  CHECK(act[1] > 0.0);
  for (const char* column : {"grad_norm", "weight_norm", "update_ratio"}) {
    for (double v : lmlab::run_file::read_floats(s.run_file, fmt::format("grad_monitor.0/{}", column))) CHECK(v > 0.0);
  }
  CHECK(lmlab::run_file::read_ints(s.run_file, "grad_monitor.2/step") ==
        std::vector<std::int64_t>{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4});
  // Listed before grad_clip, the first sees the gradients the trainer logs; listed after it
  // (max_norm 0.1), the second sees them clipped.
  const auto trainer_norm = lmlab::run_file::read_floats(s.run_file, "train/grad_norm");  // steps 2, 4
  const auto unclipped = lmlab::run_file::read_floats(s.run_file, "grad_monitor.0/grad_norm");
  const auto clipped = lmlab::run_file::read_floats(s.run_file, "grad_monitor.2/grad_norm");
  auto global = [](const std::vector<double>& norms, std::size_t row) {
    double sum = 0;
    for (std::size_t l = 0; l < 4; ++l) sum += norms[row + l] * norms[row + l];
    return std::sqrt(sum);
  };
  REQUIRE(trainer_norm.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    REQUIRE(trainer_norm[i] > 0.2);
    CHECK(global(unclipped, 4 * i) == Approx(trainer_norm[i]).epsilon(1e-5));
    CHECK(global(clipped, 4 * (2 * i + 1)) == Approx(0.1).epsilon(1e-4));  // steps 2 and 4
  }
}

}  // namespace grad_monitor_tests
