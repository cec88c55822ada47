#include "pretrained/model_from.hpp"

#include <filesystem>
#include <cstdint>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "experiment/quote_bounded.hpp"
#include "lmlab/error.hpp"
#include "lmlab/options.hpp"
#include "pretrained/hf_import.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

namespace {

const char* const model_from_accepted =
    "the path of a Hugging Face checkpoint folder (config.json, model.safetensors and the tokenizer's files), "
    "e.g. --set model.from=/models/gpt2";

// The folder model.from names, absolute: the run's identity then holds one spelling of it.
fs::path model_from_folder(const toml::node& node) {
  const std::optional<std::string> value = node.value<std::string>();
  if (!value) config_error(&node, "model.from", "must be a string", model_from_accepted);
  const fs::path folder = hf_folder_of(*value).value_or(fs::path(*value));
  if (folder.empty()) {
    config_error(&node, "model.from", "no checkpoint folder given (the file leaves it to the command line)",
                 model_from_accepted);
  }
  return fs::absolute(folder).lexically_normal();
}

// What the folder decides may not also be set by the file: the file's value would be dropped
// without a word, or make a model that is not the published one.
void refuse_beside_model_from(const toml::table& config, const toml::node& from) {
  const toml::table& model = *config.get("model")->as_table();
  for (const auto& [key, value] : model) {
    if (key.str() == "from") continue;
    config_error(&value, fmt::format("model.{}", key.str()),
                 fmt::format("cannot be set beside model.from (at {}): the model's options come whole from the "
                             "folder's config.json",
                             where(from)));
  }
  const toml::node* tokenizer = config.get("tokenizer");
  const toml::node* data_tokenizer = config.at_path("data.tokenizer").node();
  for (const auto& [node, path] : {std::pair{tokenizer, "tokenizer"}, std::pair{data_tokenizer, "data.tokenizer"}}) {
    if (!node) continue;
    config_error(node, path,
                 fmt::format("cannot be set beside model.from (at {}): the folder's own tokenizer files are used",
                             where(from)));
  }
}

// The folder opened and translated, its errors located at model.from's value.
HfFolder open_model_from(const fs::path& folder, const toml::node& from) {
  const std::string prefix = fmt::format("{}: model.from = {}: ", where(from), quote_bounded(folder.string()));
  try {
    return open_hf_folder(folder);
  } catch (const ConfigError& e) {
    throw ConfigError(prefix + e.what());
  } catch (const DataError& e) {
    throw DataError(prefix + e.what());
  }
}

toml::table& model_from_section(toml::table& config, std::string_view name) {
  if (!config.get(name)) config.insert(name, toml::table{});
  toml::table* table = config.get(name)->as_table();
  if (!table) config_error(config.get(name), name, "must be a table");
  return *table;
}

}  // namespace

void apply_model_from(toml::table& config) {
  const toml::table* model = config.get("model") ? config.get("model")->as_table() : nullptr;
  const toml::node* from = model ? model->get("from") : nullptr;
  if (!from) return;
  const fs::path folder = model_from_folder(*from);
  refuse_beside_model_from(config, *from);
  const HfFolder hf = open_model_from(folder, *from);

  config.insert_or_assign("model", *hf.config.get("model")->as_table());
  if (const toml::node* tokenizer = hf.config.get("tokenizer")) config.insert_or_assign("tokenizer", *tokenizer);
  toml::table& data = model_from_section(config, "data");
  data.insert_or_assign("tokenizer", hf.translation.tokenizer);
  const std::int64_t context = hf.translation.context_length;
  if (const toml::node* block = data.get("block_size")) {
    // Caught here, at the file's line, rather than by the model at the first batch.
    if (const auto tokens = block->value<std::int64_t>(); tokens && *tokens > context) {
      config_error(block, "data.block_size",
                   fmt::format("{} tokens do not fit the context of the model in {} ({} tokens, from its config.json)",
                               *tokens, folder.string(), context),
                   fmt::format("at most {}", context));
    }
  } else {
    data.insert("block_size", context);
  }
  toml::table& train = model_from_section(config, "train");
  const toml::node* init_from = train.get("init_from");
  if (!init_from || init_from->value<std::string>().value_or("x").empty()) {
    train.insert_or_assign("init_from", "hf:" + folder.string());
  }
}

}  // namespace lmlab::pretrained
