#include "pretrained/hf_config.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "experiment/quote_bounded.hpp"
#include "lmlab/error.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

HfConfig::HfConfig(const fs::path& file) : path_(file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError(fmt::format("{}: cannot be read (a Hugging Face folder has config.json)", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  doc_ = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc_.is_discarded() || !doc_.is_object()) throw DataError(fmt::format("{}: is not a JSON object", file.string()));
}

std::string HfConfig::model_type() const {
  const auto found = doc_.find("model_type");
  return found != doc_.end() && found->is_string() ? found->get<std::string>() : std::string();
}

const nlohmann::json* HfConfig::take(const std::string& key) {
  taken_.insert(key);
  const auto found = doc_.find(key);
  return found == doc_.end() || found->is_null() ? nullptr : &*found;
}

void HfConfig::refuse(const std::string& key, const std::string& why) const {
  const auto found = doc_.find(key);
  const std::string value = found == doc_.end() ? "absent" : quote_bounded(found->dump(), 80, '\'');
  throw ConfigError(fmt::format("{}: {} = {}: {}", path_.string(), key, value, why));
}

std::int64_t HfConfig::positive(const std::string& key) {
  const nlohmann::json* v = take(key);
  if (!v || !v->is_number_integer() || v->get<std::int64_t>() <= 0) refuse(key, "must be a positive integer");
  return v->get<std::int64_t>();
}

std::optional<std::int64_t> HfConfig::optional_integer(const std::string& key) {
  const nlohmann::json* v = take(key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) refuse(key, "must be an integer or null");
  return v->get<std::int64_t>();
}

double HfConfig::number(const std::string& key, double fallback) {
  const nlohmann::json* v = take(key);
  if (!v) return fallback;
  if (!v->is_number()) refuse(key, "must be a number");
  return v->get<double>();
}

std::string HfConfig::text(const std::string& key, const std::string& fallback) {
  const nlohmann::json* v = take(key);
  if (!v) return fallback;
  if (!v->is_string()) refuse(key, "must be a string");
  return v->get<std::string>();
}

bool HfConfig::flag(const std::string& key, bool fallback) {
  const nlohmann::json* v = take(key);
  if (!v) return fallback;
  if (!v->is_boolean()) refuse(key, "must be true or false");
  return v->get<bool>();
}

void HfConfig::ignore(std::initializer_list<const char*> keys) {
  for (const char* k : keys) taken_.insert(k);
}

void HfConfig::require(const std::string& key, const nlohmann::json& accepted, const std::string& why) {
  const nlohmann::json* v = take(key);
  if (v && *v != accepted) refuse(key, why);
}

void HfConfig::finish(const std::string& family) const {
  for (const auto& [key, value] : doc_.items()) {
    if (taken_.count(key)) continue;
    throw ConfigError(fmt::format("{}: {} = {}: lmlab's {} import does not know this field, so it cannot tell "
                                  "whether the model it describes is the one lmlab would build; remove it only if "
                                  "it does not change what the model computes",
                                  path_.string(), key, quote_bounded(value.dump(), 80, '\''), family));
  }
}

}  // namespace lmlab::pretrained
