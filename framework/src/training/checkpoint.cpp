#include "training/checkpoint.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ostream>
#include <sstream>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "lmlab/error.hpp"
#include "pretrained/hf_import.hpp"
#include "results/run_file.hpp"
#include "util/error_text.hpp"
#include "util/file_digest.hpp"
#include "util/sealed_writer.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

at::Generator default_generator(const c10::Device& device) {
  return at::globalContext().defaultGenerator(device);
}

at::Tensor scalar(std::int64_t v) { return at::scalar_tensor(v, at::kLong); }
at::Tensor scalar(double v) { return at::scalar_tensor(v, at::kDouble); }

// A fresh tensor per key: InputArchive::read into a defined tensor calls set_() on it, which
// reinterprets the stored data in the old tensor's dtype (a step of 1016 read into the byte
// tensor of an RNG state came back as 248).
at::Tensor read_tensor(torch::serialize::InputArchive& archive, const std::string& key) {
  at::Tensor t;
  archive.read(key, t);
  return t;
}

// The names, sums and counts of the running component means, as one string and two tensors.
void write_components(torch::serialize::OutputArchive& archive, const std::map<std::string, RunningMean>& components) {
  std::string names;
  std::vector<double> sums;
  std::vector<std::int64_t> counts;
  for (const auto& [name, mean] : components) {
    names += name + '\n';
    sums.push_back(mean.sum);
    counts.push_back(mean.count);
  }
  archive.write("component_names", c10::IValue(names));
  archive.write("component_sums", at::tensor(sums, at::kDouble));
  archive.write("component_counts", at::tensor(counts, at::kLong));
}

std::map<std::string, RunningMean> read_components(torch::serialize::InputArchive& archive) {
  c10::IValue names;
  if (!archive.try_read("component_names", names)) return {};  // written before components existed
  const at::Tensor sums = read_tensor(archive, "component_sums").cpu();
  const at::Tensor counts = read_tensor(archive, "component_counts").cpu();
  std::map<std::string, RunningMean> out;
  const std::string& text = names.toStringRef();
  std::int64_t i = 0;
  for (std::size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos; start = end + 1, ++i) {
    out[text.substr(start, end - start)] = {sums[i].item<double>(), counts[i].item<std::int64_t>()};
  }
  return out;
}

// Module::load, but each missing or reshaped tensor is named with its full path.
void load_module(torch::nn::Module& module, torch::serialize::InputArchive& in, const std::string& prefix,
                 const fs::path& file) {
  auto copy = [&](const std::string& key, at::Tensor& target, bool is_buffer) {
    at::Tensor stored;
    if (!in.try_read(key, stored, is_buffer)) {
      throw DataError(fmt::format("{}: has no {} '{}{}' that this model needs; was it written for another "
                                  "architecture or size?",
                                  file.string(), is_buffer ? "buffer" : "parameter", prefix, key));
    }
    if (!stored.sizes().equals(target.sizes())) {
      throw DataError(fmt::format("{}: '{}{}' has shape {} there, but this model's is {}", file.string(), prefix, key,
                                  fmt::join(stored.sizes(), "x"), fmt::join(target.sizes(), "x")));
    }
    at::NoGradGuard no_grad;
    target.copy_(stored);
  };
  for (auto& p : module.named_parameters(/*recurse=*/false)) copy(p.key(), p.value(), false);
  for (auto& b : module.named_buffers(/*recurse=*/false)) copy(b.key(), b.value(), true);
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive sub;
    if (!in.try_read(child.key(), sub)) {
      throw DataError(fmt::format("{}: has no module '{}{}' that this model needs", file.string(), prefix, child.key()));
    }
    load_module(*child.value(), sub, prefix + child.key() + ".", file);
  }
}

