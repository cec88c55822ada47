#include "commands/generate_command.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <numeric>
#include <ostream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include "experiment/toml_limits.hpp"
#include "experiment/config.hpp"
#include "experiment/experiment_schema.hpp"
#include "lmlab/error.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"
#include "plugin_host/run_plugins.hpp"
#include "plugin_host/run_tokenizer.hpp"
#include "training/bf16_products.hpp"
#include "training/blas_kernels.hpp"
#include "training/checkpoint.hpp"
#include "training/runtime.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

std::string override_key(const std::string& text) { return text.substr(0, text.find('=')); }

// The run's decoding configuration `name` ("default" is [decoding].chain; empty: that one when it
// has steps, else the first [[decoding.eval]]) made the only one: [decoding] holds its chain and
// tables, so that --set decoding.<step>.<option> reaches it whichever configuration it was.
// Returns the name chosen.
std::string single_decoding(toml::table& config, const std::string& name) {
  toml::table* decoding = config["decoding"].as_table();
  if (!decoding) return "default";
  const toml::array* chain = decoding->get_as<toml::array>("chain");
  const toml::array* eval = decoding->get_as<toml::array>("eval");
  const bool has_default = chain && !chain->empty();
  std::vector<std::string> names;
  if (has_default) names.push_back("default");
  const toml::table* chosen = nullptr;
  std::string chosen_name = has_default || !eval ? "default" : "";
  for (std::size_t i = 0; eval && i < eval->size(); ++i) {
    const toml::table* entry = eval->get(i)->as_table();
    const std::string entry_name = entry ? entry->at_path("name").value_or(std::string()) : std::string();
    names.push_back(entry_name);
    if (entry && (entry_name == name || (name.empty() && !has_default && i == 0))) {
      chosen = entry;
      chosen_name = entry_name;
    }
  }
  if (!name.empty() && name != chosen_name) {
    throw ConfigError(fmt::format("--decoding: no configuration '{}'; accepted: {}", name, fmt::join(names, ", ")));
  }
  if (chosen) {
    toml::table flat = *chosen;
    flat.erase("name");
    config.insert_or_assign("decoding", std::move(flat));
  } else {
    decoding->erase("eval");
  }
  return chosen_name;
}

// The run's resolved config, reduced to one decoding configuration, with the command line's
// overrides. A new decoding.chain starts the decoding section afresh: the run's tables for its
// old steps would be unknown keys of the new one.
toml::table checkpoint_config(const fs::path& checkpoint, const GenerateRequest& request, std::string& decoding) {
  const std::string text = read_checkpoint_config(checkpoint);
  toml::table config;
  try {
    config = parse_toml(text, checkpoint.string() + ":config");
  } catch (const ConfigError& e) {
    throw DataError(fmt::format("{}: its stored config does not parse: {}", checkpoint.string(), e.what()));
  }
  decoding = single_decoding(config, request.decoding);
  const auto& overrides = request.overrides;
  const bool new_chain = std::any_of(overrides.begin(), overrides.end(),
                                     [](const std::string& o) { return override_key(o) == "decoding.chain"; });
  if (new_chain) config.insert_or_assign("decoding", toml::table{});
  apply_overrides(config, overrides);
  return config;
}

}  // namespace

std::vector<std::string> read_prompts(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw DataError(fmt::format("--prompts: cannot read {}", file.string()));
  std::vector<std::string> prompts;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) prompts.push_back(line);
  }
  if (prompts.empty()) throw DataError(fmt::format("--prompts: {} holds no prompt (one per line)", file.string()));
  return prompts;
}

