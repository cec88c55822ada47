#include <fstream>
#include <sstream>

#include <ATen/core/Tensor.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "experiment/quote_bounded.hpp"
#include "lmlab/error.hpp"
#include "pretrained/safetensors.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

namespace {

[[noreturn]] void ss_fail(const fs::path& file, const std::string& what) {
  throw DataError(fmt::format("{}: {}", file.string(), what));
}

// A shard named by the index must be a file beside it: a path with folders could point anywhere.
void ss_check_shard_name(const fs::path& index, const std::string& name) {
  const bool plain = !name.empty() && name.find('/') == std::string::npos && name.find('\\') == std::string::npos &&
                     name != "." && name != "..";
  if (!plain) {
    ss_fail(index, fmt::format("weight_map names the shard {}; a shard must be a file name in the same folder",
                               quote_bounded(name, 80, '"')));
  }
}

// weight_map of `index`: tensor name -> shard file name.
std::map<std::string, std::string> ss_weight_map(const fs::path& index) {
  std::ifstream in(index, std::ios::binary);
  if (!in) ss_fail(index, "cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) ss_fail(index, "is not a JSON object");
  if (!doc.contains("weight_map") || !doc["weight_map"].is_object()) ss_fail(index, "has no weight_map object");
  std::map<std::string, std::string> out;
  for (const auto& [name, shard] : doc["weight_map"].items()) {
    if (!shard.is_string()) {
      ss_fail(index, fmt::format("weight_map entry {} is not a file name", quote_bounded(name, 80, '"')));
    }
    ss_check_shard_name(index, shard.get<std::string>());
    out[name] = shard.get<std::string>();
  }
  if (out.empty()) ss_fail(index, "weight_map is empty");
  return out;
}

}  // namespace

SafetensorsSet::SafetensorsSet(const fs::path& folder) {
  const fs::path single = folder / "model.safetensors";
  const fs::path index = folder / "model.safetensors.index.json";
  if (fs::exists(single)) {
    files_.emplace_back(single);
    for (const auto& [name, _] : files_.front().entries()) owner_[name] = 0;
    return;
  }
  if (!fs::exists(index)) {
    throw DataError(fmt::format("{}: no model.safetensors or model.safetensors.index.json (lmlab reads "
                                "safetensors weights, not pytorch_model.bin)",
                                folder.string()));
  }
  const auto weight_map = ss_weight_map(index);
  std::map<std::string, std::size_t> shard_index;
  for (const auto& [name, shard] : weight_map) {
    auto [it, added] = shard_index.emplace(shard, files_.size());
    if (added) files_.emplace_back(folder / shard);
    const SafetensorsFile& file = files_[it->second];
    if (!file.contains(name)) {
      ss_fail(index, fmt::format("puts tensor {} in {}, which does not hold it", quote_bounded(name, 80, '"'), shard));
    }
    owner_[name] = it->second;
  }
  for (const auto& file : files_) {
    for (const auto& [name, _] : file.entries()) {
      const auto listed = weight_map.find(name);
      if (listed == weight_map.end() || listed->second != file.path().filename().string()) {
        ss_fail(index, fmt::format("does not put tensor {} in {}, which holds it", quote_bounded(name, 80, '"'),
                                   file.path().filename().string()));
      }
    }
  }
}

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : owner_) out.push_back(name);
  return out;
}

const fs::path& SafetensorsSet::file_of(const std::string& name) const {
  const auto found = owner_.find(name);
  return found == owner_.end() ? files_.front().path() : files_[found->second].path();
}

const SafetensorsEntry& SafetensorsSet::entry(const std::string& name) const {
  const auto found = owner_.find(name);
  if (found == owner_.end()) {
    ss_fail(files_.front().path(), fmt::format("has no tensor {}", quote_bounded(name, 80, '"')));
  }
  return files_[found->second].entries().at(name);
}

at::Tensor SafetensorsSet::tensor(const std::string& name) const {
  const auto found = owner_.find(name);
  return files_[found == owner_.end() ? 0 : found->second].tensor(name);  // the first file names a missing one
}

}  // namespace lmlab::pretrained
