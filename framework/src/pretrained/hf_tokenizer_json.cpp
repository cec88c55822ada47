#include "pretrained/hf_tokenizer_json.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

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

// The two forms lmlab reads, told apart by the pre-tokenizer.
struct TjForm {
  std::string pattern;  // a bpe plugin pattern name, or the regex itself
  bool ranks = false;   // ignore_merges: tiktoken's rule, a rank file; else the merge list
};

// The regexes of tokenizer.json files that lmlab's bpe knows by name (plugins/bpe/pretokenizer.cpp).
std::string tj_pattern_name(const std::string& regex) {
  // LLaMA 3's and Qwen2's differ only in how many digits make a piece ({1,3} or one).
  const std::string head = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|)";
  const std::string tail = R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  if (regex == head + R"(\p{N}{1,3})" + tail) return "llama3";
  if (regex == head + R"(\p{N})" + tail) return "qwen2";
  return regex;
}

// GPT-2's form (ByteLevel with its own regex) or LLaMA 3's (a Split regex, then ByteLevel without
// one); no normaliser, no prefix space.
TjForm tj_check_form(const fs::path& file, const nlohmann::json& doc) {
  const nlohmann::json normalizer = doc.value("normalizer", nlohmann::json());
  if (!normalizer.is_null()) tj_refuse(file, "normalizer", normalizer, "lmlab's bpe normalises nothing");
  const nlohmann::json pre = doc.value("pre_tokenizer", nlohmann::json());
  const auto byte_level = [](const nlohmann::json& p, bool own_regex) {
    return p.is_object() && p.value("type", "") == "ByteLevel" && !p.value("add_prefix_space", false) &&
           p.value("use_regex", true) == own_regex;
  };
  TjForm form;
  if (byte_level(pre, true)) {
    form.pattern = "gpt2";
  } else if (pre.is_object() && pre.value("type", "") == "Sequence" &&
             pre.value("pretokenizers", nlohmann::json()).size() == 2 && byte_level(pre["pretokenizers"][1], false)) {
    const nlohmann::json& split = pre["pretokenizers"][0];
    const bool isolated = split.is_object() && split.value("type", "") == "Split" &&
                          split.value("behavior", "") == "Isolated" && !split.value("invert", false) &&
                          split.contains("pattern") && split["pattern"].is_object() &&
                          split["pattern"].value("Regex", nlohmann::json()).is_string();
    if (!isolated) tj_refuse(file, "pre_tokenizer.pretokenizers[0]", split, "lmlab reads an isolating Split by regex");
    form.pattern = tj_pattern_name(split["pattern"]["Regex"].get<std::string>());
  } else {
    tj_refuse(file, "pre_tokenizer", pre,
              "lmlab reads GPT-2's form (ByteLevel with its regex) and LLaMA 3's (Split by a regex, then ByteLevel), "
              "without a prefix space");
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
  if (model.value("byte_fallback", false)) {
    tj_refuse(file, "model.byte_fallback", model["byte_fallback"], "byte-level BPE needs no byte fallback");
  }
  form.ranks = model.value("ignore_merges", false);
  return form;
}

// GPT-2's printable stand-in for each byte, inverted: code point -> byte.
std::map<char32_t, unsigned char> tj_symbol_bytes() {
  std::map<char32_t, unsigned char> out;
  char32_t extra = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    out[printable ? static_cast<char32_t>(b) : extra++] = static_cast<unsigned char>(b);
  }
  return out;
}

// The bytes a token's symbols stand for; false when a character is not one of the 256 symbols.
bool tj_token_bytes(const std::string& token, const std::map<char32_t, unsigned char>& symbols, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < token.size();) {
    const auto c = static_cast<unsigned char>(token[i]);
    const int length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 0;
    if (length == 0 || i + length > token.size()) return false;
    char32_t point = length == 1 ? c : length == 2 ? (c & 0x1F) : (c & 0x0F);
    for (int k = 1; k < length; ++k) point = (point << 6) | (static_cast<unsigned char>(token[i + k]) & 0x3F);
    const auto found = symbols.find(point);
    if (found == symbols.end()) return false;
    out.push_back(static_cast<char>(found->second));
    i += static_cast<std::size_t>(length);
  }
  return !out.empty();
}

