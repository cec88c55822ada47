// Checkpoints under failure: a write that hits a full disk, a file damaged after it was written,
// --resume from a damaged checkpoint, and the messages a user sees for each.
#include "support/catch.hpp"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <sys/resource.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>

#include "lmlab/error.hpp"
#include "results/run_file.hpp"
#include "support/test_support.hpp"
#include "training/checkpoint.hpp"

namespace checkpoint_tests {

namespace fs = std::filesystem;
using Catch::Contains;
using lmlab::test::TempDir;

namespace {

// A model, optimizer and generator large enough (~0.8 MB saved) for a checkpoint to exceed a
// small file size limit.
struct Parts {
  torch::nn::Linear model{256, 256};
  torch::optim::AdamW optimizer{model->parameters(), torch::optim::AdamWOptions(1e-3)};
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(3);

  Parts() {
    // One step, so the optimizer has state to save.
    model->forward(at::ones({2, 256})).sum().backward();
    optimizer.step();
  }
  lmlab::CheckpointParts parts() { return {*model, optimizer, generator, c10::Device(c10::kCPU)}; }
  at::Tensor weight() { return model->weight.detach().clone(); }
};

lmlab::TrainingState at_step(std::int64_t step) {
  lmlab::TrainingState state;
  state.step = step;
  state.tokens = 100 * step;
  return state;
}

// Lowers this process's file size limit while it lives, as a full disk or a quota would stop a
// write: with SIGXFSZ ignored, the write fails with EFBIG instead of killing the process.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit saved_{};
  void (*previous_handler_)(int) = nullptr;
};

// Flips one byte in the middle of `file`, where a checkpoint holds tensor data.
void flip_byte(const fs::path& file) {
  std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
  const auto middle = static_cast<std::streamoff>(fs::file_size(file) / 2);
  io.seekg(middle);
  char byte = 0;
  io.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x5a);
  io.seekp(middle);
  io.write(&byte, 1);
}

}  // namespace

TEST_CASE("a checkpoint write that hits a full disk fails with one message, removes its temporary and keeps the "
          "previous checkpoint") {
  TempDir dir;
  Parts p;
  const fs::path file = dir / "run.ckpt";
  lmlab::save_checkpoint(file, p.parts(), at_step(1), "hash");
  {
    const FileSizeLimit limit(64 * 1024);
    // LibTorch's own writer threw from its destructor here and aborted the process.
    REQUIRE_THROWS_AS(lmlab::save_checkpoint(file, p.parts(), at_step(2), "hash"), lmlab::DataError);
    CHECK_THROWS_WITH(lmlab::save_checkpoint(file, p.parts(), at_step(2), "hash"),
                      Contains("cannot write checkpoint " + file.string()) && Contains("File too large") &&
                          !Contains("frame #"));
  }
  CHECK_FALSE(fs::exists(file.string() + ".tmp"));
  Parts restored;
  CHECK(lmlab::load_checkpoint(file, restored.parts(), "hash").step == 1);
}

