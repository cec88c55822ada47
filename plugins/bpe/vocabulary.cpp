// The parts of loading a BPE model that both file forms share: GPT-2's byte symbols, reading a
// file with bounded size, error text, the single-byte ids and the named specials.
#include "vocabulary.hpp"

#include <charconv>
#include <fstream>
#include <string>

#include "lmlab/error.hpp"

namespace bpe_plugin {

namespace {

// No model file is near this; a larger one is a wrong path (a corpus, a checkpoint), read
// neither whole into memory nor hashed for minutes.
constexpr std::uintmax_t max_model_file_bytes = 512ull << 20;

bool printable_latin1(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); }

void append_code_point(std::uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else {  // every symbol is below U+0800: two bytes
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The code point of each byte's symbol, and the byte of each code point below 0x144 (-1: none).
struct SymbolTables {
  std::array<std::uint32_t, 256> code_point{};
  std::array<int, 0x144> byte_of{};
  SymbolTables() {
    byte_of.fill(-1);
    std::uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      code_point[b] = printable_latin1(b) ? static_cast<std::uint32_t>(b) : next++;
      byte_of[code_point[b]] = b;
    }
  }
};

const SymbolTables& symbol_tables() {
  static const SymbolTables tables;
  return tables;
}

}  // namespace

const std::array<std::string, 256>& byte_symbols() {
  static const std::array<std::string, 256> symbols = [] {
    std::array<std::string, 256> s;
    for (int b = 0; b < 256; ++b) append_code_point(symbol_tables().code_point[b], s[b]);
    return s;
  }();
  return symbols;
}

bool symbols_to_bytes(std::string_view symbols, std::string& bytes) {
  const auto& tables = symbol_tables();
  bytes.clear();
  for (std::size_t i = 0; i < symbols.size();) {
    const auto c = static_cast<unsigned char>(symbols[i]);
    std::uint32_t cp = 0;
    if (c < 0x80) {
      cp = c, i += 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < symbols.size() && (symbols[i + 1] & 0xC0) == 0x80) {
      cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(symbols[i + 1]) & 0x3Fu), i += 2;
    } else {
      return false;  // three- and four-byte characters are never byte symbols
    }
    if (cp >= tables.byte_of.size() || tables.byte_of[cp] < 0) return false;
    bytes.push_back(static_cast<char>(tables.byte_of[cp]));
  }
  return true;
}

void for_each_line(std::string_view text, const std::function<void(std::size_t, std::string_view)>& on_line,
                   const std::function<void(std::size_t)>& on_blank_inside) {
  std::size_t line_no = 0, first_blank = 0;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (first_blank == 0) first_blank = line_no;
      continue;
    }
    // Blank lines may end the file; between entries they would be malformed lines.
    if (first_blank != 0) on_blank_inside(first_blank);
    on_line(line_no, line);
  }
}

std::string read_model_file(const std::filesystem::path& file) {
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (ec || !std::filesystem::exists(status)) {
    throw lmlab::DataError("bpe: cannot find " + file.string() +
                           " (a tokenizer file named in the options; GPT-2's come from ./scripts/fetch-gpt2-bpe)");
  }
  if (!std::filesystem::is_regular_file(status)) throw lmlab::DataError("bpe: " + file.string() + " is not a file");
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) throw lmlab::DataError("bpe: cannot read the size of " + file.string() + ": " + ec.message());
  if (size > max_model_file_bytes) {
    throw lmlab::DataError("bpe: " + file.string() + " has " + std::to_string(size) +
                           " bytes, more than any BPE model file (limit 512 MiB); is it the right file?");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw lmlab::DataError("bpe: cannot open " + file.string());
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) {
    throw lmlab::DataError("bpe: cannot read " + file.string() + " (it changed while being read?)");
  }
  return text;
}

std::string bounded_quote(std::string_view text) {
  constexpr std::size_t limit = 60;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\', out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x", out += hex[c >> 4], out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > limit) out += "...";
  return out + "\"";
}

void index_single_bytes(Vocabulary& v, const std::filesystem::path& file) {
  v.byte_id.fill(-1);
  for (std::int64_t id = 0; id < v.size; ++id) {
    if (v.byte_level[id] && v.bytes[id].size() == 1) {
      v.byte_id[static_cast<unsigned char>(v.bytes[id][0])] = static_cast<std::int32_t>(id);
    }
  }
  for (int b = 0; b < 256; ++b) {
    if (v.byte_id[b] < 0) {
      static constexpr char hex[] = "0123456789ABCDEF";
      throw lmlab::DataError("bpe: " + file.string() + " has no token for the byte 0x" + hex[b >> 4] + hex[b & 15] +
                             "; a byte-level BPE vocabulary needs one for each of the 256 bytes");
    }
  }
}

void add_named_specials(Vocabulary& v, const std::vector<std::string>& specs) {
  for (const std::string& spec : specs) {
    const auto eq = spec.rfind('=');
    std::int64_t id = -1;
    const char* end = spec.data() + spec.size();
    if (eq == std::string::npos || eq == 0 ||
        std::from_chars(spec.data() + eq + 1, end, id).ptr != end || id < 0 || id >= (1ll << 31)) {
      throw lmlab::ConfigError("bpe: specials: " + bounded_quote(spec) +
                               " is not \"name=id\" with an id from 0 to 2^31-1 (e.g. \"<|endoftext|>=100257\")");
    }
    const std::string name = spec.substr(0, eq);
    if (id < v.size && (v.byte_level[id] || !v.bytes[id].empty())) {
      throw lmlab::ConfigError("bpe: specials: " + bounded_quote(spec) + ": id " + std::to_string(id) +
                               " is already the token " + bounded_quote(v.bytes[id]));
    }
    if (id >= v.size + max_unused_ids) {
      throw lmlab::ConfigError("bpe: specials: " + bounded_quote(spec) + ": the id is far beyond the vocabulary's " +
                               std::to_string(v.size) + " ids");
    }
    if (id >= v.size) {
      v.size = id + 1;
      v.bytes.resize(static_cast<std::size_t>(v.size));
      v.byte_level.resize(static_cast<std::size_t>(v.size), false);
    }
    v.bytes[id] = name;
    v.specials.push_back({name, id});
  }
}

}  // namespace bpe_plugin
