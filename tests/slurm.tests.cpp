#include <string>

#include "lmlab/error.hpp"
#include "sweeps/slurm.hpp"
#include "support/config_fixtures.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

namespace slurm_tests {

using Catch::Matchers::Contains;
using lmlab::test::run_command;
using lmlab::test::TempDir;
using lmlab::test::write_file;

namespace {

lmlab::SlurmJob job(const TempDir& dir, std::int64_t runs) {
  lmlab::SlurmJob j;
  j.binary = "/bin/echo";  // the script's last line then prints what it would run
  j.file = dir / "my sweep's file.toml";
  j.working_dir = dir.path();
  j.log_dir = dir / "results";
  j.overrides = {"train.steps=10", "decoding.chain=[\"greedy\"]"};
  j.runs = runs;
  j.name = "ablation";
  return j;
}

}  // namespace

TEST_CASE("slurm: one array task per shard, each running its shard; the script passes bash -n", "[slurm]") {
  TempDir dir;
  const toml::table config = toml::parse(R"([slurm]
shards = 2
jobs = 2
cpus_per_task = 4
mem = "16G"
time = "01:00:00"
partition = "cpu"
account = "lab"
extra = ["--qos=short"]
)");
  const std::string script = lmlab::slurm_script(lmlab::read_slurm(config), job(dir, 6));
  INFO(script);
  CHECK_THAT(script, Contains("#SBATCH --array=0-1\n") && Contains("#SBATCH --cpus-per-task=4\n") &&
                         Contains("#SBATCH --mem=16G\n") && Contains("#SBATCH --time=01:00:00\n") &&
                         Contains("#SBATCH --partition=cpu\n") && Contains("#SBATCH --account=lab\n") &&
                         Contains("#SBATCH --qos=short\n") && Contains("#SBATCH --job-name=ablation\n") &&
                         Contains("slurm-%A_%a.out"));
  write_file(dir / "sweep.sbatch", script);
  const auto syntax = run_command("bash -n '" + (dir / "sweep.sbatch").string() + "'");
  INFO(syntax.output);
  CHECK(syntax.exit_code == 0);
  // Task 1 of 2 runs shard 1/2, with the file and the overrides passed through intact.
  const auto task = run_command("SLURM_ARRAY_TASK_ID=1 bash '" + (dir / "sweep.sbatch").string() + "'");
  INFO(task.output);
  CHECK(task.exit_code == 0);
  CHECK_THAT(task.output, Contains("sweep " + (dir / "my sweep's file.toml").string() +
                                   " --shard 1/2 --jobs 2 --set train.steps=10 --set decoding.chain=[\"greedy\"]"));
  // Outside Slurm it refuses to guess a shard.
  CHECK(run_command("bash '" + (dir / "sweep.sbatch").string() + "'").exit_code != 0);
}

TEST_CASE("slurm: by default one task per run, never more tasks than runs; bad tables are errors", "[slurm]") {
  TempDir dir;
  const lmlab::SlurmOptions defaults = lmlab::read_slurm(toml::table{});
  CHECK_THAT(lmlab::slurm_script(defaults, job(dir, 5)), Contains("#SBATCH --array=0-4\n") && Contains("--shard \"$shard\" --jobs 1"));
  lmlab::SlurmOptions many;
  many.shards = 10;
  CHECK_THAT(lmlab::slurm_script(many, job(dir, 3)), Contains("#SBATCH --array=0-2\n") && Contains("/3\"\n"));
  CHECK_THAT(lmlab::test::config_error_of([] { lmlab::read_slurm(toml::parse(std::string_view("[slurm]\ncpus = 4\n"), std::string_view("exp.toml"))); }),
             Contains("exp.toml:2:1: slurm.cpus: unknown key") && Contains("cpus_per_task"));
  CHECK_THAT(lmlab::test::config_error_of([] { lmlab::read_slurm(toml::parse(std::string_view("[slurm]\nmem = 16\n"), std::string_view("exp.toml"))); }),
             Contains("slurm.mem: expected a string"));
  CHECK_THAT(lmlab::test::config_error_of([] { lmlab::read_slurm(toml::parse("[slurm]\nextra = [\"qos=short\"]\n")); }),
             Contains("slurm.extra[0]: \"qos=short\" is not an sbatch option"));
}

}  // namespace slurm_tests

namespace slurm_tests {

TEST_CASE("slurm: runs on several tasks each get one array task and one srun step of all their ranks", "[slurm]") {
  TempDir dir;
  const toml::table config = toml::parse("[slurm]\nnodes = 2\nntasks_per_node = 4\ncpus_per_task = 8\n");
  const lmlab::SlurmOptions options = lmlab::read_slurm(config);
  CHECK(options.tasks_per_run() == 8);
  lmlab::SlurmJob j = job(dir, 2);
  j.run_names = {"lr=0.001,seed=0-0123abcd", "lr=0.003,seed=0-4567ef01"};
  const std::string script = lmlab::slurm_script(options, j);
  INFO(script);
  CHECK_THAT(script, Contains("#SBATCH --array=0-1\n") && Contains("#SBATCH --nodes=2\n") &&
                         Contains("#SBATCH --ntasks-per-node=4\n") && Contains("#SBATCH --cpus-per-task=8\n"));
  // A fake srun in PATH prints what task 1 would start on every rank.
  write_file(dir / "bin" / "srun", "#!/bin/sh\necho srun \"$@\"\n");
  REQUIRE(run_command("chmod +x '" + (dir / "bin" / "srun").string() + "'").exit_code == 0);
  write_file(dir / "run.sbatch", script);
  const auto task = run_command("PATH='" + (dir / "bin").string() + "':$PATH SLURM_ARRAY_TASK_ID=1 bash '" +
                                (dir / "run.sbatch").string() + "'");
  INFO(task.output);
  CHECK(task.exit_code == 0);
  CHECK_THAT(task.output, Contains("srun /bin/echo run " + (dir / "my sweep's file.toml").string() +
                                   " --point lr=0.003,seed=0-4567ef01 --resume --set train.steps=10"));
  CHECK_THROWS_AS(lmlab::read_slurm(toml::parse("[slurm]\nnodes = 0\n")), lmlab::ConfigError);
}

}  // namespace slurm_tests
