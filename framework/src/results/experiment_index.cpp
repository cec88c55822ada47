#include "results/experiment_index.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include "experiment/toml_limits.hpp"
#include "experiment/config.hpp"
#include "lmlab/error.hpp"
#include "results/grad_flow.hpp"
#include "results/run_file.hpp"
#include "results/run_reader.hpp"
#include "util/run_lock.hpp"

namespace lmlab {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr const char* kIndexName = "index.h5";

// The last value of every numeric column of `group` but `step`, as `prefix.<column>`.
void add_finals(const RunReader& run, const std::string& group, const std::string& prefix, RunRecord& record) {
  if (!run.exists(group)) return;
  for (const std::string& column : run.datasets(group)) {
    if (column == "step" || run.is_text(group + "/" + column)) continue;
    const std::vector<double> values = run.floats(group + "/" + column);
    if (!values.empty()) record.finals.emplace_back(prefix + "." + column, values.back());
  }
}

// Runs written before run files recorded their sweep point: the run name holds it,
// "n_layers=2,seed=1-<hash>".
void axes_from_name(RunRecord& record) {
  const std::size_t dash = record.name.rfind('-');
  if (dash == std::string::npos) return;
  const std::string label = record.name.substr(0, dash);
  std::size_t start = 0;
  while (start < label.size()) {
    const std::size_t comma = std::min(label.find(',', start), label.size());
    const std::string part = label.substr(start, comma - start);
    const std::size_t eq = part.find('=');
    if (eq != std::string::npos && part.substr(0, eq) != "seed") record.axes.emplace_back(part.substr(0, eq), part.substr(eq + 1));
    start = comma + 1;
  }
}

RunRecord read_record(const fs::path& file) {
  RunRecord record;
  record.name = file.stem().string();
  record.file = file;
  RunReader run(file);
  const auto attributes = run.attributes();
  const auto attribute = [&](const std::string& name) {
    const auto it = attributes.find(name);
    return it == attributes.end() ? std::string() : it->second;
  };
  if (!attributes.count("config_hash")) throw DataError("run file " + file.string() + " is not an lmlab run file (no config_hash)");
  record.status = attribute("status");
  record.config_hash = attribute("config_hash");
  record.start_time = attribute("start_time");
  if (attributes.count("config")) {
    toml::table config = parse_toml(attribute("config"), file.string() + ":config");
    if (auto* experiment = config["experiment"].as_table()) experiment->erase("seed");
    // A run that starts from another run's checkpoint names a different base run in each seed;
    // scan_runs puts the base run's own variant in its place.
    if (auto* train = config["train"].as_table()) {
      train->erase("init_from");
      // A batch stated over all processes is the same variant as that batch given per process to
      // one (the run identity's rule, experiment/run_identity.hpp).
      if (const auto global = (*train)["global_batch_size"].value<std::int64_t>()) {
        train->insert_or_assign("batch_size", *global);
        train->erase("global_batch_size");
      }
    }
    std::ostringstream text;
    text << config;
    record.variant = hash_text(text.str()).substr(0, 8);
  }
  record.status_reason = attribute("status_reason");
  if (attributes.count("seed")) {
    record.seed = std::stoll(attribute("seed"));
  } else if (const auto seed = parse_toml(attribute("config"), file.string() + ":config")["experiment"]["seed"].value<std::int64_t>()) {
    record.seed = *seed;
  }
  if (attributes.count("sweep_point")) {
    for (const auto& [name, value] : attributes) {
      if (name.rfind("sweep.", 0) == 0 && name != "sweep.experiment.seed") record.axes.emplace_back(name.substr(6), value);
    }
  } else {
    axes_from_name(record);
  }
  std::vector<std::string> labels;
  for (const auto& [axis, value] : record.axes) labels.push_back(axis.substr(axis.rfind('.') + 1) + "=" + value);
  record.sweep_point = fmt::format("{}", fmt::join(labels, ","));
  if (run.exists("train/step")) {
    const auto steps = run.ints("train/step");
    if (!steps.empty()) record.steps = steps.back();
  }
  add_finals(run, "train", "train", record);
  add_finals(run, "eval", "eval", record);
  if (run.exists("generation")) {
    for (const std::string& decoding : run.groups("generation")) {
      add_finals(run, "generation/" + decoding + "/metrics", "generation." + decoding, record);
    }
  }
  for (const GradFlow& flow : read_grad_flow(run)) {
    for (const auto& [name, value] : grad_flow_summary(flow)) {
      record.finals.emplace_back(grad_flow_group(flow.source) + "." + name, value);
    }
  }
  if (attributes.count("model.parameters")) record.finals.emplace_back("parameters", std::stod(attribute("model.parameters")));
  return record;
}

}  // namespace

double RunRecord::final_value(const std::string& metric) const {
  for (const auto& [name, value] : finals) {
    if (name == metric) return value;
  }
  return kNaN;
}

