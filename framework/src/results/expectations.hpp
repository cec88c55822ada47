/// An experiment's expectations, `[[expect]]`: the directional claims a reproduction makes
/// ("unlikelihood's greedy seq-rep-4 is below MLE's by at least 0.05 in every seed") and sanity
/// bounds ("validation perplexity between 1 and 20"), checked against the final values of its
/// run files by `lmlab check`, so that a regression that reverses a published effect fails
/// loudly. [[expect]] is not part of any run's config: what is expected of a run does not change
/// what it is, and editing a claim must not start the runs again.
#pragma once
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "results/experiment_index.hpp"

namespace lmlab {

/// Which runs: sweep axes and their values ("arm" = "ul", "model.n_layers" = 4, "seed" = 2),
/// each as the run file records it. Empty: every run.
using RunSelector = std::vector<std::pair<std::string, std::string>>;

/// One [[expect]] entry. It is a comparison (`below` or `above` another set of runs, by at least
/// `by`) or a bound (`min`, `max` on every selected run), never both. A comparison's table may
/// name another metric (`below = { metric = "generation.nucleus.perplexity" }`): without axes,
/// each selected run's own value of that metric is the reference ("greedy text is likelier than
/// nucleus text, in every run").
struct Expectation {
  std::string claim;               // what it says, printed with its verdict
  std::string metric;              // a final value as the index names it: "eval.val_ppl", "generation.greedy.words.seq_rep_4"
  RunSelector runs;                // the runs the claim is about
  std::optional<RunSelector> below, above;  // the runs they are compared with
  std::string reference_metric;    // the value compared with, when not `metric` (`below = { metric = "..." }`)
  bool same_runs = false;          // the reference names no axes: each run is compared with itself
  double by = 0.0;                 // the margin a comparison must clear
  bool per_seed = true;            // a comparison holds in every seed (paired by seed), else for the means over seeds
  std::optional<double> min, max;  // bounds every selected run must meet
  std::string where;               // file:line of the entry, for messages
};

/// The [[expect]] entries of an experiment file, validated: unknown keys, wrong types, a missing
/// claim or metric, a comparison mixed with bounds, or neither, are ConfigErrors naming the file,
/// line, key and what is accepted. None: an empty list.
std::vector<Expectation> read_expectations(const toml::table& config);

/// One expectation's verdict, with the values it was judged on.
struct Verdict {
  bool holds = false;
  std::vector<std::string> evidence;  // one line per seed, or per run for bounds, or the reason it could not be judged
};

/// Judges `e` on the complete, current (not superseded) runs among `runs`. A metric no run has,
/// a selector that matches nothing, or a seed without its counterpart fails the claim, saying so.
/// `metrics_only`: the claim holds when every run it selects, on both sides, reports its metric,
/// whatever the values (for scaled-down runs too small to show the effect).
Verdict judge(const Expectation& e, const std::vector<RunRecord>& runs, bool metrics_only = false);

/// `lmlab check`: judges every expectation, prints "PASS"/"FAIL", the claim and its evidence,
/// then a total; returns the number that failed.
int check_expectations(const std::vector<Expectation>& expectations, const std::vector<RunRecord>& runs,
                       std::ostream& out, bool metrics_only = false);

/// The experiment file a results folder's runs were made from: the `source` of its most recently
/// started run. Throws DataError when no run records one that exists.
std::filesystem::path experiment_file_of(const std::filesystem::path& results_folder);

}  // namespace lmlab
