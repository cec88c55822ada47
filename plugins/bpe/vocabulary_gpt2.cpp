// GPT-2's form of a byte-level BPE model, which Hugging Face's vocab.json + merges.txt share:
// a JSON object from token strings (bytes written as GPT-2's byte symbols) to ids, and the merges
// in priority order. A token that is neither a single byte nor the result of a merge can never be
// produced from text, so it is one of the model's specials (GPT-2's <|endoftext|>).
#include <limits>
#include <string>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "lmlab/error.hpp"
#include "lmlab/tokenizer.hpp"
#include "vocabulary.hpp"

namespace bpe_plugin {

namespace {

// Reads {"token": id, ...} as a stream of events: no document held in memory, duplicate keys and
// values that are not ids caught with the key that carries them.
class EncoderReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::unordered_map<std::string, std::int64_t> ids;
  std::string error;

  bool null() override { return bad_value("null"); }
  bool boolean(bool) override { return bad_value("a boolean"); }
  bool number_integer(number_integer_t v) override { return add(v); }
  bool number_unsigned(number_unsigned_t v) override {
    return v > static_cast<number_unsigned_t>(std::numeric_limits<std::int32_t>::max()) ? bad_value("a number above 2^31")
                                                                                        : add(static_cast<std::int64_t>(v));
  }
  bool number_float(number_float_t, const string_t&) override { return bad_value("a fractional number"); }
  bool string(string_t&) override { return bad_value("a string"); }
  bool binary(binary_t&) override { return bad_value("binary data"); }
  bool start_object(std::size_t) override {
    if (depth_++ == 0) return true;
    return bad_value("an object");
  }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) return fail("the file is a JSON array; expected an object {\"token\": id, ...}");
    return bad_value("an array");
  }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    return fail(std::string("malformed JSON: ") + e.what());
  }

 private:
  bool add(std::int64_t id) {
    if (depth_ != 1) return fail("the file is not a JSON object {\"token\": id, ...}");
    if (id < 0) return bad_value("a negative number");
    if (!ids.emplace(key_, id).second) return fail("the token " + bounded_quote(key_) + " appears twice");
    return true;
  }
  bool bad_value(const std::string& what) {
    if (depth_ == 0) return fail("the file is " + what + ", not a JSON object {\"token\": id, ...}");
    return fail("the token " + bounded_quote(key_) + " has " + what + " where its id (an integer from 0 to 2^31-1) should be");
  }
  bool fail(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }
  int depth_ = 0;
  std::string key_;
};

// Fills bytes, byte_level (for single bytes only: merges add the rest) and `token_ids`, the id of
// each token string as the merges file writes it.
void read_encoder(const std::filesystem::path& file, Vocabulary& v,
                  std::unordered_map<std::string, std::int32_t>& token_ids) {
  const std::string text = read_model_file(file);
  v.files_digest += lmlab::text_sha256(text);
  EncoderReader reader;
  const bool ok = nlohmann::json::sax_parse(text, &reader, nlohmann::json::input_format_t::json, /*strict=*/true);
  if (!ok || !reader.error.empty()) {
    throw lmlab::DataError("bpe: " + file.string() + ": " + (reader.error.empty() ? "malformed JSON" : reader.error));
  }
  if (reader.ids.empty()) throw lmlab::DataError("bpe: " + file.string() + " has no tokens");
  std::unordered_map<std::int64_t, const std::string*> owner;
  for (const auto& [token, id] : reader.ids) {
    const auto [it, fresh] = owner.emplace(id, &token);
    if (!fresh) {
      throw lmlab::DataError("bpe: " + file.string() + ": the tokens " + bounded_quote(*it->second) + " and " + bounded_quote(token) +
                             " both have id " + std::to_string(id));
    }
    v.size = std::max(v.size, id + 1);
  }
  if (v.size - static_cast<std::int64_t>(reader.ids.size()) > max_unused_ids) {
    throw lmlab::DataError("bpe: " + file.string() + ": the largest id is " + std::to_string(v.size - 1) + " but there are only " +
                           std::to_string(reader.ids.size()) + " tokens; ids should number the tokens from 0");
  }
  v.bytes.assign(static_cast<std::size_t>(v.size), std::string());
  v.byte_level.assign(static_cast<std::size_t>(v.size), false);
  std::string bytes;
  for (const auto& [token, id] : reader.ids) {
    const bool symbols = symbols_to_bytes(token, bytes);
    v.bytes[id] = symbols ? bytes : token;
    v.byte_level[id] = symbols && bytes.size() == 1;
    token_ids.emplace(token, static_cast<std::int32_t>(id));
  }
}

