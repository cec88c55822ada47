// tiktoken's form of a byte-level BPE model (cl100k_base.tiktoken, Qwen's qwen.tiktoken): one
// token a line, its raw bytes in base64 and its rank, which is both its id and its priority. There
// is no merge list: two adjacent parts merge when their concatenated bytes are a token, lowest
// rank first. Splitting every token into two tokens in every way gives the same pairs as a table.
#include <charconv>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>

#include "lmlab/error.hpp"
#include "lmlab/tokenizer.hpp"
#include "vocabulary.hpp"

namespace bpe_plugin {

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard base64 with '=' padding; false for anything else (wrong length, stray characters).
bool decode_base64(std::string_view text, std::string& out) {
  out.clear();
  if (text.empty() || text.size() % 4 != 0) return false;
  std::size_t padding = 0;
  while (padding < 2 && text[text.size() - 1 - padding] == '=') ++padding;
  std::uint32_t acc = 0;
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    const int value = base64_value(text[i]);
    if (value < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(value);
    if (i % 4 == 3) {
      out.push_back(static_cast<char>(acc >> 16)), out.push_back(static_cast<char>(acc >> 8));
      out.push_back(static_cast<char>(acc));
      acc = 0;
    }
  }
  if (padding == 1) {
    out.push_back(static_cast<char>(acc >> 10)), out.push_back(static_cast<char>(acc >> 2));
  } else if (padding == 2) {
    out.push_back(static_cast<char>(acc >> 4));
  }
  return true;
}

std::string rank_error(const std::filesystem::path& file, std::size_t line, const std::string& message) {
  return "bpe: " + file.string() + ":" + std::to_string(line) + ": " + message;
}

// One line "base64 rank" into v.bytes[rank] (v is sized later; here ranks go to `by_rank`).
void read_rank_line(const std::filesystem::path& file, std::size_t line_no, std::string_view line,
                    std::unordered_map<std::int64_t, std::string>& by_rank,
                    std::unordered_map<std::string, std::int64_t>& by_token) {
  const auto space = line.find(' ');
  std::string token;
  std::int64_t rank = -1;
  const char* end = line.data() + line.size();
  if (space == std::string_view::npos || !decode_base64(line.substr(0, space), token) ||
      std::from_chars(line.data() + space + 1, end, rank).ptr != end || space + 1 == line.size() || rank < 0 ||
      rank > std::numeric_limits<std::int32_t>::max()) {
    throw lmlab::DataError(rank_error(file, line_no,
                                      "a rank line is a base64 token, one space and a rank from 0 to 2^31-1; got " +
                                          bounded_quote(line)));
  }
  if (const auto [it, fresh] = by_token.emplace(token, rank); !fresh) {
    throw lmlab::DataError(rank_error(file, line_no, "the token " + bounded_quote(line.substr(0, space)) +
                                                         " is listed twice (first with rank " +
                                                         std::to_string(it->second) + ")"));
  }
  if (!by_rank.emplace(rank, token).second) {
    throw lmlab::DataError(rank_error(file, line_no, "the rank " + std::to_string(rank) + " is given twice"));
  }
}

void add_pair_merges(Vocabulary& v) {
  std::unordered_map<std::string_view, std::int32_t> id_of;
  for (std::int64_t id = 0; id < v.size; ++id) {
    if (v.byte_level[id]) id_of.emplace(v.bytes[id], static_cast<std::int32_t>(id));
  }
  for (const auto& [token, id] : id_of) {
    for (std::size_t k = 1; k < token.size(); ++k) {
      const auto left = id_of.find(token.substr(0, k));
      if (left == id_of.end()) continue;
      const auto right = id_of.find(token.substr(k));
      if (right == id_of.end()) continue;
      v.merges.emplace(pair_key(left->second, right->second), Merge{id, id});
    }
  }
}

}  // namespace

Vocabulary load_tiktoken_file(const std::filesystem::path& ranks) {
  const std::string text = read_model_file(ranks);
  Vocabulary v;
  v.files_digest = lmlab::text_sha256(text);
  std::unordered_map<std::int64_t, std::string> by_rank;
  std::unordered_map<std::string, std::int64_t> by_token;
  for_each_line(
      text, [&](std::size_t line_no, std::string_view line) { read_rank_line(ranks, line_no, line, by_rank, by_token); },
      [&](std::size_t blank) { throw lmlab::DataError(rank_error(ranks, blank, "an empty line among the ranks")); });
  if (by_rank.empty()) throw lmlab::DataError("bpe: " + ranks.string() + " has no tokens");
  for (const auto& [rank, token] : by_rank) v.size = std::max(v.size, rank + 1);
  if (v.size - static_cast<std::int64_t>(by_rank.size()) > max_unused_ids) {
    throw lmlab::DataError("bpe: " + ranks.string() + ": the largest rank is " + std::to_string(v.size - 1) + " but there are only " +
                           std::to_string(by_rank.size()) + " tokens; ranks should number the tokens from 0");
  }
  v.bytes.assign(static_cast<std::size_t>(v.size), std::string());
  v.byte_level.assign(static_cast<std::size_t>(v.size), false);
  for (auto& [rank, token] : by_rank) {
    if (token.empty()) throw lmlab::DataError("bpe: " + ranks.string() + ": rank " + std::to_string(rank) + " is an empty token");
    v.bytes[rank] = std::move(token);
    v.byte_level[rank] = true;
  }
  index_single_bytes(v, ranks);
  add_pair_merges(v);
  v.finish_merges();
  return v;
}

}  // namespace bpe_plugin
