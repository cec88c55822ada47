// `lmlab export RUN_OR_CKPT --format hf --out DIR`: an lmlab checkpoint written as a Hugging Face
// folder (pretrained/hf_export.hpp), for evaluation harnesses and inference servers.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands/command.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/registry.hpp"
#include "pretrained/hf_export.hpp"

namespace lmlab::commands {
namespace {

struct ExportArgs {
  std::string from;
  std::string format = "hf";
  std::string out;
  std::vector<std::string> plugin_paths;
};

}  // namespace

Command add_export_command(CLI::App& app) {
  auto args = std::make_shared<ExportArgs>();
  auto* sub = app.add_subcommand("export", "write a checkpoint's model in another format (hf: a Hugging Face folder)");
  sub->add_option("checkpoint", args->from, "a .ckpt file, or a results folder holding one")->required();
  sub->add_option("--format", args->format, "hf: config.json, model.safetensors and the tokenizer's files")
      ->check(CLI::IsMember({"hf"}));
  sub->add_option("--out", args->out, "the folder to write")->required();
  sub->add_option("--plugin-path", args->plugin_paths, "another plugin folder or library (repeatable)");
  return {sub, [args] {
            Registry registry;
            PluginLoader loader(registry);
            loader.load_standard(args->plugin_paths, std::filesystem::current_path(), "--plugin-path");
            pretrained::export_hf(args->from, args->out, registry, std::cout);
            return 0;
          }};
}

}  // namespace lmlab::commands