// The checkpoint a save replaces stays beside the new one as <file>.prev, for --resume to fall
// back to when the newer one turns out damaged. A hard link, made before the rename, so that
// <file> itself is never missing; where no link can be made the older .prev (if any) stays.
void keep_previous(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return;
  const fs::path previous = previous_checkpoint_path(file);
  const fs::path staged = previous.string() + ".tmp";
  fs::remove(staged, ec);
  fs::create_hard_link(file, staged, ec);
  if (!ec) fs::rename(staged, previous, ec);
  fs::remove(staged, ec);  // left when .prev was already this very file (rename then does nothing)
}

// An open checkpoint, closed when the loader is done with it.
struct CheckpointFile {
  int fd = -1;
  ~CheckpointFile() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads checkpoint `file` into `archive` once its SHA-256 seal matches its contents, so nothing
// is taken from a damaged file. Checkpoints written before they were sealed are read unchecked.
void read_archive(torch::serialize::InputArchive& archive, const fs::path& file, const c10::Device& device) {
  if (!fs::exists(file)) throw DataError(fmt::format("no checkpoint at {}", file.string()));
  const CheckpointFile opened{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  const int fd = opened.fd;
  if (fd < 0) throw DataError(fmt::format("cannot open checkpoint {}: {}", file.string(), std::strerror(errno)));
  const SealCheck seal = check_seal(fd, file);
  if (seal.state == SealCheck::State::corrupt) {
    throw CorruptCheckpoint(fmt::format("checkpoint {} is corrupt: {} (it changed after it was written)",
                                        file.string(), seal.problem));
  }
  const std::uint64_t size = seal.contents_size;
  const auto read = [fd, size](std::uint64_t pos, void* buffer, std::size_t n) -> std::size_t {
    std::size_t done = 0;
    n = static_cast<std::size_t>(std::min<std::uint64_t>(n, pos < size ? size - pos : 0));
    while (done < n) {
      const ssize_t got = ::pread(fd, static_cast<char*>(buffer) + done, n - done, static_cast<off_t>(pos + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  };
  try {
    archive.load_from(read, [size] { return static_cast<std::size_t>(size); }, device);
  } catch (const std::exception& e) {
    // Without a seal that does not read: an old checkpoint damaged, or a sealed one whose seal was
    // cut off with its end. Either way it is corrupt, and a resume may fall back.
    if (seal.state == SealCheck::State::unsealed) {
      throw CorruptCheckpoint(fmt::format("cannot read checkpoint {}: it has no seal and does not read, so it is "
                                          "corrupt ({})",
                                          file.string(), error_text(e)));
    }
    throw DataError(fmt::format("cannot read checkpoint {}: {}", file.string(), error_text(e)));
  }
}

}  // namespace

fs::path previous_checkpoint_path(const fs::path& file) { return file.string() + ".prev"; }

void remove_checkpoint(const fs::path& file) {
  for (const std::string suffix : {"", ".tmp", ".prev", ".prev.tmp"}) fs::remove(file.string() + suffix);
}

void save_checkpoint(const fs::path& file, const CheckpointParts& parts, const TrainingState& state,
                     const std::string& config_hash, const std::string& config,
                     const std::string& tokenizer_identity) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model, optimizer;
  parts.model.save(model);
  parts.optimizer.save(optimizer);
  archive.write("model", model);
  archive.write("optimizer", optimizer);
  archive.write("config_hash", c10::IValue(config_hash));
  if (!config.empty()) archive.write("config", c10::IValue(config));
  if (!tokenizer_identity.empty()) archive.write("tokenizer_identity", c10::IValue(tokenizer_identity));
  archive.write("rng_data", parts.data_generator.get_state());
  archive.write("rng_cpu", default_generator(c10::Device(c10::kCPU)).get_state());
  if (parts.device.is_cuda()) archive.write("rng_device", default_generator(parts.device).get_state());
  archive.write("step", scalar(state.step));
  archive.write("tokens", scalar(state.tokens));
  archive.write("loss_sum", scalar(state.loss_sum));
  archive.write("loss_count", scalar(state.loss_count));
  archive.write("last_eval_step", scalar(state.last_eval_step));
  write_components(archive, state.components);

  SealedWriter out(file, "checkpoint");
  try {
    // Through a writer that never fails: LibTorch's own file writer, on a full disk, throws
    // from its destructor while unwinding, which aborts the process.
    archive.save_to([&](const void* data, std::size_t size) {
      out.write(data, size);
      return size;
    });
  } catch (const std::exception& e) {
    throw DataError(fmt::format("cannot write checkpoint {}: {}", file.string(), error_text(e)));
  }
  out.finish();
  keep_previous(file);
  out.publish();
}

TrainingState load_checkpoint(const fs::path& file, const CheckpointParts& parts, const std::string& config_hash) {
  torch::serialize::InputArchive archive;
  read_archive(archive, file, parts.device);
  try {
    c10::IValue hash;
    archive.read("config_hash", hash);
    if (hash.toStringRef() != config_hash) {
      throw DataError(fmt::format("checkpoint {} was written for config {}, this run's config is {}; "
                                  "resume with the same experiment file and overrides",
                                  file.string(), hash.toStringRef(), config_hash));
    }
    torch::serialize::InputArchive model, optimizer;
    archive.read("model", model);
    archive.read("optimizer", optimizer);
    parts.model.load(model);
    parts.optimizer.load(optimizer);

    parts.data_generator.set_state(read_tensor(archive, "rng_data").cpu());
    default_generator(c10::Device(c10::kCPU)).set_state(read_tensor(archive, "rng_cpu").cpu());
    if (parts.device.is_cuda()) default_generator(parts.device).set_state(read_tensor(archive, "rng_device").cpu());
    TrainingState state;
    state.step = read_tensor(archive, "step").item<std::int64_t>();
    state.tokens = read_tensor(archive, "tokens").item<std::int64_t>();
    state.loss_sum = read_tensor(archive, "loss_sum").item<double>();
    state.loss_count = read_tensor(archive, "loss_count").item<std::int64_t>();
    state.last_eval_step = read_tensor(archive, "last_eval_step").item<std::int64_t>();
    state.components = read_components(archive);
    return state;
  } catch (const DataError&) {
    throw;
  } catch (const std::exception& e) {
    throw DataError(fmt::format("checkpoint {} is incomplete or not an lmlab checkpoint: {}", file.string(),
                                error_text(e)));
  }
}

namespace {

// Makes `previous` the current checkpoint `file` without a moment in which `file` is missing (a
// run without its checkpoint would start afresh and delete `previous`): the copy is staged and
// renamed over `file`. The damaged file, if any, is kept as `aside` where a hard link can keep it.
// Returns whether it was.
bool restore_previous(const fs::path& file, const fs::path& previous, const fs::path& aside) {
  const fs::path staged = file.string() + ".restoring";
  std::error_code ec;
  fs::remove(staged, ec);
  fs::create_hard_link(previous, staged, ec);
  if (ec) fs::copy_file(previous, staged, fs::copy_options::overwrite_existing);  // throws: nothing changed yet
  bool kept = false;
  if (fs::exists(file)) {
    fs::remove(aside, ec);
    fs::create_hard_link(file, aside, ec);
    kept = !ec;
  }
  fs::rename(staged, file);
  return kept;
}

}  // namespace

TrainingState resume_checkpoint(const fs::path& file, const CheckpointParts& parts, const std::string& config_hash,
                                std::ostream& out) {
  const fs::path previous = previous_checkpoint_path(file);
  std::string problem;
  if (!fs::exists(file) && fs::exists(previous)) {
    // A save or a restore cut short between its steps: the previous checkpoint is all there is.
    problem = fmt::format("checkpoint {} is missing", file.string());
  } else {
    try {
      return load_checkpoint(file, parts, config_hash);
    } catch (const CorruptCheckpoint& corrupt) {
      problem = corrupt.what();
    }
  }
  const std::string untouched = fmt::format(
      "nothing was changed: restore {} from a copy, or delete it to start the run afresh", file.string());
  if (!fs::exists(previous)) {
    throw DataError(fmt::format("{}, and no previous checkpoint {} is kept to resume from; {}", problem,
                                previous.string(), untouched));
  }
  TrainingState state;
  try {
    state = load_checkpoint(previous, parts, config_hash);
  } catch (const DataError& also) {
    throw DataError(fmt::format("{}, and the previous one cannot be resumed from either ({}); {}", problem,
                                also.what(), untouched));
  }
  // The previous one becomes the current: the next save then keeps an intact .prev.
  const fs::path aside = file.string() + ".corrupt";
  bool kept = false;
  try {
    kept = restore_previous(file, previous, aside);
  } catch (const fs::filesystem_error& e) {
    throw DataError(fmt::format("{}; the previous checkpoint {} is intact but could not be put in its place ({}); {}",
                                problem, previous.string(), e.what(), untouched));
  }
  out << fmt::format("warning: {}; resuming from the previous checkpoint {} (step {}) instead{}\n", problem,
                     previous.string(), state.step,
                     kept ? fmt::format("; the damaged one is kept as {}", aside.string()) : std::string());
  return state;
}

std::string load_model_weights(const fs::path& file, torch::nn::Module& model, const c10::Device& device) {
  if (const auto folder = pretrained::hf_folder_of(file.string())) {
    // A Hugging Face folder: its weights are copied on the CPU, then moved with the model.
    const c10::Device was = model.parameters().empty() ? device : model.parameters().front().device();
    model.to(c10::Device(c10::kCPU));
    pretrained::load_hf_weights(model, pretrained::open_hf_folder(*folder));
    model.to(was);
    return file.string();
  }
  torch::serialize::InputArchive archive;
  read_archive(archive, file, device);
  torch::serialize::InputArchive weights;
  c10::IValue hash;
  if (!archive.try_read("model", weights) || !archive.try_read("config_hash", hash)) {
    throw DataError(fmt::format("{} is not an lmlab checkpoint (it has no model or config hash)", file.string()));
  }
  load_module(model, weights, "", file);
  return hash.toStringRef();
}

std::string read_checkpoint_config(const fs::path& file) {
  if (const auto folder = pretrained::hf_folder_of(file.string())) {
    std::ostringstream text;
    text << pretrained::open_hf_folder(*folder).config;
    return text.str();
  }
  torch::serialize::InputArchive archive;
  read_archive(archive, file, c10::Device(c10::kCPU));
  c10::IValue config;
  if (archive.try_read("config", config)) return config.toStringRef();
  // Checkpoints from before the config was stored in them: the run file written beside it has it.
  fs::path run_file = file;
  run_file.replace_extension(".h5");
  if (fs::exists(run_file) && run_file::has_attribute(run_file, "config")) {
    return run_file::read_attribute(run_file, "config");
  }
  throw DataError(fmt::format("{} holds no config, and there is no run file {} beside it to read one from",
                              file.string(), run_file.string()));
}

std::string read_checkpoint_tokenizer_identity(const fs::path& file) {
  // A Hugging Face folder's tokenizer is read from its own files, so there is nothing to compare.
  if (pretrained::hf_folder_of(file.string())) return {};
  torch::serialize::InputArchive archive;
  read_archive(archive, file, c10::Device(c10::kCPU));
  c10::IValue identity;
  return archive.try_read("tokenizer_identity", identity) ? identity.toStringRef() : std::string();
}

fs::path find_checkpoint(const fs::path& from) {
  if (!fs::is_directory(from) || pretrained::hf_folder_of(from.string())) return from;
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(from)) {
    if (entry.path().extension() == ".ckpt") found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  if (found.size() == 1) return found.front();
  std::string names;
  for (const auto& f : found) names += (names.empty() ? "" : ", ") + f.filename().string();
  throw DataError(fmt::format("folder {} holds {} checkpoints{}{}; name the .ckpt file", from.string(), found.size(),
                              found.empty() ? "" : ": ", names));
}

}  // namespace lmlab
