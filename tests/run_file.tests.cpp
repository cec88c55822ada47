// No LibTorch tensors here: the crash test forks, which is only safe before any torch thread pool exists.
#include "support/catch.hpp"

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <H5Cpp.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmlab/error.hpp"
#include "results/run_file.hpp"
#include "results/run_reader.hpp"
#include "support/test_support.hpp"

namespace run_file_tests {

using Catch::Matchers::Contains;
using lmlab::RunFile;
namespace rf = lmlab::run_file;

namespace {

RunFile::Row train_row(std::int64_t step, double loss) {
  return {{"step", step}, {"loss", loss}, {"note", std::string("step ") + std::to_string(step)}};
}

std::vector<std::int64_t> range(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = first; i <= last; ++i) out.push_back(i);
  return out;
}

}  // namespace

TEST_CASE("run file: root attributes hold text, integers and doubles", "[run_file]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "deep" / "folder" / "run.h5";
  {
    RunFile run = RunFile::create(path);
    run.set_attribute("config", "[train]\nsteps = 5\nname = \"杭州\"\n");
    run.set_attribute("status", "running");
    run.set_attribute("threads", std::int64_t{-12});
    run.set_attribute("lr", 0.1);
    run.set_attribute("tiny", 1.0 / 3.0);
    run.set_attribute("status", "complete");  // replaced, not duplicated
    run.set_attribute("threads", std::int64_t{4});
    run.set_attribute("status_reason", "");
    CHECK(run.path() == path);
    // Attributes are written at once: another handle sees them while the run is open.
    CHECK(rf::read_attribute(path, "status") == "complete");
  }
  CHECK(rf::read_attribute(path, "config") == "[train]\nsteps = 5\nname = \"杭州\"\n");
  CHECK(rf::read_attribute(path, "status") == "complete");
  CHECK(rf::read_attribute(path, "threads") == "4");
  CHECK(rf::read_attribute(path, "status_reason").empty());
  CHECK(rf::read_attribute(path, "lr") == "0.1");
  CHECK(std::stod(rf::read_attribute(path, "tiny")) == 1.0 / 3.0);
  CHECK(rf::has_attribute(path, "lr"));
  CHECK_FALSE(rf::has_attribute(path, "absent"));
  CHECK_THROWS_WITH(rf::read_attribute(path, "absent"), Contains("absent") && Contains(path.string()));

  H5::H5File h5(path.string(), H5F_ACC_RDONLY);
  CHECK(h5.getNumAttrs() == 6);
  const H5::Attribute config = h5.openAttribute("config");
  REQUIRE(config.getTypeClass() == H5T_STRING);
  CHECK(config.getStrType().isVariableStr());
  CHECK(config.getStrType().getCset() == H5T_CSET_UTF8);
  CHECK(config.getSpace().getSimpleExtentType() == H5S_SCALAR);
  const H5::Attribute threads = h5.openAttribute("threads");
  REQUIRE(threads.getTypeClass() == H5T_INTEGER);
  CHECK(threads.getIntType().getSize() == 8);
  CHECK(threads.getIntType().getSign() == H5T_SGN_2);
  const H5::Attribute lr = h5.openAttribute("lr");
  REQUIRE(lr.getTypeClass() == H5T_FLOAT);
  CHECK(lr.getFloatType().getSize() == 8);
}

