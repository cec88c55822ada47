#include "support/experiment_mutator.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <typeinfo>

#include "experiment/experiment_loader.hpp"
#include "generated/test_paths.hpp"
#include "lmlab/error.hpp"

namespace lmlab::test {

namespace {

// Text a mutation inserts: TOML's punctuation, values at and past the limits of their types,
// and bytes no editor writes.
const std::array<std::string, 24> fragments = {
    "=", "[", "]", "{", "}", "\"", "'''", "\"\"\"", ",", ".", "#", "\n[a.b.c]\n", "\n[[decoding.eval]]\n",
    " inf", " nan", " -inf", " 99999999999999999999", " 1e309", " -9223372036854775809", std::string(1, '\0'),
    "\xff\xfe", "\r", "\\u0000", " \"../../escaped\"",
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

ExperimentMutator::ExperimentMutator(std::vector<std::string> corpus, std::uint64_t seed)
    : corpus_(std::move(corpus)), rng_(seed) {
  if (corpus_.empty()) throw std::invalid_argument("ExperimentMutator: an empty corpus");
}

std::uint64_t ExperimentMutator::below(std::uint64_t n) { return rng_() % n; }

std::string ExperimentMutator::next() {
  std::string text = corpus_[below(corpus_.size())];
  const std::uint64_t edits = 1 + below(4);
  for (std::uint64_t i = 0; i < edits; ++i) text = mutate_once(std::move(text));
  return text;
}

std::string ExperimentMutator::mutate_once(std::string text) {
  std::vector<std::string> lines = lines_of(text);
  const auto at = [&] { return text.empty() ? 0 : below(text.size() + 1); };
  switch (below(10)) {
    case 0:  // flip a byte
      if (!text.empty()) text[below(text.size())] ^= static_cast<char>(1u << below(8));
      return text;
    case 1:  // cut the text short, as a full disk or a killed editor leaves it
      return text.substr(0, at());
    case 2:  // delete a line
      if (!lines.empty()) lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(below(lines.size())));
      return joined(lines);
    case 3:  // repeat a line (a duplicate key or table)
      if (!lines.empty()) {
        const auto i = below(lines.size());
        lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(i), lines[i]);
      }
      return joined(lines);
    case 4: {  // splice in a line of another file
      const std::vector<std::string> other = lines_of(corpus_[below(corpus_.size())]);
      if (!other.empty()) lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(below(lines.size() + 1)), other[below(other.size())]);
      return joined(lines);
    }
    case 5:
    case 6:  // insert punctuation, an extreme value or odd bytes
      return text.insert(at(), fragments[below(fragments.size())]);
    case 7: {  // a key nested deeper than any parser's stack
      std::string key = "a";
      const std::uint64_t depth = 1000 + below(40000);
      key.reserve(2 * depth);
      for (std::uint64_t d = 1; d < depth; ++d) key += ".a";
      return text + "\n" + key + " = 1\n";
    }
    case 8: {  // a table header or inline table nested as deep
      const std::uint64_t depth = 1000 + below(40000);
      if (below(2) == 0) {
        std::string header = "\n[a";
        for (std::uint64_t d = 1; d < depth; ++d) header += ".a";
        return text + header + "]\n";
      }
      return text + "\nx = " + std::string(depth, '[') + std::string(depth, ']') + "\n";
    }
    default: {  // a huge value where a name goes
      return text + "\n[experiment]\nname = \"" + std::string(1u << (10 + below(11)), 'n') + "\"\n";
    }
  }
}

std::vector<std::string> shipped_experiments() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(test_paths::source_dir) / "experiments")) {
    if (entry.path().extension() == ".toml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());  // directory order differs between machines
  std::vector<std::string> texts;
  for (const auto& f : files) texts.push_back(read_text(f));
  return texts;
}

LoadOutcome load_input(const std::string& text, const std::filesystem::path& folder, PluginLoader& loader,
                       const Registry& registry) {
  const std::filesystem::path experiments = std::filesystem::path(test_paths::source_dir) / "experiments";
  for (const auto& entry : std::filesystem::directory_iterator(experiments)) {
    const auto copy = folder / entry.path().filename();
    if (!std::filesystem::exists(copy)) std::filesystem::copy_file(entry.path(), copy);
  }
  const auto file = folder / "fuzz.toml";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
  }
  try {
    (void)load_runs(file, {}, loader, registry);
    return {};
  } catch (const Error& e) {
    return {LoadOutcome::refused, e.what()};
  } catch (const std::exception& e) {
    return {LoadOutcome::escaped, std::string(typeid(e).name()) + ": " + e.what()};
  } catch (...) {
    return {LoadOutcome::escaped, "an exception of unknown type"};
  }
}

}  // namespace lmlab::test
