#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "results/experiment_index.hpp"
#include "results/run_file.hpp"
#include "results/run_reader.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

namespace experiment_index_tests {

using Catch::Matchers::Contains;
using lmlab::RunFile;
using lmlab::RunReader;
namespace fs = std::filesystem;

namespace {

// A run file as the trainer writes it, reduced to what the index reads.
void fake_run(const fs::path& file, int layers, std::int64_t seed, double val_loss, const std::string& status = "complete") {
  RunFile run = RunFile::create(file);
  run.set_attribute("config_hash", "0123456789abcdef");
  run.set_attribute("config", fmt::format("[experiment]\nseed = {}\n", seed));
  run.set_attribute("status", status);
  run.set_attribute("status_reason", status == "failed" ? "loss is NaN" : "");
  run.set_attribute("seed", seed);
  run.set_attribute("sweep_point", fmt::format("n_layers={},seed={}", layers, seed));
  run.set_attribute("sweep.model.n_layers", std::to_string(layers));
  run.set_attribute("sweep.experiment.seed", std::to_string(seed));
  run.set_attribute("model.parameters", std::int64_t{1000} * layers);
  for (std::int64_t step : {5, 10}) {
    run.append("train", {{"step", step}, {"tokens", step * 100}, {"loss", 3.0 - 0.1 * static_cast<double>(step)}});
  }
  run.append("eval", {{"step", std::int64_t{10}}, {"val_loss", val_loss}, {"val_ppl", std::exp(val_loss)}});
  run.append("generation/greedy/metrics", {{"step", std::int64_t{10}}, {"tokens.seq_rep_4", 0.1 * layers}});
}

}  // namespace

TEST_CASE("experiment index: runs are read from the files on disk, with sweep point, seed and finals", "[index]") {
  lmlab::test::TempDir tmp;
  const fs::path folder = tmp / "exp";
  fake_run(folder / "n_layers=2,seed=1-aaaaaaaa.h5", 2, 1, 1.5);
  fake_run(folder / "n_layers=1,seed=1-bbbbbbbb.h5", 1, 1, 2.0, "failed");
  lmlab::test::write_file(folder / "broken.h5", "not an HDF5 file");
  lmlab::test::write_file(folder / "notes.txt", "ignored");
  const auto runs = lmlab::rebuild_index(folder);
  REQUIRE(runs.size() == 3);
  CHECK(runs[0].name == "broken");  // sorted by name
  CHECK(runs[0].status == "unreadable");
  CHECK_THAT(runs[0].status_reason, Contains("broken.h5"));
  const lmlab::RunRecord& failed = runs[1];
  CHECK(failed.name == "n_layers=1,seed=1-bbbbbbbb");
  CHECK(failed.status == "failed");
  CHECK(failed.status_reason == "loss is NaN");
  const lmlab::RunRecord& run = runs[2];
  CHECK(run.seed == 1);
  CHECK(run.sweep_point == "n_layers=2");  // the seed is not part of the point
  CHECK(run.axes == std::vector<std::pair<std::string, std::string>>{{"model.n_layers", "2"}});
  CHECK(run.steps == 10);
  CHECK(run.final_value("train.loss") == Approx(2.0));
  CHECK(run.final_value("eval.val_loss") == 1.5);
  CHECK(run.final_value("generation.greedy.tokens.seq_rep_4") == Approx(0.2));
  CHECK(run.final_value("parameters") == 2000);
  CHECK(std::isnan(run.final_value("eval.absent")));

  // index.h5: one summary row per run, every column in every row, and a link to each file.
  const RunReader index(folder / "index.h5");
  CHECK(index.attribute("runs") == "3");
  CHECK(index.strings("summary/run") ==
        std::vector<std::string>{"broken", "n_layers=1,seed=1-bbbbbbbb", "n_layers=2,seed=1-aaaaaaaa"});
  CHECK(index.strings("summary/status") == std::vector<std::string>{"unreadable", "failed", "complete"});
  CHECK(index.strings("summary/sweep.model.n_layers") == std::vector<std::string>{"", "1", "2"});
  CHECK(index.ints("summary/seed") == std::vector<std::int64_t>{0, 1, 1});
  const auto loss = index.floats("summary/eval.val_loss");
  REQUIRE(loss.size() == 3);
  CHECK(std::isnan(loss[0]));
  CHECK(loss[2] == 1.5);
  CHECK(index.attribute("experiment") == "exp");
  // The link resolves beside the index, whatever the reader's working directory.
  const auto r = lmlab::test::run_command("cd / && /usr/bin/python3 -c \"import h5py; f = h5py.File('" +
                                          (folder / "index.h5").string() +
                                          "', 'r'); print(f['runs/n_layers=2,seed=1-aaaaaaaa'].attrs['seed'])\"");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("1"));

