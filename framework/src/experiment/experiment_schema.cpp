// resolve_experiment: the sections of an experiment file, their options declared once, and the
// plugins they name, validated against the registry before any work starts.
#include "experiment/experiment_schema.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>
#include <type_traits>

#include <fmt/format.h>

#include "experiment/config.hpp"
#include "experiment/path_component.hpp"
#include "experiment/quote_bounded.hpp"
#include "experiment/run_identity.hpp"
#include "experiment/sweep.hpp"
#include "experiment/sweep_axes.hpp"
#include "lmlab/error.hpp"
#include "lmlab/options.hpp"
#include "lmlab/plugin_call.hpp"
#include "results/expectations.hpp"
#include "sweeps/slurm.hpp"
#include "util/suggest.hpp"

namespace lmlab {
namespace {

const std::vector<std::string> top_level_keys = {"base",      "data",         "decoding", "distributed", "eval",  "expect",
                                                 "experiment", "metrics",     "model",    "objective", "regularisers",
                                                 "slurm",     "sweep",        "tokenizer", "train"};

constexpr Limits at_least(double min) { return Limits{.min = min}; }
constexpr Limits above(double min) { return Limits{.min = min, .exclusive_min = true}; }
constexpr Limits unit_closed{.min = 0.0, .max = 1.0};
constexpr Limits unit_below_one{.min = 0.0, .max = 1.0, .exclusive_max = true};

}  // namespace

namespace detail {

const OptionSet<ExperimentSection>& experiment_options() {
  using S = ExperimentSection;
  static const OptionSet<S> options =
      OptionSet<S>()
          .add("name", &S::name, "name of the experiment, recorded in every run file")
          .add("seed", &S::seed, "seed of every random stream of the run", at_least(0))
          .add("device", &S::device, "auto, cpu, cuda or cuda:<index>")
          .add("precision", &S::precision, "fp32, or bf16 autocast", {"fp32", "bf16"})
          .add("threads", &S::threads, "intra-op CPU threads; 0: the CPUs available", at_least(0))
          .add("results_dir", &S::results_dir, "folder the run files are written to")
          .add("plugin_paths", &S::plugin_paths, "extra plugin libraries or folders to load");
  return options;
}

const OptionSet<DataSection>& data_options() {
  using S = DataSection;
  static const OptionSet<S> options =
      OptionSet<S>()
          .add("corpus", &S::corpus, "a named corpus under data_dir, or a folder with train.txt and valid.txt")
          .add("tokenizer", &S::tokenizer,
               "the tokenizer plugin (lmlab plugins lists them); its options go in [tokenizer]")
          .add("block_size", &S::block_size, "tokens per training example", at_least(8))
          .add("data_dir", &S::data_dir, "where named corpora live")
          .check("corpus must not be empty", [](const S& s) { return !s.corpus.empty(); });
  return options;
}

const OptionSet<TrainSection>& train_options() {
  using S = TrainSection;
  static const OptionSet<S> options =
      OptionSet<S>()
          .add("steps", &S::steps,
               "optimizer steps; 0: none, the starting model (train.init_from) is evaluated once, at step 0",
               at_least(0))
          .add("batch_size", &S::batch_size, "examples per micro-batch of each process", at_least(1))
          .add("global_batch_size", &S::global_batch_size,
               "examples per micro-batch over all processes, split evenly among them, so that the run's "
               "batches are the same on any number of processes; 0: train.batch_size per process. Give one "
               "of the two",
               at_least(0))
          .omitted_at_default()
          .add("grad_accum", &S::grad_accum, "micro-batches per optimizer step", at_least(1))
          .add("lr", &S::lr, "peak learning rate", above(0))
          .add("min_lr_ratio", &S::min_lr_ratio, "final lr as a fraction of lr (cosine, linear)", unit_closed)
          .add("warmup", &S::warmup, "steps of linear warmup", at_least(0))
          .add("schedule", &S::schedule, "learning-rate schedule after warmup", {"cosine", "linear", "constant"})
          .add("beta1", &S::beta1, "AdamW beta1", unit_below_one)
          .add("beta2", &S::beta2, "AdamW beta2", unit_below_one)
          .add("eps", &S::eps, "AdamW epsilon", above(0))
          .add("weight_decay", &S::weight_decay, "AdamW decoupled weight decay", at_least(0))
          .add("decay_embeddings", &S::decay_embeddings, "apply weight decay to embeddings")
          .add("decay_norms_and_biases", &S::decay_norms_and_biases, "apply weight decay to norms and biases")
          .add("eval_every", &S::eval_every, "steps between evaluations", at_least(1))
          .add("log_every", &S::log_every, "steps between training log lines", at_least(1))
          .add("checkpoint_every", &S::checkpoint_every, "steps between checkpoints; 0: at every evaluation",
               at_least(0))
          .add("init_from", &S::init_from,
               "checkpoint (.ckpt), or a results folder holding one, whose model weights start this run "
               "(fine-tuning); \"\": a fresh model")
          .check("steps = 0 trains nothing and evaluates the starting model, so it needs init_from (a checkpoint, "
                 "\"hf:FOLDER\", or model.from): a fresh model's evaluation says nothing",
                 [](const S& s) { return s.steps > 0 || !s.init_from.empty(); });
  return options;
}

const OptionSet<EvalSection>& eval_options() {
  using S = EvalSection;
  static const OptionSet<S> options =
      OptionSet<S>()
          .add("batches", &S::batches, "validation batches per evaluation", at_least(1))
          .add("batch_size", &S::batch_size, "examples per validation batch; 0: train.batch_size", at_least(0))
          .add("prompts", &S::prompts, "validation prompts decoded at each evaluation", at_least(0))
          .add("prompt_tokens", &S::prompt_tokens, "tokens of each prompt", at_least(1))
          .add("max_new_tokens", &S::max_new_tokens, "tokens generated per prompt", at_least(0));
  return options;
}

const OptionSet<DistributedSection>& distributed_options() {
  using S = DistributedSection;
  static const OptionSet<S> options =
      OptionSet<S>()
          .add("backend", &S::backend, "collectives of a multi-process run: auto (NCCL on CUDA, Gloo on CPU)",
               {"auto", "gloo", "nccl"})
          .add("timeout_s", &S::timeout_s, "seconds a rank waits for the others (rendezvous, each all-reduce)",
               above(0))
          .add("bucket_mb", &S::bucket_mb, "MiB of gradients all-reduced together", above(0))
          .add("shard_optimizer", &S::shard_optimizer,
               "ZeRO stage 1: each rank keeps the AdamW state of its share of the parameters, updates those and "
               "broadcasts them; the same numbers as unsharded, so not part of the run's identity");
  return options;
}

const toml::table* section(const toml::table& config, std::string_view name) {
  const toml::node* node = config.get(name);
  return node ? &detail::read_table(*node, name) : nullptr;
}

}  // namespace detail

namespace {

using detail::data_options;
using detail::eval_options;
using detail::experiment_options;
using detail::section;
using detail::train_options;

bool is_device(const std::string& d) {
  if (d == "auto" || d == "cpu" || d == "cuda") return true;
  const std::string_view index = std::string_view(d).substr(std::min<std::size_t>(d.size(), 5));
  return d.starts_with("cuda:") && !index.empty() &&
         std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; });
}