void run_generate(const GenerateRequest& request, PluginLoader& loader, const Registry& registry, std::ostream& out,
                  std::ostream& log) {
  if (request.prompts.empty()) throw ConfigError("generate: give --prompt TEXT or --prompts FILE");
  for (std::size_t i = 0; i < request.prompts.size(); ++i) {
    if (request.prompts[i].empty()) throw ConfigError(fmt::format("generate: prompt {} is empty", i + 1));
  }
  const fs::path checkpoint = find_checkpoint(request.checkpoint);
  std::string decoding;
  const toml::table config = checkpoint_config(checkpoint, request, decoding);
  loader.load_standard(plugin_paths_of(config), checkpoint.parent_path(),
                       fmt::format("experiment.plugin_paths of the run that wrote {}", checkpoint.string()));
  Experiment e = resolve_experiment(config, registry, checkpoint.string() + ":config");
  if (!request.device.empty()) e.experiment.device = request.device;

  const int threads = configure_threads(e.experiment.threads);
  const c10::Device device = resolve_device(e.experiment.device);
  // As a run decides: bf16 products on the float32 kernels where this machine's are clearly faster.
  const Bf16ProductsChoice products = choose_bf16_products(device, e.experiment.precision == "bf16");
  // The checkpoint's config names its tokenizer; its recorded identity says the files are the same.
  std::shared_ptr<const Tokenizer> tokenizer = build_tokenizer(registry, e.tokenizer);
  check_tokenizer_identity(*tokenizer, read_checkpoint_tokenizer_identity(checkpoint),
                           "checkpoint " + checkpoint.string(), e.tokenizer);
  Plugins plugins = build_plugins(e, registry, device, tokenizer);
  const std::string trained_for = load_model_weights(checkpoint, *plugins.model.plugin, device);
  if (plugins.decodings.empty()) {
    throw ConfigError("the checkpoint's config has no decoding chain; give one with --set decoding.chain=[...]");
  }
  const NamedChain& chain = plugins.decodings.front();

  std::vector<std::vector<std::int64_t>> prompts;
  for (const auto& p : request.prompts) prompts.push_back(tokenizer->encode(p));
  GenerateOptions options;
  options.max_new_tokens = request.max_new_tokens.value_or(e.eval.max_new_tokens);
  options.seed = static_cast<std::uint64_t>(request.seed.value_or(e.experiment.seed));
  options.eos_id = tokenizer->special().eos;
  options.pad_id = tokenizer->special().pad;
  options.decoder_start_id = tokenizer->special().bos;
  options.use_cache = request.use_cache;
  log << fmt::format("checkpoint {} (config {}): model {}, {} parameters; decoding '{}': {}; device {}, {} threads\n",
                     checkpoint.string(), trained_for, e.model.name,
                     plugins.model.plugin->accounting().parameters, decoding, chain.chain->name(), device.str(), threads);
  if (device.is_cpu()) log << fmt::format("BLAS: {}\n", tune_blas_kernels().explain());
  if (device.is_cpu() && e.experiment.precision == "bf16") log << fmt::format("bf16 products: {}\n", products.describe());

  // A prompt longer than the context is read from its end; say so rather than cut silently.
  const std::int64_t context = plugins.model.plugin->context_length();
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto length = static_cast<std::int64_t>(prompts[i].size());
    if (context > 0 && length > context) {
      log << fmt::format("prompt {}: {} tokens, more than the model's context of {}: generation reads its last {} "
                         "({} cut from its start)\n",
                         i + 1, length, context, context, length - context);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  options.progress = [&](std::int64_t done, std::int64_t total) {
    // Long generations report every few seconds; short ones print nothing extra.
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report < std::chrono::seconds(5) || done == total) return;
    last_report = now;
    const double elapsed = std::chrono::duration<double>(now - start).count();
    log << fmt::format("generating: {}/{} tokens per prompt, {:.0f} tokens/s\n", done, total,
                       static_cast<double>(done) * static_cast<double>(prompts.size()) / elapsed);
    log.flush();
  };
  const auto lists = plugin_call(plugins.model.info, "generation", [&] {
    AutocastScope autocast(device, e.experiment.precision == "bf16");
    return decode(*plugins.model.plugin, *chain.chain, prompts, options, device);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::int64_t generated = 0;
  for (std::size_t i = 0; i < lists.size(); ++i) {
    out << fmt::format("== prompt {}/{}: {}\n", i + 1, lists.size(), request.prompts[i]);
    for (std::size_t rank = 0; rank < lists[i].size(); ++rank) {
      const Continuation& c = lists[i][rank];
      const double entropy = std::accumulate(c.entropy.begin(), c.entropy.end(), 0.0);
      const auto n = static_cast<double>(std::max<std::size_t>(1, c.tokens.size()));
      out << fmt::format("-- {}: {} tokens, score {:.4f}, log p {:.4f}, mean next-token entropy {:.4f} nats\n",
                         rank + 1, c.tokens.size(), c.score, c.logprob, entropy / n);
      out << request.prompts[i] << tokenizer->decode(c.tokens) << "\n";
    }
    generated += static_cast<std::int64_t>(lists[i].front().tokens.size());
  }
  log << fmt::format("generated {} tokens for {} prompt(s) in {:.3f} s: {:.1f} tokens/s ({} cache)\n", generated,
                     lists.size(), seconds, static_cast<double>(generated) / seconds,
                     request.use_cache ? "with the" : "without the");
}

}  // namespace lmlab
