// Data parallelism's foundation (framework/src/distributed): who a process is (torchrun's and
// Slurm's environment), and two real ranks on 127.0.0.1 over Gloo: rank 0's model broadcast, the
// bucketed all-reduce of gradients equal to one process's gradients of the whole batch (with an
// unused layer, a layer only one rank uses, and gradient accumulation), and a rank that dies.
// The second rank is this test program again, started as a hidden test case with RANK=1.
#include <ATen/ATen.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "distributed/gradient_reducer.hpp"
#include "distributed/process_group.hpp"
#include "distributed/world.hpp"
#include "lmlab/error.hpp"
#include "support/catch.hpp"
#include "support/test_support.hpp"

extern char** environ;

namespace distributed_tests {

using lmlab::test::MessageContains;
using lmlab::test::TempDir;
namespace dist = lmlab::distributed;

namespace {

dist::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// A port nobody listened on a moment ago.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  close(fd);
  return ntohs(addr.sin_port);
}

// Rank 1: this program again, running only the hidden child test case, with torchrun's
// variables; its output goes to a file. Killed if the test ends without reaping it.
class ChildRank {
 public:
  ChildRank(const std::string& scenario, int port, const std::filesystem::path& log) : log_(log) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    for (const std::string var :
         {"RANK=1", "WORLD_SIZE=2", "LOCAL_RANK=1", "LOCAL_WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1"})
      env.push_back(var);
    env.push_back(fmt::format("MASTER_PORT={}", port));
    env.push_back("LMLAB_DISTRIBUTED_TEST_SCENARIO=" + scenario);
    std::vector<char*> envp;
    for (auto& var : env) envp.push_back(var.data());
    envp.push_back(nullptr);
    std::string exe = "/proc/self/exe", tag = "[.distributed_child]";
    char* argv[] = {exe.data(), tag.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int rc = posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(rc == 0);
  }
  ~ChildRank() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  ChildRank(const ChildRank&) = delete;
  ChildRank& operator=(const ChildRank&) = delete;

  // The child's exit status (-1 if it had to be killed after `seconds`) and its output.
  std::pair<int, std::string> wait(double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return {-1, lmlab::test::read_file(log_)};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), lmlab::test::read_file(log_)};
  }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