template <class T>
T parse_section(const toml::table& config, std::string_view name, const OptionSet<T>& options) {
  const toml::table* table = section(config, name);
  return table ? options.parse(*table, name) : T{};
}

ExperimentSection parse_experiment_section(const toml::table& config) {
  ExperimentSection s = parse_section(config, "experiment", experiment_options());
  // The name is a folder under results_dir: "../x" would write outside it, "" into it.
  if (const auto problem = path_component_problem(s.name)) {
    const toml::table* table = section(config, "experiment");
    config_error(table ? table->get("name") : nullptr, "experiment.name",
                 fmt::format("{} is not one folder name: {}", quote_bounded(s.name, 80, '"'), *problem),
                 path_component_rule());
  }
  if (!is_device(s.device)) {
    config_error(section(config, "experiment")->get("device"), "experiment.device",
                 fmt::format("\"{}\" is not a device", s.device), "auto, cpu, cuda, cuda:<index>");
  }
  return s;
}

void check_sections(const toml::table& config) {
  for (const auto& [key, node] : config) {
    if (std::find(top_level_keys.begin(), top_level_keys.end(), key.str()) != top_level_keys.end()) continue;
    std::string message = "unknown section";
    if (auto best = closest_match(key.str(), top_level_keys)) message += fmt::format(" (did you mean '{}'?)", *best);
    config_error(&node, key_path("", key.str()), message, join(top_level_keys));
  }
}

