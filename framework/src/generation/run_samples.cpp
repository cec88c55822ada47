#include "generation/run_samples.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "generation/text_units.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"
#include "training/runtime.hpp"

namespace lmlab {

namespace {

/// One evaluation's row of /generation/<name>/metrics: the host's own values (entropy along the
/// text, perplexity of the text under the model, length), then each metric's, per unit.
RunFile::Row metrics_row(std::int64_t step, const std::vector<Continuation>& best, const std::vector<Metric*>& metrics,
                         const GeneratedText& tokens, const GeneratedText& words) {
  double entropy = 0.0, logprob = 0.0;
  std::int64_t generated = 0;
  for (const auto& c : best) {
    entropy = std::accumulate(c.entropy.begin(), c.entropy.end(), entropy);
    logprob += c.logprob;
    generated += static_cast<std::int64_t>(c.tokens.size());
  }
  const double n = static_cast<double>(generated);
  RunFile::Row row{{"step", step},
                   {"new_tokens", best.empty() ? 0.0 : n / static_cast<double>(best.size())},
                   {"entropy", generated ? entropy / n : std::nan("")},
                   {"perplexity", generated ? std::exp(-logprob / n) : std::nan("")}};
  for (Metric* m : metrics) {
    const std::vector<std::string> declared = m->generation_values();
    if (declared.empty()) continue;
    for (const GeneratedText* text : {&tokens, &words}) {
      for (const auto& v : in_declared_order(declared, m->generated(*text))) row.emplace_back(text->unit + "." + v.name, v.value);
    }
  }
  return row;
}

// The entropy curve: at each position, the mean over the continuations that reach it.
void write_entropy_curve(RunFile& file, const std::string& group, std::int64_t step,
                         const std::vector<Continuation>& best) {
  std::size_t longest = 0;
  for (const auto& c : best) longest = std::max(longest, c.entropy.size());
  for (std::size_t t = 0; t < longest; ++t) {
    double sum = 0.0;
    std::int64_t count = 0;
    for (const auto& c : best) {
      if (t < c.entropy.size()) sum += c.entropy[t], ++count;
    }
    file.append(group + "/entropy_curve", {{"step", step},
                                           {"position", static_cast<std::int64_t>(t)},
                                           {"entropy", sum / static_cast<double>(count)},
                                           {"sequences", count}});
  }
}

// One prompt's continuations: a `samples` row for each rank, a `positions` row for each position
// of the best one.
void write_continuations(RunFile& file, const std::string& group, std::int64_t step, std::size_t i,
                         const std::string& prompt_text, const std::vector<Continuation>& list,
                         const Tokenizer& tokenizer) {
  const auto prompt_index = static_cast<std::int64_t>(i);
  for (std::size_t rank = 0; rank < list.size(); ++rank) {
    const Continuation& c = list[rank];
    const double entropy_sum = std::accumulate(c.entropy.begin(), c.entropy.end(), 0.0);
    const auto n = static_cast<std::int64_t>(c.tokens.size());
    file.append(group + "/samples", {{"step", step},
                                     {"prompt_index", prompt_index},
                                     {"rank", static_cast<std::int64_t>(rank)},
                                     {"prompt", prompt_text},
                                     {"continuation", tokenizer.decode(c.tokens)},
                                     {"new_tokens", n},
                                     {"logprob", c.logprob},
                                     {"score", c.score},
                                     {"mean_entropy", n > 0 ? entropy_sum / static_cast<double>(n) : 0.0}});
  }
  const Continuation& c = list.front();
  for (std::size_t t = 0; t < c.tokens.size(); ++t) {
    file.append(group + "/positions", {{"step", step},
                                       {"prompt_index", prompt_index},
                                       {"position", static_cast<std::int64_t>(t)},
                                       {"token", c.tokens[t]},
                                       {"entropy", c.entropy[t]}});
  }
}

}  // namespace

std::vector<SampleText> write_samples(RunFile& file, const Plugins& plugins,
                                      const std::vector<std::vector<std::int64_t>>& prompts,
                                      const GenerateOptions& options, std::int64_t step, const c10::Device& device,
                                      bool bf16) {
  const Tokenizer& tokenizer = *plugins.tokenizer;
  const std::vector<Metric*> metrics = metric_pointers(plugins);
  std::vector<std::string> prompt_texts;
  for (const auto& p : prompts) prompt_texts.push_back(tokenizer.decode(p));
  std::vector<SampleText> out;
  for (const auto& named : plugins.decodings) {
    const auto lists = plugin_call(plugins.model.info, "generation", [&] {
      AutocastScope autocast(device, bf16);
      return decode(*plugins.model.plugin, *named.chain, prompts, options, device);
    });
    const std::string group = "generation/" + named.name;
    std::vector<Continuation> best;
    std::vector<std::vector<std::int64_t>> best_tokens;
    std::vector<std::string> best_texts;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      write_continuations(file, group, step, i, prompt_texts[i], lists[i], tokenizer);
      const Continuation& c = lists[i].front();
      best.push_back(c);
      best_tokens.push_back(c.tokens);
      best_texts.push_back(tokenizer.decode(c.tokens));
      out.push_back({named.name, prompt_texts[i], best_texts.back()});
    }
    write_entropy_curve(file, group, step, best);
    file.append(group + "/metrics", metrics_row(step, best, metrics, as_tokens(prompts, best_tokens, tokenizer.vocab_size()),
                                                as_words(prompt_texts, best_texts)));
  }
  return out;
}

}  // namespace lmlab
