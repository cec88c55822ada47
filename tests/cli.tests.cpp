// The lmlab binary as a user runs it: validate, plugins, run, sweep, exit codes, and a run
// killed with SIGKILL.
#include "support/catch.hpp"

#include <algorithm>
#include <map>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include "generated/test_paths.hpp"
#include "results/run_file.hpp"
#include "support/test_support.hpp"
#include "util/shell_quote.hpp"

namespace cli_tests {

namespace fs = std::filesystem;
using lmlab::test::run_command;
using lmlab::test::tiny_experiment;
using lmlab::test::TempDir;
using lmlab::test::write_file;

namespace {

// dir/long.toml: a run far longer than any test waits for, with its corpus. Flushes are rare, so a
// signal sent shortly after one lands between two of them (a kill during a flush itself, a
// millisecond-long window, is the one case HDF5 cannot promise to survive).
void write_long_experiment(const TempDir& dir) {
  lmlab::test::write_generated_corpus(dir / "corpus");
  std::string text = tiny_experiment(dir / "corpus", dir / "results");
  text.replace(text.find("steps = 6"), 9, "steps = 100000");
  text.replace(text.find("eval_every = 3"), 14, "eval_every = 200");
  write_file(dir / "long.toml", text);
}

std::string host(const std::string& args) { return lmlab::test::lmlab_binary() + " " + args; }

// Starts `lmlab run file`, waits until its first checkpoint exists (written right after an
// evaluation's flush), lets it train a little further, then sends it `signal` and waits for it.
// Returns the run file and the child's wait status.
std::pair<fs::path, int> run_and_signal(const fs::path& file, const fs::path& results, int signal) {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const std::string binary = lmlab::test::lmlab_binary();
    if (!freopen("/dev/null", "w", stderr)) _exit(126);
    execl(binary.c_str(), binary.c_str(), "run", file.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  fs::path h5;
  // A long backstop: under a loaded CI machine the first checkpoint can take a while.
  for (int i = 0; i < 4800; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (!fs::is_directory(results)) continue;
    for (const auto& entry : fs::directory_iterator(results)) {
      if (entry.path().extension() == ".ckpt") h5 = fs::path(entry.path()).replace_extension(".h5");
    }
    if (!h5.empty()) break;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(child, signal);
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE_FALSE(h5.empty());
  return {h5, status};
}

fs::path run_and_kill(const fs::path& file, const fs::path& results) {
  const auto [h5, status] = run_and_signal(file, results, SIGKILL);
  REQUIRE(WIFSIGNALED(status));
  return h5;
}

}  // namespace

TEST_CASE("validate names the file, line and misspelt key, and exits non-zero") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  std::string text = tiny_experiment(dir / "corpus", dir / "results");
  text.replace(text.find("d_model = 32"), 12, "d_modle = 32");
  write_file(dir / "bad.toml", text);
  const auto r = run_command(host("validate " + (dir / "bad.toml").string()));
  CHECK(r.exit_code == 2);
  const std::string line = std::to_string(13);  // the line of `d_modle` in the file above
  CHECK_THAT(r.output, Catch::Contains((dir / "bad.toml").string() + ":" + line + ":") &&
                           Catch::Contains("model.d_modle") && Catch::Contains("d_model"));

  write_file(dir / "good.toml", tiny_experiment(dir / "corpus", dir / "results"));
  const auto ok = run_command(host("validate " + (dir / "good.toml").string()));
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.output, Catch::Contains("1 run(s) valid"));
  // Nothing ran: validation writes no results.
  CHECK_FALSE(fs::exists(dir / "results"));
}

namespace {

// The tokenizer files an experiment names under data/tokenizers/ that this checkout lacks: a clean
// clone has none until the experiment's own commands (tokenizer train, fetch-gpt2-bpe) make them.
std::vector<std::string> missing_tokenizer_files(const fs::path& experiment) {
  std::ifstream in(experiment);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> missing;
  for (std::size_t at = text.find("\"data/tokenizers/"); at != std::string::npos;
       at = text.find("\"data/tokenizers/", at + 1)) {
    const std::size_t end = text.find('"', at + 1);
    const std::string path = text.substr(at + 1, end - at - 1);
    if (!fs::exists(fs::path(lmlab::test_paths::source_dir) / path)) missing.push_back(path);
  }
  return missing;
}

}  // namespace

TEST_CASE("every experiment file shipped in experiments/ validates") {
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(lmlab::test_paths::source_dir) / "experiments")) {
    if (entry.path().extension() != ".toml") continue;
    ++files;
    // Run from the source folder: tokenizer files are named from there, as a user runs them.
    const auto r = run_command("cd " + lmlab::detail::shell_quote(lmlab::test_paths::source_dir) + " && " +
                               host("validate " + entry.path().string()));
    INFO(r.output);
    // A file about a published checkpoint is given its folder on the command line, and says so
    // (experiments/pretrained_decoding.toml, run in tests/pretrained_decoding.tests.cpp).
    if (lmlab::test::read_file(entry.path()).find("\nfrom = \"\"") != std::string::npos) {
      CHECK(r.exit_code == 2);
      CHECK_THAT(r.output, Catch::Contains("model.from: no checkpoint folder given"));
      continue;
    }
    const std::vector<std::string> missing = missing_tokenizer_files(entry.path());
    if (missing.empty()) {
      CHECK(r.exit_code == 0);
      continue;
    }
    // Without its tokenizer files an experiment is refused, naming the first missing one.
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Catch::Contains(missing.front().substr(missing.front().rfind('/') + 1)));
  }
  CHECK(files >= 2);
}

