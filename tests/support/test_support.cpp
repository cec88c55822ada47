#include "support/test_support.hpp"

#include <ATen/Parallel.h>

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

std::string SmallExperiment::text() const {
  std::string t = fmt::format("[experiment]\nname = \"{}\"\n", name);
  if (seed) t += fmt::format("seed = {}\n", *seed);
  t += fmt::format("threads = 1\nresults_dir = \"{}\"\n", results.string());
  if (plugin_paths) t += fmt::format("plugin_paths = [{}]\n", *plugin_paths);
  t += fmt::format("\n[data]\ncorpus = \"{}\"\nblock_size = {}\n", corpus.string(), block_size);
  t += fmt::format("\n[model]\narch = \"causal_decoder\"\nd_model = {}\nn_layers = {}\nn_heads = 2\n{}", d_model,
                   n_layers, model_extra);
  t += "\n" + objective;
  if (!regularisers.empty()) t += "\n" + regularisers;
  if (decoding) t += fmt::format("\n[decoding]\n{}\n", *decoding);
  t += fmt::format("\n[train]\nsteps = {}\nbatch_size = {}\n", steps, batch_size);
  if (lr) t += fmt::format("lr = {}\n", *lr);
  if (warmup) t += fmt::format("warmup = {}\n", *warmup);
  t += fmt::format("eval_every = {}\nlog_every = {}\n", eval_every, log_every);
  t += fmt::format("\n[eval]\nbatches = {}\nprompts = {}\n", eval_batches, prompts);
  if (prompt_tokens) t += fmt::format("prompt_tokens = {}\n", *prompt_tokens);
  t += fmt::format("max_new_tokens = {}\n", max_new_tokens);
  return t;
}

std::string tiny_experiment(const std::filesystem::path& corpus, const std::filesystem::path& results) {
  return "# a tiny experiment for the CLI tests\n" + SmallExperiment{.corpus = corpus, .results = results}.text();
}

IntraOpThreads::IntraOpThreads(int n) : before_(at::get_num_threads()) { at::set_num_threads(n); }

IntraOpThreads::~IntraOpThreads() { at::set_num_threads(before_); }

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

std::shared_ptr<DecodingStep> decoding_step(const std::string& name, const toml::table& options, std::int64_t vocab,
                                            std::int64_t eos_id) {
  const toml::table resolved = resolve_plugin<DecodingStep>(builtin_plugins(), name, options, "decoding." + name);
  return make_plugin<DecodingStep>(builtin_plugins(), name, resolved, DecodingContext{vocab, eos_id});
}

RunOptions quiet_run(std::ostream& sink) {
  RunOptions o;
  o.out = &sink;
  o.live = false;
  return o;
}

}  // namespace lmlab::test
