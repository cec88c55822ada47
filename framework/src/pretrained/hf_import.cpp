#include "pretrained/hf_import.hpp"

#include <chrono>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "experiment/experiment_schema.hpp"
#include "lmlab/architecture.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "plugin_host/run_tokenizer.hpp"
#include "pretrained/hf_config.hpp"
#include "training/checkpoint.hpp"
#include "training/optimizer.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

namespace {

std::string hf_shape_text(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

}  // namespace

std::optional<fs::path> hf_folder_of(const std::string& reference) {
  if (reference.rfind("hf:", 0) != 0) return std::nullopt;
  return fs::path(reference.substr(3));
}

HfTranslation translate_hf_folder(const fs::path& folder, const SafetensorsSet& weights) {
  HfConfig config(folder / "config.json");
  const std::string type = config.model_type();
  if (type == "gpt2") return translate_gpt2(config, folder, weights);
  if (type == "llama" || type == "mistral") return translate_llama(config, folder, weights);
  if (type == "bert") return translate_bert(config, folder, weights);
  if (type == "t5") return translate_t5(config, folder, weights);
  config.refuse("model_type", "lmlab imports gpt2 and llama (and mistral without a sliding window), bert and t5");
}

HfFolder open_hf_folder(const fs::path& folder) {
  if (!fs::is_directory(folder)) {
    throw DataError(fmt::format("{}: not a folder (a Hugging Face checkpoint folder)", folder.string()));
  }
  SafetensorsSet weights(folder);
  HfTranslation translation = translate_hf_folder(folder, weights);
  // Before any model is built from config.json: a config that disagrees with the stored tensors
  // (or a hostile one asking for a huge model) stops here.
  for (const auto& [name, shape] : translation.shapes) {
    if (weights.contains(name) && weights.entry(name).shape != shape) {
      throw DataError(fmt::format("{}: tensor '{}' has shape {}, but config.json implies {}",
                                  weights.file_of(name).string(), name, hf_shape_text(weights.entry(name).shape),
                                  hf_shape_text(shape)));
    }
  }
  toml::table config = hf_experiment_config(translation, folder);
  return {folder, std::move(weights), std::move(translation), std::move(config)};
}

toml::table hf_experiment_config(const HfTranslation& tr, const fs::path& folder) {
  toml::table config;
  config.insert("experiment", toml::table{{"name", "hf-" + fs::absolute(folder).lexically_normal().filename().string()},
                                          {"device", "cpu"}, {"precision", "fp32"}});
  config.insert("data", toml::table{{"tokenizer", tr.tokenizer}, {"block_size", tr.context_length}});
  config.insert("tokenizer", tr.tokenizer_options);
  config.insert("model", tr.model);
  config.insert("objective", toml::table{{"name", tr.objective}});
  // An encoder-only model does not generate: no decoding chain, and no samples at evaluation.
  if (tr.objective != "masked_lm") config.insert("decoding", toml::table{{"chain", toml::array{"greedy"}}});
  else config.insert("eval", toml::table{{"max_new_tokens", 0}});
  return config;
}

void write_hf_experiment(const fs::path& folder, const fs::path& file, std::ostream& log) {
  std::ofstream out(file);
  out << "# The experiment config lmlab import made of " << fs::absolute(folder).lexically_normal().string()
      << ": use it as `base =` of a fine-tuning experiment, with train.init_from the imported checkpoint.\n"
      << open_hf_folder(folder).config << "\n";
  if (!out) throw DataError(fmt::format("cannot write {}", file.string()));
  log << fmt::format("wrote its experiment config to {}\n", file.string());
}

namespace {

// A stored tensor as float32, after its shape is checked against the one the config implies.
at::Tensor hf_fetch(const HfFolder& hf, const std::string& name, std::set<std::string>& used) {
  const HfTranslation& tr = hf.translation;
  if (!hf.weights.contains(name)) {
    throw DataError(fmt::format("{}: has no tensor '{}', which a {} model of this config.json needs",
                                hf.folder.string(), name, tr.family));
  }
  const SafetensorsEntry& entry = hf.weights.entry(name);
  const auto expected = tr.shapes.find(name);
  if (expected != tr.shapes.end() && entry.shape != expected->second) {
    throw DataError(fmt::format("{}: tensor '{}' has shape {}, but config.json implies {}",
                                hf.weights.file_of(name).string(), name, hf_shape_text(entry.shape),
                                hf_shape_text(expected->second)));
  }
  used.insert(name);
  return hf.weights.tensor(name).to(at::kFloat);
}

void hf_copy(at::Tensor& target, const at::Tensor& value, const WeightSource& source, const std::string& name,
             bool vocab_exact) {
  // A model that predicts every id (vocab_exact) may not gain rows the published one lacks.
  const bool padded = source.vocab_rows && value.dim() == target.dim() && value.dim() >= 1 &&
                      (vocab_exact ? value.size(0) == target.size(0) : value.size(0) <= target.size(0)) &&
                      value.sizes().slice(1) == target.sizes().slice(1);
  if (!padded && !value.sizes().equals(target.sizes())) {
    throw DataError(fmt::format("lmlab parameter '{}' is {}, but its source ({}) gives {}", name,
                                hf_shape_text(target.sizes().vec()), fmt::join(source.names, ", "),
                                hf_shape_text(value.sizes().vec())));
  }
  if (padded && value.size(0) < target.size(0)) {
    target.zero_();
    target.narrow(0, 0, value.size(0)).copy_(value);
  } else {
    target.copy_(value);
  }
}

}  // namespace

void load_hf_weights(torch::nn::Module& model, const HfFolder& hf) {
  const HfTranslation& tr = hf.translation;
  at::NoGradGuard no_grad;
  std::set<std::string> used;
  for (auto& p : model.named_parameters(/*recurse=*/true)) {
    const auto source = tr.weights.find(p.key());
    if (source == tr.weights.end()) {
      throw Error(fmt::format("lmlab's {} translation has no source for parameter '{}'", tr.family, p.key()));
    }
    std::vector<at::Tensor> parts;
    for (const auto& name : source->second.names) parts.push_back(hf_fetch(hf, name, used));
    hf_copy(p.value(), source->second.make(parts), source->second, p.key(), tr.vocab_exact);
  }
  for (const WeightSource& check : tr.checks) {
    const bool stored = std::all_of(check.names.begin(), check.names.end(),
                                    [&](const std::string& n) { return hf.weights.contains(n); });
    if (!stored) continue;
    std::vector<at::Tensor> parts;
    for (const auto& name : check.names) parts.push_back(hf_fetch(hf, name, used));
    try {
      check.make(parts);
    } catch (const DataError& e) {
      throw DataError(fmt::format("{}: {}", hf.weights.file_of(check.names.front()).string(), e.what()));
    }
  }
  for (const std::string& name : hf.weights.names()) {
    if (used.count(name) || (tr.ignorable && tr.ignorable(name))) continue;
    throw DataError(fmt::format("{}: tensor '{}' is not part of a {} model as lmlab builds it; refusing to drop it",
                                hf.weights.file_of(name).string(), name, tr.family));
  }
}

void import_hf_checkpoint(const fs::path& folder, const fs::path& out, const Registry& registry, std::ostream& log) {
  const auto start = std::chrono::steady_clock::now();
  const HfFolder hf = open_hf_folder(folder);
  const Experiment e = resolve_experiment(hf.config, registry, (folder / "config.json").string());
  const auto tokenizer = build_tokenizer(registry, e.tokenizer);
  if (hf.translation.vocab_exact && tokenizer->vocab_size() != hf.translation.vocab_size) {
    throw DataError(fmt::format("{}: config.json's vocab_size is {}, but the folder's tokenizer has {} ids, and a {} "
                                "model predicts every id",
                                folder.string(), hf.translation.vocab_size, tokenizer->vocab_size(),
                                hf.translation.family));
  }
  if (tokenizer->vocab_size() < hf.translation.vocab_size) {
    throw DataError(fmt::format("{}: config.json's vocab_size is {}, but the folder's tokenizer has {} ids",
                                folder.string(), hf.translation.vocab_size, tokenizer->vocab_size()));
  }
  const auto model = make_plugin<Architecture>(registry, e.model.name, e.model.options,
                                               ArchitectureContext{tokenizer->vocab_size(), e.data.block_size});
  load_hf_weights(*model, hf);
  const double loaded = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const auto optimizer = make_optimizer(*model, e.train);
  at::Generator data_generator = at::detail::createCPUGenerator(static_cast<std::uint64_t>(e.experiment.seed));
  std::ostringstream config;
  config << e.resolved;
  fs::create_directories(fs::absolute(out).parent_path());
  save_checkpoint(out, CheckpointParts{*model, *optimizer, data_generator, c10::Device(c10::kCPU)}, TrainingState{},
                  e.config_hash, config.str(), tokenizer->identity());
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log << fmt::format("imported {} ({}: {} parameters, tokenizer {} with {} ids, the model's own {}) in {:.2f} s "
                     "(weights read in {:.2f} s) to {} (config {})\n",
                     folder.string(), hf.translation.family, model->accounting().parameters, e.tokenizer.name,
                     tokenizer->vocab_size(), hf.translation.vocab_size, total, loaded, out.string(), e.config_hash);
}

}  // namespace lmlab::pretrained
