#include "data/token_manifest.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "experiment/quote_bounded.hpp"
#include "lmlab/error.hpp"

namespace lmlab {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const SplitRecord* TokenManifest::split(const std::string& name) const {
  for (const auto& s : splits) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

namespace {

// A manifest is a few kilobytes; one much larger is not lmlab's.
constexpr std::uintmax_t manifest_max_bytes = 16u << 20;

class ManifestReader {
 public:
  explicit ManifestReader(fs::path file) : file_(std::move(file)) {}

  [[noreturn]] void bad(const std::string& key, const std::string& what) const {
    throw DataError(fmt::format("prepared-corpus manifest {}: {} {}; prepare the corpus again (lmlab prepare)",
                                file_.string(), key, what));
  }
  const Json& field(const Json& object, const char* key, const std::string& where) const {
    const auto it = object.find(key);
    if (it == object.end()) bad(where + key, "is missing");
    return *it;
  }
  std::string text(const Json& object, const char* key, const std::string& where = "") const {
    const Json& value = field(object, key, where);
    if (!value.is_string()) bad(where + key, "is not a string: " + quote_bounded(value.dump()));
    return value.get<std::string>();
  }
  std::int64_t count(const Json& object, const char* key, const std::string& where = "") const {
    const Json& value = field(object, key, where);
    const bool fits = value.is_number_unsigned()  ? value.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX)
                      : value.is_number_integer() ? value.get<std::int64_t>() >= 0
                                                  : false;
    if (!fits) bad(where + key, "is not a count: " + quote_bounded(value.dump()));
    return value.get<std::int64_t>();
  }
  const Json& array(const Json& object, const char* key) const {
    const Json& value = field(object, key, "");
    if (!value.is_array()) bad(key, "is not a list");
    return value;
  }

