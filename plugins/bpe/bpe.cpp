// The "bpe" tokenizer plugin: byte-level BPE as GPT-2 and GPT-3 (encoder.json + vocab.bpe, or
// Hugging Face's vocab.json + merges.txt) and cl100k and Qwen (tiktoken rank files) define it.
// This file declares the options and registers the tokenizer (bpe_tokenizer.cpp);
// docs/tokenizers.md ("## bpe") describes them.
#include <memory>
#include <string>

#include "bpe_tokenizer.hpp"
#include "lmlab/error.hpp"
#include "lmlab/options.hpp"
#include "lmlab/plugin.hpp"
#include "pretokenizer.hpp"

namespace {

using bpe_plugin::BpeOptions;

bool valid_pattern(const std::string& pattern) {
  try {
    return bpe_plugin::regex_error(bpe_plugin::pattern_regex(pattern)).empty();
  } catch (const lmlab::ConfigError&) {
    return false;
  }
}

lmlab::OptionSet<BpeOptions> options() {
  return lmlab::OptionSet<BpeOptions>{}
      .add("encoder", &BpeOptions::encoder, "GPT-2's encoder.json or Hugging Face's vocab.json (with merges)")
      .add("merges", &BpeOptions::merges, "GPT-2's vocab.bpe or Hugging Face's merges.txt (with encoder)")
      .add("ranks", &BpeOptions::ranks,
           "a tiktoken rank file (cl100k_base.tiktoken, qwen.tiktoken), instead of encoder and merges")
      .add("pattern", &BpeOptions::pattern,
           "pre-tokenisation regex: gpt2, cl100k, llama3, qwen2, o200k, or a PCRE2 regex of your own")
      .add("eos", &BpeOptions::eos,
           "the model's end-of-text token, also bos; \"\" appends an <eos> of lmlab's after the vocabulary")
      .add("specials", &BpeOptions::specials,
           "the model's special tokens a rank file leaves out, as \"name=id\" (\"<|endoftext|>=100257\")")
      .add("sentinels", &BpeOptions::sentinels, "sentinel ids for span corruption, after pad and mask",
           {.min = 0, .max = 10000})
      .add("cache_words", &BpeOptions::cache_words, "words whose ids are cached (0: none); speed only", {.min = 0})
      .check("give encoder and merges (GPT-2, Hugging Face) or ranks (tiktoken), not both",
             [](const BpeOptions& o) {
               return o.ranks.empty() ? !o.encoder.empty() && !o.merges.empty() : o.encoder.empty() && o.merges.empty();
             })
      .check("pattern must be gpt2, cl100k, llama3, qwen2, o200k or a regex PCRE2 compiles (UTF, Unicode properties)",
             [](const BpeOptions& o) { return valid_pattern(o.pattern); });
}

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Tokenizer>("bpe", "byte-level BPE from GPT-2's encoder.json + vocab.bpe or a tiktoken rank file",
                          options(), [](const BpeOptions& o, const lmlab::TokenizerContext& context) {
                            return std::make_shared<bpe_plugin::BpeTokenizer>(o, context);
                          });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
