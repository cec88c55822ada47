#include "lmlab/tokenizer.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/error.hpp"
#include "util/file_digest.hpp"

namespace lmlab {

namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

bool in(unsigned char b, unsigned char lo, unsigned char hi) { return b >= lo && b <= hi; }

/// Appends `bytes` as UTF-8, replacing each maximal invalid subpart with U+FFFD. The
/// ranges are those of the Unicode standard's table of well-formed byte sequences (3.9,
/// Table 3-7); checking the second byte against its lead-specific range is what rejects
/// overlongs, surrogates and code points above U+10FFFF at the earliest byte, so that
/// e.g. "E0 80" is two subparts while "E6 9D" (a truncated valid prefix) is one.
void append_utf8(std::string_view text, std::string& out) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      out.push_back(static_cast<char>(lead));
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char second_lo = 0x80, second_hi = 0xBF;
    if (in(lead, 0xC2, 0xDF)) {
      length = 2;
    } else if (lead == 0xE0) {
      length = 3, second_lo = 0xA0;
    } else if (in(lead, 0xE1, 0xEC) || in(lead, 0xEE, 0xEF)) {
      length = 3;
    } else if (lead == 0xED) {
      length = 3, second_hi = 0x9F;
    } else if (lead == 0xF0) {
      length = 4, second_lo = 0x90;
    } else if (in(lead, 0xF1, 0xF3)) {
      length = 4;
    } else if (lead == 0xF4) {
      length = 4, second_hi = 0x8F;
    }
    if (length == 0) {  // continuation byte without a lead, C0, C1, F5..FF
      out += replacement;
      ++i;
      continue;
    }
    // How many bytes of a well-formed sequence are present, starting at the lead.
    std::size_t good = 1;
    while (good < length && i + good < n) {
      const unsigned char b = bytes[i + good];
      const bool ok = good == 1 ? in(b, second_lo, second_hi) : in(b, 0x80, 0xBF);
      if (!ok) break;
      ++good;
    }
    if (good == length) {
      out.append(text.data() + i, length);
    } else {
      out += replacement;
    }
    i += good;
  }
}

std::string special_name(std::int64_t id) {
  switch (id) {
    case ByteTokenizer::pad_id: return "<pad>";
    case ByteTokenizer::bos_id: return "<bos>";
    case ByteTokenizer::eos_id: return "<eos>";
    case ByteTokenizer::mask_id: return "<mask>";
    default: return "<extra_id_" + std::to_string(id - ByteTokenizer::first_sentinel_id) + ">";
  }
}

}  // namespace

std::int64_t SpecialIds::sentinel(std::int64_t i) const {
  if (i < 0 || i >= n_sentinels) {
    throw Error(n_sentinels == 0 ? "this tokenizer has no sentinel ids"
                                 : "sentinel index " + std::to_string(i) + " is outside 0.." + std::to_string(n_sentinels - 1));
  }
  return first_sentinel + i;
}

bool SpecialIds::is_special(std::int64_t id) const {
  if (id < 0) return false;
  if (id == pad || id == bos || id == eos || id == mask || id == unk) return true;
  return n_sentinels > 0 && id >= first_sentinel && id < first_sentinel + n_sentinels;
}

Tokenizer::~Tokenizer() = default;

std::vector<std::int64_t> Tokenizer::newline_ids() const {
  std::vector<std::int64_t> ids;
  const std::int64_t n = vocab_size();
  for (std::int64_t id = 0; id < n; ++id) {
    const std::int64_t one[] = {id};
    if (!special().is_special(id) && decode(one) == "\n") ids.push_back(id);
  }
  return ids;
}

void append_valid_utf8(std::string_view bytes, std::string& out) { append_utf8(bytes, out); }

std::string file_sha256(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError("cannot open " + file.string() + " to compute its digest");
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash.update(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw DataError("cannot read " + file.string() + " to compute its digest");
  return to_hex(hash.digest());
}

std::string text_sha256(std::string_view text) {
  Sha256 hash;
  hash.update(text.data(), text.size());
  return to_hex(hash.digest());
}

ByteTokenizer::ByteTokenizer() {
  special_.pad = pad_id;
  special_.bos = bos_id;
  special_.eos = eos_id;
  special_.mask = mask_id;
  special_.first_sentinel = first_sentinel_id;
  special_.n_sentinels = n_sentinels;
  special_.ordinary_begin = 0;
  special_.ordinary_end = n_bytes;
}

std::vector<std::int64_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<std::int64_t> ids;
  ids.reserve(text.size());
  for (const char c : text) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

std::string ByteTokenizer::decode(std::span<const std::int64_t> ids) const {
  std::string out;
  out.reserve(ids.size());
  // Bytes are validated run by run: a special id in the middle of a multi-byte sequence
  // ends it, so the truncated prefix becomes U+FFFD like any other.
  std::string run;
  for (const std::int64_t id : ids) {
    if (id >= 0 && id < n_bytes) {
      run.push_back(static_cast<char>(id));
      continue;
    }
    append_utf8(run, out);
    run.clear();
    if (is_special(id)) {
      out += special_name(id);
    } else {
      out += replacement;
    }
  }
  append_utf8(run, out);
  return out;
}

std::string ByteTokenizer::piece(std::int64_t id) const {
  if (is_special(id)) return special_name(id);
  if (id < 0 || id >= n_bytes) return "<unknown " + std::to_string(id) + ">";
  const auto b = static_cast<unsigned char>(id);
  if (b >= 0x21 && b < 0x7F) return std::string(1, static_cast<char>(b));
  static constexpr char hex[] = "0123456789ABCDEF";
  return std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
}

std::int64_t ByteTokenizer::sentinel(std::int64_t i) {
  if (i < 0 || i >= n_sentinels) {
    throw Error("sentinel index " + std::to_string(i) + " is outside 0.." + std::to_string(n_sentinels - 1));
  }
  return first_sentinel_id + i;
}

bool ByteTokenizer::is_special(std::int64_t id) { return id >= pad_id && id < byte_vocab_size; }

}  // namespace lmlab