template <class I>
std::string known_plugins(const Registry& registry) {
  const std::vector<std::string> names = registry.names<I>();
  return names.empty() ? fmt::format("(no {} plugins are loaded)", I::kind) : join(names);
}

// The registry's "unknown plugin" error, located at the value that named it.
template <class I>
void check_registered(const Registry& registry, const std::string& name, const toml::node& node,
                      std::string_view path) {
  try {
    (void)registry.get<I>(name);
  } catch (const PluginError& e) {
    config_error(&node, path, e.what());
  }
}

// A table that names its plugin with `name_key` (arch, name) next to the plugin's options.
template <class I>
PluginChoice resolve_named(const Registry& registry, const toml::table& table, std::string_view path,
                           const std::string& name_key) {
  const std::string name_path = key_path(path, name_key);
  const toml::node* name_node = table.get(name_key);
  if (!name_node) {
    config_error(&table, name_path, fmt::format("missing: {} = \"<{}>\" chooses the plugin", name_key, I::kind),
                 known_plugins<I>(registry));
  }
  const std::string name = detail::read_string(*name_node, name_path, {});
  check_registered<I>(registry, name, *name_node, name_path);
  const SourcedCopy options(table, {name_key});
  return {name, resolve_plugin<I>(registry, name, options.table(), path), {}};
}

// A composite objective's tasks: `tasks` lists objective plugins, each configured by the
// sub-table of its name, so [objective.span_corruption] holds span_corruption's options.
PluginChoice resolve_composite(const Registry& registry, const toml::table& table, const std::string& name) {
  const std::string tasks_path = key_path("objective", "tasks");
  const toml::node* tasks_node = table.get("tasks");
  if (!tasks_node) {
    config_error(&table, tasks_path, fmt::format("missing: '{}' mixes the objectives listed in tasks", name),
                 known_plugins<Objective>(registry));
  }
  const std::vector<std::string> tasks = detail::read_string_list(*tasks_node, tasks_path);
  if (tasks.empty()) config_error(tasks_node, tasks_path, "lists no objective", known_plugins<Objective>(registry));
  PluginChoice choice{name, {}, {}};
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const std::string item_path = fmt::format("{}[{}]", tasks_path, i);
    const toml::node& item = *tasks_node->as_array()->get(i);
    check_registered<Objective>(registry, tasks[i], item, item_path);
    if (std::find(tasks.begin(), tasks.begin() + static_cast<std::ptrdiff_t>(i), tasks[i]) !=
        tasks.begin() + static_cast<std::ptrdiff_t>(i)) {
      config_error(&item, item_path, fmt::format("'{}' is listed twice", tasks[i]));
    }
    if (registry.get<Objective>(tasks[i]).info.traits.composite) {
      config_error(&item, item_path, fmt::format("'{}' is itself composite; list its tasks here instead", tasks[i]));
    }
    static const toml::table no_options;
    const std::string path = key_path("objective", tasks[i]);
    const toml::node* options = table.get(tasks[i]);
    const toml::table& user = options ? detail::read_table(*options, path) : no_options;
    choice.tasks.push_back({tasks[i], resolve_plugin<Objective>(registry, tasks[i], user, path), {}});
  }
  std::vector<std::string> drop = tasks;
  drop.push_back("name");
  const SourcedCopy options(table, drop);
  choice.options = resolve_plugin<Objective>(registry, name, options.table(), "objective");
  return choice;
}

