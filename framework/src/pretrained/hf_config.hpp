/// A Hugging Face `config.json`, read so that every field is accounted for: a family's translator
/// takes the fields it maps, declares those without effect on the weights' meaning (metadata,
/// generation defaults), and requires values of those lmlab can honour only in one setting.
/// finish() then refuses whatever is left, naming the field and its value: nothing in a config is
/// silently ignored.
#pragma once
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lmlab::pretrained {

class HfConfig {
 public:
  /// Throws DataError naming the file when it is missing or not a JSON object.
  explicit HfConfig(const std::filesystem::path& file);

  const std::filesystem::path& path() const { return path_; }
  /// model_type, or "" when the file has none.
  std::string model_type() const;

  /// A required positive integer field; ConfigError naming field and value otherwise.
  std::int64_t positive(const std::string& key);
  /// An optional integer field: nullopt when absent or null.
  std::optional<std::int64_t> optional_integer(const std::string& key);
  /// A number field, `fallback` when absent (HF's default for the family).
  double number(const std::string& key, double fallback);
  /// A string field, `fallback` when absent.
  std::string text(const std::string& key, const std::string& fallback);
  bool flag(const std::string& key, bool fallback);

  /// Fields that do not change what the weights compute (names, token ids, dropout at
  /// inference, generation settings): taken as read.
  void ignore(std::initializer_list<const char*> keys);
  /// A field lmlab honours only at `accepted`, which must be the family's default (absent and null
  /// count as it): ConfigError naming the field, its value and `why` otherwise.
  void require(const std::string& key, const nlohmann::json& accepted, const std::string& why);

  /// ConfigError naming the first field no call above took, with its value, and the family.
  void finish(const std::string& family) const;

  /// A ConfigError for `key` (its value quoted) with `why`.
  [[noreturn]] void refuse(const std::string& key, const std::string& why) const;

 private:
  const nlohmann::json* take(const std::string& key);

  std::filesystem::path path_;
  nlohmann::json doc_;
  std::set<std::string> taken_;
};

}  // namespace lmlab::pretrained
