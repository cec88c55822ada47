/// Building the built-in architecture plugins in tests, small and deterministic.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <toml++/toml.h>

#include "lmlab/architecture.hpp"
#include "lmlab/objective.hpp"

namespace lmlab::test {

/// The four families.
inline const std::vector<std::string> families = {"causal_decoder", "prefix_decoder", "encoder_decoder", "encoder_only"};
/// The families that generate.
inline const std::vector<std::string> generating_families = {"causal_decoder", "prefix_decoder", "encoder_decoder"};
/// Every `positions` option.
inline const std::vector<std::string> position_schemes = {"learned", "sinusoidal", "rope", "alibi", "relative", "none"};

/// 2 layers of width 16, 4 heads, weights large enough (init_std 0.1) that one changed token
/// visibly moves every logit it reaches.
toml::table tiny_options();

/// `family`'s options resolved through its plugin (defaults filled in, checks applied).
toml::table resolve_model(const std::string& family, const toml::table& options);

/// A model of built-in family `family`, seeded, in eval mode.
std::shared_ptr<Architecture> make_model(const std::string& family, const toml::table& options,
                                         std::int64_t vocab = 40, std::int64_t context = 16, std::uint64_t seed = 0);

/// The input through which a family reads `tokens` (B, T): an encoder-decoder gets them as both
/// its encoder input and its decoder input.
ModelInput input_for(const Architecture& model, const at::Tensor& tokens, const at::Tensor& padding_mask = {});

/// The sizes a closed-form parameter count depends on.
struct ParameterShape {
  std::int64_t vocab = 40, context = 16, d_model = 16, layers = 2, heads = 4, kv_heads = 4, d_ff = 64;
  bool gated = false, bias = true, rmsnorm = false, pre_norm = true, tied = true, learned_positions = true;
  std::int64_t relative_buckets = 0;  // positions = "relative": a (buckets, heads) table per stack
};

/// One block: two norms (three with cross-attention), attention (and cross-attention) with
/// key/value projections of kv_heads * head_dim outputs, and the MLP.
std::int64_t expected_block_parameters(const ParameterShape& s, bool cross_attention);

/// causal_decoder, prefix_decoder, and encoder_only (which adds its C x C + C pooler).
std::int64_t expected_single_stack_parameters(const ParameterShape& s, bool pooler);

/// encoder_decoder with `encoder_layers` + `decoder_layers` blocks; s.layers is ignored.
std::int64_t expected_encoder_decoder_parameters(const ParameterShape& s, std::int64_t encoder_layers,
                                                 std::int64_t decoder_layers, bool shared_embeddings);

/// Objective `name` with `options` resolved through its plugin, over `vocab` ids. A composite
/// objective (multitask) gets its tasks built first, as the host builds them: each objective that
/// options["tasks"] lists, from the sub-table options[<task>] (none: its defaults).
std::shared_ptr<Objective> make_objective(const std::string& name, const toml::table& options, std::int64_t vocab);

/// The loss of the first and the last of `steps` Adam steps of `objective` on one fixed block.
struct LossCurve {
  double first = 0, last = 0;
};
LossCurve train_on(Objective& objective, Architecture& model, const at::Tensor& block, int steps, double lr);

/// Trainable parameters, a shared tensor counted once.
std::int64_t parameter_count(const Architecture& model);

}  // namespace lmlab::test
