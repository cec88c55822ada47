/// A seeded mutator of experiment files, for fuzzing the experiment loader: from a corpus of
/// real files (experiments/*.toml), each input is one of them changed by one to four edits that
/// a careless hand, a broken disk or a hostile user makes: bytes flipped, lines deleted,
/// repeated or spliced in from another file, the text cut short, TOML punctuation, extreme
/// numbers and control bytes inserted, keys nested tens of thousands deep, huge values.
/// Deterministic: the same corpus and seed give the same inputs on every machine (a std::mt19937_64
/// drives every choice; no std:: distribution, whose results vary by library).
#pragma once
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "lmlab/plugin_loader.hpp"
#include "lmlab/registry.hpp"

namespace lmlab::test {

class ExperimentMutator {
 public:
  ExperimentMutator(std::vector<std::string> corpus, std::uint64_t seed);
  /// The next input.
  std::string next();

 private:
  std::uint64_t below(std::uint64_t n);  // uniform in [0, n), n > 0
  std::string mutate_once(std::string text);
  std::vector<std::string> corpus_;
  std::mt19937_64 rng_;
};

/// The shipped experiment files, the mutator's corpus.
std::vector<std::string> shipped_experiments();

/// What loading one input did.
struct LoadOutcome {
  enum Kind { accepted, refused, escaped } kind = accepted;
  std::string message;  // a refusal's message, or what escaped (type and message)
};

/// Writes `text` to `folder`/fuzz.toml (beside copies of the files it may name as its base) and
/// loads it as `lmlab validate` does. `refused` is an lmlab::Error, the loader's way to say no;
/// `escaped` is anything else thrown, which the loader must never let out.
LoadOutcome load_input(const std::string& text, const std::filesystem::path& folder, PluginLoader& loader,
                       const Registry& registry);

}  // namespace lmlab::test
