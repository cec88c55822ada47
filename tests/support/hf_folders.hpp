// The Hugging Face folders the pretrained tests build (tests/pretrained_reference.py), and their
// edits that make each refusal of `lmlab import`: a config.json field changed, weights rewritten.
#pragma once
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "generated/test_paths.hpp"
#include "lmlab/error.hpp"
#include "pretrained/hf_import.hpp"
#include "pretrained/safetensors.hpp"
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace lmlab::test {

/// `tests/pretrained_reference.py FAMILY FOLDER ARGUMENTS`: a small random folder of `family` in
/// the published layout, with the reference's logits and continuations in reference.json.
inline CommandResult write_reference_folder(const std::string& family, const std::filesystem::path& folder,
                                            const std::string& arguments = "") {
  return run_command(fmt::format("/usr/bin/python3 {}/tests/pretrained_reference.py {} {} {}", test_paths::source_dir,
                                 family, folder.string(), arguments));
}

/// The folder write_reference_folder writes for `family` and `arguments` under `name` (unique per
/// folder), made once per test process.
inline const std::filesystem::path& reference_folder(const std::string& name, const std::string& family,
                                                     const std::string& arguments = "") {
  static TempDir dir;
  static std::map<std::string, std::filesystem::path> made;
  if (!made.count(name)) {
    const std::filesystem::path folder = dir / name;
    const auto r = write_reference_folder(family, folder, arguments);
    if (r.exit_code != 0) FAIL("pretrained_reference.py failed (python3-torch, python3-sentencepiece?):\n" << r.output);
    made[name] = folder;
  }
  return made[name];
}

/// A copy of `folder` in `dir`, under the same name, for a test to damage.
inline std::filesystem::path copy_into(const std::filesystem::path& folder, const TempDir& dir) {
  const std::filesystem::path copy = dir / folder.filename().string();
  std::filesystem::copy(folder, copy);
  return copy;
}

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