TEST_CASE("run file: rows become datasets of the right types, only on flush", "[run_file]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "run.h5";
  RunFile run = RunFile::create(path);
  run.append("train", train_row(1, 2.5));
  run.append("train", train_row(2, 2.25));
  run.append("eval", {{"step", std::int64_t{2}}, {"val_loss", 2.0}});
  // Nothing is written before a flush: the group does not exist yet.
  CHECK_THROWS_AS(rf::read_ints(path, "/train/step"), lmlab::DataError);

  run.flush();
  CHECK(rf::read_ints(path, "/train/step") == std::vector<std::int64_t>{1, 2});
  CHECK(rf::read_floats(path, "train/loss") == std::vector<double>{2.5, 2.25});
  CHECK(rf::read_strings(path, "/train/note") == std::vector<std::string>{"step 1", "step 2"});
  CHECK(rf::read_floats(path, "/eval/val_loss") == std::vector<double>{2.0});

  run.append("train", train_row(3, 2.0));
  CHECK(rf::read_ints(path, "/train/step").size() == 2);  // buffered only
  run.append("samples",
             {{"step", std::int64_t{3}}, {"prompt", std::string("杭州")}, {"continuation", std::string("是个好地方\n")}});
  run.flush();
  CHECK(rf::read_ints(path, "/train/step") == std::vector<std::int64_t>{1, 2, 3});
  CHECK(rf::read_strings(path, "/samples/continuation") == std::vector<std::string>{"是个好地方\n"});
  run.flush();  // an empty flush changes nothing
  CHECK(rf::read_ints(path, "/train/step").size() == 3);

  // The writer is still open in this process, and HDF5 opens a file twice in one process only
  // with the same locking flags: the writer's, off (another process may keep the default).
  H5::FileAccPropList unlocked;
  H5Pset_file_locking(unlocked.getId(), false, true);
  H5::H5File h5(path.string(), H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, unlocked);
  for (const char* name : {"/train/step", "/train/loss", "/train/note"}) {
    INFO(name);
    const H5::DataSet ds = h5.openDataSet(name);
    const H5::DataSpace space = ds.getSpace();
    REQUIRE(space.getSimpleExtentNdims() == 1);
    hsize_t dims = 0, max_dims = 0;
    space.getSimpleExtentDims(&dims, &max_dims);
    CHECK(dims == 3);
    CHECK(max_dims == H5S_UNLIMITED);
    CHECK(ds.getCreatePlist().getLayout() == H5D_CHUNKED);
  }
  CHECK(h5.openDataSet("/train/step").getTypeClass() == H5T_INTEGER);
  CHECK(h5.openDataSet("/train/step").getIntType().getSize() == 8);
  CHECK(h5.openDataSet("/train/loss").getTypeClass() == H5T_FLOAT);
  CHECK(h5.openDataSet("/train/loss").getFloatType().getSize() == 8);
  const H5::StrType note = h5.openDataSet("/train/note").getStrType();
  CHECK(note.isVariableStr());
  CHECK(note.getCset() == H5T_CSET_UTF8);
}

TEST_CASE("run file: the destructor flushes, and many rows span chunks", "[run_file]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "run.h5";
  {
    RunFile run = RunFile::create(path);
    for (std::int64_t step = 1; step <= 1500; ++step) run.append("train", train_row(step, 1.0 / step));
    run.flush();
    for (std::int64_t step = 1501; step <= 2600; ++step) run.append("train", train_row(step, 1.0 / step));
    RunFile moved = std::move(run);  // the moved-to object owns the buffer now
  }
  CHECK(rf::read_ints(path, "/train/step") == range(1, 2600));
  const auto loss = rf::read_floats(path, "/train/loss");
  REQUIRE(loss.size() == 2600);
  CHECK(loss[2599] == 1.0 / 2600);
  CHECK(rf::read_strings(path, "/train/note")[2047] == "step 2048");
}

TEST_CASE("run file: rows with other columns are DataErrors naming group and column", "[run_file]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "run.h5";
  RunFile run = RunFile::create(path);
  run.append("train", train_row(1, 1.0));
  CHECK_THROWS_WITH(run.append("train", {{"step", std::int64_t{2}}, {"loss", 1.0}}), Contains("train") && Contains("note"));
  CHECK_THROWS_WITH(run.append("train", {{"step", std::int64_t{2}}, {"loss", 1.0}, {"note", std::string("n")}, {"lr", 0.1}}),
                    Contains("train") && Contains("lr"));
  CHECK_THROWS_WITH(run.append("train", {{"step", 2.0}, {"loss", 1.0}, {"note", std::string("n")}}),
                    Contains("train") && Contains("step") && Contains("int64"));
  CHECK_THROWS_WITH(run.append("train", {{"step", std::int64_t{2}}, {"loss", std::string("x")}, {"note", std::string("n")}}),
                    Contains("loss"));
  CHECK_THROWS_AS(run.append("train", {{"step", std::int64_t{2}}, {"step", std::int64_t{2}}}), lmlab::DataError);
  CHECK_THROWS_AS(run.append("train", {}), lmlab::DataError);
  CHECK_THROWS_AS(run.append("a//b", train_row(1, 1.0)), lmlab::DataError);
  CHECK_THROWS_AS(run.append("a/", train_row(1, 1.0)), lmlab::DataError);
  CHECK_THROWS_AS(run.append("/a", train_row(1, 1.0)), lmlab::DataError);
  CHECK_THROWS_AS(run.append("train", {{"a/b", 1.0}}), lmlab::DataError);
  // Column order does not matter, and an integer is accepted into a float column.
  run.append("train", {{"note", std::string("n")}, {"loss", std::int64_t{3}}, {"step", std::int64_t{2}}});
  run.flush();
  CHECK(rf::read_ints(path, "/train/step") == std::vector<std::int64_t>{1, 2});
  CHECK(rf::read_floats(path, "/train/loss") == std::vector<double>{1.0, 3.0});
  CHECK(rf::read_strings(path, "/train/note") == std::vector<std::string>{"step 1", "n"});
}