TEST_CASE("an override with a bad value is refused with the accepted values") {
  TempDir dir;
  write_file(dir / "good.toml", tiny_experiment(dir / "corpus", dir / "results"));
  const auto r = run_command(host("validate " + (dir / "good.toml").string() + " --set train.schedule=wavy"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("train.schedule") && Catch::Contains("cosine") && Catch::Contains("--set"));
}

TEST_CASE("plugins lists every plugin with its library and options") {
  const auto r = run_command(host("plugins"));
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("architecture") && Catch::Contains("causal_decoder") &&
                           Catch::Contains("libcausal_decoder.so") && Catch::Contains("d_model (integer, default 128") &&
                           Catch::Contains("objective") && Catch::Contains("causal_lm") &&
                           Catch::Contains("regulariser") && Catch::Contains("grad_clip") &&
                           Catch::Contains("decoding") && Catch::Contains("temperature"));
  // The four architecture families, their capabilities and presets with what each sets.
  CHECK_THAT(r.output, Catch::Contains("prefix_decoder") && Catch::Contains("encoder_decoder") &&
                           Catch::Contains("encoder_only") && Catch::Contains("capabilities: generates, bidirectional") &&
                           Catch::Contains("preset llama:") && Catch::Contains("preset t5:") &&
                           Catch::Contains("preset bert:") && Catch::Contains("preset chatglm:") &&
                           Catch::Contains("preset gpt2:") && Catch::Contains("preset bart:") &&
                           Catch::Contains("preset transformer:") && Catch::Contains("sets activation = \"swiglu\"") &&
                           Catch::Contains("needs an architecture that generates, has no encoder and takes no prefix lengths"));
}

TEST_CASE("run trains, prints the summary table and writes the run file; a sweep file needs sweep") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  write_file(dir / "exp.toml", tiny_experiment(dir / "corpus", dir / "results"));
  const auto r = run_command(host("run " + (dir / "exp.toml").string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("val_ppl") && Catch::Contains("unigram_ppl") && Catch::Contains("complete"));
  CHECK(fs::is_directory(dir / "results" / "cli"));

  write_file(dir / "sweep.toml", tiny_experiment(dir / "corpus", dir / "sweep") +
                                     "\n[sweep]\ngrid = { \"model.n_layers\" = [1, 2] }\nseeds = [1, 2]\n");
  const auto wrong = run_command(host("run " + (dir / "sweep.toml").string()));
  CHECK(wrong.exit_code == 2);
  CHECK_THAT(wrong.output, Catch::Contains("4 runs") && Catch::Contains("lmlab sweep"));
  const auto sweep = run_command(host("sweep " + (dir / "sweep.toml").string()));
  INFO(sweep.output);
  REQUIRE(sweep.exit_code == 0);
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir / "sweep" / "cli")) files += entry.path().extension() == ".h5";
  CHECK(files == 4 + 1);  // and the experiment's index.h5
  CHECK(fs::exists(dir / "sweep" / "cli" / "index.h5"));
  CHECK_THAT(sweep.output, Catch::Contains("n_layers=2,seed=2-"));
}

