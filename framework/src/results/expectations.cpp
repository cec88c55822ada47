#include "results/expectations.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "experiment/sweep.hpp"
#include "lmlab/error.hpp"
#include "lmlab/options.hpp"
#include "results/run_reader.hpp"
#include "util/format.hpp"
#include "util/suggest.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

const std::vector<std::string> expect_keys{"claim", "metric", "runs", "below", "above", "by", "per_seed", "min", "max"};

// `reference_metric`, where given, takes a `metric` key (below/above only).
RunSelector read_selector(const toml::node& node, const std::string& path, std::string* reference_metric = nullptr) {
  RunSelector out;
  for (const auto& [key, value] : detail::read_table(node, path)) {
    if (reference_metric && key.str() == "metric") {
      *reference_metric = detail::read_string(value, key_path(path, "metric"), {});
      if (reference_metric->empty()) config_error(&value, key_path(path, "metric"), "is empty");
      continue;
    }
    if (value.is_table()) {
      config_error(&value, key_path(path, key.str()), "a selector value is one axis value",
                   "a string, number, boolean or array, e.g. arm = \"mle\", \"model.n_layers\" = 4 or "
                   "\"decoding.chain\" = [\"greedy\"]");
    }
    out.emplace_back(std::string(key.str()), detail::axis_value_label(value));
  }
  return out;
}

std::string describe(const RunSelector& s) {
  if (s.empty()) return "every run";
  std::vector<std::string> parts;
  for (const auto& [axis, value] : s) parts.push_back(fmt::format("{}={}", axis, value));
  return fmt::format("{}", fmt::join(parts, ","));
}

bool matches(const RunRecord& run, const RunSelector& s) {
  for (const auto& [axis, value] : s) {
    if (axis == "seed") {
      if (std::to_string(run.seed) != value) return false;
      continue;
    }
    const auto it = std::find_if(run.axes.begin(), run.axes.end(), [&](const auto& a) { return a.first == axis; });
    if (it == run.axes.end() || it->second != value) return false;
  }
  return true;
}

std::vector<const RunRecord*> select(const std::vector<RunRecord>& runs, const RunSelector& s) {
  std::vector<const RunRecord*> out;
  for (const auto& r : runs) {
    if (r.is(RunStatus::complete) && !r.superseded && matches(r, s)) out.push_back(&r);
  }
  return out;
}

Verdict cannot_judge(std::string why) { return Verdict{false, {std::move(why)}}; }

// The one run of each seed a selector picks; two runs of one seed make a comparison ambiguous.
std::optional<std::map<std::int64_t, const RunRecord*>> by_seed(const std::vector<const RunRecord*>& runs,
                                                                const RunSelector& s, Verdict& verdict) {
  std::map<std::int64_t, const RunRecord*> out;
  for (const RunRecord* r : runs) {
    if (auto [it, fresh] = out.emplace(r->seed, r); !fresh) {
      verdict.evidence.push_back(fmt::format("{} matches two runs of seed {} ({} and {}); name more axes to tell them apart",
                                             describe(s), r->seed, it->second->name, r->name));
      return std::nullopt;
    }
  }
  return out;
}

// value + by <= reference (below) or value >= reference + by (above).
bool clears(double value, double reference, double by, bool below) {
  return below ? value + by <= reference : value >= reference + by;
}

const std::string& reference_metric(const Expectation& e) { return e.reference_metric.empty() ? e.metric : e.reference_metric; }

// "runs" or "runs' <metric>" for evidence lines, when the two sides compare different values.
std::string side_name(const Expectation& e, const RunSelector& s, bool reference) {
  if (e.reference_metric.empty()) return describe(s);
  return fmt::format("{} {}", describe(s), reference ? e.reference_metric : e.metric);
}