TEST_CASE("run file: resume drops rows after the last step and continues", "[run_file]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "run.h5";
  {
    RunFile run = RunFile::create(path);
    run.set_attribute("status", "running");
    for (std::int64_t step = 10; step <= 50; step += 10) run.append("train", train_row(step, 5.0 - step / 10));
    run.append("eval", {{"step", std::int64_t{20}}, {"val_loss", 3.0}});
    run.append("eval", {{"step", std::int64_t{40}}, {"val_loss", 1.0}});
    run.append("meta", {{"key", std::string("k")}, {"value", std::int64_t{1}}});  // no step column: kept whole
    run.flush();
  }
  {
    RunFile run = RunFile::resume(path, 30);
    CHECK(rf::read_ints(path, "/train/step") == std::vector<std::int64_t>{10, 20, 30});
    CHECK(rf::read_floats(path, "/train/loss") == std::vector<double>{4.0, 3.0, 2.0});
    CHECK(rf::read_strings(path, "/train/note").size() == 3);
    CHECK(rf::read_ints(path, "/eval/step") == std::vector<std::int64_t>{20});
    CHECK(rf::read_floats(path, "/eval/val_loss") == std::vector<double>{3.0});
    CHECK(rf::read_ints(path, "/meta/value") == std::vector<std::int64_t>{1});
    CHECK(rf::read_attribute(path, "status") == "running");
    // Columns come from the existing datasets.
    CHECK_THROWS_WITH(run.append("eval", {{"step", std::int64_t{60}}}), Contains("eval") && Contains("val_loss"));
    run.append("train", train_row(40, 0.5));
    run.append("eval", {{"step", std::int64_t{40}}, {"val_loss", 0.25}});
    run.set_attribute("status", "complete");
  }
  CHECK(rf::read_ints(path, "/train/step") == std::vector<std::int64_t>{10, 20, 30, 40});
  CHECK(rf::read_floats(path, "/train/loss") == std::vector<double>{4.0, 3.0, 2.0, 0.5});
  CHECK(rf::read_strings(path, "/train/note").back() == "step 40");
  CHECK(rf::read_floats(path, "/eval/val_loss") == std::vector<double>{3.0, 0.25});
  CHECK(rf::read_attribute(path, "status") == "complete");

  { RunFile run = RunFile::resume(path, 0); }  // before every row: all step groups empty
  CHECK(rf::read_ints(path, "/train/step").empty());
  CHECK(rf::read_strings(path, "/train/note").empty());
  CHECK(rf::read_ints(path, "/eval/step").empty());
  CHECK(rf::read_ints(path, "/meta/value").size() == 1);
}

TEST_CASE("run file: nested groups are created with their parents and resume like the others", "[run_file]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "run.h5";
  {
    RunFile run = RunFile::create(path);
    for (std::int64_t step = 10; step <= 30; step += 10) {
      run.append("generation/greedy/metrics", {{"step", step}, {"tokens.seq_rep_4", 0.1 * static_cast<double>(step)}});
      run.append("generation/beam.4/metrics", {{"step", step}, {"tokens.seq_rep_4", 0.5}});
    }
    run.append("generation/greedy/samples", {{"step", std::int64_t{30}}, {"text", std::string("abc")}});
    run.flush();
  }
  CHECK(rf::read_floats(path, "/generation/greedy/metrics/tokens.seq_rep_4") == std::vector<double>{1.0, 2.0, 3.0});
  CHECK(rf::read_ints(path, "/generation/beam.4/metrics/step") == std::vector<std::int64_t>{10, 20, 30});
  {
    RunFile run = RunFile::resume(path, 20);
    CHECK(rf::read_ints(path, "/generation/greedy/metrics/step") == std::vector<std::int64_t>{10, 20});
    CHECK(rf::read_ints(path, "/generation/beam.4/metrics/step") == std::vector<std::int64_t>{10, 20});
    CHECK(rf::read_strings(path, "/generation/greedy/samples/text").empty());
    // The adopted group keeps its columns: a row without them is refused.
    CHECK_THROWS_WITH(run.append("generation/greedy/metrics", {{"step", std::int64_t{30}}}),
                      Contains("generation/greedy/metrics") && Contains("tokens.seq_rep_4"));
    run.append("generation/greedy/metrics", {{"step", std::int64_t{30}}, {"tokens.seq_rep_4", 9.0}});
  }
  CHECK(rf::read_floats(path, "/generation/greedy/metrics/tokens.seq_rep_4") == std::vector<double>{1.0, 2.0, 9.0});
}