 private:
  fs::path file_;
};

Json parse_manifest_text(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) throw DataError(fmt::format("cannot read prepared-corpus manifest {}: {}", file.string(), ec.message()));
  if (size > manifest_max_bytes) {
    throw DataError(
        fmt::format("prepared-corpus manifest {} has {} bytes, more than a manifest can have", file.string(), size));
  }
  std::ifstream in(file, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw DataError(fmt::format("cannot read prepared-corpus manifest {}", file.string()));
  Json json = Json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    throw DataError(
        fmt::format("prepared-corpus manifest {} is not a JSON object (damaged or cut short); prepare the "
                    "corpus again (lmlab prepare)",
                    file.string()));
  }
  return json;
}

// A token file's name must stay inside the manifest's folder.
bool plain_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

TokenManifest read_token_manifest(const fs::path& file) {
  const Json json = parse_manifest_text(file);
  const ManifestReader r(file);
  TokenManifest m;
  m.version = static_cast<int>(std::min<std::int64_t>(r.count(json, "format_version"), 1 << 30));
  if (m.version != token_manifest_version) {
    r.bad("format_version", fmt::format("is {}; this lmlab reads version {}", m.version, token_manifest_version));
  }
  m.lmlab_version = r.text(json, "lmlab_version");
  const Json& tokenizer = r.field(json, "tokenizer", "");
  if (!tokenizer.is_object()) r.bad("tokenizer", "is not an object");
  m.tokenizer_identity = r.text(tokenizer, "identity", "tokenizer.");
  m.vocab_size = r.count(tokenizer, "vocab_size", "tokenizer.");
  const std::string dtype = r.text(json, "dtype");
  const auto parsed = parse_dtype(dtype);
  if (!parsed) r.bad("dtype", fmt::format("is {}; accepted: \"uint16\", \"uint32\"", quote_bounded(dtype, 80, '"')));
  m.dtype = *parsed;
  if (m.vocab_size == 0 || m.vocab_size > (m.dtype == TokenDtype::u16 ? 65536 : (std::int64_t{1} << 32))) {
    r.bad("tokenizer.vocab_size", fmt::format("{} does not suit dtype {}", m.vocab_size, dtype));
  }
  m.corpus = r.text(json, "corpus");
  m.corpus_kind = r.text(json, "corpus_kind");
  m.valid_every = r.count(json, "valid_every");
  m.chunk_bytes = r.count(json, "chunk_bytes");
  for (const Json& s : r.array(json, "sources")) {
    if (!s.is_object()) r.bad("sources", "holds an entry that is not an object");
    SourceRecord rec{r.text(s, "path", "sources[]."), static_cast<std::uint64_t>(r.count(s, "size", "sources[].")),
                     r.count(s, "mtime_ns", "sources[]."), r.text(s, "sha256", "sources[].")};
    m.sources.push_back(std::move(rec));
  }
  for (const Json& s : r.array(json, "splits")) {
    if (!s.is_object()) r.bad("splits", "holds an entry that is not an object");
    SplitRecord rec{r.text(s, "name", "splits[]."), r.text(s, "file", "splits[]."), r.count(s, "tokens", "splits[].")};
    if (rec.name != "train" && rec.name != "valid" && rec.name != "test") {
      r.bad("splits[].name", fmt::format("is {}; accepted: train, valid, test", quote_bounded(rec.name)));
    }
    if (!plain_name(rec.file))
      r.bad("splits[].file", "is not a file name in the manifest's folder: " + quote_bounded(rec.file));
    if (m.split(rec.name) != nullptr) r.bad("splits", "names split " + rec.name + " twice");
    m.splits.push_back(std::move(rec));
  }
  if (m.split("train") == nullptr || m.split("valid") == nullptr) r.bad("splits", "lacks train or valid");
  return m;
}

namespace {

Json manifest_json(const TokenManifest& m) {
  Json sources = Json::array();
  for (const auto& s : m.sources) {
    sources.push_back({{"path", s.path}, {"size", s.size}, {"mtime_ns", s.mtime_ns}, {"sha256", s.sha256}});
  }
  Json splits = Json::array();
  for (const auto& s : m.splits) splits.push_back({{"name", s.name}, {"file", s.file}, {"tokens", s.tokens}});
  return Json{{"format", "lmlab prepared corpus"},
              {"format_version", m.version},
              {"lmlab_version", m.lmlab_version},
              {"tokenizer", {{"identity", m.tokenizer_identity}, {"vocab_size", m.vocab_size}}},
              {"dtype", std::string(dtype_name(m.dtype))},
              {"corpus", m.corpus},
              {"corpus_kind", m.corpus_kind},
              {"valid_every", m.valid_every},
              {"chunk_bytes", m.chunk_bytes},
              {"sources", sources},
              {"splits", splits}};
}

[[noreturn]] void manifest_write_failed(const fs::path& file, const std::string& action, int error) {
  throw DataError(
      fmt::format("cannot write prepared-corpus manifest {}: {} ({})", file.string(), action, std::strerror(error)));
}

}  // namespace

void write_token_manifest(const fs::path& file, const TokenManifest& manifest) {
  const std::string text = manifest_json(manifest).dump(2) + "\n";
  const fs::path temporary = file.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) manifest_write_failed(file, "cannot create " + temporary.string(), errno);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : ENOSPC;
      ::close(fd);
      ::unlink(temporary.c_str());
      manifest_write_failed(file, "write failed", error);
    }
    done += static_cast<std::size_t>(n);
  }
  const int synced = ::fsync(fd) == 0 ? 0 : errno;
  const int closed = ::close(fd) == 0 ? 0 : errno;
  if (synced != 0 || closed != 0 || ::rename(temporary.c_str(), file.c_str()) != 0) {
    const int error = synced != 0 ? synced : closed != 0 ? closed : errno;
    ::unlink(temporary.c_str());
    manifest_write_failed(file, "sync or rename failed", error);
  }
}

}  // namespace lmlab