TEST_CASE("a sweep run again skips complete runs, reruns failed ones only when asked; shards split it") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  write_file(dir / "sweep.toml", tiny_experiment(dir / "corpus", dir / "results") +
                                     "\n[sweep]\ngrid = { \"model.n_layers\" = [1, 2] }\nseeds = [1, 2]\n"
                                     "exclude = [{ \"model.n_layers\" = 2, \"experiment.seed\" = 2 }]\n");
  const std::string sweep = host("sweep " + (dir / "sweep.toml").string());
  const auto dry = run_command(sweep + " --dry-run");
  INFO(dry.output);
  REQUIRE(dry.exit_code == 0);
  CHECK_THAT(dry.output, Catch::Contains("start    n_layers=1,seed=1-") && Catch::Contains("excluded n_layers=2,seed=2") &&
                             Catch::Contains("sweep.exclude[0]") && Catch::Contains("4 run(s): 1 excluded, 3 start"));
  CHECK_FALSE(fs::exists(dir / "results"));  // a dry run writes nothing

  REQUIRE(run_command(sweep).exit_code == 0);
  std::map<fs::path, fs::file_time_type> written;
  for (const auto& entry : fs::directory_iterator(dir / "results" / "cli")) {
    if (entry.path().extension() == ".h5" && entry.path().filename() != "index.h5") written[entry.path()] = entry.last_write_time();
  }
  REQUIRE(written.size() == 3);
  const auto again = run_command(sweep);
  INFO(again.output);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("4 run(s): 1 excluded, 3 skip"));
  for (const auto& [file, time] : written) CHECK(fs::last_write_time(file) == time);  // untouched

  // A run marked failed is skipped (and the sweep says so, exiting 1) until --retry-failed.
  const fs::path failed = written.begin()->first;
  lmlab::RunFile::resume(failed, 1000).set_attribute("status", "failed");
  const auto skipped = run_command(sweep);
  CHECK(skipped.exit_code == 1);
  CHECK_THAT(skipped.output, Catch::Contains("1 run(s) failed in an earlier sweep and were skipped") &&
                                 Catch::Contains(failed.stem().string()));
  const auto retried = run_command(sweep + " --retry-failed");
  INFO(retried.output);
  CHECK(retried.exit_code == 0);
  CHECK(lmlab::run_file::read_attribute(failed, "status") == "complete");

  // An edited sweep keeps every run whose config did not change: one more depth adds two runs.
  std::string edited = lmlab::test::read_file(dir / "sweep.toml");
  edited.replace(edited.find("[1, 2] }"), 8, "[1, 2, 3] }");
  write_file(dir / "sweep.toml", edited);
  const auto grown = run_command(sweep + " --dry-run");
  INFO(grown.output);
  CHECK_THAT(grown.output, Catch::Contains("6 run(s): 1 excluded, 3 skip, 2 start") &&
                               Catch::Contains("start    n_layers=3,seed=1-"));
  edited.replace(edited.find("[1, 2, 3] }"), 11, "[1, 2] }");
  write_file(dir / "sweep.toml", edited);

  // Two shards of a fresh results folder run every run once between them.
  const std::string sharded = host("sweep " + (dir / "sweep.toml").string() + " --set experiment.results_dir=" +
                                   (dir / "sharded").string());
  const auto first = run_command(sharded + " --shard 0/2");
  const auto second = run_command(sharded + " --shard 1/2");
  INFO(first.output << second.output);
  CHECK(first.exit_code == 0);
  CHECK(second.exit_code == 0);
  CHECK_THAT(first.output, Catch::Contains("2 start") && Catch::Contains("1 shard"));
  CHECK_THAT(second.output, Catch::Contains("1 start") && Catch::Contains("2 shard"));
  CHECK(run_command(sharded + " --dry-run").output.find("3 skip") != std::string::npos);
  CHECK(run_command(host("sweep --shard 2/2 " + (dir / "sweep.toml").string())).exit_code == 2);
}

