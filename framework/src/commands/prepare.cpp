// `lmlab prepare`: tokenizes a corpus into memory-mapped token files (data/prepared_corpus.hpp),
// the same preparation a run makes on first use, ahead of time or into a folder of one's choice.
// The tokenizer comes from an experiment file or from --tokenizer and --set tokenizer.KEY=VALUE.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <toml++/toml.h>

#include "commands/command.hpp"
#include "data/prepared_corpus.hpp"
#include "experiment/config.hpp"
#include "experiment/experiment_loader.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/plugin_loader.hpp"
#include "plugin_host/run_tokenizer.hpp"

namespace lmlab::commands {
namespace {

struct PrepareArgs {
  std::string experiment;
  std::string corpus;
  std::string data_dir = "data";
  std::string tokenizer = "byte";
  std::vector<std::string> overrides;
  std::string out;
  int threads = 0;
  bool force = false;
  std::vector<std::string> plugin_paths;
};

// The corpus and tokenizer an experiment file's first run uses, with --set applied.
std::pair<DataSection, PluginChoice> from_experiment(const PrepareArgs& a, PluginLoader& loader,
                                                     const Registry& registry) {
  const auto runs = load_runs(a.experiment, a.overrides, loader, registry);
  DataSection data = runs.front().data;
  if (!a.corpus.empty()) data.corpus = a.corpus;
  return {data, runs.front().tokenizer};
}

// --tokenizer NAME with the options --set tokenizer.KEY=VALUE gives.
PluginChoice from_command_line(const PrepareArgs& a, const Registry& registry) {
  toml::table config;
  apply_overrides(config, a.overrides);
  for (const auto& [key, value] : config) {
    if (key.str() != "tokenizer") {
      throw ConfigError(fmt::format("--set {}...: lmlab prepare takes only tokenizer.KEY=VALUE (or an experiment file)",
                                    std::string(key.str())));
    }
  }
  const toml::table* options = config["tokenizer"].as_table();
  return {a.tokenizer,
          resolve_plugin<Tokenizer>(registry, a.tokenizer, options ? *options : toml::table{}, "tokenizer"),
          {}};
}

int prepare(const PrepareArgs& a) {
  Registry registry;
  PluginLoader loader(registry);
  loader.load_standard(a.plugin_paths, std::filesystem::current_path(), "--plugin-path");
  DataSection data;
  data.corpus = a.corpus.empty() ? "brown" : a.corpus;
  data.data_dir = a.data_dir;
  PluginChoice choice;
  if (!a.experiment.empty()) {
    std::tie(data, choice) = from_experiment(a, loader, registry);
  } else {
    choice = from_command_line(a, registry);
  }
  const std::shared_ptr<const Tokenizer> tokenizer = build_tokenizer(registry, choice);
  const CorpusSource corpus = find_corpus(data);
  const std::filesystem::path folder =
      a.out.empty() ? prepared_cache_folder(corpus, *tokenizer) : std::filesystem::path(a.out);
  PrepareOptions options;
  options.threads = a.threads;
  options.log = &std::cout;
  options.progress = &std::cerr;
  const PreparedCorpus prepared = prepare_into(corpus, *tokenizer, folder, options, a.force);
  for (const auto& split : prepared.manifest.splits) {
    std::cout << fmt::format("{:<5} {:>14} tokens  {}\n", split.name, split.tokens, (folder / split.file).string());
  }
  std::cout << (a.out.empty() ? fmt::format("runs with data.corpus = \"{}\" and this tokenizer use it\n", data.corpus)
                              : fmt::format("train on it with data.corpus = \"{}\"\n", folder.string()));
  return 0;
}

}  // namespace

Command add_prepare_command(CLI::App& app) {
  auto args = std::make_shared<PrepareArgs>();
  auto* sub =
      app.add_subcommand("prepare", "tokenize a corpus into memory-mapped token files (runs do it on first use)");
  sub->add_option("experiment", args->experiment, "an experiment file: prepare its corpus for its tokenizer")
      ->check(CLI::ExistingFile);
  sub->add_option("--corpus", args->corpus,
                  "a folder of train*.txt/valid*.txt[/test*.txt], a .jsonl with a \"text\" field, or a name under "
                  "--data-dir (default: brown)");
  sub->add_option("--data-dir", args->data_dir, "where named corpora live (default: data)");
  sub->add_option("--tokenizer", args->tokenizer, "the tokenizer plugin (default: byte)");
  sub->add_option("--set", args->overrides, "a tokenizer option: tokenizer.KEY=VALUE (repeatable)");
  sub->add_option("--out", args->out, "the folder to prepare into (default: <corpus>/prepared/<tokenizer>-<hash>)");
  sub->add_option("--threads", args->threads, "encoding threads (default: the CPUs available, at most 8)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--force", args->force, "prepare again even when an up-to-date preparation is there");
  sub->add_option("--plugin-path", args->plugin_paths, "another plugin folder or library (repeatable)");
  return {sub, [args] { return prepare(*args); }};
}

}  // namespace lmlab::commands
