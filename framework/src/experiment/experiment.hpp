/// The typed, validated form of an experiment file: one struct per section with in-class
/// defaults, and the plugins it names with their resolved options.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace lmlab {

struct ExperimentSection {
  std::string name = "experiment";
  std::int64_t seed = 0;
  std::string device = "auto";     // auto | cpu | cuda | cuda:<i>
  std::string precision = "fp32";  // fp32 | bf16 (autocast)
  std::int64_t threads = 0;        // intra-op threads; 0: the CPUs available to the process
  std::string results_dir = "results";
  std::vector<std::string> plugin_paths;

  /// <results_dir>/<name>: the experiment's folder of run files, checkpoints, index and report.
  std::filesystem::path results_folder() const { return std::filesystem::path(results_dir) / name; }
};

struct DataSection {
  std::string corpus = "brown";  // "brown" (data/brown) or a folder holding train.txt, valid.txt[, test.txt]
  std::string tokenizer = "byte";  // the tokenizer plugin; its options are [tokenizer]
  std::int64_t block_size = 256;
  std::string data_dir = "data";  // where named corpora live
};

struct TrainSection {
  std::int64_t steps = 1000;
  std::int64_t batch_size = 16;         // rows per micro-batch of each process
  std::int64_t global_batch_size = 0;   // rows per micro-batch over all processes; 0: batch_size each
  std::int64_t grad_accum = 1;
  double lr = 1e-3;
  double min_lr_ratio = 0.1;  // cosine and linear schedules decay to lr * min_lr_ratio
  std::int64_t warmup = 100;
  std::string schedule = "cosine";  // cosine | linear | constant
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
  bool decay_embeddings = false;
  bool decay_norms_and_biases = false;
  std::int64_t eval_every = 200;
  std::int64_t log_every = 10;
  std::int64_t checkpoint_every = 0;  // 0: at every evaluation
  std::string init_from;              // a checkpoint whose model weights start the run (fine-tuning)
};

struct EvalSection {
  std::int64_t batches = 20;
  std::int64_t batch_size = 0;  // 0: train.batch_size
  std::int64_t prompts = 4;
  std::int64_t prompt_tokens = 32;
  std::int64_t max_new_tokens = 64;
};

/// How a run with more than one process communicates ([distributed]). Not part of the run's
/// identity: where and how the ranks talk does not change what they compute.
struct DistributedSection {
  std::string backend = "auto";  // auto (NCCL on CUDA, Gloo on CPU) | gloo | nccl
  double timeout_s = 300.0;      // the longest any collective (or the rendezvous) may wait
  double bucket_mb = 25.0;       // gradients all-reduced together, in MiB
  bool shard_optimizer = false;  // ZeRO stage 1: each rank keeps the AdamW state of its share of the parameters
};

/// A plugin named in the experiment, with its options resolved (every default filled in).
struct PluginChoice {
  std::string name;
  toml::table options;
  std::vector<PluginChoice> tasks;  // a composite objective's, each from [objective.<name>]
};

/// A named decoding configuration, one of [[decoding.eval]].
struct DecodingConfig {
  std::string name;
  std::vector<PluginChoice> chain;
};

/// A whole experiment, validated.
struct Experiment {
  std::string source;  // the file it came from
  ExperimentSection experiment;
  DataSection data;
  TrainSection train;
  EvalSection eval;
  PluginChoice tokenizer;  // data.tokenizer, with [tokenizer]'s options
  PluginChoice model;
  PluginChoice objective;
  std::vector<PluginChoice> regularisers;
  std::vector<PluginChoice> decoding;  // [decoding].chain, in order: configuration "default" (may be empty)
  std::vector<DecodingConfig> decoding_eval;  // [[decoding.eval]], each also evaluated, under its name
  std::vector<PluginChoice> metrics;  // [metrics].names, each with its options: what every evaluation measures
  DistributedSection distributed;      // [distributed]: outside `resolved` and the identity
  std::int64_t world_size = 1;         // processes training the run together; train.batch_size is per process
  toml::table resolved;                // every section, every default filled in
  std::string config_hash;             // 16 hex digits of the resolved config's canonical text
  std::string run_id;                  // 16 hex digits of config_hash and the content hashes of the plugin libraries used
  std::string tokenizer_identity;      // the tokenizer's (lmlab/tokenizer.hpp): its files' digest and options
  std::int64_t vocab_size = 0;         // the tokenizer's: the model's vocabulary
  std::vector<std::string> plugin_hashes;  // "<kind> <name> <hash of its library>", one per plugin used, sorted
  std::string run_name;                // sweep point and seed, then the first 8 digits of run_id
  std::string sweep_label;             // the sweep point as the run name gives it ("n_layers=4,seed=2"); empty without [sweep]
  std::vector<std::pair<std::string, std::string>> sweep_point;  // each sweep axis and its value, seeds included
};

}  // namespace lmlab
