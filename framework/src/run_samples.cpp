#include "run_samples.hpp"

#include <numeric>

#include "lmlab/plugin_call.hpp"
#include "lmlab/runtime.hpp"
#include "lmlab/tokenizer.hpp"

namespace lmlab {

std::vector<SampleText> write_samples(RunFile& file, Architecture& model, const PluginInfo& model_info,
                                      const std::vector<NamedChain>& chains,
                                      const std::vector<std::vector<std::int64_t>>& prompts,
                                      const GenerateOptions& options, std::int64_t step, const c10::Device& device,
                                      bool bf16) {
  static const ByteTokenizer tokenizer;
  std::vector<SampleText> out;
  for (const auto& named : chains) {
    const auto lists = plugin_call(model_info, "generation", [&] {
      AutocastScope autocast(device, bf16);
      return decode(model, *named.chain, prompts, options, device);
    });
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      const std::string prompt = tokenizer.decode(prompts[i]);
      const auto prompt_index = static_cast<std::int64_t>(i);
      for (std::size_t rank = 0; rank < lists[i].size(); ++rank) {
        const Continuation& c = lists[i][rank];
        const double entropy_sum = std::accumulate(c.entropy.begin(), c.entropy.end(), 0.0);
        const auto n = static_cast<std::int64_t>(c.tokens.size());
        file.append("samples", {{"step", step},
                                {"decoding", named.name},
                                {"prompt_index", prompt_index},
                                {"rank", static_cast<std::int64_t>(rank)},
                                {"prompt", prompt},
                                {"continuation", tokenizer.decode(c.tokens)},
                                {"new_tokens", n},
                                {"logprob", c.logprob},
                                {"score", c.score},
                                {"mean_entropy", n > 0 ? entropy_sum / static_cast<double>(n) : 0.0}});
      }
      const Continuation& best = lists[i].front();
      for (std::size_t t = 0; t < best.tokens.size(); ++t) {
        file.append("next_token_entropy", {{"step", step},
                                           {"decoding", named.name},
                                           {"prompt_index", prompt_index},
                                           {"position", static_cast<std::int64_t>(t)},
                                           {"token", best.tokens[t]},
                                           {"entropy", best.entropy[t]}});
      }
      out.push_back({named.name, prompt, tokenizer.decode(best.tokens)});
    }
  }
  return out;
}

}  // namespace lmlab
