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

// A fresh tensor per key: InputArchive::read into a defined tensor calls set_() on it, which
// reinterprets the stored data in the old tensor's dtype (a step of 1016 read into the byte
// tensor of an RNG state came back as 248).
at::Tensor read_tensor(torch::serialize::InputArchive& archive, const std::string& key) {
  at::Tensor t;
  archive.read(key, t);
  return t;
}

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
  try {
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

    parts.data_generator.set_state(read_tensor(archive, "rng_data").cpu());
    default_generator(c10::Device(c10::kCPU)).set_state(read_tensor(archive, "rng_cpu").cpu());
    if (parts.device.is_cuda()) default_generator(parts.device).set_state(read_tensor(archive, "rng_device").cpu());
    TrainingState state;
    state.step = read_tensor(archive, "step").item<std::int64_t>();
    state.tokens = read_tensor(archive, "tokens").item<std::int64_t>();
    state.loss_sum = read_tensor(archive, "loss_sum").item<double>();
    state.loss_count = read_tensor(archive, "loss_count").item<std::int64_t>();
    state.last_eval_step = read_tensor(archive, "last_eval_step").item<std::int64_t>();
    return state;
  } catch (const DataError&) {
    throw;
  } catch (const std::exception& e) {
    throw DataError(fmt::format("checkpoint {} is incomplete or not an lmlab checkpoint: {}", file.string(), e.what()));
  }
}

}  // namespace lmlab