// Two hidden layers of odd sizes, a head only the second half of the batch uses, and a layer
// nothing uses.
struct NetImpl : torch::nn::Module {
  explicit NetImpl(std::uint64_t seed) {
    at::manual_seed(seed);
    fc1 = register_module("fc1", torch::nn::Linear(7, 5));
    fc2 = register_module("fc2", torch::nn::Linear(5, 3));
    head = register_module("head", torch::nn::Linear(5, 2));
    unused = register_module("unused", torch::nn::Linear(3, 3));
    register_buffer("scale", at::full({1}, static_cast<double>(seed)));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, head{nullptr}, unused{nullptr};
};
TORCH_MODULE(Net);

constexpr std::uint64_t kRootSeed = 11;
constexpr std::int64_t kRows = 8;

std::pair<at::Tensor, at::Tensor> batch() {
  at::manual_seed(5);
  return {at::randn({kRows, 7}), at::randn({kRows, 3})};
}

// The loss of rows [from, from + n) as the mean over them of a squared error, plus the head's
// term on rows of the second half (below `head_end`). Averaged over two ranks holding one half
// each, it is the loss of the whole batch in one process.
at::Tensor half_loss(Net& net, std::int64_t from, std::int64_t n, double weight, std::int64_t head_end = kRows) {
  const auto [x, y] = batch();
  const auto hidden = at::tanh(net->fc1(x.narrow(0, from, n)));
  auto loss = (net->fc2(hidden) - y.narrow(0, from, n)).pow(2).sum(1).mean();
  if (from >= kRows / 2 && from < head_end) loss = loss + net->head(hidden).pow(2).sum(1).mean();
  return loss * weight;
}

std::map<std::string, at::Tensor> full_batch_gradients(std::int64_t head_end) {
  Net net(kRootSeed);
  const auto [x, y] = batch();
  const auto hidden = at::tanh(net->fc1(x));
  const auto main = (net->fc2(hidden) - y).pow(2).sum(1).mean();
  const auto head =
      net->head(hidden.narrow(0, kRows / 2, head_end - kRows / 2)).pow(2).sum() / static_cast<double>(kRows);
  (main + head).backward();
  std::map<std::string, at::Tensor> grads;
  for (const auto& p : net->named_parameters()) grads[p.key()] = p.value().grad();
  return grads;
}

void require_full_batch_gradients(Net& net, const std::string& phase, std::int64_t head_end = kRows) {
  const auto expected = full_batch_gradients(head_end);
  for (const auto& p : net->named_parameters()) {
    INFO(phase << ": parameter " << p.key());
    const at::Tensor& want = expected.at(p.key());
    const at::Tensor& got = p.value().grad();
    REQUIRE(got.defined() == want.defined());
    if (want.defined()) REQUIRE((got - want).abs().max().item<double>() <= 1e-6);
  }
}

void clear_gradients(Net& net) {
  for (auto& p : net->parameters()) p.mutable_grad() = at::Tensor();
}

dist::GroupOptions gloo_options(double timeout_s) {
  dist::GroupOptions options;
  options.backend = "gloo";
  options.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  return options;
}

std::vector<std::pair<std::string, at::Tensor>> named_parameters_of(torch::nn::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : module.named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> named(Net& net) { return named_parameters_of(*net); }

// What each of the two ranks does in the equivalence test.
void equivalence_rank(const dist::World& world) {
  auto group = dist::make_process_group(world, gloo_options(10));
  Net net(kRootSeed + 100 * static_cast<std::uint64_t>(world.rank));  // rank 1 starts different
  dist::broadcast_parameters(*net, *group);
  Net root(kRootSeed);
  for (const auto& p : root->named_parameters()) REQUIRE(at::equal(net->named_parameters()[p.key()], p.value()));
  REQUIRE(at::equal(net->named_buffers()["scale"], root->named_buffers()["scale"]));

  // 40-byte buckets, closed once full, in reverse registration order.
  dist::GradientReducer reducer(named(net), group, 40.0 / (1024 * 1024));
  using Names = std::vector<std::vector<std::string>>;
  REQUIRE(reducer.bucket_names() == Names{{"unused.bias", "unused.weight"},
                                          {"head.bias", "head.weight"},
                                          {"fc2.bias", "fc2.weight"},
                                          {"fc1.bias", "fc1.weight"}});
  REQUIRE(reducer.bucket_bytes() == std::vector<std::int64_t>{48, 48, 72, 160});

  const std::int64_t half = kRows / 2, from = world.rank * half;
  half_loss(net, from, half, 1.0).backward();
  reducer.finish();
  require_full_batch_gradients(net, "one micro-step");

  // Two micro-steps of two rows: only the second communicates.
  clear_gradients(net);
  reducer.set_communicate(false);
  half_loss(net, from, half / 2, 0.5).backward();
  const at::Tensor local = net->fc1->weight.grad().clone();
  reducer.set_communicate(true);
  half_loss(net, from + half / 2, half / 2, 0.5).backward();
  reducer.finish();
  REQUIRE_FALSE(at::equal(local, net->fc1->weight.grad()));
  require_full_batch_gradients(net, "two micro-steps");

  // The head only in the first micro-step: its hook does not run in the communicating one, and
  // what it accumulated before must still be reduced.
  clear_gradients(net);
  const std::int64_t head_end = kRows / 2 + half / 2;
  reducer.set_communicate(false);
  half_loss(net, from, half / 2, 0.5, head_end).backward();
  reducer.set_communicate(true);
  half_loss(net, from + half / 2, half / 2, 0.5, head_end).backward();
  reducer.finish();
  require_full_batch_gradients(net, "head in the first micro-step only", head_end);
  group->barrier();
}

// Rank 1 of the dying-rank test: joins and builds its reducer, then dies without a word.
void dying_rank(const dist::World& world) {
  auto group = dist::make_process_group(world, gloo_options(5));
  Net net(kRootSeed);
  dist::GradientReducer reducer(named(net), group, 1.0);
  std::_Exit(3);
}

// Rank 1 of the stalling-rank test: joins and builds its reducer, then never reduces (until the
// test kills it).
void stalling_rank(const dist::World& world) {
  auto group = dist::make_process_group(world, gloo_options(1.5));
  Net net(kRootSeed);
  dist::GradientReducer reducer(named(net), group, 1.0);
  std::this_thread::sleep_for(std::chrono::seconds(30));
}

// Rank 1 of the mismatch test: a model unlike rank 0's.
void mismatched_rank(const dist::World& world) {
  auto group = dist::make_process_group(world, gloo_options(5));
  torch::nn::Linear other(7, 5);
  CHECK_THROWS_MATCHES(dist::broadcast_parameters(*other, *group), lmlab::Error,
                       MessageContains("rank 1: the model's tensor and value counts (2, 40) differ from rank 0's (9, 83)"));
}

// Eight 1024x1024 layers: 8.4M parameters, 33.6 MB of fp32 gradients.
struct StackImpl : torch::nn::Module {
  StackImpl() {
    at::manual_seed(kRootSeed);
    for (int i = 0; i < 8; ++i) layers.push_back(register_module("l" + std::to_string(i), torch::nn::Linear(1024, 1024)));
  }
  at::Tensor forward(at::Tensor x) {
    for (auto& layer : layers) x = at::tanh(layer(x));
    return x;
  }
  std::vector<torch::nn::Linear> layers;
};
TORCH_MODULE(Stack);

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Both ranks of the timing test, one thread each; rank 0 prints what it measured.
void timing_rank(const dist::World& world) {
  lmlab::test::IntraOpThreads threads(1);
  auto group = dist::make_process_group(world, gloo_options(60));
  Stack net;
  dist::broadcast_parameters(*net, *group);
  dist::GradientReducer reducer(named_parameters_of(*net), group, 25.0);
  at::manual_seed(world.rank);
  const at::Tensor x = at::randn({32, 1024});
  const auto step = [&](bool communicate) {
    reducer.set_communicate(communicate);
    net->zero_grad();
    const auto start = std::chrono::steady_clock::now();
    net->forward(x).pow(2).mean().backward();
    const double backward_s = seconds_since(start);
    const auto wait = std::chrono::steady_clock::now();
    if (communicate) reducer.finish();
    return std::pair{backward_s, seconds_since(wait)};
  };
  step(true);  // warm-up
  const int runs = 5;
  double local_s = 0, backward_s = 0, finish_s = 0;
  for (int i = 0; i < runs; ++i) local_s += step(false).first;
  for (int i = 0; i < runs; ++i) {
    const auto [b, f] = step(true);
    backward_s += b;
    finish_s += f;
  }
  std::vector<at::Tensor> flat{at::ones({25 * 1024 * 1024 / 4})};
  group->wait(group->collectives().allreduce(flat), "warm-up");
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) group->wait(group->collectives().allreduce(flat), "timing");
  const double allreduce_s = seconds_since(start) / runs;
  if (world.rank == 0)
    std::cout << fmt::format(
        "distributed timing, 2 ranks x 1 thread, Gloo on 127.0.0.1: 8.4M parameters in {} buckets of 25 MB; "
        "forward+backward without communication {:.1f} ms; with the reducer: forward+backward (launching buckets) "
        "{:.1f} ms, then finish() {:.1f} ms; one 25 MB all-reduce alone {:.1f} ms ({:.2f} GB/s of buffer)\n",
        reducer.bucket_bytes().size(), local_s / runs * 1e3, backward_s / runs * 1e3, finish_s / runs * 1e3,
        allreduce_s * 1e3, 25.0 * 1024 * 1024 / allreduce_s / 1e9);
}

}  // namespace

