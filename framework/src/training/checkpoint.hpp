/// Checkpoints that let a run continue exactly: model, optimizer, every random generator the
/// run draws from, the data position and the counters behind the logged means.
#pragma once
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <string>

#include <ATen/core/Generator.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include "lmlab/error.hpp"

namespace lmlab {

/// A checkpoint whose bytes differ from those written: its SHA-256 seal does not match.
class CorruptCheckpoint : public DataError {
 public:
  using DataError::DataError;
};

/// A mean over the steps since the last logged row.
struct RunningMean {
  double sum = 0.0;
  std::int64_t count = 0;
};

/// Counters of the training loop at the end of a step.
struct TrainingState {
  std::int64_t step = 0;    // optimizer steps done
  std::int64_t tokens = 0;  // training tokens consumed
  double loss_sum = 0.0;    // losses since the last logged row, so a resumed run logs the same mean
  std::int64_t loss_count = 0;
  std::int64_t last_eval_step = 0;
  std::map<std::string, RunningMean> components;  // train/loss.<name> since the last logged row
};

/// Everything a checkpoint holds besides the state counters.
struct CheckpointParts {
  torch::nn::Module& model;
  torch::optim::Optimizer& optimizer;
  at::Generator& data_generator;  // the training-window sampler's
  c10::Device device;             // whose default generator is saved too (CPU's always)
};

/// Writes `file` sealed with a SHA-256 digest (util/file_digest.hpp) and atomically: a temporary
/// file, fsync, rename, so a crash or a full disk mid-write keeps the previous checkpoint; that one
/// stays beside the new one as `<file>.prev`. `config` is the run's resolved config text, kept so
/// the checkpoint alone can rebuild its model, and `tokenizer_identity` the identity of the
/// tokenizer that config names (lmlab/tokenizer.hpp), so that its files can be checked. Throws
/// DataError naming the file when it cannot be written (disk full, quota, EIO); the temporary is
/// then removed.
void save_checkpoint(const std::filesystem::path& file, const CheckpointParts& parts, const TrainingState& state,
                     const std::string& config_hash, const std::string& config = {},
                     const std::string& tokenizer_identity = {});

/// Restores into `parts` and returns the counters. Every loader here checks the file's seal
/// before reading anything from it: CorruptCheckpoint when it does not match. Throws DataError
/// when the file is missing or was written for another config (its hash differs).
TrainingState load_checkpoint(const std::filesystem::path& file, const CheckpointParts& parts,
                              const std::string& config_hash);

/// load_checkpoint for --resume: when `file` is corrupt, the previous checkpoint kept beside it is
/// loaded instead (`out` is told, the damaged file kept as `<file>.corrupt`). Throws DataError,
/// having changed no file, when neither can be resumed from.
TrainingState resume_checkpoint(const std::filesystem::path& file, const CheckpointParts& parts,
                                const std::string& config_hash, std::ostream& out);

/// Where save_checkpoint keeps the checkpoint it replaced.
std::filesystem::path previous_checkpoint_path(const std::filesystem::path& file);

/// Removes checkpoint `file`, the previous one kept beside it and any temporary (a run that
/// starts afresh).
void remove_checkpoint(const std::filesystem::path& file);

/// Copies the model weights of checkpoint `file` into `model` (an experiment's `init_from`): every
/// parameter and buffer must be there with the same shape. Optimizer and counters are not read.
/// Returns the config hash the checkpoint was written for. Throws DataError naming the first
/// missing or mismatched tensor. "hf:FOLDER" names a Hugging Face folder instead
/// (pretrained/hf_import.hpp), here and in the readers below; its reference is returned.
std::string load_model_weights(const std::filesystem::path& file, torch::nn::Module& model, const c10::Device& device);

/// The resolved config text checkpoint `file` was written for: stored in it, or (older
/// checkpoints) the `config` attribute of the run file beside it. Throws DataError when neither has one.
std::string read_checkpoint_config(const std::filesystem::path& file);

/// The tokenizer identity checkpoint `file` recorded; empty for checkpoints from before tokenizers
/// were plugins (all of them byte-level).
std::string read_checkpoint_tokenizer_identity(const std::filesystem::path& file);

/// The checkpoint `from` names: a .ckpt file, or a results folder holding exactly one, so that
/// `init_from` and `lmlab generate` need not spell a run's config hash. Throws DataError naming
/// the folder's checkpoints when it holds none or several.
std::filesystem::path find_checkpoint(const std::filesystem::path& from);

}  // namespace lmlab
