#include "pretrained/hf_tokenizer_json.hpp"

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "experiment/quote_bounded.hpp"
#include "lmlab/error.hpp"
#include "lmlab/tokenizer.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

namespace {

[[noreturn]] void tj_refuse(const fs::path& file, const std::string& field, const nlohmann::json& value,
                            const std::string& why) {
  throw ConfigError(fmt::format("{}: {} = {}: {}", file.string(), field, quote_bounded(value.dump(), 120, '\''), why));
}

fs::path tj_cache_root() {
  const auto env = [](const char* name) -> std::string {
    const char* value = std::getenv(name);
    return value ? value : "";
  };
  if (!env("LMLAB_CACHE_DIR").empty()) return fs::path(env("LMLAB_CACHE_DIR"));
  if (!env("XDG_CACHE_HOME").empty()) return fs::path(env("XDG_CACHE_HOME")) / "lmlab";
  if (!env("HOME").empty()) return fs::path(env("HOME")) / ".cache" / "lmlab";
  return fs::temp_directory_path() / "lmlab-cache";
}

// GPT-2's form: a byte-level pre-tokenizer with its own regex, nothing normalised first.
void tj_check_form(const fs::path& file, const nlohmann::json& doc) {
  const nlohmann::json normalizer = doc.value("normalizer", nlohmann::json());
  if (!normalizer.is_null()) tj_refuse(file, "normalizer", normalizer, "lmlab's bpe normalises nothing");
  const nlohmann::json pre = doc.value("pre_tokenizer", nlohmann::json());
  const bool byte_level = pre.is_object() && pre.value("type", "") == "ByteLevel" &&
                          !pre.value("add_prefix_space", false) && pre.value("use_regex", true);
  if (!byte_level) {
    tj_refuse(file, "pre_tokenizer", pre, "lmlab reads GPT-2's form only (ByteLevel with its regex, no prefix space); "
                                          "LLaMA 3's Split + ByteLevel is not read yet");
  }
  const nlohmann::json model = doc.value("model", nlohmann::json());
  if (!model.is_object() || model.value("type", "") != "BPE") {
    tj_refuse(file, "model.type", model.is_object() ? model.value("type", nlohmann::json()) : model,
              "lmlab reads byte-level BPE");
  }
  for (const char* key : {"dropout", "continuing_subword_prefix", "end_of_word_suffix"}) {
    const nlohmann::json v = model.value(key, nlohmann::json());
    if (!v.is_null() && v != "") tj_refuse(file, std::string("model.") + key, v, "lmlab's bpe has no such setting");
  }
  for (const char* key : {"byte_fallback", "ignore_merges"}) {
    if (model.value(key, false)) {
      tj_refuse(file, std::string("model.") + key, model[key], "lmlab's bpe applies the merges to every word");
    }
  }
}

// model.merges as "left right" lines: older files write strings, newer ones pairs.
std::string tj_merges_text(const fs::path& file, const nlohmann::json& merges) {
  if (!merges.is_array()) tj_refuse(file, "model.merges", merges, "must be a list");
  std::string text = "#version: 0.2\n";
  for (const auto& m : merges) {
    std::string line;
    if (m.is_string()) {
      line = m.get<std::string>();
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      const auto spaced = [](const nlohmann::json& part) {
        return part.get<std::string>().find(' ') != std::string::npos;
      };
      if (spaced(m[0]) || spaced(m[1])) {
        tj_refuse(file, "model.merges", m, "a token with a space cannot be written to merges.txt");
      }
      line = m[0].get<std::string>() + " " + m[1].get<std::string>();
    } else {
      tj_refuse(file, "model.merges", m, "each merge must be \"left right\" or [left, right]");
    }
    text += line + "\n";
  }
  return text;
}

// model.vocab with added_tokens (the specials) joined in, and the token whose id is `eos_id`.
nlohmann::json tj_vocab(const fs::path& file, const nlohmann::json& doc, long long eos_id, std::string& eos) {
  nlohmann::json vocab = doc["model"].value("vocab", nlohmann::json());
  if (!vocab.is_object()) tj_refuse(file, "model.vocab", vocab, "must be an object of token -> id");
  for (const auto& added : doc.value("added_tokens", nlohmann::json::array())) {
    if (!added.is_object() || !added.contains("id") || !added.contains("content")) continue;
    vocab[added["content"].get<std::string>()] = added["id"];
  }
  for (const auto& [token, id] : vocab.items()) {
    if (id.is_number_integer() && id.get<long long>() == eos_id) eos = token;
  }
  return vocab;
}

void tj_write(const fs::path& path, const std::string& text) {
  const fs::path temporary = path.string() + ".tmp";
  std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw DataError(fmt::format("cannot write {}", temporary.string()));
  fs::rename(temporary, path);
}

}  // namespace

ConvertedBpe convert_tokenizer_json(const fs::path& tokenizer_json, long long eos_id) {
  std::ifstream in(tokenizer_json, std::ios::binary);
  if (!in) throw DataError(fmt::format("{}: cannot be read", tokenizer_json.string()));
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw DataError(fmt::format("{}: is not a JSON object", tokenizer_json.string()));
  }
  tj_check_form(tokenizer_json, doc);
  ConvertedBpe out;
  const nlohmann::json vocab = tj_vocab(tokenizer_json, doc, eos_id, out.eos);
  const std::string merges = tj_merges_text(tokenizer_json, doc["model"].value("merges", nlohmann::json()));
  // Named by the file's digest, so a changed tokenizer.json never reuses an old conversion.
  const fs::path folder = tj_cache_root() / "hf-tokenizers" / text_sha256(text.str()).substr(0, 16);
  fs::create_directories(folder);
  out.vocab = folder / "vocab.json";
  out.merges = folder / "merges.txt";
  if (!fs::exists(out.vocab) || !fs::exists(out.merges)) {
    tj_write(out.merges, merges);
    tj_write(out.vocab, vocab.dump());
  }
  return out;
}

}  // namespace lmlab::pretrained