std::string merges_error(const std::filesystem::path& file, std::size_t line, const std::string& message) {
  return "bpe: " + file.string() + ":" + std::to_string(line) + ": " + message;
}

// One merge line "left right": both parts and their concatenation must be tokens.
void add_merge(Vocabulary& v, const std::unordered_map<std::string, std::int32_t>& token_ids,
               const std::filesystem::path& file, const std::filesystem::path& encoder, std::size_t line_no,
               std::string_view line, std::int32_t rank) {
  const auto space = line.find(' ');
  if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
      line.find(' ', space + 1) != std::string_view::npos) {
    throw lmlab::DataError(merges_error(file, line_no, "a merge is two tokens separated by one space; got " + bounded_quote(line)));
  }
  const std::string left(line.substr(0, space)), right(line.substr(space + 1));
  for (const std::string& token : {left, right, left + right}) {
    if (!token_ids.contains(token)) {
      throw lmlab::DataError(merges_error(file, line_no, "the merge " + bounded_quote(line) + " needs the token " +
                                                             bounded_quote(token) + ", which " + encoder.string() + " lacks"));
    }
  }
  std::string bytes;
  if (!symbols_to_bytes(left + right, bytes)) {
    throw lmlab::DataError(merges_error(file, line_no, "the merge " + bounded_quote(line) +
                                                           " has a character that is not one of GPT-2's byte symbols"));
  }
  const std::int32_t result = token_ids.at(left + right);
  const auto [it, fresh] = v.merges.emplace(pair_key(token_ids.at(left), token_ids.at(right)), Merge{rank, result});
  if (!fresh) {
    throw lmlab::DataError(merges_error(file, line_no, "the merge " + bounded_quote(line) + " is listed twice (first as merge " +
                                                           std::to_string(it->second.rank + 1) + ")"));
  }
  v.byte_level[result] = true;
}

void read_merges(const std::filesystem::path& file, const std::filesystem::path& encoder, Vocabulary& v,
                 const std::unordered_map<std::string, std::int32_t>& token_ids) {
  const std::string text = read_model_file(file);
  v.files_digest += lmlab::text_sha256(text);
  std::int32_t rank = 0;
  for_each_line(
      text,
      [&](std::size_t line_no, std::string_view line) {
        if (line_no == 1 && line.starts_with("#version")) return;
        if (rank == std::numeric_limits<std::int32_t>::max()) {
          throw lmlab::DataError(merges_error(file, line_no, "too many merges"));
        }
        add_merge(v, token_ids, file, encoder, line_no, line, rank++);
      },
      [&](std::size_t blank) { throw lmlab::DataError(merges_error(file, blank, "an empty line among the merges")); });
}

}  // namespace

Vocabulary load_gpt2_files(const std::filesystem::path& encoder, const std::filesystem::path& merges) {
  Vocabulary v;
  std::unordered_map<std::string, std::int32_t> token_ids;
  read_encoder(encoder, v, token_ids);
  read_merges(merges, encoder, v, token_ids);
  index_single_bytes(v, encoder);
  v.finish_merges();
  for (std::int64_t id = 0; id < v.size; ++id) {
    // An id no token has stays out of both lists: it decodes as U+FFFD like any unknown id.
    const bool used = v.byte_level[id] || !v.bytes[id].empty();
    if (used && !v.byte_level[id]) v.specials.push_back({v.bytes[id], id});
  }
  return v;
}

}  // namespace bpe_plugin