TEST_CASE("distributed: torchrun's environment gives rank, world and master") {
  const auto w = dist::parse_world(env_of({{"RANK", "3"},
                                           {"WORLD_SIZE", "8"},
                                           {"LOCAL_RANK", "1"},
                                           {"LOCAL_WORLD_SIZE", "2"},
                                           {"MASTER_ADDR", "node7"},
                                           {"MASTER_PORT", "29400"}}));
  CHECK(w.source == "torchrun");
  CHECK(w.rank == 3);
  CHECK(w.world_size == 8);
  CHECK(w.local_rank == 1);
  CHECK(w.local_world_size == 2);
  CHECK(w.master_addr == "node7");
  CHECK(w.master_port == 29400);
  const auto single = dist::parse_world(env_of({}));
  CHECK(single.source == "single");
  CHECK(single.world_size == 1);
  CHECK_FALSE(single.distributed());
  // torchrun wins over Slurm's variables (torchrun started inside a Slurm job).
  const auto both =
      dist::parse_world(env_of({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "9"}}));
  CHECK(both.source == "torchrun");
  CHECK(both.world_size == 1);
}

TEST_CASE("distributed: bad or inconsistent torchrun variables are errors naming the variable and value") {
  const std::map<std::string, std::string> good{{"RANK", "1"},        {"WORLD_SIZE", "2"},
                                                {"LOCAL_RANK", "1"},  {"LOCAL_WORLD_SIZE", "2"},
                                                {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1234"}};
  const auto with = [&](const std::string& name, std::optional<std::string> value) {
    auto vars = good;
    if (value)
      vars[name] = *value;
    else
      vars.erase(name);
    return env_of(vars);
  };
  CHECK_NOTHROW(dist::parse_world(env_of(good)));
  CHECK_THROWS_MATCHES(dist::parse_world(with("RANK", "one")), lmlab::ConfigError,
                       MessageContains("RANK='one' is not an integer"));
  CHECK_THROWS_MATCHES(dist::parse_world(with("RANK", "2")), lmlab::ConfigError,
                       MessageContains("RANK=2 is not below WORLD_SIZE=2"));
  CHECK_THROWS_MATCHES(dist::parse_world(with("WORLD_SIZE", "0")), lmlab::ConfigError,
                       MessageContains("WORLD_SIZE='0' is out of range"));
  CHECK_THROWS_MATCHES(dist::parse_world(with("WORLD_SIZE", std::nullopt)), lmlab::ConfigError,
                       MessageContains("WORLD_SIZE is not set"));
  CHECK_THROWS_MATCHES(dist::parse_world(with("LOCAL_RANK", "2")), lmlab::ConfigError,
                       MessageContains("LOCAL_RANK=2 is not below LOCAL_WORLD_SIZE=2"));
  CHECK_THROWS_MATCHES(dist::parse_world(with("LOCAL_WORLD_SIZE", "3")), lmlab::ConfigError,
                       MessageContains("LOCAL_WORLD_SIZE=3 exceeds WORLD_SIZE=2"));
  CHECK_THROWS_MATCHES(dist::parse_world(with("MASTER_PORT", "70000")), lmlab::ConfigError,
                       MessageContains("MASTER_PORT='70000' is out of range: accepted 1..65535"));
  CHECK_THROWS_MATCHES(dist::parse_world(with("MASTER_PORT", "12x")), lmlab::ConfigError,
                       MessageContains("MASTER_PORT='12x'"));
  CHECK_THROWS_MATCHES(dist::parse_world(with("MASTER_ADDR", std::nullopt)), lmlab::ConfigError,
                       MessageContains("MASTER_ADDR is not set (WORLD_SIZE=2 needs rank 0's address and port)"));
  CHECK_THROWS_MATCHES(dist::parse_world(with("MASTER_ADDR", "a b")), lmlab::ConfigError,
                       MessageContains("MASTER_ADDR='a b'"));
}

TEST_CASE("distributed: Slurm's environment, its first host the master") {
  const auto w = dist::parse_world(env_of({{"SLURM_PROCID", "5"},
                                           {"SLURM_NTASKS", "8"},
                                           {"SLURM_LOCALID", "1"},
                                           {"SLURM_NODEID", "2"},
                                           {"SLURM_TASKS_PER_NODE", "2(x3),2"},
                                           {"SLURM_JOB_NODELIST", "gpu[007-009,12],login"},
                                           {"SLURM_JOB_ID", "123456"}}));
  CHECK(w.source == "slurm");
  CHECK(w.rank == 5);
  CHECK(w.world_size == 8);
  CHECK(w.local_rank == 1);
  CHECK(w.local_world_size == 2);
  CHECK(w.master_addr == "gpu007");
  CHECK(w.master_port == 29500 + 3456);
  const auto exported = dist::parse_world(env_of({{"SLURM_PROCID", "0"},
                                                  {"SLURM_NTASKS", "2"},
                                                  {"SLURM_LOCALID", "0"},
                                                  {"SLURM_JOB_NODELIST", "a"},
                                                  {"MASTER_ADDR", "b"},
                                                  {"MASTER_PORT", "4000"}}));
  CHECK(exported.master_addr == "b");
  CHECK(exported.master_port == 4000);
  CHECK(exported.local_world_size == 2);
  CHECK_THROWS_MATCHES(
      dist::parse_world(
          env_of({{"SLURM_PROCID", "2"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "0"}, {"SLURM_JOB_NODELIST", "a"}})),
      lmlab::ConfigError, MessageContains("SLURM_PROCID=2 is not below SLURM_NTASKS=2"));
  CHECK_THROWS_MATCHES(
      dist::parse_world(env_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "0"}})),
      lmlab::ConfigError, MessageContains("SLURM_JOB_NODELIST is not set"));
  CHECK_THROWS_MATCHES(dist::parse_world(env_of({{"SLURM_PROCID", "0"},
                                                 {"SLURM_NTASKS", "4"},
                                                 {"SLURM_LOCALID", "0"},
                                                 {"SLURM_NODEID", "2"},
                                                 {"SLURM_TASKS_PER_NODE", "2(x2)"},
                                                 {"SLURM_JOB_NODELIST", "a,b"}})),
                       lmlab::ConfigError,
                       MessageContains("SLURM_NODEID=2 but SLURM_TASKS_PER_NODE='2(x2)' lists 2 node(s)"));
}

