// `lmlab generate --checkpoint CKPT`: the command line of generation; the work (rebuilding the
// run's model and decoding chain, decoding the prompts) is run_generate in generate_command.cpp.
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands/command.hpp"
#include "commands/generate_command.hpp"
#include "lmlab/plugin_loader.hpp"

namespace lmlab::commands {
namespace {

struct GenerateArgs {
  GenerateRequest request;  // --set, --decoding and --device go straight in
  std::string checkpoint;
  std::vector<std::string> prompts;  // --prompt, before the --prompts file's
  std::string prompts_file;
  std::int64_t max_new_tokens = -1;  // -1: the run's
  std::int64_t seed = -1;            // -1: the run's
  bool no_cache = false;
  std::vector<std::string> plugin_paths;
};

int generate(const GenerateArgs& a) {
  GenerateRequest request = a.request;
  request.checkpoint = a.checkpoint;
  if (a.max_new_tokens >= 0) request.max_new_tokens = a.max_new_tokens;
  if (a.seed >= 0) request.seed = a.seed;
  request.use_cache = !a.no_cache;
  request.prompts = a.prompts;
  if (!a.prompts_file.empty()) {
    const auto more = read_prompts(a.prompts_file);
    request.prompts.insert(request.prompts.end(), more.begin(), more.end());
  }
  Registry registry;
  PluginLoader loader(registry);
  loader.load_standard(a.plugin_paths, std::filesystem::current_path(), "--plugin-path");
  run_generate(request, loader, registry, std::cout, std::cerr);
  return 0;
}

}  // namespace

Command add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  auto* sub = app.add_subcommand("generate", "continue prompts with a trained checkpoint");
  sub->add_option("--checkpoint", args->checkpoint,
                  "a .ckpt file, a results folder holding one, or hf:FOLDER (a Hugging Face checkpoint folder, "
                  "docs/pretrained.md)")
      ->required();
  sub->add_option("--prompt", args->prompts, "a prompt (repeatable; all are decoded as one batch)");
  sub->add_option("--prompts", args->prompts_file, "a file of prompts, one per line")->check(CLI::ExistingFile);
  sub->add_option("--set", args->request.overrides, "override the run's config: decoding.top_p.p=0.9 (repeatable)");
  sub->add_option("--decoding", args->request.decoding, "which configuration: default or a [[decoding.eval]] name");
  sub->add_option("--max-new-tokens", args->max_new_tokens, "tokens to generate (default: the run's eval.max_new_tokens)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--seed", args->seed, "sampling seed (default: the run's experiment.seed)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--device", args->request.device, "auto, cpu, cuda or cuda:<index> (default: the run's)");
  sub->add_flag("--no-cache", args->no_cache, "re-read the window at every step instead of using the key/value cache");
  sub->add_option("--plugin-path", args->plugin_paths, "another plugin folder or library (repeatable)");
  return {sub, [args] { return generate(*args); }};
}

}  // namespace lmlab::commands