TEST_CASE("generate continues prompts from a checkpoint, with the run's decoding or the command line's") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  write_file(dir / "exp.toml", tiny_experiment(dir / "corpus", dir / "results") +
                                   "\n[[decoding.eval]]\nname = \"beam\"\nchain = [\"beam_search\"]\n"
                                   "beam_search = { width = 3 }\n");
  REQUIRE(run_command(host("run " + (dir / "exp.toml").string())).exit_code == 0);
  // The checkpoint alone is enough: it holds its config.
  for (const auto& entry : fs::directory_iterator(dir / "results" / "cli")) {
    if (entry.path().extension() == ".h5") fs::remove(entry.path());
  }
  const std::string from = "generate --checkpoint " + (dir / "results" / "cli").string() + " ";
  const auto greedy = run_command(host(from + "--prompt 'The cat' --prompt 'A' --max-new-tokens 12"));
  INFO(greedy.output);
  REQUIRE(greedy.exit_code == 0);
  CHECK_THAT(greedy.output, Catch::Contains("decoding 'default': greedy") && Catch::Contains("== prompt 1/2: The cat") &&
                                Catch::Contains("== prompt 2/2: A") && Catch::Contains("-- 1: 12 tokens") &&
                                Catch::Contains("generated 24 tokens for 2 prompt(s)"));
  // Without the cache, the same text.
  const auto reread = run_command(host(from + "--prompt 'The cat' --prompt 'A' --max-new-tokens 12 --no-cache"));
  REQUIRE(reread.exit_code == 0);
  const auto text_of = [](const std::string& output) {
    std::string text;
    for (std::size_t at = output.find("== prompt"); at != std::string::npos; at = output.find("== prompt", at + 1)) {
      text += output.substr(at, output.find('\n', output.find("-- 1:", at)) - at);
    }
    return text;
  };
  CHECK(text_of(reread.output) == text_of(greedy.output));

  // Another chain from the command line; a prompts file; beam search's n-best list.
  write_file(dir / "prompts.txt", "The cat\n\nA dog\n");
  const auto beam = run_command(host(from + "--prompts " + (dir / "prompts.txt").string() +
                                     " --max-new-tokens 6 --set 'decoding.chain=[\"beam_search\"]' "
                                     "--set decoding.beam_search.width=3 --set decoding.beam_search.n_best=2"));
  INFO(beam.output);
  REQUIRE(beam.exit_code == 0);
  CHECK_THAT(beam.output, Catch::Contains("decoding 'default': beam_search") && Catch::Contains("== prompt 2/2: A dog") &&
                              Catch::Contains("-- 2: "));
  // A named configuration of the run, its options overridden as decoding.<step>.<option>.
  const auto named = run_command(host(from + "--prompt 'The cat' --max-new-tokens 6 --decoding beam "
                                             "--set decoding.beam_search.n_best=3"));
  INFO(named.output);
  REQUIRE(named.exit_code == 0);
  CHECK_THAT(named.output, Catch::Contains("decoding 'beam': beam_search") && Catch::Contains("-- 3: "));
  // Seeded sampling repeats itself.
  const std::string sampling = from + "--prompt 'The' --max-new-tokens 16 --seed 5 --set 'decoding.chain=[\"sample\"]'";
  CHECK(text_of(run_command(host(sampling)).output) == text_of(run_command(host(sampling)).output));

  // Bad input: exit 2 and a message naming what is wrong.
  const auto no_prompt = run_command(host(from));
  CHECK(no_prompt.exit_code == 2);
  CHECK_THAT(no_prompt.output, Catch::Contains("--prompt TEXT or --prompts FILE"));
  const auto bad_key = run_command(host(from + "--prompt x --set decoding.greedy.k=3"));
  CHECK(bad_key.exit_code == 2);
  CHECK_THAT(bad_key.output, Catch::Contains("decoding.greedy.k"));
  const auto bad_name = run_command(host(from + "--prompt x --decoding nucleus"));
  CHECK(bad_name.exit_code == 2);
  CHECK_THAT(bad_name.output, Catch::Contains("no configuration 'nucleus'; accepted: default, beam"));
  const auto nothing = run_command(host("generate --prompt x --checkpoint " + dir.path().string()));
  CHECK(nothing.exit_code == 2);
  CHECK_THAT(nothing.output, Catch::Contains("holds 0 checkpoints"));
}