template <class I>
PluginChoice resolve_required(const toml::table& config, const Registry& registry, const std::string& source,
                              const std::string& section_name, const std::string& name_key) {
  const toml::table* table = section(config, section_name);
  if (!table) {
    config_error_at(source, section_name,
                    fmt::format("missing [{}] section; it needs {} = \"<{}>\"", section_name, name_key, I::kind),
                    known_plugins<I>(registry));
  }
  if constexpr (std::is_same_v<I, Objective>) {
    const toml::node* name = table->get(name_key);
    const auto chosen = name ? name->value<std::string>() : std::nullopt;
    const auto known = registry.names<Objective>();
    if (chosen && std::find(known.begin(), known.end(), *chosen) != known.end() &&
        registry.get<Objective>(*chosen).info.traits.composite) {
      return resolve_composite(registry, *table, *chosen);
    }
  }
  return resolve_named<I>(registry, *table, section_name, name_key);
}

// data.tokenizer names the plugin and [tokenizer] holds its options, as [decoding] holds a
// step's: byte-level experiments, which have no options, keep the config (and hash) they had.
PluginChoice resolve_tokenizer(const toml::table& config, const Registry& registry, const std::string& name) {
  static const toml::table no_options;
  const toml::table* data = section(config, "data");
  const toml::node* name_node = data ? data->get("tokenizer") : nullptr;
  if (name_node) {
    check_registered<Tokenizer>(registry, name, *name_node, "data.tokenizer");
  } else {
    const auto known = registry.names<Tokenizer>();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      config_error(nullptr, "data.tokenizer",
                   fmt::format("the default tokenizer '{}' is not loaded", name), known_plugins<Tokenizer>(registry));
    }
  }
  const toml::table* options = section(config, "tokenizer");
  return {name, resolve_plugin<Tokenizer>(registry, name, options ? *options : no_options, "tokenizer"), {}};
}

std::vector<PluginChoice> resolve_regularisers(const toml::table& config, const Registry& registry) {
  const toml::node* node = config.get("regularisers");
  if (!node) return {};
  const toml::array& list = detail::read_array(*node, "regularisers", "an array of tables ([[regularisers]])");
  std::vector<PluginChoice> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = fmt::format("regularisers[{}]", i);
    out.push_back(resolve_named<Regulariser>(registry, detail::read_table(*list.get(i), path), path, "name"));
  }
  return out;
}

std::vector<std::string> default_chain(const Registry& registry) {
  const auto names = registry.names<DecodingStep>();
  if (std::find(names.begin(), names.end(), "greedy") != names.end()) return {"greedy"};
  return {};
}

// One chain: its steps from `chain_node` (or `fallback` when absent), each with its options table
// from `table`, which holds nothing else but `reserved` keys.
std::vector<PluginChoice> resolve_chain(const toml::table* table, const toml::node* chain_node,
                                        const std::vector<std::string>& fallback, const std::string& path,
                                        const std::vector<std::string>& reserved, const Registry& registry) {
  static const toml::table no_options;
  const std::string chain_path = key_path(path, "chain");
  const std::vector<std::string> chain = chain_node ? detail::read_string_list(*chain_node, chain_path) : fallback;
  // Steps first: a misspelt step would otherwise show up as its options table being an unknown key.
  for (std::size_t i = 0; chain_node && i < chain.size(); ++i) {
    check_registered<DecodingStep>(registry, chain[i], *chain_node->as_array()->get(i),
                                   fmt::format("{}[{}]", chain_path, i));
  }
  if (table) detail::check_keys(*table, path, chain, reserved);
  std::vector<PluginChoice> out;
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const std::string& step = chain[i];
    const std::string step_path = key_path(path, step);
    const toml::node* options = table ? table->get(step) : nullptr;
    const toml::table& user = options ? detail::read_table(*options, step_path) : no_options;
    out.push_back({step, resolve_plugin<DecodingStep>(registry, step, user, step_path), {}});
  }
  return out;
}