Verdict judge_comparison(const Expectation& e, const std::vector<RunRecord>& runs) {
  const bool below = e.below.has_value();
  const RunSelector& reference = below ? *e.below : *e.above;
  const auto ours = select(runs, e.runs), theirs = select(runs, reference);
  if (ours.empty()) return cannot_judge(fmt::format("no complete run matches {}", describe(e.runs)));
  if (theirs.empty()) return cannot_judge(fmt::format("no complete run matches {}", describe(reference)));
  const std::string need = fmt::format("need a difference {} {}", below ? "<=" : ">=", format_value(below ? -e.by : e.by));
  Verdict v;
  if (e.same_runs && e.per_seed) {
    // Two values of each run: every run must clear the margin on its own.
    v.holds = true;
    for (const RunRecord* run : ours) {
      const double a = run->final_value(e.metric), b = run->final_value(e.reference_metric);
      const bool ok = std::isfinite(a) && std::isfinite(b) && clears(a, b, e.by, below);
      v.holds = v.holds && ok;
      v.evidence.push_back(fmt::format("{}: {} vs {} (difference {}){}", run->name, format_value(a), format_value(b),
                                       format_value(a - b), ok ? "" : "  <- fails"));
    }
    v.evidence.push_back(fmt::format("{} minus {}: {} in every run", e.metric, e.reference_metric, need));
    return v;
  }
  if (!e.per_seed) {
    double a = 0, b = 0;
    for (const RunRecord* r : ours) a += r->final_value(e.metric) / static_cast<double>(ours.size());
    for (const RunRecord* r : theirs) b += r->final_value(reference_metric(e)) / static_cast<double>(theirs.size());
    v.holds = std::isfinite(a) && std::isfinite(b) && clears(a, b, e.by, below);
    v.evidence.push_back(fmt::format("mean over {} run(s) {} vs {} run(s) {}: {} vs {} (difference {}); {}", ours.size(),
                                     side_name(e, e.runs, false), theirs.size(), side_name(e, reference, true), format_value(a),
                                     format_value(b), format_value(a - b), need));
    return v;
  }
  const auto mine = by_seed(ours, e.runs, v), other = by_seed(theirs, reference, v);
  if (!mine || !other) return v;
  v.holds = true;
  for (const auto& [seed, run] : *mine) {
    const auto it = other->find(seed);
    if (it == other->end()) {
      v.holds = false;
      v.evidence.push_back(fmt::format("seed {}: no run of {} to compare with", seed, describe(reference)));
      continue;
    }
    const double a = run->final_value(e.metric), b = it->second->final_value(reference_metric(e));
    const bool ok = std::isfinite(a) && std::isfinite(b) && clears(a, b, e.by, below);
    v.holds = v.holds && ok;
    v.evidence.push_back(fmt::format("seed {}: {} vs {} (difference {}){}", seed, format_value(a), format_value(b),
                                     format_value(a - b), ok ? "" : "  <- fails"));
  }
  for (const auto& [seed, run] : *other) {
    if (!mine->count(seed)) {
      v.holds = false;
      v.evidence.push_back(fmt::format("seed {}: no run of {} to compare", seed, describe(e.runs)));
    }
  }
  v.evidence.push_back(fmt::format("{} minus {}: {} in every seed", side_name(e, e.runs, false),
                                   side_name(e, reference, true), need));
  return v;
}

Verdict judge_bounds(const Expectation& e, const std::vector<RunRecord>& runs) {
  const auto ours = select(runs, e.runs);
  if (ours.empty()) return cannot_judge(fmt::format("no complete run matches {}", describe(e.runs)));
  Verdict v{true, {}};
  for (const RunRecord* r : ours) {
    const double x = r->final_value(e.metric);
    const bool ok = std::isfinite(x) && (!e.min || x >= *e.min) && (!e.max || x <= *e.max);
    v.holds = v.holds && ok;
    v.evidence.push_back(fmt::format("{}: {}{}", r->name, format_value(x), ok ? "" : "  <- fails"));
  }
  v.evidence.push_back(fmt::format("need {}{}{}", e.min ? fmt::format(">= {}", format_value(*e.min)) : "",
                                   e.min && e.max ? " and " : "", e.max ? fmt::format("<= {}", format_value(*e.max)) : ""));
  return v;
}

}  // namespace

std::vector<Expectation> read_expectations(const toml::table& config) {
  const toml::node* node = config.get("expect");
  if (!node) return {};
  const toml::array& entries = detail::read_array(*node, "expect", "an array of tables ([[expect]])");
  std::vector<Expectation> out;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string path = fmt::format("expect[{}]", i);
    const toml::table& t = detail::read_table(*entries.get(i), path);
    detail::check_keys(t, path, expect_keys, {});
    Expectation e;
    e.where = where(t);
    const auto required_string = [&](const char* key) {
      const toml::node* n = t.get(key);
      if (!n) config_error(&t, path, fmt::format("has no {}", key), fmt::format("{} = \"...\"", key));
      std::string s = detail::read_string(*n, key_path(path, key), {});
      if (s.empty()) config_error(n, key_path(path, key), "is empty");
      return s;
    };
    e.claim = required_string("claim");
    e.metric = required_string("metric");
    if (const toml::node* n = t.get("runs")) e.runs = read_selector(*n, key_path(path, "runs"));
    for (const char* side : {"below", "above"}) {
      const toml::node* n = t.get(side);
      if (!n) continue;
      RunSelector s = read_selector(*n, key_path(path, side), &e.reference_metric);
      // Only another metric named: each run is its own reference.
      if (s.empty() && !e.reference_metric.empty()) {
        s = e.runs;
        e.same_runs = true;
      }
      (std::string_view(side) == "below" ? e.below : e.above) = std::move(s);
    }
    if (const toml::node* n = t.get("by")) e.by = detail::read_float(*n, key_path(path, "by"), {.min = 0.0});
    if (const toml::node* n = t.get("per_seed")) e.per_seed = detail::read_bool(*n, key_path(path, "per_seed"));
    if (const toml::node* n = t.get("min")) e.min = detail::read_float(*n, key_path(path, "min"), {});
    if (const toml::node* n = t.get("max")) e.max = detail::read_float(*n, key_path(path, "max"), {});
    const bool comparison = e.below || e.above, bounds = e.min || e.max;
    if (e.below && e.above) config_error(&t, path, "has both below and above", "one of them");
    if (comparison == bounds) {
      config_error(&t, path,
                   comparison ? "mixes a comparison (below/above) with bounds (min/max); write two entries"
                              : "says nothing to check",
                   "below = { axis = value } or above = {...} with by = margin, or min = x and/or max = y");
    }
    if (!comparison && (t.get("by") || t.get("per_seed"))) {
      config_error(t.get("by") ? t.get("by") : t.get("per_seed"), path, "by and per_seed belong to a comparison",
                   "below = {...} or above = {...}");
    }
    if (e.min && e.max && *e.min > *e.max) config_error(t.get("min"), key_path(path, "min"), "is above max");
    out.push_back(std::move(e));
  }
  return out;
}

