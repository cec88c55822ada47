#include "data/corpus_chunks.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>

#include <sys/stat.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "experiment/quote_bounded.hpp"
#include "lmlab/error.hpp"
#include "util/file_digest.hpp"

namespace lmlab {

namespace fs = std::filesystem;

namespace {

bool is_space_byte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Collects one split's text and hands it on in chunks cut by chunk_cut.
class ChunkCutter {
 public:
  ChunkCutter(int split, std::size_t chunk_bytes, const std::function<void(TextChunk&&)>& emit)
      : split_(split), chunk_bytes_(chunk_bytes), emit_(emit) {}

  void add(std::string_view text, std::uint64_t done) {
    buffer_.append(text);
    while (buffer_.size() >= chunk_bytes_) {
      const std::size_t cut = chunk_cut(buffer_, chunk_bytes_);
      emit_(TextChunk{split_, buffer_.substr(0, cut), done});
      buffer_.erase(0, cut);
    }
  }
  void flush(std::uint64_t done) {
    if (!buffer_.empty()) emit_(TextChunk{split_, std::move(buffer_), done});
    buffer_.clear();
  }

 private:
  int split_;
  std::size_t chunk_bytes_;
  const std::function<void(TextChunk&&)>& emit_;
  std::string buffer_;
};

// Reads `file` a block at a time, hashing every byte; `block` gets each one. Checks the file did
// not change while it was read.
SourceRecord read_blocks(const CorpusFile& file, std::size_t block_bytes,
                         const std::function<void(std::string_view)>& block) {
  SourceRecord before = stat_source(file.path, file.name);
  std::ifstream in(file.path, std::ios::binary);
  if (!in) throw DataError(fmt::format("cannot open corpus file {}: {}", file.path.string(), std::strerror(errno)));
  Sha256 hash;
  std::string buffer(block_bytes, '\0');
  std::uint64_t total = 0;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    hash.update(buffer.data(), n);
    total += n;
    block(std::string_view(buffer.data(), n));
  }
  if (in.bad()) throw DataError(fmt::format("cannot read corpus file {}", file.path.string()));
  const SourceRecord after = stat_source(file.path, file.name);
  if (after.size != before.size || after.mtime_ns != before.mtime_ns || total != before.size) {
    throw DataError(
        fmt::format("corpus file {} changed while it was being prepared ({} bytes, then {}); prepare "
                    "again once nothing writes to it",
                    file.path.string(), before.size, after.size));
  }
  before.sha256 = to_hex(hash.digest());
  return before;
}

// One line of a .jsonl corpus: its "text", or a DataError naming the file and line.
std::string jsonl_text(std::string_view line, const fs::path& file, std::int64_t line_number) {
  const nlohmann::json doc = nlohmann::json::parse(line, nullptr, false);
  const std::string where = fmt::format("{}:{}", file.string(), line_number);
  if (doc.is_discarded()) throw DataError(fmt::format("{}: not valid JSON: {}", where, quote_bounded(line)));
  if (!doc.is_object()) {
    throw DataError(fmt::format("{}: expected an object with a \"text\" string, got {}", where, quote_bounded(line)));
  }
  const auto text = doc.find("text");
  if (text == doc.end()) {
    throw DataError(fmt::format("{}: the object has no \"text\" field: {}", where, quote_bounded(line)));
  }
  if (!text->is_string()) {
    throw DataError(fmt::format("{}: \"text\" is not a string: {}", where, quote_bounded(text->dump())));
  }
  return text->get<std::string>();
}

bool blank_line(std::string_view line) {
  for (const char c : line) {
    if (!is_space_byte(c)) return false;
  }
  return true;
}

SourceRecord read_jsonl(const CorpusFile& file, std::size_t chunk_bytes, const std::function<void(TextChunk&&)>& emit) {
  ChunkCutter train(0, chunk_bytes, emit), valid(1, chunk_bytes, emit);
  std::string pending;  // the line read in part
  std::int64_t line_number = 0, document = 0;
  std::uint64_t done = 0;
  const auto take_line = [&](std::string_view line) {
    ++line_number;
    if (blank_line(line)) return;
    std::string text = jsonl_text(line, file.path, line_number);
    text += "\n\n";
    (document++ % jsonl_valid_every == 0 ? valid : train).add(text, done);
  };
  SourceRecord record = read_blocks(file, chunk_bytes, [&](std::string_view block) {
    done += block.size();
    std::size_t from = 0;
    for (std::size_t nl = block.find('\n'); nl != std::string_view::npos; nl = block.find('\n', from)) {
      if (pending.empty()) {
        take_line(block.substr(from, nl - from));
      } else {
        pending.append(block.substr(from, nl - from));
        take_line(pending);
        pending.clear();
      }
      from = nl + 1;
    }
    pending.append(block.substr(from));
  });
  if (!pending.empty()) take_line(pending);
  train.flush(done);
  valid.flush(done);
  return record;
}

}  // namespace

std::size_t chunk_cut(const std::string& text, std::size_t limit) {
  limit = std::min(limit, text.size());
  std::size_t any_newline = 0;
  for (std::size_t pos = limit; pos > 0; --pos) {
    if (text[pos - 1] != '\n') continue;
    if (pos < text.size() && !is_space_byte(text[pos])) return pos;
    if (any_newline == 0) any_newline = pos;
  }
  if (any_newline > 0) return any_newline;
  std::size_t pos = limit;
  // Back over continuation bytes (10xxxxxx) to the start of the character that crosses the limit.
  while (pos > 0 && pos > limit - std::min<std::size_t>(limit, 3) && pos < text.size() &&
         (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) {
    --pos;
  }
  return pos > 0 ? pos : limit;
}

SourceRecord stat_source(const fs::path& path, const std::string& name) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw DataError(fmt::format("cannot read corpus file {}: {}", path.string(), std::strerror(errno)));
  }
  SourceRecord record;
  record.path = name;
  record.size = static_cast<std::uint64_t>(st.st_size);
  record.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return record;
}

std::vector<SourceRecord> read_corpus_chunks(const CorpusSource& corpus, std::size_t chunk_bytes,
                                             const std::function<void(TextChunk&&)>& emit) {
  std::vector<SourceRecord> records;
  if (corpus.jsonl) {
    records.push_back(read_jsonl(corpus.files.front(), chunk_bytes, emit));
    return records;
  }
  std::uint64_t done = 0;
  for (const CorpusFile& file : corpus.files) {
    ChunkCutter cutter(file.split, chunk_bytes, emit);
    records.push_back(read_blocks(file, chunk_bytes, [&](std::string_view block) {
      done += block.size();
      cutter.add(block, done);
    }));
    cutter.flush(done);
  }
  return records;
}

}  // namespace lmlab