std::vector<RunRecord> scan_runs(const fs::path& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw DataError("results folder " + folder.string() + " does not exist");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const fs::path& p = entry.path();
    if (entry.is_regular_file() && p.extension() == ".h5" && p.filename() != kIndexName) files.push_back(p);
  }
  std::sort(files.begin(), files.end());
  std::vector<RunRecord> runs;
  for (const fs::path& file : files) {
    try {
      runs.push_back(read_record(file));
    } catch (const std::exception& e) {
      RunRecord broken;
      broken.name = file.stem().string();
      broken.file = file;
      broken.status = "unreadable";
      broken.status_reason = e.what();
      runs.push_back(std::move(broken));
    }
  }
  // Runs that started from another run of this folder (train.init_from = its checkpoint) take
  // that run's variant into theirs: the same base configuration in every seed is one variant,
  // and a changed base makes the runs started from it a new one. Chains resolve in passes.
  std::map<std::string, RunRecord*> by_name;
  std::map<RunRecord*, std::string> base_of;
  for (RunRecord& run : runs) {
    by_name[run.name] = &run;
    if (run.status == "unreadable") continue;
    const auto config = RunReader(run.file).attribute("config");
    const auto from =
        config ? parse_toml(*config, run.file.string() + ":config")["train"]["init_from"].value<std::string>() : std::nullopt;
    if (from && !from->empty()) base_of[&run] = fs::path(*from).stem().string();  // run names are unique in a folder
  }
  for (std::size_t pass = 0; pass < base_of.size(); ++pass) {
    for (auto& [run, base] : base_of) {
      const auto it = by_name.find(base);
      if (it == by_name.end() || base_of.count(it->second)) continue;  // not here, or itself waiting on its base
      run->variant = hash_text(run->variant + "+" + it->second->variant).substr(0, 8);
    }
    std::erase_if(base_of, [&](const auto& entry) {
      const auto it = by_name.find(entry.second);
      return it == by_name.end() || !base_of.count(it->second);
    });
  }
  // Per sweep point, the configuration of its latest run (ISO 8601 times compare as text).
  std::map<std::string, const RunRecord*> latest;
  for (const RunRecord& run : runs) {
    if (run.status == "unreadable") continue;
    const RunRecord*& l = latest[run.sweep_point];
    if (!l || run.start_time > l->start_time) l = &run;
  }
  for (RunRecord& run : runs) {
    if (run.status != "unreadable") run.superseded = run.variant != latest.at(run.sweep_point)->variant;
  }
  return runs;
}

void write_index(const fs::path& folder, const std::vector<RunRecord>& runs) {
  // Every row has every column: the union of the runs' axes and final metrics, in first-seen order.
  std::vector<std::string> axes, metrics;
  for (const RunRecord& run : runs) {
    for (const auto& [axis, value] : run.axes) {
      if (std::find(axes.begin(), axes.end(), axis) == axes.end()) axes.push_back(axis);
    }
    for (const auto& [metric, value] : run.finals) {
      if (std::find(metrics.begin(), metrics.end(), metric) == metrics.end()) metrics.push_back(metric);
    }
  }
  const fs::path index = folder / kIndexName;
  // Unique across the machines of a cluster writing to one shared folder.
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  const fs::path temporary =
      folder / fmt::format(".{}.{}.{}.{}.tmp", kIndexName, host, ::getpid(),
                           std::chrono::steady_clock::now().time_since_epoch().count());
  try {
    RunFile file = RunFile::create(temporary);
    file.set_attribute("experiment", folder.filename().string());
    file.set_attribute("runs", static_cast<std::int64_t>(runs.size()));
    for (const RunRecord& run : runs) {
      // Relative, so the folder can move; HDF5 looks beside the index first.
      file.link_external("runs/" + run.name, run.file.filename().string());
      RunFile::Row row{{"run", run.name},
                       {"file", run.file.filename().string()},
                       {"status", run.status},
                       {"status_reason", run.status_reason},
                       {"seed", run.seed},
                       {"config_hash", run.config_hash},
                       {"variant", run.variant},
                       {"superseded", std::int64_t{run.superseded}},
                       {"sweep_point", run.sweep_point},
                       {"steps", run.steps}};
      for (const std::string& axis : axes) {
        const auto it = std::find_if(run.axes.begin(), run.axes.end(), [&](const auto& a) { return a.first == axis; });
        row.emplace_back("sweep." + axis, it == run.axes.end() ? std::string() : it->second);
      }
      for (const std::string& metric : metrics) row.emplace_back(metric, run.final_value(metric));
      file.append("summary", row);
    }
    file.flush();
  } catch (...) {
    std::error_code ec;
    fs::remove(temporary, ec);
    throw;
  }
  fs::rename(temporary, index);
}

std::vector<RunRecord> rebuild_index(const fs::path& folder) {
  // One writer of the index at a time (shards and runs ending together, `lmlab index` beside a
  // sweep); each rebuild is short, so the next one waits for it rather than giving up.
  if (!fs::is_directory(folder)) throw DataError("results folder " + folder.string() + " does not exist");
  const RunLock lock = RunLock::acquire(folder / "index.h5.lock", "the index of " + folder.string(),
                                        "Another lmlab is rebuilding it; run the command again once that one ends.",
                                        &std::cerr, std::chrono::seconds(60));
  std::vector<RunRecord> runs = scan_runs(folder);
  write_index(folder, runs);
  return runs;
}

}  // namespace lmlab
