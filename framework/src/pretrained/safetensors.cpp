#include "pretrained/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "experiment/quote_bounded.hpp"
#include "lmlab/error.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; so must the host be");

struct SafetensorsFile::Mapping {
  void* base = MAP_FAILED;
  std::size_t size = 0;
  ~Mapping() {
    if (base != MAP_FAILED) ::munmap(base, size);
  }
  const unsigned char* bytes() const { return static_cast<const unsigned char*>(base); }
};

namespace {

struct StDtype {
  const char* name;
  std::uint64_t size;
};

// Every dtype the format defines, so that a file holding others still validates; only the
// floating ones lmlab computes in become tensors.
constexpr StDtype st_dtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2}, {"I64", 8},
                                 {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},  {"U32", 4},
                                 {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};

std::uint64_t st_dtype_size(const std::string& dtype) {
  for (const auto& d : st_dtypes) {
    if (dtype == d.name) return d.size;
  }
  return 0;
}

std::string st_quote(const std::string& text) { return quote_bounded(text, 80, '"'); }

[[noreturn]] void st_fail(const fs::path& file, const std::string& what) {
  throw DataError(fmt::format("{}: {}", file.string(), what));
}

// The deepest nesting of the header's brackets outside strings: a valid header nests three deep
// (object, entry, shape), so anything deeper is refused before a parser builds it.
int st_json_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') deepest = std::max(deepest, ++depth);
    else if (c == '}' || c == ']') --depth;
  }
  return deepest;
}

nlohmann::json st_parse_header(const fs::path& file, std::string_view text) {
  if (st_json_depth(text) > 3) st_fail(file, "the header nests deeper than a safetensors header can");
  std::set<std::string> seen;
  std::string repeated;
  // nlohmann keeps the last of repeated keys; a tensor named twice must be refused instead.
  const auto note_keys = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string()) {
      if (!seen.insert(parsed.get<std::string>()).second && repeated.empty()) repeated = parsed.get<std::string>();
    }
    return true;
  };
  nlohmann::json header = nlohmann::json::parse(text.begin(), text.end(), note_keys, /*allow_exceptions=*/false);
  if (header.is_discarded()) st_fail(file, "the header is not valid JSON (a damaged or truncated file?)");
  if (!header.is_object()) st_fail(file, "the header is not a JSON object");
  if (!repeated.empty()) st_fail(file, fmt::format("tensor {} appears twice in the header", st_quote(repeated)));
  return header;
}

std::uint64_t st_offset(const fs::path& file, const std::string& name, const nlohmann::json& value) {
  if (!value.is_number_unsigned()) {
    st_fail(file, fmt::format("tensor {}: data_offsets holds {}, not a non-negative integer", st_quote(name),
                              st_quote(value.dump())));
  }
  return value.get<std::uint64_t>();
}

SafetensorsEntry st_entry(const fs::path& file, const std::string& name, const nlohmann::json& value) {
  const auto bad = [&](const std::string& what) { st_fail(file, fmt::format("tensor {}: {}", st_quote(name), what)); };
  if (name.empty()) st_fail(file, "a tensor has an empty name");
  if (!value.is_object()) bad("its entry is not an object");
  for (const auto& [key, _] : value.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      bad(fmt::format("unknown key {}; accepted: dtype, shape, data_offsets", st_quote(key)));
    }
  }
  SafetensorsEntry e;
  e.name = name;
  if (!value.contains("dtype") || !value["dtype"].is_string()) bad("no dtype string");
  e.dtype = value["dtype"].get<std::string>();
  const std::uint64_t element = st_dtype_size(e.dtype);
  if (element == 0) bad(fmt::format("unknown dtype {}", st_quote(e.dtype)));
  if (!value.contains("shape") || !value["shape"].is_array()) bad("no shape array");
  std::uint64_t bytes = element;
  for (const auto& dim : value["shape"]) {
    if (!dim.is_number_unsigned() || dim.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
      bad(fmt::format("shape holds {}, not a non-negative integer", st_quote(dim.dump())));
    }
    const auto d = dim.get<std::uint64_t>();
    if (d != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / d) bad("its shape's byte count overflows");
    bytes *= d;
    e.shape.push_back(static_cast<std::int64_t>(d));
  }
  const auto& offsets = value.contains("data_offsets") ? value["data_offsets"] : nlohmann::json();
  if (!offsets.is_array() || offsets.size() != 2) bad("data_offsets is not a pair [begin, end]");
  e.begin = st_offset(file, name, offsets[0]);
  e.end = st_offset(file, name, offsets[1]);
  if (e.end < e.begin) bad(fmt::format("data_offsets [{}, {}] end before they begin", e.begin, e.end));
  if (e.end - e.begin != bytes) {
    bad(fmt::format("data_offsets [{}, {}] span {} bytes, but {} of shape [{}] need {}", e.begin, e.end,
                    e.end - e.begin, e.dtype, fmt::join(e.shape, ", "), bytes));
  }
  return e;
}

