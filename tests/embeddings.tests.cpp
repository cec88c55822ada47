// Embeddings: token rows plus, for learned and sinusoidal positions, a position table; rope,
// alibi and none add nothing here. A shared token table is used but not registered.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/modules/embedding.h>

#include "lmlab/nn/embeddings.hpp"
#include "lmlab/nn/transformer_options.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace embeddings_tests {

using lmlab::nn::Embeddings;
using lmlab::nn::TransformerOptions;

namespace {

constexpr std::int64_t V = 10, C = 8, context = 6;

TransformerOptions options(const std::string& positions) {
  TransformerOptions o;
  o.d_model = C;
  o.n_heads = 2;
  o.positions = positions;
  return o;
}

std::set<std::string> parameter_names(const torch::nn::Module& m) {
  std::set<std::string> out;
  for (const auto& item : m.named_parameters()) out.insert(item.key());
  return out;
}

// Row i of `table` for every id, by indexing rather than through an Embedding module.
at::Tensor rows(const at::Tensor& table, const at::Tensor& ids) {
  return table.index_select(0, ids.flatten()).view({ids.size(0), ids.size(1), table.size(1)});
}

at::Tensor example_tokens() { return at::tensor({1, 4, 4, 9, 0, 2}, at::kLong).view({2, 3}); }
// The second row as lmlab::nn::position_ids numbers a left-padded row.
at::Tensor example_positions() { return at::tensor({0, 1, 2, 0, 0, 1}, at::kLong).view({2, 3}); }

}  // namespace

TEST_CASE("embeddings: learned positions add a table of context_length rows", "[embeddings]") {
  const at::Tensor ids = example_tokens(), positions = example_positions();
  at::manual_seed(0);
  Embeddings embeddings(V, options("learned"), context);
  embeddings->eval();
  REQUIRE(embeddings->learned_positions);
  CHECK(embeddings->learned_positions->weight.sizes() == at::IntArrayRef({context, C}));
  CHECK(embeddings->tokens->weight.sizes() == at::IntArrayRef({V, C}));
  CHECK(parameter_names(*embeddings) == std::set<std::string>{"tokens.weight", "learned_positions.weight"});
  const at::Tensor expected =
      rows(embeddings->tokens->weight, ids) + rows(embeddings->learned_positions->weight, positions);
  CHECK(at::allclose(embeddings(ids, positions), expected));
}

TEST_CASE("embeddings: sinusoidal positions add the fixed table and register nothing", "[embeddings]") {
  const at::Tensor ids = example_tokens(), positions = example_positions();
  at::manual_seed(1);
  Embeddings embeddings(V, options("sinusoidal"), context);
  embeddings->eval();
  CHECK_FALSE(embeddings->learned_positions);
  CHECK(parameter_names(*embeddings) == std::set<std::string>{"tokens.weight"});
  const at::Tensor added = embeddings(ids, positions) - rows(embeddings->tokens->weight, ids);
  // PE(pos, 2i) = sin(pos / 10000^(2i / C)), PE(pos, 2i + 1) = cos(pos / 10000^(2i / C)).
  const auto p = positions.accessor<std::int64_t, 2>();
  for (std::int64_t b = 0; b < 2; ++b) {
    for (std::int64_t t = 0; t < 3; ++t) {
      for (std::int64_t i = 0; i < C / 2; ++i) {
        const double angle = static_cast<double>(p[b][t]) / std::pow(10000.0, 2.0 * static_cast<double>(i) / C);
        CHECK(added[b][t][2 * i].item<double>() == Approx(std::sin(angle)).margin(1e-5));
        CHECK(added[b][t][2 * i + 1].item<double>() == Approx(std::cos(angle)).margin(1e-5));
      }
    }
  }
}

TEST_CASE("embeddings: rope, alibi and none add nothing to the tokens", "[embeddings]") {
  const at::Tensor ids = example_tokens(), positions = example_positions();
  for (const std::string& scheme : std::vector<std::string>{"rope", "alibi", "none"}) {
    DYNAMIC_SECTION(scheme) {
      at::manual_seed(2);
      Embeddings embeddings(V, options(scheme), context);
      embeddings->eval();
      CHECK_FALSE(embeddings->learned_positions);
      CHECK(parameter_names(*embeddings) == std::set<std::string>{"tokens.weight"});
      CHECK(at::equal(embeddings(ids, positions), rows(embeddings->tokens->weight, ids)));
      // The positions passed do not matter.
      CHECK(at::equal(embeddings(ids, positions + 3), embeddings(ids, positions)));
    }
  }
}

TEST_CASE("embeddings: dropout applies in training only", "[embeddings]") {
  const at::Tensor ids = example_tokens(), positions = example_positions();
  at::manual_seed(3);
  TransformerOptions o = options("none");
  o.embedding_dropout = 0.5;
  Embeddings embeddings(V, o, context);
  const at::Tensor clean = rows(embeddings->tokens->weight, ids);
  embeddings->eval();
  CHECK(at::equal(embeddings(ids, positions), clean));
  embeddings->train();
  const at::Tensor dropped = embeddings(ids, positions);
  // Inverted dropout: each element is 0 or doubled, and some are 0.
  CHECK(at::allclose(dropped * (dropped != 0), clean * 2 * (dropped != 0)));
  CHECK((dropped == 0).any().item<bool>());
}

TEST_CASE("embeddings: a shared token table is used but not registered", "[embeddings]") {
  const at::Tensor ids = example_tokens(), positions = example_positions();
  at::manual_seed(4);
  torch::nn::Embedding shared(V, C);
  Embeddings embeddings(V, options("learned"), context, shared);
  embeddings->eval();
  CHECK(embeddings->tokens.get() == shared.get());
  // Only the position table belongs to this module, so an owner of both counts the tokens once.
  CHECK(parameter_names(*embeddings) == std::set<std::string>{"learned_positions.weight"});
  for (const auto& p : embeddings->parameters()) CHECK(p.data_ptr() != shared->weight.data_ptr());
  const at::Tensor expected = rows(shared->weight, ids) + rows(embeddings->learned_positions->weight, positions);
  CHECK(at::allclose(embeddings(ids, positions), expected));

  Embeddings without_positions(V, options("rope"), context, shared);
  CHECK(without_positions->parameters().empty());
}

TEST_CASE("embeddings: scale_embeddings multiplies tokens by sqrt(d_model), initialised at d_model^-0.5",
          "[embeddings]") {
  lmlab::nn::TransformerOptions o;
  o.d_model = 64;
  o.positions = "none";
  o.scale_embeddings = true;
  lmlab::nn::Embeddings scaled(500, o, 16);
  scaled->eval();
  const at::Tensor ids = at::arange(8, at::kLong).unsqueeze(0);   // (1, 8)
  const at::Tensor positions = at::zeros({1, 8}, at::kLong);
  CHECK(at::allclose(scaled(ids, positions), scaled->tokens(ids) * 8.0));
  // Initialised as the option says, by initialise(): channels of unit variance once scaled.
  lmlab::nn::initialise(*scaled, o, 1);
  CHECK(scaled->tokens->weight.std().item<double>() == Approx(1.0 / 8.0).epsilon(0.05));
  o.scale_embeddings = false;
  lmlab::nn::initialise(*scaled, o, 1);
  CHECK(scaled->tokens->weight.std().item<double>() == Approx(0.02).epsilon(0.05));
}

}  // namespace embeddings_tests
