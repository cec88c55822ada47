// What every architecture family must satisfy, tested across all four: who sees whom, cached
// decoding equal to the full forward, padding invariance, and learning a toy task.
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/optim/adam.h>

#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/kv_cache.hpp"
#include "lmlab/plugin_call.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/test_support.hpp"

namespace architectures_tests {

using lmlab::ModelInput;
using lmlab::test::make_model;
using lmlab::test::tiny_options;

namespace {

toml::table with(toml::table options, const std::string& key, const std::string& value) {
  options.insert_or_assign(key, value);
  return options;
}

bool moved(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>() > 1e-5; }

/// Changes token j of every row to a different id.
at::Tensor perturbed(const at::Tensor& tokens, std::int64_t j, std::int64_t vocab) {
  at::Tensor out = tokens.clone();
  out.select(1, j).copy_((tokens.select(1, j) + 7).remainder(vocab));
  return out;
}

}  // namespace

TEST_CASE("capabilities: each family's model has the capabilities it registered with", "[architectures]") {
  for (const auto& family : lmlab::test::families) {
    INFO(family);
    const lmlab::Capabilities registered =
        lmlab::test::builtin_plugins().get<lmlab::Architecture>(family).info.traits.provides;
    const lmlab::Capabilities built = make_model(family, tiny_options())->capabilities();
    CHECK(lmlab::describe(registered) == lmlab::describe(built));
    CHECK(registered.generates == (family != "encoder_only"));
    CHECK(registered.has_encoder == (family == "encoder_decoder"));
    CHECK(registered.prefix == (family == "prefix_decoder"));
    CHECK(registered.bidirectional == (family != "causal_decoder"));
  }
}

TEST_CASE("visibility: a position sees later ones only where the family allows", "[architectures]") {
  const std::int64_t T = 8, P = 3, V = 40;
  at::manual_seed(1);
  const at::Tensor tokens = at::randint(V, {2, T}, at::kLong);
  for (const auto& family : lmlab::test::families) {
    for (const auto& positions : lmlab::test::position_schemes) {
      DYNAMIC_SECTION(family << ", positions = " << positions) {
        const auto model = make_model(family, with(tiny_options(), "positions", positions), V);
        auto forward = [&](const at::Tensor& decoder, const at::Tensor& encoder) {
          ModelInput in;
          in.tokens = decoder;
          in.encoder_tokens = model->capabilities().has_encoder ? encoder : at::Tensor();
          if (family == "prefix_decoder") in.prefix_lengths = at::full({2}, P, at::kLong);
          return model->forward(in).logits;  // (B, T, V)
        };
        const at::Tensor base = forward(tokens, tokens);
        for (std::int64_t j = 0; j < T; ++j) {
          const at::Tensor changed = forward(perturbed(tokens, j, V), tokens);
          for (std::int64_t i = 0; i < T; ++i) {
            bool visible = i >= j;  // causal
            if (family == "prefix_decoder") visible = i >= j || (i < P && j < P);
            if (family == "encoder_only") visible = true;
            INFO("token " << j << " changed, output " << i);
            CHECK(moved(base.select(1, i), changed.select(1, i)) == visible);
          }
          if (family == "encoder_decoder") {
            // Every encoder token reaches every decoder position.
            const at::Tensor encoder_changed = forward(tokens, perturbed(tokens, j, V));
            for (std::int64_t i = 0; i < T; ++i) CHECK(moved(base.select(1, i), encoder_changed.select(1, i)));
          }
        }
      }
    }
  }
}

TEST_CASE("visibility: the prefix length is per example", "[architectures]") {
  const auto model = make_model("prefix_decoder", tiny_options());
  at::manual_seed(2);
  const at::Tensor tokens = at::randint(40, {2, 6}, at::kLong);
  ModelInput in;
  in.tokens = tokens;
  in.prefix_lengths = at::tensor({4, 0}, at::kLong);
  const at::Tensor base = model->forward(in).logits;  // (2, 6, V)
  in.tokens = perturbed(tokens, 2, 40);
  const at::Tensor changed = model->forward(in).logits;
  CHECK(moved(base[0][1], changed[0][1]));        // row 0: position 1 is in the prefix with 2
  CHECK_FALSE(moved(base[1][1], changed[1][1]));  // row 1: no prefix, causal
}

TEST_CASE("kv cache: incremental logits equal the full forward's", "[architectures]") {
  const std::int64_t T = 10, P = 4, V = 40;
  at::manual_seed(3);
  const at::Tensor tokens = at::randint(V, {2, T}, at::kLong);
  const at::Tensor source = at::randint(V, {2, 7}, at::kLong);
  for (const auto& family : lmlab::test::generating_families) {
    for (const auto& positions : lmlab::test::position_schemes) {
      DYNAMIC_SECTION(family << ", positions = " << positions) {
        toml::table options = with(tiny_options(), "positions", positions);
        options.insert_or_assign("n_kv_heads", 2);  // grouped-query heads in the cache as well
        const auto model = make_model(family, options, V);
        const bool encoder = model->capabilities().has_encoder;
        ModelInput full;
        full.tokens = tokens;
        if (encoder) full.encoder_tokens = source;
        if (family == "prefix_decoder") full.prefix_lengths = at::full({2}, P, at::kLong);
        const at::Tensor expected = model->forward(full).logits;  // (B, T, V)

        lmlab::KvCache cache;
        ModelInput first = full;
        first.tokens = tokens.narrow(1, 0, P);
        first.cache = &cache;
        std::vector<at::Tensor> pieces{model->forward(first).logits};  // (B, P, V)
        for (std::int64_t t = P; t < T; ++t) {
          ModelInput step;
          step.tokens = tokens.narrow(1, t, 1);
          step.cache = &cache;
          pieces.push_back(model->forward(step).logits);  // (B, 1, V)
        }
        CHECK(cache.length() == T);
        CHECK(at::allclose(at::cat(pieces, 1), expected, 1e-5, 1e-5));
      }
    }
  }
}

TEST_CASE("kv cache: left-padded rows of different lengths decode as they would alone", "[architectures]") {
  const std::int64_t V = 40;
  at::manual_seed(4);
  const at::Tensor long_row = at::randint(V, {1, 9}, at::kLong);
  const at::Tensor short_row = at::randint(V, {1, 5}, at::kLong);
  for (const auto& family : {std::string("causal_decoder"), std::string("prefix_decoder")}) {
    for (const auto& positions : lmlab::test::position_schemes) {
      DYNAMIC_SECTION(family << ", positions = " << positions) {
        const auto model = make_model(family, with(tiny_options(), "positions", positions), V);
        // Alone: a 3-token prompt, then one token at a time.
        auto run = [&](const at::Tensor& tokens, const at::Tensor& mask, std::int64_t prompt) {
          lmlab::KvCache cache;
          ModelInput first;
          first.tokens = tokens.narrow(1, 0, prompt);
          first.padding_mask = mask.defined() ? mask.narrow(1, 0, prompt) : at::Tensor();
          first.prefix_lengths = at::full({tokens.size(0)}, prompt, at::kLong);
          first.cache = &cache;
          std::vector<at::Tensor> pieces{model->forward(first).logits};
          for (std::int64_t t = prompt; t < tokens.size(1); ++t) {
            ModelInput step;
            step.tokens = tokens.narrow(1, t, 1);
            step.cache = &cache;
            pieces.push_back(model->forward(step).logits);
          }
          return at::cat(pieces, 1);  // (B, T, V)
        };
        const at::Tensor alone = run(short_row, {}, 3);  // (1, 5, V)
        // Batched with a longer row: the short one is left-padded by 4 and its prompt ends
        // where the long one's does.
        const at::Tensor padded = at::cat({at::zeros({1, 4}, at::kLong), short_row}, 1);  // (1, 9)
        const at::Tensor mask = at::cat({at::zeros({1, 4}, at::kBool), at::ones({1, 5}, at::kBool)}, 1);
        const at::Tensor batch = run(at::cat({long_row, padded}), at::cat({at::ones({1, 9}, at::kBool), mask}), 7);
        CHECK(at::allclose(batch[1].narrow(0, 4, 5), alone[0], 1e-5, 1e-5));
      }
    }
  }
}

TEST_CASE("padding: a sequence's logits do not change when batched with longer, padded ones", "[architectures]") {
  const std::int64_t V = 40;
  at::manual_seed(5);
  const at::Tensor short_row = at::randint(V, {1, 5}, at::kLong);
  const at::Tensor long_row = at::randint(V, {1, 9}, at::kLong);
  const at::Tensor padded = at::cat({short_row, at::zeros({1, 4}, at::kLong)}, 1);  // right padding
  const at::Tensor mask = at::cat({at::ones({2, 5}, at::kBool), at::stack({at::ones({4}, at::kBool), at::zeros({4}, at::kBool)})}, 1);
  for (const auto& family : lmlab::test::families) {
    for (const auto& positions : lmlab::test::position_schemes) {
      DYNAMIC_SECTION(family << ", positions = " << positions) {
        const auto model = make_model(family, with(tiny_options(), "positions", positions), V);
        auto logits = [&](const at::Tensor& tokens, const at::Tensor& padding) {
          ModelInput in = lmlab::test::input_for(*model, tokens, padding);
          if (family == "prefix_decoder") in.prefix_lengths = at::full({tokens.size(0)}, 3, at::kLong);
          return model->forward(in).logits;
        };
        const at::Tensor alone = logits(short_row, {});                                // (1, 5, V)
        const at::Tensor batched = logits(at::cat({long_row, padded}), mask);          // (2, 9, V)
        CHECK(at::allclose(batched[1].narrow(0, 0, 5), alone[0], 1e-5, 1e-5));
        CHECK(at::isfinite(batched).all().item<bool>());
      }
    }
  }
}

TEST_CASE("generate: cached greedy decoding equals greedy decoding by full forwards", "[architectures]") {
  const std::int64_t V = 40, steps = 12;
  std::vector<std::shared_ptr<lmlab::DecodingStep>> greedy_step{lmlab::make_plugin<lmlab::DecodingStep>(
      lmlab::test::builtin_plugins(), "greedy", {}, lmlab::DecodingContext{V})};
  lmlab::DecodingChain greedy(greedy_step);
  // The first prompt is long enough that the refill keeps part of it (the prefix decoder's
  // prefix then shrinks to what is left of the prompt).
  const std::vector<std::vector<std::int64_t>> prompts = {{5, 9, 2, 7, 1, 3, 6, 6, 0}, {8, 4}};
  for (const auto& family : lmlab::test::generating_families) {
    DYNAMIC_SECTION(family) {
      // A context of 10 makes the cache refill once within the 12 steps.
      const auto model = make_model(family, with(tiny_options(), "positions", "rope"), V, 10);
      lmlab::GenerateOptions options;
      options.max_new_tokens = steps;
      options.decoder_start_id = 0;
      const auto generated = lmlab::generate(*model, greedy, prompts, options, at::kCPU);
      const bool encoder = model->capabilities().has_encoder;
      for (std::size_t r = 0; r < prompts.size(); ++r) {
        // The reference: the row alone, its whole window re-read at every step. The window is
        // the row's own: its last 10 tokens at first, then, whenever the next token would
        // overflow it, its most recent half context; the batch's padding never moves it.
        std::vector<std::int64_t> decoded = encoder ? std::vector<std::int64_t>{0} : prompts[r];
        const auto own_prompt = static_cast<std::int64_t>(encoder ? 0 : prompts[r].size());
        std::int64_t start = std::max<std::int64_t>(0, static_cast<std::int64_t>(decoded.size()) - 10);
        std::vector<std::int64_t> expected;
        at::NoGradGuard no_grad;
        for (std::int64_t s = 0; s < steps; ++s) {
          const auto length = static_cast<std::int64_t>(decoded.size());
          if (length - start > 10) start = length - 5;
          const std::vector<std::int64_t> window(decoded.begin() + start, decoded.end());
          ModelInput in;
          in.tokens = at::tensor(window, at::kLong).unsqueeze(0);
          if (family == "prefix_decoder") {
            in.prefix_lengths = at::full({1}, std::max<std::int64_t>(0, own_prompt - start), at::kLong);
          }
          if (encoder) in.encoder_tokens = at::tensor(prompts[r], at::kLong).unsqueeze(0);
          const std::int64_t next = model->forward(in).logits[0][-1].argmax().item<std::int64_t>();
          expected.push_back(next);
          decoded.push_back(next);
        }
        INFO("row " << r);
        CHECK(generated[r] == expected);
      }
    }
  }
}

TEST_CASE("kv cache: a pass that fails leaves the cache empty, not half-updated", "[architectures]") {
  for (const auto& family : lmlab::test::generating_families) {
    DYNAMIC_SECTION(family) {
      const auto model = make_model(family, tiny_options());
      lmlab::KvCache cache;
      ModelInput first = lmlab::test::input_for(*model, at::zeros({2, 4}, at::kLong));
      first.cache = &cache;
      model->forward(first);
      REQUIRE(cache.length() == 4);
      ModelInput bad;
      bad.tokens = at::zeros({2, 1}, at::kDouble);  // the embedding refuses non-integer ids
      bad.cache = &cache;
      CHECK_THROWS(model->forward(bad));
      CHECK(cache.empty());
    }
  }
}

TEST_CASE("training: every family learns a toy task", "[architectures]") {
  const std::int64_t V = 24, B = 8, T = 12;
  at::manual_seed(6);
  // A fixed batch of random sequences: the model has to memorise them (or, for the encoder,
  // fill in masked tokens; for the encoder-decoder, copy its input).
  const at::Tensor sequences = at::randint(1, V, {B, T + 1}, at::kLong);
  for (const auto& family : lmlab::test::families) {
    DYNAMIC_SECTION(family) {
      toml::table options{{"d_model", 32}, {"n_layers", 2}, {"n_heads", 4}};
      const auto model = make_model(family, options, V, T + 1);
      model->train();
      torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-2));
      double first = 0, last = 0;
      for (int step = 0; step < 40; ++step) {
        ModelInput in;
        at::Tensor target;
        if (family == "encoder_only") {
          // Masked LM: every third token replaced by id 0, predicted from both sides.
          const at::Tensor masked = at::arange(T, at::kLong).remainder(3).eq(0).expand({B, T});
          in.tokens = sequences.narrow(1, 0, T).masked_fill(masked, 0);
          target = sequences.narrow(1, 0, T).masked_fill(masked.logical_not(), -100);
        } else if (family == "encoder_decoder") {
          in.encoder_tokens = sequences.narrow(1, 1, T);
          in.tokens = sequences.narrow(1, 0, T).clone().index_fill_(1, at::tensor({0}, at::kLong), 0);
          target = sequences.narrow(1, 1, T);  // copy the input, teacher-forced
        } else {
          in.tokens = sequences.narrow(1, 0, T);
          if (family == "prefix_decoder") in.prefix_lengths = at::full({B}, 4, at::kLong);
          target = sequences.narrow(1, 1, T);
        }
        const at::Tensor logits = model->forward(in).logits;  // (B, T, V)
        const at::Tensor loss = at::cross_entropy_loss(logits.reshape({-1, V}), target.reshape({-1}));
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        (step == 0 ? first : last) = loss.item<double>();
      }
      INFO("loss " << first << " -> " << last);
      CHECK(last < 0.5 * first);
    }
  }
}