TEST_CASE("run file: a reader with default settings sees rows appear while the writer runs", "[run_file]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "run.h5";
  RunFile run = RunFile::create(path);
  run.set_attribute("status", "running");
  // The writer still has the file open; the reader opens it with HDF5's default file locking.
  CHECK(rf::read_attribute(path, "status") == "running");
  for (std::int64_t step = 1; step <= 3; ++step) {
    run.append("train", train_row(step, 1.0 / static_cast<double>(step)));
    run.append("generation/greedy/metrics", {{"step", step}, {"tokens.seq_rep_4", 0.5}});
    // Buffered rows are not on disk before the flush, and are after it.
    if (step == 1) {
      CHECK_THROWS_AS(rf::read_ints(path, "/train/step"), lmlab::DataError);
    } else {
      CHECK(rf::read_ints(path, "/train/step").size() == static_cast<std::size_t>(step - 1));
    }
    run.flush();
    CHECK(rf::read_ints(path, "/train/step").size() == static_cast<std::size_t>(step));
    CHECK(rf::read_floats(path, "/generation/greedy/metrics/tokens.seq_rep_4").size() == static_cast<std::size_t>(step));
  }
  run.set_attribute("status", "complete");
  CHECK(rf::read_attribute(path, "status") == "complete");
}

TEST_CASE("run file: missing files are DataErrors naming them", "[run_file]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "absent.h5";
  CHECK_THROWS_WITH(RunFile::resume(path, 1), Contains(path.string()));
  CHECK_THROWS_WITH(rf::read_ints(path, "/train/step"), Contains(path.string()));
  CHECK_THROWS_AS(rf::has_attribute(path, "status"), lmlab::DataError);
  lmlab::test::write_file(tmp / "junk.h5", "not an HDF5 file");
  CHECK_THROWS_WITH(RunFile::resume(tmp / "junk.h5", 1), Contains((tmp / "junk.h5").string()));
  { RunFile run = RunFile::create(tmp / "ok.h5"); }
  CHECK_THROWS_WITH(rf::read_floats(tmp / "ok.h5", "/train/loss"), Contains("/train/loss"));
}

TEST_CASE("run file: a SIGKILLed writer leaves a readable file with exactly the flushed rows", "[run_file]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "killed.h5";
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    char message = 'r';
    try {
      RunFile run = RunFile::create(path);
      run.set_attribute("status", "running");
      for (std::int64_t step = 1; step <= 1200; ++step) {
        run.append("train", train_row(step, 1.0 / step));
        if (step % 500 == 0) run.flush();
      }
      run.append("eval", {{"step", std::int64_t{1000}}, {"val_loss", 1.5}});
      run.flush();  // rows 1..1200 and the eval row are on disk
      for (std::int64_t step = 1201; step <= 1300; ++step) run.append("train", train_row(step, 0.0));
      run.append("samples", {{"step", std::int64_t{1300}}, {"prompt", std::string("p")}});
      run.set_attribute("progress", std::int64_t{1300});  // attributes are written at once, rows not
      if (write(ready[1], &message, 1) != 1) _exit(2);
      for (;;) pause();  // wait to be killed with the run still open: its destructor must not run
    } catch (...) {
      message = 'e';
    }
    if (write(ready[1], &message, 1) != 1) _exit(2);
    _exit(1);
  }
  close(ready[1]);
  char message = 0;
  const ssize_t got = read(ready[0], &message, 1);
  close(ready[0]);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(got == 1);
  REQUIRE(message == 'r');
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  CHECK(rf::read_ints(path, "/train/step") == range(1, 1200));
  CHECK(rf::read_floats(path, "/train/loss").size() == 1200);
  CHECK(rf::read_strings(path, "/train/note").back() == "step 1200");
  CHECK(rf::read_floats(path, "/eval/val_loss") == std::vector<double>{1.5});
  CHECK_THROWS_AS(rf::read_ints(path, "/samples/step"), lmlab::DataError);
  CHECK(rf::read_attribute(path, "status") == "running");
  CHECK(rf::read_attribute(path, "progress") == "1300");
  // And the killed run can be resumed and written again.
  {
    RunFile run = RunFile::resume(path, 1100);
    run.append("train", train_row(1101, 0.1));
  }
  CHECK(rf::read_ints(path, "/train/step") == range(1, 1101));
}