// --metrics-only: every selected run, on each side, reports the metric (NaN included).
Verdict judge_presence(const Expectation& e, const std::vector<RunRecord>& runs) {
  std::vector<std::pair<RunSelector, std::string>> sides{{e.runs, e.metric}};
  if (e.below) sides.emplace_back(*e.below, reference_metric(e));
  if (e.above) sides.emplace_back(*e.above, reference_metric(e));
  Verdict v{true, {}};
  for (const auto& [side, metric] : sides) {
    const auto chosen = select(runs, side);
    if (chosen.empty()) return cannot_judge(fmt::format("no complete run matches {}", describe(side)));
    for (const RunRecord* r : chosen) {
      const bool has = std::any_of(r->finals.begin(), r->finals.end(), [&](const auto& f) { return f.first == metric; });
      v.holds = v.holds && has;
      if (!has) v.evidence.push_back(fmt::format("{}: does not report {}  <- fails", r->name, metric));
    }
    v.evidence.push_back(fmt::format("{}, {}: {} run(s) report it; values not judged (--metrics-only)", describe(side),
                                     metric, chosen.size()));
  }
  return v;
}

Verdict judge(const Expectation& e, const std::vector<RunRecord>& runs, bool metrics_only) {
  // A metric no run reports is a typo or a plugin that was not used: say which names exist.
  std::set<std::string> known;
  for (const auto& r : runs) {
    for (const auto& [name, value] : r.finals) known.insert(name);
  }
  for (const std::string& metric : {e.metric, reference_metric(e)}) {
    if (!runs.empty() && !known.count(metric)) {
      const std::vector<std::string> names(known.begin(), known.end());
      const auto best = closest_match(metric, names);
      return cannot_judge(fmt::format("no run reports {}{}", metric,
                                      best ? fmt::format(" (did you mean {}?)", *best) : std::string()));
    }
  }
  if (metrics_only) return judge_presence(e, runs);
  return e.below || e.above ? judge_comparison(e, runs) : judge_bounds(e, runs);
}

int check_expectations(const std::vector<Expectation>& expectations, const std::vector<RunRecord>& runs,
                       std::ostream& out, bool metrics_only) {
  int failed = 0;
  for (const auto& e : expectations) {
    const Verdict v = judge(e, runs, metrics_only);
    failed += v.holds ? 0 : 1;
    out << fmt::format("{}  {}\n      {} ({})\n", v.holds ? "PASS" : "FAIL", e.claim, e.metric, e.where);
    for (const auto& line : v.evidence) out << "      " << line << '\n';
  }
  out << fmt::format("{} of {} expectation(s) hold\n", expectations.size() - static_cast<std::size_t>(failed),
                     expectations.size());
  return failed;
}

fs::path experiment_file_of(const fs::path& folder) {
  const RunRecord* latest = nullptr;
  const std::vector<RunRecord> runs = scan_runs(folder);
  for (const auto& r : runs) {
    if (r.status != "unreadable" && (!latest || r.start_time > latest->start_time)) latest = &r;
  }
  if (!latest) throw DataError(fmt::format("{} holds no readable run file; pass the experiment file instead", folder.string()));
  const auto source = RunReader(latest->file).attribute("source");
  std::error_code ec;
  if (!source || source->empty() || !fs::is_regular_file(*source, ec)) {
    throw DataError(fmt::format("{}: its latest run {} was made from {}, which is not a file here; pass the "
                                "experiment file with --file",
                                folder.string(), latest->name, source ? *source : std::string("an unrecorded file")));
  }
  return *source;
}

}  // namespace lmlab