std::string tj_base64(const std::string& bytes) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k) v = (v << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k) out.push_back(k <= n ? digits[(v >> (18 - 6 * k)) & 0x3F] : '=');
  }
  return out;
}

// model.vocab as a tiktoken rank file: each token's bytes in base64 and its id, which tiktoken
// uses as the merge priority.
std::string tj_ranks_text(const fs::path& file, const nlohmann::json& vocab) {
  const auto symbols = tj_symbol_bytes();
  std::string text, bytes;
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer()) tj_refuse(file, "model.vocab", {{token, id}}, "ids must be integers");
    if (!tj_token_bytes(token, symbols, bytes)) {
      tj_refuse(file, "model.vocab", {{token, id}}, "a token of byte-level BPE spells bytes with GPT-2's 256 symbols");
    }
    text += tj_base64(bytes) + " " + std::to_string(id.get<long long>()) + "\n";
  }
  return text;
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

// The added tokens (specials) that model.vocab lacks, as "content=id".
std::vector<std::string> tj_specials(const nlohmann::json& doc, const nlohmann::json& vocab) {
  std::vector<std::string> out;
  for (const auto& added : doc.value("added_tokens", nlohmann::json::array())) {
    if (!added.is_object() || !added.value("content", nlohmann::json()).is_string()) continue;
    if (!added.value("id", nlohmann::json()).is_number_integer()) continue;
    const std::string content = added["content"].get<std::string>();
    if (!vocab.contains(content)) out.push_back(content + "=" + std::to_string(added["id"].get<long long>()));
  }
  return out;
}

// The token whose id is `eos_id`, in model.vocab or among the added tokens; "" when none.
std::string tj_eos(const nlohmann::json& doc, const nlohmann::json& vocab, long long eos_id) {
  for (const auto& [token, id] : vocab.items()) {
    if (id.is_number_integer() && id.get<long long>() == eos_id) return token;
  }
  for (const auto& added : doc.value("added_tokens", nlohmann::json::array())) {
    const bool named = added.is_object() && added.value("content", nlohmann::json()).is_string();
    if (named && added.value("id", -1LL) == eos_id) {
      return added["content"].get<std::string>();
    }
  }
  return "";
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

toml::table convert_tokenizer_json(const fs::path& tokenizer_json, long long eos_id) {
  std::ifstream in(tokenizer_json, std::ios::binary);
  if (!in) throw DataError(fmt::format("{}: cannot be read", tokenizer_json.string()));
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw DataError(fmt::format("{}: is not a JSON object", tokenizer_json.string()));
  }
  const TjForm form = tj_check_form(tokenizer_json, doc);
  nlohmann::json vocab = doc["model"].value("vocab", nlohmann::json());
  if (!vocab.is_object()) tj_refuse(tokenizer_json, "model.vocab", vocab, "must be an object of token -> id");
  const std::vector<std::string> specials = tj_specials(doc, vocab);
  toml::table options{{"pattern", form.pattern}, {"eos", tj_eos(doc, vocab, eos_id)}};
  // Named by the file's digest, so a changed tokenizer.json never reuses an old conversion.
  const fs::path folder = tj_cache_root() / "hf-tokenizers" / text_sha256(text.str()).substr(0, 16);
  fs::create_directories(folder);
  if (form.ranks) {
    const fs::path ranks = folder / "tokenizer.tiktoken";
    if (!fs::exists(ranks)) tj_write(ranks, tj_ranks_text(tokenizer_json, vocab));
    toml::array names;
    for (const auto& s : specials) names.push_back(s);
    options.insert("ranks", ranks.string());
    options.insert("specials", std::move(names));
    return options;
  }
  // The merge list's form names specials as tokens of its vocabulary.
  for (const auto& s : specials) {
    const auto cut = s.rfind('=');
    vocab[s.substr(0, cut)] = std::stoll(s.substr(cut + 1));
  }
  const fs::path encoder = folder / "vocab.json", merges = folder / "merges.txt";
  if (!fs::exists(encoder) || !fs::exists(merges)) {
    tj_write(merges, tj_merges_text(tokenizer_json, doc["model"].value("merges", nlohmann::json())));
    tj_write(encoder, vocab.dump());
  }
  options.insert("encoder", encoder.string());
  options.insert("merges", merges.string());
  return options;
}

}  // namespace lmlab::pretrained
