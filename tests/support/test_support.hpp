/// Helpers shared by the tests: temporary folders, small generated corpora, running the host.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "lmlab/decoding.hpp"
#include "lmlab/registry.hpp"
#include "training/trainer.hpp"

namespace lmlab::test {

/// A fresh folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Writes `text` to `file`, creating its folders.
void write_file(const std::filesystem::path& file, const std::string& text);
std::string read_file(const std::filesystem::path& file);

/// Writes train.txt / valid.txt / test.txt of a small, learnable generated corpus (a few
/// repeated sentence templates over a small vocabulary) into `folder`; `bytes` per split
/// roughly. Deterministic for a given seed.
void write_generated_corpus(const std::filesystem::path& folder, std::size_t train_bytes = 40000,
                            unsigned seed = 1);

/// Result of running a command through the shell.
/// LibTorch's intra-op threads set to `n` for a scope, restored at its end.
class IntraOpThreads {
 public:
  explicit IntraOpThreads(int n);
  ~IntraOpThreads();
  IntraOpThreads(const IntraOpThreads&) = delete;
  IntraOpThreads& operator=(const IntraOpThreads&) = delete;

 private:
  int before_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
CommandResult run_command(const std::string& command);

/// The small experiment file that the tests which train share: a causal decoder with 2 heads over
/// blocks of `corpus`, one thread, results under `results`. The defaults are tiny_experiment's; a
/// test sets what it changes (in this order, as designated initializers want). Keys whose field
/// is unset stay out of the file, as do the [decoding] section when `decoding` is unset and the
/// [[regularisers]] when `regularisers` is empty.
struct SmallExperiment {
  std::filesystem::path corpus, results;
  std::string name = "cli";
  std::optional<std::int64_t> seed;
  std::optional<std::string> plugin_paths;  // what goes between the brackets of plugin_paths = [...]
  std::int64_t block_size = 32;
  std::int64_t d_model = 32;
  std::int64_t n_layers = 1;
  std::string model_extra;                                 // more [model] lines, each ending in \n
  std::string objective = "[objective]\nname = \"causal_lm\"\n";  // the whole [objective] section
  std::string regularisers;                                // [[regularisers]] tables, in order
  std::optional<std::string> decoding = "chain = [\"greedy\"]";   // the body of [decoding]
  std::int64_t steps = 6;
  std::int64_t batch_size = 4;
  std::optional<double> lr;
  std::optional<std::int64_t> warmup;
  std::int64_t eval_every = 3;
  std::int64_t log_every = 1;
  std::int64_t eval_batches = 1;
  std::int64_t prompts = 1;
  std::optional<std::int64_t> prompt_tokens = 8;
  std::int64_t max_new_tokens = 4;

  /// The TOML text.
  std::string text() const;
};

/// A tiny experiment named "cli" (a 1-layer causal decoder, 6 steps, evaluations at 3 and 6,
/// greedy decoding) over `corpus`, writing under `results`: SmallExperiment's defaults, as TOML
/// text to extend.
std::string tiny_experiment(const std::filesystem::path& corpus, const std::filesystem::path& results);

/// The built `lmlab` binary, and the command prefix that runs it.
std::string lmlab_binary();

/// The built-in plugins, loaded once per process (a library's registration runs once).
const Registry& builtin_plugins();

/// Built-in decoding step `name`, its options resolved as an experiment file's would be
/// (defaults filled, checks applied: a bad value is the ConfigError a user would see), for a run
/// whose tokenizer has `vocab` ids and end-of-sequence `eos_id` (-1: none).
std::shared_ptr<DecodingStep> decoding_step(const std::string& name, const toml::table& options = {},
                                            std::int64_t vocab = 0, std::int64_t eos_id = -1);

/// Options for run_experiment() that print to `sink` only, with no live progress line.
RunOptions quiet_run(std::ostream& sink);

}  // namespace lmlab::test