  // Rebuilt from what is on disk: a removed file leaves the index, a new one joins it.
  fs::remove(folder / "broken.h5");
  fake_run(folder / "n_layers=2,seed=2-cccccccc.h5", 2, 2, 1.7);
  CHECK(lmlab::rebuild_index(folder).size() == 3);
  CHECK(RunReader(folder / "index.h5").strings("summary/run").back() == "n_layers=2,seed=2-cccccccc");
}

TEST_CASE("experiment index: runs of an older configuration of a sweep point are marked superseded", "[index]") {
  lmlab::test::TempDir tmp;
  const auto write = [&](const std::string& name, std::int64_t seed, double lr, const std::string& started) {
    RunFile run = RunFile::create(tmp / (name + ".h5"));
    run.set_attribute("config_hash", name);
    run.set_attribute("config", fmt::format("[experiment]\nseed = {}\n[train]\nlr = {}\n", seed, lr));
    run.set_attribute("status", "complete");
    run.set_attribute("start_time", started);
    run.set_attribute("seed", seed);
    run.set_attribute("sweep_point", "");
  };
  write("seed1-old", 1, 0.1, "2026-01-01T10:00:00Z");
  write("seed1-new", 1, 0.2, "2026-01-02T10:00:00Z");
  write("seed2-new", 2, 0.2, "2026-01-01T09:00:00Z");  // started before seed1-old, same configuration as seed1-new
  const auto runs = lmlab::rebuild_index(tmp.path());
  REQUIRE(runs.size() == 3);
  CHECK(runs[0].name == "seed1-new");
  CHECK_FALSE(runs[0].superseded);
  CHECK(runs[1].name == "seed1-old");
  CHECK(runs[1].superseded);
  CHECK_FALSE(runs[2].superseded);
  CHECK(runs[0].variant == runs[2].variant);  // seeds of one configuration share it
  CHECK(runs[0].variant != runs[1].variant);
  CHECK(runs[0].variant.size() == 8);
  CHECK(RunReader(tmp / "index.h5").ints("summary/superseded") == std::vector<std::int64_t>{0, 1, 0});
}