TEST_CASE("h5py with default settings reads a run's rows as they appear, and after a SIGKILL") {
  TempDir dir;
  write_long_experiment(dir);
  // Debian's h5py (python3-h5py, installed by scripts/install-deps) belongs to its own python3.
  const std::string python = "/usr/bin/python3";
  const auto probe = run_command(python + " -c 'import h5py'");
  INFO(probe.output);
  if (probe.exit_code != 0) FAIL("h5py is missing: run ./scripts/install-deps (Debian package python3-h5py)");

  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const std::string binary = lmlab::test::lmlab_binary();
    if (!freopen("/dev/null", "w", stderr)) _exit(126);
    execl(binary.c_str(), binary.c_str(), "run", (dir / "long.toml").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Evaluation rows as an outside reader sees them: -1 until the file has an /eval group.
  const auto eval_rows = [&](const fs::path& h5) {
    const auto r = run_command(python + " -c 'import h5py, sys; f = h5py.File(sys.argv[1], \"r\"); "
                                        "print(len(f[\"eval/step\"]) if \"eval\" in f else -1)' " + h5.string());
    INFO(r.output);
    return r.exit_code == 0 ? std::stoi(r.output) : -2;
  };
  fs::path h5;
  std::vector<int> seen;  // distinct row counts read while the run was alive
  for (int i = 0; i < 2400 && (seen.empty() || seen.back() < 2); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (h5.empty() && fs::is_directory(dir / "results" / "cli")) {
      for (const auto& entry : fs::directory_iterator(dir / "results" / "cli")) {
        if (entry.path().extension() == ".h5") h5 = entry.path();
      }
    }
    if (h5.empty()) continue;
    const int rows = eval_rows(h5);
    // A read that lands inside a flush may fail; the next one sees the flushed file.
    if (rows >= 0 && (seen.empty() || rows != seen.back())) seen.push_back(rows);
  }
  int status = 0;
  CHECK(waitpid(child, &status, WNOHANG) == 0);  // still training while it was read
  kill(child, SIGKILL);
  waitpid(child, &status, 0);
  INFO("row counts seen: " << seen.size());
  REQUIRE(seen.size() >= 2);
  CHECK(seen.back() >= 2);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(eval_rows(h5) >= seen.back());  // and after the SIGKILL
}

TEST_CASE("a run killed with SIGKILL leaves a file that opens and holds its flushed rows") {
  TempDir dir;
  write_long_experiment(dir);

  const fs::path h5 = run_and_kill(dir / "long.toml", dir / "results" / "cli");
  CHECK(lmlab::run_file::read_attribute(h5, "status") == "running");
  const auto steps = lmlab::run_file::read_ints(h5, "train/step");
  const auto losses = lmlab::run_file::read_floats(h5, "train/loss");
  const auto evals = lmlab::run_file::read_ints(h5, "eval/step");
  REQUIRE_FALSE(evals.empty());
  CHECK(steps.size() == losses.size());
  // Every row up to the last flush (the last evaluation) is there, in order.
  REQUIRE(steps.size() >= static_cast<std::size_t>(evals.back()));
  for (std::size_t i = 0; i < steps.size(); ++i) CHECK(steps[i] == static_cast<std::int64_t>(i + 1));
}

TEST_CASE("a run killed with SIGKILL and resumed in a new process logs what an uninterrupted run logs") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  auto experiment = [&](const std::string& results) {
    std::string text = tiny_experiment(dir / "corpus", dir / results);
    text.replace(text.find("steps = 6"), 9, "steps = 800");  // the kill lands well before the end
    text.replace(text.find("eval_every = 3"), 14, "eval_every = 100");
    text.replace(text.find("n_heads = 2"), 11, "n_heads = 2\nresidual_dropout = 0.1");  // dropout draws random numbers
    write_file(dir / (results + ".toml"), text);
    return dir / (results + ".toml");
  };
  const auto straight = run_command(host("run " + experiment("straight").string()));
  REQUIRE(straight.exit_code == 0);
  const fs::path killed = run_and_kill(experiment("killed"), dir / "killed" / "cli");
  const auto resumed = run_command(host("run --resume " + (dir / "killed.toml").string()));
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK_THAT(resumed.output, Catch::Contains("resumed"));

  fs::path reference;
  for (const auto& entry : fs::directory_iterator(dir / "straight" / "cli")) {
    if (entry.path().extension() == ".h5") reference = entry.path();
  }
  const auto a = lmlab::run_file::read_floats(reference, "train/loss");
  const auto b = lmlab::run_file::read_floats(killed, "train/loss");
  REQUIRE(a.size() == 800);
  REQUIRE(b.size() == 800);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == b[i]);  // bit for bit
  CHECK(lmlab::run_file::read_ints(killed, "train/step") == lmlab::run_file::read_ints(reference, "train/step"));
  CHECK(lmlab::run_file::read_floats(killed, "eval/val_loss") ==
        lmlab::run_file::read_floats(reference, "eval/val_loss"));
  CHECK(lmlab::run_file::read_attribute(killed, "status") == "complete");
}

