// `lmlab import FOLDER --out FILE.ckpt`: a Hugging Face checkpoint folder converted once into an
// lmlab checkpoint (pretrained/hf_import.hpp), which `lmlab generate --checkpoint` and
// `train.init_from` then read like any run's.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands/command.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/registry.hpp"
#include "pretrained/hf_import.hpp"

namespace lmlab::commands {
namespace {

struct ImportArgs {
  std::string folder;
  std::string out;
  std::string toml;
  std::vector<std::string> plugin_paths;
};

}  // namespace

Command add_import_command(CLI::App& app) {
  auto args = std::make_shared<ImportArgs>();
  auto* sub = app.add_subcommand(
      "import",
      "convert a Hugging Face checkpoint folder (GPT-2, LLaMA, BERT, T5; safetensors) into an lmlab checkpoint");
  sub->add_option("folder", args->folder, "the folder: config.json, model.safetensors (or its index and shards), "
                                          "and the tokenizer's files")
      ->required();
  sub->add_option("--out", args->out, "the .ckpt file to write")->required();
  sub->add_option("--toml", args->toml,
                  "also write the experiment config the folder becomes ([model], [tokenizer], ...), for `base =` in "
                  "a fine-tuning experiment");
  sub->add_option("--plugin-path", args->plugin_paths, "another plugin folder or library (repeatable)");
  return {sub, [args] {
            Registry registry;
            PluginLoader loader(registry);
            loader.load_standard(args->plugin_paths, std::filesystem::current_path(), "--plugin-path");
            pretrained::import_hf_checkpoint(args->folder, args->out, registry, std::cout);
            if (!args->toml.empty()) pretrained::write_hf_experiment(args->folder, args->toml, std::cout);
            return 0;
          }};
}

}  // namespace lmlab::commands
