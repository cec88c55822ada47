#include "support/test_support.hpp"

#include <array>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <ftw.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "generated/test_paths.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/plugin_loader.hpp"

namespace lmlab::test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "lmlab-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = pattern;
}

namespace {
int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return std::remove(path); }
}  // namespace

TempDir::~TempDir() {
  // Not std::filesystem::remove_all: pip-installed LibTorch 2.x exports its own, older copies of
  // libstdc++'s directory iterators (pytorch/pytorch#133437), and mixing them with the system's
  // segfaults. nftw is plain libc.
  nftw(path_.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void write_file(const std::filesystem::path& file, const std::string& text) {
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {
std::string generated_text(std::size_t bytes, unsigned seed) {
  // Subject-verb-object sentences over a tiny vocabulary: a byte model learns the words fast,
  // so the loss must fall far below the unigram baseline within a few dozen steps.
  const std::array<const char*, 6> subjects = {"the cat", "a dog", "my friend", "the old man", "she", "we"};
  const std::array<const char*, 5> verbs = {"sees", "likes", "finds", "follows", "paints"};
  const std::array<const char*, 6> objects = {"the red ball", "a small house", "the river", "green apples",
                                              "the moon", "a long road"};
  std::mt19937 rng(seed);
  std::string text;
  while (text.size() < bytes) {
    text += subjects[rng() % subjects.size()];
    text += ' ';
    text += verbs[rng() % verbs.size()];
    text += ' ';
    text += objects[rng() % objects.size()];
    text += (rng() % 4 == 0) ? ".\n" : ". ";
  }
  return text;
}
}  // namespace

void write_generated_corpus(const std::filesystem::path& folder, std::size_t train_bytes, unsigned seed) {
  write_file(folder / "train.txt", generated_text(train_bytes, seed));
  write_file(folder / "valid.txt", generated_text(train_bytes / 8 + 2000, seed + 1000));
  write_file(folder / "test.txt", generated_text(train_bytes / 8 + 2000, seed + 2000));
}

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  std::size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string tiny_experiment(const std::filesystem::path& corpus, const std::filesystem::path& results) {
  return fmt::format(R"(# a tiny experiment for the CLI tests
[experiment]
name = "cli"
threads = 1
results_dir = "{}"

[data]
corpus = "{}"
block_size = 32

[model]
arch = "causal_decoder"
d_model = 32
n_layers = 1
n_heads = 2

[objective]
name = "causal_lm"

[decoding]
chain = ["greedy"]

[train]
steps = 6
batch_size = 4
eval_every = 3
log_every = 1

[eval]
batches = 1
prompts = 1
prompt_tokens = 8
max_new_tokens = 4
)",
                     results.string(), corpus.string());
}

std::string lmlab_binary() { return test_paths::lmlab_binary; }

const Registry& builtin_plugins() {
  static const Registry registry = [] {
    Registry r;
    PluginLoader loader(r);
    loader.load_folder(test_paths::plugin_dir);
    return r;
  }();
  return registry;
}

std::shared_ptr<DecodingStep> decoding_step(const std::string& name, const toml::table& options, std::int64_t vocab) {
  const toml::table resolved = resolve_plugin<DecodingStep>(builtin_plugins(), name, options, "decoding." + name);
  return make_plugin<DecodingStep>(builtin_plugins(), name, resolved, DecodingContext{vocab});
}

}  // namespace lmlab::test