TEST_CASE("distributed: Slurm host lists and task counts expand") {
  using V = std::vector<std::string>;
  CHECK(dist::expand_slurm_hostlist("node[01-03,07],gpu5") == V{"node01", "node02", "node03", "node07", "gpu5"});
  CHECK(dist::expand_slurm_hostlist("single") == V{"single"});
  CHECK(dist::expand_slurm_hostlist("r[1-2]n[8-9]-ib") == V{"r1n8-ib", "r1n9-ib", "r2n8-ib", "r2n9-ib"});
  CHECK(dist::expand_slurm_hostlist("n[98-101]") == V{"n98", "n99", "n100", "n101"});
  CHECK(dist::expand_slurm_hostlist("a[5],b") == V{"a5", "b"});
  for (const std::string bad :
       {"node[01-03", "node]1", "node[[1]]", "node[3-1]", "node[]", "node[a-b]", "a,,b", "a,", "a b"})
    CHECK_THROWS_MATCHES(dist::expand_slurm_hostlist(bad), lmlab::ConfigError, MessageContains("'" + bad + "'"));
  CHECK_THROWS_MATCHES(dist::expand_slurm_hostlist("n[0-99999999]"), lmlab::ConfigError,
                       MessageContains("more than 1000000 hosts"));
  CHECK(dist::expand_slurm_tasks_per_node("2(x3),1") == std::vector<int>{2, 2, 2, 1});
  CHECK(dist::expand_slurm_tasks_per_node("4") == std::vector<int>{4});
  for (const std::string bad : {"", "2(x)", "2(3)", "0", "x", "2(x3", "1,,2"})
    CHECK_THROWS_MATCHES(dist::expand_slurm_tasks_per_node(bad), lmlab::ConfigError,
                         MessageContains("SLURM_TASKS_PER_NODE"));
}