TEST_CASE("SIGINT stops a run after its step with a checkpoint; --resume finishes it") {
  TempDir dir;
  write_long_experiment(dir);
  const auto [h5, status] = run_and_signal(dir / "long.toml", dir / "results" / "cli", SIGINT);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK(lmlab::run_file::read_attribute(h5, "status") == "stopped");
  const auto steps = lmlab::run_file::read_ints(h5, "train/step");
  REQUIRE_FALSE(steps.empty());
  CHECK_THAT(lmlab::run_file::read_attribute(h5, "status_reason"),
             Catch::Contains("stopped after step " + std::to_string(steps.back())));

  // --resume continues from the checkpoint written at the stop (the last logged step, since
  // log_every = 1); --stop-after ends it again five steps later.
  const auto resumed = run_command(host("run --resume --stop-after " + std::to_string(steps.back() + 5) + " " +
                                        (dir / "long.toml").string()));
  INFO(resumed.output);
  CHECK(resumed.exit_code == 130);
  CHECK_THAT(resumed.output, Catch::Contains("at step " + std::to_string(steps.back())));
  const auto after = lmlab::run_file::read_ints(h5, "train/step");
  CHECK(after.back() == steps.back() + 5);
}

TEST_CASE("watch follows a run from before its file exists until it ends; --once prints one view") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  std::string text = tiny_experiment(dir / "corpus", dir / "results");
  text.replace(text.find("steps = 6"), 9, "steps = 1000");  // about a second: long enough to be seen running
  text.replace(text.find("eval_every = 3"), 14, "eval_every = 250");
  write_file(dir / "exp.toml", text);
  const auto valid = run_command(host("validate " + (dir / "exp.toml").string()));
  REQUIRE(valid.exit_code == 0);
  const std::string name = valid.output.substr(4, valid.output.find(' ', 4) - 4);  // "ok  <run>  <hash>"
  const fs::path h5 = dir / "results" / "cli" / (name + ".h5");
  const auto watched = run_command("(" + host("run " + (dir / "exp.toml").string()) + " > /dev/null 2>&1 &); " +
                                   host("watch --plain --interval 0.1 " + h5.string()));
  INFO(watched.output);
  CHECK(watched.exit_code == 0);
  CHECK_THAT(watched.output, Catch::Contains("[running]") && Catch::Contains(name + "  [complete]") &&
                                 Catch::Contains("step 1000/1000 (100.0%)") && Catch::Contains("eval (step 1000):") &&
                                 Catch::Contains("val_loss") && Catch::Contains("generation default (step 1000):"));
  const auto once = run_command(host("watch --once " + h5.string()));
  CHECK(once.exit_code == 0);
  CHECK_THAT(once.output, Catch::Contains("[complete]") && Catch::Contains("train (step 1000):") &&
                              Catch::Contains("tokens.seq_rep_4"));
  const auto missing = run_command(host("watch --once " + (dir / "absent.h5").string()));
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output, Catch::Contains("absent.h5 does not exist"));
}