TEST_CASE("run file: arrays of any shape are written whole, replaced, and dropped by a resume", "[run_file]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "run.h5";
  {
    RunFile run = RunFile::create(path);
    run.append("train", train_row(1, 2.0));
    run.append("train", train_row(2, 1.5));
    run.flush();
    run.write_array("derived/matrix", {2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6});
    run.write_array("derived/step", {2}, std::vector<std::int64_t>{1, 2});
    run.write_array("derived/layer", {3}, std::vector<std::string>{"a", "b", "c"});
    // Written at once, like attributes: readable while the writer is open.
    CHECK(lmlab::RunReader(path).shape("derived/matrix") == std::vector<std::uint64_t>{2, 3});
    run.write_array("derived/matrix", {1, 2}, std::vector<double>{7, 8});  // replaces
    CHECK_THROWS_WITH(run.write_array("derived/bad", {2, 2}, std::vector<double>{1, 2, 3}),
                      Contains("derived/bad") && Contains("3 values do not fill shape (2, 2)"));
  }
  {
    const lmlab::RunReader reader(path);  // closed before the resume: HDF5 opens a file one way per process
    CHECK(reader.shape("derived/matrix") == std::vector<std::uint64_t>{1, 2});
    CHECK(reader.floats("derived/matrix") == std::vector<double>{7, 8});
    CHECK(reader.ints("derived/step") == std::vector<std::int64_t>{1, 2});
    CHECK(reader.strings("derived/layer") == std::vector<std::string>{"a", "b", "c"});
  }
  {
    // The derived group describes rows a resume may drop: it goes, the columns stay.
    RunFile run = RunFile::resume(path, 1);
    run.append("train", train_row(2, 1.25));
  }
  const lmlab::RunReader resumed(path);
  CHECK_FALSE(resumed.exists("derived"));
  CHECK(resumed.floats("train/loss") == std::vector<double>{2.0, 1.25});
}

TEST_CASE("run file: external links lead to another file's objects, relative to the linking file", "[run_file]") {
  lmlab::test::TempDir tmp;
  {
    RunFile target = RunFile::create(tmp / "runs" / "a.h5");
    target.append("eval", {{"step", std::int64_t{3}}, {"val_loss", 1.5}});
  }
  {
    RunFile index = RunFile::create(tmp / "runs" / "index.h5");
    index.link_external("runs/a", "a.h5");
    index.link_external("loss_of_a", "a.h5", "/eval/val_loss");
  }
  // Read from another working directory: HDF5 resolves the target beside the index.
  const auto r = lmlab::test::run_command(
      "cd / && /usr/bin/python3 -c \"import h5py; f = h5py.File('" + (tmp / "runs" / "index.h5").string() +
      "', 'r'); print(f['runs/a/eval/step'][:].tolist(), f['loss_of_a'][:].tolist())\"");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("[3] [1.5]"));
}

TEST_CASE("run file: set_status marks a file no one writes, keeping its rows and derived groups", "[run_file]") {
  lmlab::test::TempDir tmp;
  const auto path = tmp / "run.h5";
  {
    RunFile run = RunFile::create(path);
    run.set_attribute("status", "running");
    run.append("train", train_row(1, 2.0));
    run.flush();
    run.write_array("derived/matrix", {1, 1}, std::vector<double>{1.0});
  }
  RunFile::set_status(path, "failed", "killed by signal 9");
  const lmlab::RunReader reader(path);
  CHECK(reader.attribute("status") == "failed");
  CHECK(reader.attribute("status_reason") == "killed by signal 9");
  CHECK(reader.floats("train/loss") == std::vector<double>{2.0});
  CHECK(reader.exists("derived/matrix"));
  CHECK_THROWS_WITH(RunFile::set_status(tmp / "absent.h5", "failed", ""), Contains("absent.h5"));
}

}  // namespace run_file_tests