TEST_CASE("generate: cached decoding against re-reading the window, timed", "[.timing]") {
  // The quickstart's model size: 128 wide, 4 layers, a 256-token context; 4 prompts of 64 bytes.
  const std::int64_t V = 360, new_tokens = 128;
  const auto model = make_model("causal_decoder", toml::table{{"d_model", 128}, {"n_layers", 4}, {"n_heads", 4}}, V, 256);
  std::vector<std::vector<std::int64_t>> prompts(4, std::vector<std::int64_t>(64));
  for (std::size_t r = 0; r < prompts.size(); ++r) {
    for (std::size_t t = 0; t < 64; ++t) prompts[r][t] = static_cast<std::int64_t>((r * 31 + t * 7) % 256);
  }
  lmlab::DecodingChain greedy({lmlab::make_plugin<lmlab::DecodingStep>(lmlab::test::builtin_plugins(), "greedy", {},
                                                                       lmlab::DecodingContext{V})});
  lmlab::GenerateOptions options;
  options.max_new_tokens = new_tokens;
  const auto start = std::chrono::steady_clock::now();
  const auto cached = lmlab::generate(*model, greedy, prompts, options, at::kCPU);
  const double cached_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  at::NoGradGuard no_grad;
  at::Tensor window = at::empty({4, 64}, at::kLong);
  for (std::int64_t r = 0; r < 4; ++r) window[r] = at::tensor(prompts[static_cast<std::size_t>(r)], at::kLong);
  const auto full_start = std::chrono::steady_clock::now();
  for (std::int64_t s = 0; s < new_tokens; ++s) {
    const at::Tensor next = model->forward({window}).logits.select(1, -1).argmax(-1, true);  // (B, 1)
    window = at::cat({window, next}, 1);                                                   // (B, L + 1)
  }
  const double full_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - full_start).count();
  for (std::int64_t r = 0; r < 4; ++r) {
    const at::Tensor expected = window[r].narrow(0, 64, new_tokens);
    CHECK(at::equal(at::tensor(cached[static_cast<std::size_t>(r)], at::kLong), expected));
  }
  std::cout << "generate 4 x " << new_tokens << " tokens after 64-token prompts (d 128, 4 layers, "
            << at::get_num_threads() << " threads): cached " << cached_s * 1e3 << " ms, re-reading the window "
            << full_s * 1e3 << " ms\n";
}

}  // namespace architectures_tests
