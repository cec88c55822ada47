#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstdint>
#include <string>
#include <vector>

#include "results/grad_flow.hpp"
#include "results/run_file.hpp"
#include "results/run_reader.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

namespace grad_flow_tests {

using lmlab::RunFile;
using lmlab::RunReader;

namespace {

void monitor_row(RunFile& file, const std::string& group, std::int64_t step, const std::string& layer, double grad) {
  file.append(group, {{"step", step}, {"layer", layer}, {"grad_norm", grad}, {"weight_norm", 10.0 * grad}});
}

}  // namespace

TEST_CASE("grad flow: grad_monitor's rows pivot to step x layer matrices, NaN where a row is missing", "[grad_flow]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "run.h5";
  {
    RunFile file = RunFile::create(path);
    file.append("train", {{"step", std::int64_t{10}}, {"loss", 1.0}});
    monitor_row(file, "grad_monitor", 10, "embeddings", 1.0);
    monitor_row(file, "grad_monitor", 10, "blocks.0", 2.0);
    monitor_row(file, "grad_monitor", 10, "head", 3.0);
    monitor_row(file, "grad_monitor", 20, "embeddings", 4.0);
    monitor_row(file, "grad_monitor", 20, "head", 6.0);  // blocks.0 has no row at step 20
    monitor_row(file, "grad_monitor.2", 10, "head", 0.5);  // a second monitor, listed second
  }
  const auto flows = lmlab::read_grad_flow(RunReader(path));
  REQUIRE(flows.size() == 2);
  const lmlab::GradFlow& flow = flows[0];
  CHECK(flow.source == "grad_monitor");
  CHECK(flow.steps == std::vector<std::int64_t>{10, 20});
  CHECK(flow.layers == std::vector<std::string>{"embeddings", "blocks.0", "head"});
  const std::vector<double>& g = flow.values.at("grad_norm");  // (2, 3)
  REQUIRE(g.size() == 6);
  CHECK(g[0] == 1.0);
  CHECK(g[1] == 2.0);
  CHECK(g[2] == 3.0);
  CHECK(g[3] == 4.0);
  CHECK(std::isnan(g[4]));
  CHECK(g[5] == 6.0);
  CHECK(flow.values.at("weight_norm")[5] == 60.0);
  CHECK(flows[1].source == "grad_monitor.2");
  CHECK(lmlab::grad_flow_group("grad_monitor") == "grad_flow");
  CHECK(lmlab::grad_flow_group("grad_monitor.2") == "grad_flow.2");

  {
    RunFile file = RunFile::resume(path, 20);
    lmlab::write_grad_flow(file, flows);
  }
  const RunReader reader(path);
  CHECK(reader.shape("grad_flow/grad_norm") == std::vector<std::uint64_t>{2, 3});
  CHECK(reader.ints("grad_flow/step") == std::vector<std::int64_t>{10, 20});
  CHECK(reader.strings("grad_flow/layer") == flow.layers);
  CHECK(reader.floats("grad_flow/weight_norm")[0] == 10.0);
  CHECK(reader.shape("grad_flow.2/grad_norm") == std::vector<std::uint64_t>{1, 1});
}

TEST_CASE("grad flow: a run without grad_monitor has none, and a real run writes /grad_flow at its end", "[grad_flow]") {
  lmlab::test::TempDir tmp;
  {
    RunFile file = RunFile::create(tmp / "plain.h5");
    file.append("train", {{"step", std::int64_t{1}}, {"loss", 1.0}});
  }
  CHECK(lmlab::read_grad_flow(RunReader(tmp / "plain.h5")).empty());

  lmlab::test::write_generated_corpus(tmp / "corpus", 8000);
  lmlab::test::write_file(tmp / "exp.toml", lmlab::test::tiny_experiment(tmp / "corpus", tmp / "results") +
                                                "\n[[regularisers]]\nname = \"grad_monitor\"\n");
  const auto r = lmlab::test::run_command(lmlab::test::lmlab_binary() + " run " + (tmp / "exp.toml").string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::filesystem::path h5;
  for (const auto& entry : std::filesystem::directory_iterator(tmp / "results" / "cli")) {
    if (entry.path().extension() == ".h5" && entry.path().filename() != "index.h5") h5 = entry.path();
  }
  const RunReader run(h5);
  const auto layers = run.strings("grad_flow/layer");
  const auto steps = run.ints("grad_flow/step");
  CHECK(steps == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6});  // log_every = 1
  CHECK(std::find(layers.begin(), layers.end(), "blocks.0") != layers.end());
  CHECK(run.shape("grad_flow/grad_norm") == std::vector<std::uint64_t>{steps.size(), layers.size()});
  // The matrix holds what the rows hold.
  const auto pivot = lmlab::read_grad_flow(run);
  CHECK(run.floats("grad_flow/grad_norm") == pivot.front().values.at("grad_norm"));
}

TEST_CASE("grad flow: the summary compares the first numbered layer's gradient with the last's", "[grad_flow]") {
  lmlab::GradFlow flow;
  flow.source = "grad_monitor";
  flow.steps = {10, 20, 30};
  flow.layers = {"embeddings", "blocks.0", "blocks.1", "blocks.2", "head"};
  const double nan = std::nan("");
  // blocks.0 / blocks.2: step 10, 0.1 / 1 = 0.1; step 20, 0.4 / 0.1 = 4; step 30 has no
  // blocks.0 value and is left out. The geometric mean of 0.1 and 4 is sqrt(0.4).
  flow.values["grad_norm"] = {5.0, 0.1, 0.5, 1.0, 2.0,  //
                              7.0, 0.4, 0.2, 0.1, 3.0,  //
                              1.0, nan, 0.3, 0.2, 9.5};
  const auto summary = lmlab::grad_flow_summary(flow);
  REQUIRE(summary.size() == 2);
  CHECK(summary[0].first == "first_last_ratio");
  CHECK(summary[0].second == Approx(std::sqrt(0.4)));
  CHECK(summary[1].first == "max_grad_norm");
  CHECK(summary[1].second == 9.5);

  flow.layers = {"embeddings", "blocks.0", "x", "y", "head"};  // one numbered layer: no ratio
  CHECK(std::isnan(lmlab::grad_flow_summary(flow)[0].second));
  flow.values.clear();
  CHECK(std::isnan(lmlab::grad_flow_summary(flow)[1].second));
}

}  // namespace grad_flow_tests
