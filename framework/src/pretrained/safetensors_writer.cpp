#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lmlab/error.hpp"
#include "pretrained/safetensors.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

namespace {

std::string sw_dtype_name(const std::string& tensor, const at::Tensor& t, const fs::path& file) {
  switch (t.scalar_type()) {
    case at::kFloat: return "F32";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    default:
      throw DataError(fmt::format("{}: tensor '{}' is {}; lmlab writes F32, F16 and BF16", file.string(), tensor,
                                  c10::toString(t.scalar_type())));
  }
}

}  // namespace

void write_safetensors(const fs::path& file, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> data;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || header.contains(name)) {
      throw DataError(fmt::format("{}: tensor name '{}' is repeated or reserved", file.string(), name));
    }
    const at::Tensor contiguous = t.detach().to(at::kCPU).contiguous();
    const auto bytes = static_cast<std::uint64_t>(contiguous.numel()) * contiguous.element_size();
    header[name] = {{"dtype", sw_dtype_name(name, contiguous, file)},
                    {"shape", contiguous.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(contiguous);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned, as the reference writer pads
  const fs::path temporary = file.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    const std::uint64_t length = text.size();
    out.write(reinterpret_cast<const char*>(&length), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : data) {
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    }
    out.flush();
    if (!out) {
      const int error = errno;
      out.close();
      fs::remove(temporary);
      throw DataError(fmt::format("cannot write {}: {}", file.string(), std::strerror(error)));
    }
  }
  std::error_code ec;
  fs::rename(temporary, file, ec);
  if (ec) {
    fs::remove(temporary);
    throw DataError(fmt::format("cannot write {}: {}", file.string(), ec.message()));
  }
}

}  // namespace lmlab::pretrained