TEST_CASE("distributed: unknown backends and NCCL without CUDA are refused") {
  CHECK(dist::resolve_backend("auto", c10::Device(c10::kCPU)) == "gloo");
  CHECK_THROWS_MATCHES(dist::resolve_backend("mpi", c10::Device(c10::kCPU)), lmlab::ConfigError,
                       MessageContains("backend = 'mpi' is unknown; accepted: 'auto', 'gloo', 'nccl'"));
  CHECK_THROWS_AS(dist::resolve_backend("nccl", c10::Device(c10::kCPU)), lmlab::ConfigError);
}

TEST_CASE("distributed: an unreachable master is an error within the timeout") {
  dist::World world;
  world.rank = 1;
  world.world_size = 2;
  world.local_world_size = 2;
  world.local_rank = 1;
  world.master_port = free_port();
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_MATCHES(
      dist::make_process_group(world, gloo_options(1)), lmlab::Error,
      MessageContains(fmt::format("rank 1 could not reach rank 0's rendezvous store at MASTER_ADDR:MASTER_PORT "
                                  "= 127.0.0.1:{} within timeout_s = 1",
                                  world.master_port)));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(4));
}

TEST_CASE("distributed: two ranks' averaged gradients equal one process's over the whole batch") {
  TempDir tmp;
  const int port = free_port();
  ChildRank child("equivalence", port, tmp / "rank1.log");
  dist::World world;
  world.world_size = 2;
  world.local_world_size = 2;
  world.master_port = port;
  equivalence_rank(world);
  const auto [status, output] = child.wait(20);
  INFO("rank 1's output:\n" << output);
  REQUIRE(status == 0);
}