TEST_CASE("a checkpoint appears only complete, and the one it replaces is kept beside it") {
  TempDir dir;
  Parts p;
  const fs::path file = dir / "run.ckpt";
  lmlab::save_checkpoint(file, p.parts(), at_step(1), "hash");
  CHECK_FALSE(fs::exists(lmlab::previous_checkpoint_path(file)));
  lmlab::save_checkpoint(file, p.parts(), at_step(2), "hash");
  Parts a, b;
  CHECK(lmlab::load_checkpoint(file, a.parts(), "hash").step == 2);
  CHECK(lmlab::load_checkpoint(lmlab::previous_checkpoint_path(file), b.parts(), "hash").step == 1);
  CHECK_FALSE(fs::exists(file.string() + ".tmp"));
  CHECK(at::equal(a.weight(), p.weight()));
  // The folder holds one .ckpt still: `generate --checkpoint <folder>` finds it.
  CHECK(lmlab::find_checkpoint(dir.path()) == file);
  lmlab::remove_checkpoint(file);
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("a checkpoint with a flipped byte is refused, naming it, before anything is loaded") {
  TempDir dir;
  Parts p;
  const fs::path file = dir / "run.ckpt";
  lmlab::save_checkpoint(file, p.parts(), at_step(4), "hash");
  flip_byte(file);
  Parts other;
  const at::Tensor before = other.weight();
  CHECK_THROWS_AS(lmlab::load_checkpoint(file, other.parts(), "hash"), lmlab::CorruptCheckpoint);
  CHECK_THROWS_WITH(lmlab::load_checkpoint(file, other.parts(), "hash"),
                    Contains("checkpoint " + file.string() + " is corrupt") && Contains("SHA-256"));
  CHECK(at::equal(other.weight(), before));
  // What `lmlab generate` and init_from read is checked the same way.
  CHECK_THROWS_AS(lmlab::load_model_weights(file, *other.model, c10::Device(c10::kCPU)), lmlab::CorruptCheckpoint);
  CHECK_THROWS_AS(lmlab::read_checkpoint_config(file), lmlab::CorruptCheckpoint);
  CHECK(at::equal(other.weight(), before));
}

TEST_CASE("resuming from a corrupt checkpoint falls back to the previous one, or stops changing nothing") {
  TempDir dir;
  Parts p;
  const fs::path file = dir / "run.ckpt";
  lmlab::save_checkpoint(file, p.parts(), at_step(3), "hash");
  lmlab::save_checkpoint(file, p.parts(), at_step(6), "hash");
  flip_byte(file);
  std::ostringstream out;
  Parts resumed;
  CHECK(lmlab::resume_checkpoint(file, resumed.parts(), "hash", out).step == 3);
  CHECK_THAT(out.str(), Contains("is corrupt") && Contains("resuming from the previous checkpoint"));
  CHECK(fs::exists(file.string() + ".corrupt"));
  // The previous one is the current now, so the next save keeps an intact .prev.
  Parts again;
  CHECK(lmlab::load_checkpoint(file, again.parts(), "hash").step == 3);

  // With no intact previous one: a clear refusal, and every file as it was.
  fs::remove(lmlab::previous_checkpoint_path(file));
  flip_byte(file);
  const auto size = fs::file_size(file);
  CHECK_THROWS_WITH(lmlab::resume_checkpoint(file, again.parts(), "hash", out),
                    Contains(file.string() + " is corrupt") && Contains("nothing was changed"));
  CHECK(fs::file_size(file) == size);
}

TEST_CASE("resuming falls back to the previous checkpoint when the current one is cut short or missing") {
  TempDir dir;
  Parts p;
  const fs::path file = dir / "run.ckpt";
  lmlab::save_checkpoint(file, p.parts(), at_step(3), "hash");
  lmlab::save_checkpoint(file, p.parts(), at_step(6), "hash");
  // Cut short, seal and all: it reads as an unsealed file that does not load.
  fs::resize_file(file, fs::file_size(file) / 2);
  std::ostringstream out;
  Parts resumed;
  CHECK(lmlab::resume_checkpoint(file, resumed.parts(), "hash", out).step == 3);
  CHECK_THAT(out.str(), Contains("resuming from the previous checkpoint"));
  // Missing altogether (a restore or save stopped between its steps): the previous one serves.
  fs::remove(file);
  Parts again;
  CHECK(lmlab::resume_checkpoint(file, again.parts(), "hash", out).step == 3);
  CHECK(fs::exists(file));
  CHECK(fs::exists(lmlab::previous_checkpoint_path(file)));
}

TEST_CASE("checkpoint errors leave out LibTorch's backtrace unless LMLAB_DEBUG is set") {
  TempDir dir;
  const fs::path file = dir / "garbage.ckpt";
  lmlab::test::write_file(file, std::string(4096, 'x'));
  ::unsetenv("LMLAB_DEBUG");
  CHECK_THROWS_WITH(lmlab::read_checkpoint_config(file),
                    Contains("cannot read checkpoint " + file.string()) && !Contains("frame #"));
  ::setenv("LMLAB_DEBUG", "1", 1);
  CHECK_THROWS_WITH(lmlab::read_checkpoint_config(file), Contains("frame #"));
  ::unsetenv("LMLAB_DEBUG");
}

TEST_CASE("--resume of a run whose checkpoint is corrupt stops with a clear message and leaves the run unfailed") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  lmlab::test::write_file(dir / "exp.toml", lmlab::test::tiny_experiment(dir / "corpus", dir / "results"));
  const std::string run = lmlab::test::lmlab_binary() + " run " + (dir / "exp.toml").string();
  REQUIRE(lmlab::test::run_command(run + " --stop-after 2").exit_code == 130);
  fs::path ckpt;
  for (const auto& entry : fs::directory_iterator(dir / "results" / "cli")) {
    if (entry.path().extension() == ".ckpt") ckpt = entry.path();
  }
  REQUIRE_FALSE(ckpt.empty());
  REQUIRE_FALSE(fs::exists(lmlab::previous_checkpoint_path(ckpt)));  // one checkpoint so far
  flip_byte(ckpt);
  const auto resumed = lmlab::test::run_command(run + " --resume");
  INFO(resumed.output);
  CHECK(resumed.exit_code > 0);
  CHECK(resumed.exit_code < 128);
  CHECK_THAT(resumed.output, Contains(ckpt.string() + " is corrupt") && !Contains("frame #"));
  const fs::path h5 = fs::path(ckpt).replace_extension(".h5");
  CHECK(lmlab::run_file::read_attribute(h5, "status") == "stopped");
}

}  // namespace checkpoint_tests