// The ranges must tile [0, data_size) in order: an overlap would let two tensors share bytes, a
// gap hides bytes nothing describes, and both mean the writer was not a safetensors writer.
void st_check_layout(const fs::path& file, const std::map<std::string, SafetensorsEntry>& entries,
                     std::uint64_t data_size) {
  std::vector<const SafetensorsEntry*> order;
  for (const auto& [_, e] : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t covered = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const auto* e : order) {
    if (e->end > data_size) {
      st_fail(file, fmt::format("tensor {}: data_offsets [{}, {}] reach past the {} bytes of data the file holds "
                                "(truncated?)",
                                st_quote(e->name), e->begin, e->end, data_size));
    }
    if (e->begin < covered) {
      st_fail(file, fmt::format("tensors {} and {} overlap (bytes {} to {})", st_quote(previous->name),
                                st_quote(e->name), e->begin, covered));
    }
    if (e->begin > covered) {
      st_fail(file, fmt::format("bytes {} to {} of the data belong to no tensor (before {})", covered, e->begin,
                                st_quote(e->name)));
    }
    covered = e->end;
    previous = e;
  }
  if (covered != data_size) {
    st_fail(file, fmt::format("the tensors describe {} bytes of data, but the file holds {}", covered, data_size));
  }
}

std::map<std::string, std::string> st_metadata(const fs::path& file, const nlohmann::json& value) {
  if (!value.is_object()) st_fail(file, "__metadata__ is not an object");
  std::map<std::string, std::string> out;
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) st_fail(file, fmt::format("__metadata__ {} is not a string", st_quote(key)));
    out[key] = v.get<std::string>();
  }
  return out;
}

at::ScalarType st_scalar_type(const std::string& dtype) {
  if (dtype == "F32") return at::kFloat;
  if (dtype == "F16") return at::kHalf;
  if (dtype == "BF16") return at::kBFloat16;
  return at::ScalarType::Undefined;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const fs::path& file) : path_(file), mapping_(std::make_shared<Mapping>()) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) st_fail(file, fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat info {};
  const bool stated = ::fstat(fd, &info) == 0;
  const auto size = stated ? static_cast<std::uint64_t>(info.st_size) : 0;
  if (stated && size >= 8) {
    // Private and writable: a tensor viewing the pages may be changed in place without touching
    // the file (copy on write).
    mapping_->base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    mapping_->size = size;
  }
  const int mmap_errno = errno;
  ::close(fd);
  if (!stated) st_fail(file, "cannot read its size");
  if (size < 8) st_fail(file, fmt::format("{} bytes: too short for the 8-byte header length (truncated?)", size));
  if (mapping_->base == MAP_FAILED) st_fail(file, fmt::format("cannot map: {}", std::strerror(mmap_errno)));

  std::uint64_t header_size = 0;
  std::memcpy(&header_size, mapping_->bytes(), 8);  // little-endian, as the host (checked above)
  if (header_size > size - 8) {
    st_fail(file, fmt::format("the header claims {} bytes, but only {} follow the length (truncated, or not a "
                              "safetensors file)",
                              header_size, size - 8));
  }
  if (header_size > max_safetensors_header) {
    st_fail(file, fmt::format("the header claims {} bytes, more than the {} a safetensors header may have",
                              header_size, max_safetensors_header));
  }
  data_start_ = 8 + header_size;
  const std::string_view text(reinterpret_cast<const char*>(mapping_->bytes() + 8), header_size);
  const nlohmann::json header = st_parse_header(file, text);
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") metadata_ = st_metadata(file, value);
    else entries_.emplace(name, st_entry(file, name, value));
  }
  st_check_layout(file, entries_, size - data_start_);
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const auto found = entries_.find(name);
  if (found == entries_.end()) st_fail(path_, fmt::format("has no tensor {}", st_quote(name)));
  const SafetensorsEntry& e = found->second;
  const at::ScalarType type = st_scalar_type(e.dtype);
  if (type == at::ScalarType::Undefined) {
    st_fail(path_, fmt::format("tensor {} is {}; lmlab reads F32, F16 and BF16 weights", st_quote(name), e.dtype));
  }
  const auto options = at::TensorOptions().dtype(type);
  if (e.end == e.begin) return at::empty(e.shape, options);
  unsigned char* data = static_cast<unsigned char*>(mapping_->base) + data_start_ + e.begin;
  const std::uint64_t element = st_dtype_size(e.dtype);
  if (reinterpret_cast<std::uintptr_t>(data) % element != 0) {
    // The format does not promise aligned data: such a tensor is copied out instead of viewed.
    at::Tensor copy = at::empty(e.shape, options);
    std::memcpy(copy.data_ptr(), data, e.end - e.begin);
    return copy;
  }
  std::shared_ptr<Mapping> keep = mapping_;
  return at::from_blob(data, e.shape, [keep](void*) mutable { keep.reset(); }, options);
}

}  // namespace lmlab::pretrained