TEST_CASE("distributed: a rank that dies fails the other's finish() within the timeout") {
  TempDir tmp;
  const int port = free_port();
  ChildRank child("die", port, tmp / "rank1.log");
  dist::World world;
  world.world_size = 2;
  world.local_world_size = 2;
  world.master_port = port;
  auto group = dist::make_process_group(world, gloo_options(5));
  Net net(kRootSeed);
  dist::GradientReducer reducer(named(net), group, 1.0);
  const auto [status, output] = child.wait(10);
  INFO("rank 1's output:\n" << output);
  REQUIRE(status == 3);
  half_loss(net, 0, kRows / 2, 1.0).backward();
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_MATCHES(reducer.finish(), lmlab::Error, MessageContains("failed on rank 0 of 2 (gloo, timeout_s = 5)"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(7));
}

TEST_CASE("distributed: a rank that stops answering fails the other's finish() at the timeout") {
  TempDir tmp;
  const int port = free_port();
  ChildRank child("stall", port, tmp / "rank1.log");
  dist::World world;
  world.world_size = 2;
  world.local_world_size = 2;
  world.master_port = port;
  auto group = dist::make_process_group(world, gloo_options(1.5));
  Net net(kRootSeed);
  dist::GradientReducer reducer(named(net), group, 1.0);
  half_loss(net, 0, kRows / 2, 1.0).backward();
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_MATCHES(reducer.finish(), lmlab::Error,
                       MessageContains("failed on rank 0 of 2 (gloo, timeout_s = 1.5)"));
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= std::chrono::milliseconds(1400));
  CHECK(waited < std::chrono::milliseconds(4000));
  CHECK_THROWS_MATCHES(reducer.finish(), lmlab::Error, MessageContains("failed in an earlier step"));
}

TEST_CASE("distributed: ranks that built different models all stop at the broadcast, naming the counts") {
  TempDir tmp;
  const int port = free_port();
  ChildRank child("mismatch", port, tmp / "rank1.log");
  dist::World world;
  world.world_size = 2;
  world.local_world_size = 2;
  world.master_port = port;
  auto group = dist::make_process_group(world, gloo_options(5));
  Net net(kRootSeed);
  CHECK_THROWS_MATCHES(dist::broadcast_parameters(*net, *group), lmlab::Error,
                       MessageContains("1 of 2 ranks: the model's tensor and value counts differ from rank 0's (9, 83); "
                                       "every rank must build the same model"));
  const auto [status, output] = child.wait(10);
  INFO("rank 1's output:\n" << output);
  REQUIRE(status == 0);
}

TEST_CASE("distributed: two ranks' step with the gradient reducer, timed", "[.timing]") {
  TempDir tmp;
  const int port = free_port();
  ChildRank child("timing", port, tmp / "rank1.log");
  dist::World world;
  world.world_size = 2;
  world.local_world_size = 2;
  world.master_port = port;
  timing_rank(world);
  const auto [status, output] = child.wait(60);
  INFO("rank 1's output:\n" << output);
  REQUIRE(status == 0);
}

// Rank 1 of the tests above, run by them as a separate process; hidden from ordinary runs.
TEST_CASE("distributed: rank 1 of a two-rank test", "[.distributed_child]") {
  // Selected by hand ("[#distributed.tests]" selects hidden cases too) it is not a rank: nothing to do.
  const char* scenario = std::getenv("LMLAB_DISTRIBUTED_TEST_SCENARIO");
  if (scenario == nullptr) return;
  const auto world = dist::world_from_environment();
  REQUIRE(world.rank == 1);
  if (std::string(scenario) == "equivalence")
    equivalence_rank(world);
  else if (std::string(scenario) == "die")
    dying_rank(world);
  else if (std::string(scenario) == "stall")
    stalling_rank(world);
  else if (std::string(scenario) == "mismatch")
    mismatched_rank(world);
  else if (std::string(scenario) == "timing")
    timing_rank(world);
  else
    FAIL("unknown scenario " << scenario);
}

}  // namespace distributed_tests