// A configuration's name becomes part of run-file rows and file names: short and plain.
bool plain_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

// [decoding] chain = [...] with a table per step, and any number of [[decoding.eval]] tables,
// each a named configuration (name, chain, a table per step). Without [[decoding.eval]], the
// chain defaults to greedy; with them, [decoding].chain runs only when given.
void resolve_decoding(const toml::table& config, const Registry& registry, Experiment& e) {
  const toml::table* table = section(config, "decoding");
  const toml::node* chain_node = table ? table->get("chain") : nullptr;
  const toml::node* eval_node = table ? table->get("eval") : nullptr;
  const std::vector<std::string> fallback = eval_node ? std::vector<std::string>{} : default_chain(registry);
  e.decoding = resolve_chain(table, chain_node, fallback, "decoding", {"chain", "eval"}, registry);
  if (!eval_node) return;
  const toml::array& list = detail::read_array(*eval_node, "decoding.eval", "an array of tables ([[decoding.eval]])");
  std::vector<std::string> names;
  if (!e.decoding.empty()) names.push_back("default");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = fmt::format("decoding.eval[{}]", i);
    const toml::table& entry = detail::read_table(*list.get(i), path);
    const toml::node* name_node = entry.get("name");
    const toml::node* chain = entry.get("chain");
    if (!name_node || !chain) {
      config_error(&entry, path, "each [[decoding.eval]] needs a `name` and a `chain`",
                   "name = \"...\", chain = [\"step\", ..., \"greedy\"]");
    }
    const std::string name = detail::read_string(*name_node, key_path(path, "name"), {});
    if (!plain_name(name)) {
      config_error(name_node, key_path(path, "name"),
                   fmt::format("{} is not a plain name: use 1-64 letters, digits, '_', '-' or '.'",
                               quote_bounded(name)));
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      config_error(name_node, key_path(path, "name"),
                   fmt::format("{} is taken ('default' is [decoding].chain's when it is given)", quote_bounded(name)),
                   "a name not among: " + join(names));
    }
    names.push_back(name);
    e.decoding_eval.push_back({name, resolve_chain(&entry, chain, {}, path, {"name", "chain"}, registry)});
  }
}

// [metrics] names = [...] with an options table per metric; without `names`, every loaded metric
// with its defaults.
std::vector<PluginChoice> resolve_metrics(const toml::table& config, const Registry& registry) {
  static const toml::table no_options;
  const toml::table* table = section(config, "metrics");
  const toml::node* names_node = table ? table->get("names") : nullptr;
  const std::vector<std::string> names =
      names_node ? detail::read_string_list(*names_node, "metrics.names") : registry.names<Metric>();
  // Names first: a misspelt metric would otherwise show up as its options table being an unknown key.
  for (std::size_t i = 0; names_node && i < names.size(); ++i) {
    check_registered<Metric>(registry, names[i], *names_node->as_array()->get(i), fmt::format("metrics.names[{}]", i));
  }
  if (table) detail::check_keys(*table, "metrics", names, {"names"});
  std::vector<PluginChoice> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names_node) {
      const auto before = names.begin() + static_cast<std::ptrdiff_t>(i);
      if (std::find(names.begin(), before, names[i]) != before) {
        config_error(names_node->as_array()->get(i), fmt::format("metrics.names[{}]", i),
                     fmt::format("'{}' is listed twice", names[i]));
      }
    }
    const std::string path = key_path("metrics", names[i]);
    const toml::node* options = table ? table->get(names[i]) : nullptr;
    const toml::table& user = options ? detail::read_table(*options, path) : no_options;
    out.push_back({names[i], resolve_plugin<Metric>(registry, names[i], user, path), {}});
  }
  return out;
}

