#include <cstdint>
#include <string>
#include <vector>

#include "lmlab/error.hpp"
#include "results/run_file.hpp"
#include "results/run_reader.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

namespace run_reader_tests {

using Catch::Matchers::Contains;
using lmlab::RunFile;
using lmlab::RunReader;

TEST_CASE("run reader: attributes, groups, datasets, shapes and values of one open file", "[run_reader]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "run.h5";
  {
    RunFile run = RunFile::create(path);
    run.set_attribute("status", "complete");
    run.set_attribute("seed", std::int64_t{7});
    run.set_attribute("lr", 0.1);
    run.append("train", {{"step", std::int64_t{1}}, {"loss", 2.5}, {"note", std::string("first")}});
    run.append("train", {{"step", std::int64_t{2}}, {"loss", 2.0}, {"note", std::string("second")}});
    run.append("generation/greedy/metrics", {{"step", std::int64_t{2}}, {"entropy", 0.5}});
  }
  const RunReader reader(path);
  CHECK(reader.path() == path);
  const auto attributes = reader.attributes();
  CHECK(attributes.at("status") == "complete");
  CHECK(attributes.at("seed") == "7");
  CHECK(attributes.at("lr") == "0.1");
  CHECK(reader.attribute("seed") == "7");
  CHECK_FALSE(reader.attribute("absent").has_value());
  CHECK(reader.groups("") == std::vector<std::string>{"generation", "train"});
  CHECK(reader.groups("generation") == std::vector<std::string>{"greedy"});
  CHECK(reader.datasets("train") == std::vector<std::string>{"loss", "note", "step"});
  CHECK(reader.exists("generation/greedy/metrics/entropy"));
  CHECK_FALSE(reader.exists("generation/beam/metrics"));  // a missing parent is "no", not an error
  CHECK_FALSE(reader.exists("absent"));
  CHECK(reader.shape("train/loss") == std::vector<std::uint64_t>{2});
  CHECK(reader.is_text("train/note"));
  CHECK_FALSE(reader.is_text("train/step"));
  CHECK(reader.floats("train/loss") == std::vector<double>{2.5, 2.0});
  CHECK(reader.floats("train/step") == std::vector<double>{1.0, 2.0});  // integers convert
  CHECK(reader.ints("train/step") == std::vector<std::int64_t>{1, 2});
  CHECK(reader.strings("train/note") == std::vector<std::string>{"first", "second"});
  CHECK_THROWS_WITH(reader.floats("train/note"), Contains("train/note holds text"));
  CHECK_THROWS_WITH(reader.strings("train/loss"), Contains("not variable-length text"));
  CHECK_THROWS_WITH(reader.floats("train/absent"), Contains(path.string()) && Contains("reading train/absent"));
}

TEST_CASE("run reader: a missing or foreign file is a DataError naming it", "[run_reader]") {
  lmlab::test::TempDir tmp;
  CHECK_THROWS_AS(RunReader(tmp / "absent.h5"), lmlab::DataError);
  CHECK_THROWS_WITH(RunReader(tmp / "absent.h5"), Contains("absent.h5 does not exist"));
  lmlab::test::write_file(tmp / "text.h5", "not hdf5\n");
  CHECK_THROWS_WITH(RunReader(tmp / "text.h5"), Contains("text.h5") && Contains("opening failed"));
}

}  // namespace run_reader_tests