namespace {

// dir/exp.toml: the tiny experiment trained for `steps` steps (about a millisecond each).
fs::path write_steps_experiment(const TempDir& dir, std::int64_t steps, const std::string& extra = "") {
  lmlab::test::write_generated_corpus(dir / "corpus");
  std::string text = tiny_experiment(dir / "corpus", dir / "results");
  text.replace(text.find("steps = 6"), 9, fmt::format("steps = {}", steps));
  text.replace(text.find("eval_every = 3"), 14, fmt::format("eval_every = {}", steps / 2));
  write_file(dir / "exp.toml", text + extra);
  return dir / "exp.toml";
}

// Starts `lmlab ARGS...` with its output in `log`; returns its PID.
pid_t start_host(const std::vector<std::string>& args, const fs::path& log) {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const std::string binary = lmlab::test::lmlab_binary();
    if (!freopen(log.c_str(), "w", stdout) || dup2(fileno(stdout), STDERR_FILENO) < 0) _exit(126);
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return child;
}

// The first run file (not the index) that appears in `folder`, waited for; empty after ~2 minutes.
fs::path wait_for_run_file(const fs::path& folder) {
  for (int i = 0; i < 4800; ++i) {
    if (fs::is_directory(folder)) {
      for (const auto& entry : fs::directory_iterator(folder)) {
        if (entry.path().extension() == ".h5" && entry.path().filename() != "index.h5") return entry.path();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return {};
}

std::string this_host() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

}  // namespace

TEST_CASE("a second run of a running experiment is refused at once naming the holder; the first is untouched") {
  TempDir dir;
  const fs::path file = write_steps_experiment(dir, 4000);
  const pid_t first = start_host({"run", file.string()}, dir / "first.log");
  const fs::path h5 = wait_for_run_file(dir / "results" / "cli");
  REQUIRE_FALSE(h5.empty());
  const auto started = std::chrono::steady_clock::now();
  const auto second = run_command(host("run " + file.string()));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  int status = 0;
  REQUIRE(waitpid(first, &status, 0) == first);
  INFO(second.output << "\nfirst run's output:\n" << lmlab::test::read_file(dir / "first.log"));
  CHECK(second.exit_code == 3);
  CHECK(seconds < 20);  // refused before it loads anything
  CHECK_THAT(second.output, Catch::Contains(fmt::format("PID {} on host {}", first, this_host())) &&
                                Catch::Contains("started 20") && Catch::Contains("--resume") &&
                                Catch::Contains(h5.filename().string()));
  // The first run never noticed.
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(lmlab::run_file::read_attribute(h5, "status") == "complete");
  CHECK(lmlab::run_file::read_ints(h5, "train/step").size() == 4000);
  CHECK(lmlab::run_file::read_ints(h5, "eval/step").size() == 2);
}

TEST_CASE("a run killed with SIGKILL leaves its lock to the next process, which says whose it was") {
  TempDir dir;
  write_long_experiment(dir);
  const pid_t killed = fork();
  REQUIRE(killed >= 0);
  if (killed == 0) {
    const std::string binary = lmlab::test::lmlab_binary();
    if (!freopen("/dev/null", "w", stderr)) _exit(126);
    execl(binary.c_str(), binary.c_str(), "run", (dir / "long.toml").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const fs::path h5 = wait_for_run_file(dir / "results" / "cli");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(killed, SIGKILL);
  int status = 0;
  waitpid(killed, &status, 0);
  REQUIRE_FALSE(h5.empty());
  const auto again = run_command(host("run --resume --stop-after 3 " + (dir / "long.toml").string()));
  INFO(again.output);
  CHECK(again.exit_code == 130);
  CHECK_THAT(again.output, Catch::Contains(fmt::format("PID {} on host {}", killed, this_host())) &&
                               Catch::Contains("no longer running"));
}

TEST_CASE("two sweeps of one experiment, or two shards with one index, cannot run at once") {
  TempDir dir;
  const fs::path file =
      write_steps_experiment(dir, 3000, "\n[sweep]\ngrid = { \"model.n_layers\" = [1, 2] }\n");
  const pid_t first = start_host({"sweep", file.string()}, dir / "first.log");
  const fs::path h5 = wait_for_run_file(dir / "results" / "cli");
  REQUIRE_FALSE(h5.empty());
  const auto second = run_command(host("sweep " + file.string()));
  const auto shard = run_command(host("sweep --shard 0/1 " + file.string()));
  int status = 0;
  REQUIRE(waitpid(first, &status, 0) == first);
  INFO(second.output << "\n" << shard.output << "\nfirst sweep's output:\n" << lmlab::test::read_file(dir / "first.log"));
  CHECK(second.exit_code == 3);
  CHECK(shard.exit_code == 3);
  CHECK_THAT(second.output, Catch::Contains(fmt::format("PID {} on host {}", first, this_host())));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::size_t complete = 0;
  for (const auto& entry : fs::directory_iterator(dir / "results" / "cli")) {
    if (entry.path().extension() != ".h5" || entry.path().filename() == "index.h5") continue;
    complete += lmlab::run_file::read_attribute(entry.path(), "status") == "complete";
  }
  CHECK(complete == 2);
}

TEST_CASE("a sweep whose run another process is running leaves that run's file alone and says so") {
  TempDir dir;
  const fs::path file = write_steps_experiment(dir, 3000, "\n[sweep]\ngrid = { \"model.n_layers\" = [1] }\n");
  const auto valid = run_command(host("validate " + file.string()));
  REQUIRE(valid.exit_code == 0);
  const std::string name = valid.output.substr(4, valid.output.find(' ', 4) - 4);  // "ok  <run>  <hash>"
  const pid_t first = start_host({"run", file.string(), "--point", name}, dir / "first.log");
  const fs::path h5 = wait_for_run_file(dir / "results" / "cli");
  REQUIRE_FALSE(h5.empty());
  const auto sweep = run_command(host("sweep " + file.string()));
  const std::string status_meanwhile = lmlab::run_file::read_attribute(h5, "status");
  int status = 0;
  REQUIRE(waitpid(first, &status, 0) == first);
  INFO(sweep.output << "\nthe run's output:\n" << lmlab::test::read_file(dir / "first.log"));
  CHECK(sweep.exit_code == 1);
  CHECK_THAT(sweep.output, Catch::Contains("another process is running it") && Catch::Contains(name + ".h5.lock"));
  CHECK(status_meanwhile == "running");  // not marked failed under the run that writes it
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(lmlab::run_file::read_attribute(h5, "status") == "complete");
}

TEST_CASE("a run whose output pipe closes early trains on and completes its file") {
  TempDir dir;
  const fs::path file = write_steps_experiment(dir, 300);
  // `head` leaves after two lines; every later line of the run meets a closed pipe.
  const auto piped = run_command("(" + host("run " + file.string()) + " 2>&1; echo $? > " + (dir / "code").string() +
                                 ") | head -n 2");
  INFO(piped.output);
  const fs::path h5 = wait_for_run_file(dir / "results" / "cli");
  REQUIRE_FALSE(h5.empty());
  CHECK(lmlab::test::read_file(dir / "code") == "0\n");
  CHECK(lmlab::run_file::read_attribute(h5, "status") == "complete");
  CHECK(lmlab::run_file::read_ints(h5, "train/step").size() == 300);
}

}  // namespace cli_tests
