#include "lmlab/checkpoint.hpp"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "lmlab/error.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

at::Generator default_generator(const c10::Device& device) {
  return at::globalContext().defaultGenerator(device);
}

at::Tensor scalar(std::int64_t v) { return at::scalar_tensor(v, at::kLong); }
at::Tensor scalar(double v) { return at::scalar_tensor(v, at::kDouble); }

}  // namespace

void save_checkpoint(const fs::path& file, const CheckpointParts& parts, const TrainingState& state,
                     const std::string& config_hash) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model, optimizer;
  parts.model.save(model);
  parts.optimizer.save(optimizer);
  archive.write("model", model);
  archive.write("optimizer", optimizer);
  archive.write("config_hash", c10::IValue(config_hash));
  archive.write("rng_data", parts.data_generator.get_state());
  archive.write("rng_cpu", default_generator(c10::Device(c10::kCPU)).get_state());
  if (parts.device.is_cuda()) archive.write("rng_device", default_generator(parts.device).get_state());
  archive.write("step", scalar(state.step));
  archive.write("tokens", scalar(state.tokens));
  archive.write("loss_sum", scalar(state.loss_sum));
  archive.write("loss_count", scalar(state.loss_count));
  archive.write("last_eval_step", scalar(state.last_eval_step));

  fs::create_directories(file.parent_path());
  const fs::path temporary = file.string() + ".tmp";
  archive.save_to(temporary.string());
  fs::rename(temporary, file);
}

TrainingState load_checkpoint(const fs::path& file, const CheckpointParts& parts, const std::string& config_hash) {
  if (!fs::exists(file)) throw DataError(fmt::format("no checkpoint at {}", file.string()));
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(file.string(), parts.device);
  } catch (const std::exception& e) {
    throw DataError(fmt::format("cannot read checkpoint {}: {}", file.string(), e.what()));
  }
  c10::IValue hash;
  archive.read("config_hash", hash);
  if (hash.toStringRef() != config_hash) {
    throw DataError(fmt::format("checkpoint {} was written for config {}, this run's config is {}; "
                                "resume with the same experiment file and overrides",
                                file.string(), hash.toStringRef(), config_hash));
  }
  torch::serialize::InputArchive model, optimizer;
  archive.read("model", model);
  archive.read("optimizer", optimizer);
  parts.model.load(model);
  parts.optimizer.load(optimizer);

  at::Tensor t;
  archive.read("rng_data", t);
  parts.data_generator.set_state(t.cpu());
  archive.read("rng_cpu", t);
  default_generator(c10::Device(c10::kCPU)).set_state(t.cpu());
  if (parts.device.is_cuda()) {
    archive.read("rng_device", t);
    default_generator(parts.device).set_state(t.cpu());
  }
  TrainingState state;
  archive.read("step", t);
  state.step = t.item<std::int64_t>();
  archive.read("tokens", t);
  state.tokens = t.item<std::int64_t>();
  archive.read("loss_sum", t);
  state.loss_sum = t.item<double>();
  archive.read("loss_count", t);
  state.loss_count = t.item<std::int64_t>();
  archive.read("last_eval_step", t);
  state.last_eval_step = t.item<std::int64_t>();
  return state;
}

}  // namespace lmlab