TEST_CASE("experiment index: runs started from another run's checkpoint are one configuration across seeds",
          "[index]") {
  // Each seed's fine-tuned run names its own seed's base run, so its config differs by more than
  // the seed; the base run's configuration stands in for the path.
  lmlab::test::TempDir tmp;
  const auto write = [&](const std::string& name, const std::string& point, std::int64_t seed, double lr,
                         const std::string& from, const std::string& started) {
    RunFile run = RunFile::create(tmp / (name + ".h5"));
    run.set_attribute("config_hash", name);
    run.set_attribute("config", fmt::format("[experiment]\nseed = {}\n[train]\nlr = {}\ninit_from = \"{}\"\n", seed, lr,
                                            from.empty() ? "" : (tmp / (from + ".ckpt")).string()));
    run.set_attribute("status", "complete");
    run.set_attribute("start_time", started);
    run.set_attribute("seed", seed);
    run.set_attribute("sweep_point", point);
    run.set_attribute("sweep.arm", point.substr(point.find('=') + 1));
  };
  write("arm=base,seed=1-a", "arm=base", 1, 0.1, "", "2026-01-01T10:00:00Z");
  write("arm=base,seed=2-b", "arm=base", 2, 0.1, "", "2026-01-01T10:00:01Z");
  write("arm=ft,seed=1-c", "arm=ft", 1, 0.01, "arm=base,seed=1-a", "2026-01-01T11:00:00Z");
  write("arm=ft,seed=2-d", "arm=ft", 2, 0.01, "arm=base,seed=2-b", "2026-01-01T11:00:01Z");
  auto runs = lmlab::rebuild_index(tmp.path());
  REQUIRE(runs.size() == 4);
  for (const auto& run : runs) CHECK_FALSE(run.superseded);
  CHECK(runs[2].variant == runs[3].variant);
  CHECK(runs[0].variant == runs[1].variant);
  CHECK(runs[0].variant != runs[2].variant);
  // A later base of another configuration in seed 1, and a run fine-tuned from it: the old pair
  // of seed 1 is superseded, and the new fine-tuned run is a new configuration of arm=ft.
  write("arm=base,seed=1-e", "arm=base", 1, 0.2, "", "2026-01-02T10:00:00Z");
  write("arm=ft,seed=1-f", "arm=ft", 1, 0.01, "arm=base,seed=1-e", "2026-01-02T11:00:00Z");
  runs = lmlab::rebuild_index(tmp.path());
  REQUIRE(runs.size() == 6);
  const auto named = [&](const std::string& name) {
    return *std::find_if(runs.begin(), runs.end(), [&](const auto& r) { return r.name == name; });
  };
  CHECK(named("arm=ft,seed=1-f").variant != named("arm=ft,seed=1-c").variant);
  CHECK(named("arm=ft,seed=1-c").superseded);
  CHECK(named("arm=ft,seed=2-d").superseded);  // its base is the older configuration too
  CHECK_FALSE(named("arm=ft,seed=1-f").superseded);
  CHECK(named("arm=base,seed=1-a").superseded);
}

TEST_CASE("experiment index: older run files without a recorded sweep point get it from their names", "[index]") {
  lmlab::test::TempDir tmp;
  {
    RunFile run = RunFile::create(tmp / "arch=prefix_decoder,lr=0.001,seed=3-12345678.h5");
    run.set_attribute("config_hash", "0123456789abcdef");
    run.set_attribute("config", "[experiment]\nseed = 3\n");
    run.set_attribute("status", "complete");
  }
  const auto runs = lmlab::scan_runs(tmp.path());
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].seed == 3);  // from the config
  CHECK(runs[0].sweep_point == "arch=prefix_decoder,lr=0.001");
  CHECK(runs[0].finals.empty());
}

TEST_CASE("experiment index: a missing folder is a DataError naming it", "[index]") {
  lmlab::test::TempDir tmp;
  CHECK_THROWS_WITH(lmlab::scan_runs(tmp / "absent"), Contains("absent") && Contains("does not exist"));
}

TEST_CASE("experiment index: a batch stated over all processes is the same configuration as that batch per process",
          "[index]") {
  lmlab::test::TempDir tmp;
  const auto write = [&](const std::string& name, std::int64_t seed, const std::string& batch, const std::string& started) {
    RunFile run = RunFile::create(tmp / (name + ".h5"));
    run.set_attribute("config_hash", "same");
    run.set_attribute("config", fmt::format("[experiment]\nseed = {}\n[train]\nlr = 0.1\n{}\n", seed, batch));
    run.set_attribute("status", "complete");
    run.set_attribute("start_time", started);
    run.set_attribute("seed", seed);
    run.set_attribute("sweep_point", "");
  };
  write("seed1-before", 1, "batch_size = 32", "2026-01-01T10:00:00Z");         // written before global_batch_size
  write("seed2-after", 2, "global_batch_size = 32", "2026-01-02T10:00:00Z");  // the same run, stated globally
  write("seed3-other", 3, "global_batch_size = 64", "2026-01-03T10:00:00Z");
  const auto runs = lmlab::rebuild_index(tmp.path());
  REQUIRE(runs.size() == 3);
  const auto named = [&](const std::string& name) {
    return *std::find_if(runs.begin(), runs.end(), [&](const auto& r) { return r.name == name; });
  };
  CHECK(named("seed1-before").variant == named("seed2-after").variant);
  CHECK(named("seed1-before").variant != named("seed3-other").variant);
}

}  // namespace experiment_index_tests
