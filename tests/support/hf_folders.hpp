// Editing the Hugging Face folders the pretrained tests build (tests/pretrained_reference.py),
// to make each refusal of `lmlab import`: a config.json field changed, weights rewritten.
#pragma once
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lmlab/error.hpp"
#include "pretrained/hf_import.hpp"
#include "pretrained/safetensors.hpp"
#include "support/test_support.hpp"

namespace lmlab::test {

/// What `lmlab import` says of `folder`: its error message, or "no error".
inline std::string import_error(const std::filesystem::path& folder) {
  TempDir out;
  std::ostringstream log;
  try {
    pretrained::import_hf_checkpoint(folder, out / "x.ckpt", builtin_plugins(), log);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

/// config.json of `folder` with `key` set to `value` (null: removed).
inline void edit_config(const std::filesystem::path& folder, const std::string& key, const nlohmann::json& value) {
  nlohmann::json config = nlohmann::json::parse(read_file(folder / "config.json"));
  if (value.is_null()) config.erase(key);
  else config[key] = value;
  write_file(folder / "config.json", config.dump());
}

/// model.safetensors of `folder` rewritten by `change`, which edits the name -> tensor list.
template <class F>
void edit_weights(const std::filesystem::path& folder, F change) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  {
    const pretrained::SafetensorsFile file(folder / "model.safetensors");
    for (const auto& [name, _] : file.entries()) tensors.emplace_back(name, file.tensor(name).clone());
  }
  change(tensors);
  pretrained::write_safetensors(folder / "model.safetensors", tensors);
}

}  // namespace lmlab::test