toml::table with_name(const PluginChoice& choice, const std::string& name_key) {
  toml::table out = choice.options;
  out.insert_or_assign(name_key, choice.name);
  for (const auto& task : choice.tasks) out.insert_or_assign(task.name, task.options);
  return out;
}

toml::table resolved_table(const Experiment& e) {
  toml::table out;
  out.insert("experiment", experiment_options().to_toml(e.experiment));
  out.insert("data", data_options().to_toml(e.data));
  out.insert("train", detail::resolved_train(e.train));
  out.insert("eval", eval_options().to_toml(e.eval));
  out.insert("model", with_name(e.model, "arch"));
  out.insert("objective", with_name(e.objective, "name"));
  if (!e.tokenizer.options.empty()) out.insert("tokenizer", e.tokenizer.options);
  toml::array regularisers;
  for (const auto& r : e.regularisers) regularisers.push_back(with_name(r, "name"));
  out.insert("regularisers", std::move(regularisers));
  const auto chain_table = [](const std::vector<PluginChoice>& steps) {
    toml::table t;
    toml::array chain;
    for (const auto& step : steps) {
      chain.push_back(step.name);
      t.insert_or_assign(step.name, step.options);
    }
    t.insert_or_assign("chain", std::move(chain));
    return t;
  };
  toml::table metrics;
  toml::array metric_names;
  for (const auto& m : e.metrics) {
    metric_names.push_back(m.name);
    metrics.insert_or_assign(m.name, m.options);
  }
  metrics.insert_or_assign("names", std::move(metric_names));
  out.insert("metrics", std::move(metrics));
  toml::table decoding = chain_table(e.decoding);
  if (!e.decoding_eval.empty()) {
    toml::array configurations;
    for (const auto& d : e.decoding_eval) {
      toml::table t = chain_table(d.chain);
      t.insert_or_assign("name", d.name);
      configurations.push_back(std::move(t));
    }
    decoding.insert_or_assign("eval", std::move(configurations));
  }
  out.insert("decoding", std::move(decoding));
  return out;
}

}  // namespace

Experiment resolve_experiment(const toml::table& config, const Registry& registry, const std::string& source,
                              std::int64_t world_size) {
  check_sections(config);
  (void)expand_sweep(config);  // checks the shape of [sweep]
  detail::check_sweep_axes(config, registry);
  (void)read_slurm(config);    // checked here; not part of the run (where a run executes is not what it is)
  (void)read_expectations(config);  // likewise: what is expected of a run does not change it
  Experiment e;
  e.source = source;
  e.experiment = parse_experiment_section(config);
  e.data = parse_section(config, "data", data_options());
  e.train = parse_section(config, "train", train_options());
  detail::split_global_batch(config, e.train, world_size);
  e.eval = parse_section(config, "eval", eval_options());
  e.distributed = parse_section(config, "distributed", detail::distributed_options());
  e.world_size = world_size;
  e.tokenizer = resolve_tokenizer(config, registry, e.data.tokenizer);
  e.model = resolve_required<Architecture>(config, registry, source, "model", "arch");
  e.objective = resolve_required<Objective>(config, registry, source, "objective", "name");
  e.regularisers = resolve_regularisers(config, registry);
  e.metrics = resolve_metrics(config, registry);
  resolve_decoding(config, registry, e);
  e.resolved = resolved_table(e);

  e.config_hash = hash_text(detail::identity_text(e, world_size));
  e.run_name = fmt::format("seed{}-{}", e.experiment.seed, e.config_hash.substr(0, 8));
  return e;
}

}  // namespace lmlab
