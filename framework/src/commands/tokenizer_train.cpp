#include "commands/tokenizer_train.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include <dlfcn.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "data/corpus.hpp"
#include "experiment/quote_bounded.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_loader.hpp"

namespace lmlab {

namespace {

namespace fs = std::filesystem;

// The trainer skips any sentence longer than this (bytes); longer lines are cut to fit.
constexpr std::size_t max_sentence_bytes = 4192;

// Where to cut `text` at most `limit` bytes in: after its last space there, else at the last
// UTF-8 character boundary.
std::size_t sentence_cut(const std::string& text, std::size_t start, std::size_t limit) {
  const std::size_t end = start + limit;
  if (end >= text.size()) return text.size();
  const std::size_t space = text.rfind(' ', end - 1);
  if (space != std::string::npos && space > start) return space + 1;
  std::size_t cut = end;
  while (cut > start + 1 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

// The training text of a corpus, one sentence (line) at a time, for the library's trainer: a
// folder's train*.txt shards in name order, or a .jsonl's training documents. A failure to read
// is kept and rethrown after training: the trainer, behind a C call, only sees the text end.
class CorpusSentences {
 public:
  explicit CorpusSentences(const CorpusSource& corpus) : corpus_(corpus) {}

  // The trainer's `next`: 1 and the next sentence, or 0 at the end (or after an error).
  static int next(void* self, const char** data, std::size_t* size) {
    auto& s = *static_cast<CorpusSentences*>(self);
    if (s.done_) return 0;
    try {
      s.done_ = !s.advance();
    } catch (...) {
      s.error_ = std::current_exception();
      s.done_ = true;
    }
    if (s.done_) return 0;
    *data = s.value_.data();
    *size = s.value_.size();
    return 1;
  }

  std::exception_ptr error() const { return error_; }
  std::int64_t sentences() const { return sentences_; }
  std::int64_t bytes() const { return bytes_; }

 private:
  // The next non-empty piece of a line into value_; false at the end of the training text.
  bool advance() {
    while (line_pos_ >= line_.size()) {
      if (!next_line()) return false;
      line_pos_ = 0;
    }
    const std::size_t cut = sentence_cut(line_, line_pos_, max_sentence_bytes);
    value_.assign(line_, line_pos_, cut - line_pos_);
    line_pos_ = cut;
    ++sentences_;
    bytes_ += static_cast<std::int64_t>(value_.size());
    return true;
  }

  bool next_line() {
    for (;;) {
      if (!pending_lines_.empty()) {
        line_ = std::move(pending_lines_.back());
        pending_lines_.pop_back();
        return true;
      }
      if (in_.is_open() && std::getline(in_, raw_)) {
        if (!raw_.empty() && raw_.back() == '\r') raw_.pop_back();
        if (!corpus_.jsonl) {
          line_ = std::move(raw_);
          return true;
        }
        take_jsonl_document();
        continue;
      }
      if (in_.is_open() && in_.bad()) throw DataError("cannot read corpus file " + current_.string());
      if (!open_next_file()) return false;
    }
  }

  // A .jsonl line's "text", split into lines, when its document is training text (the same
  // split as prepare's: every jsonl_valid_every-th non-blank line is validation text).
  void take_jsonl_document() {
    ++jsonl_line_;
    if (raw_.find_first_not_of(" \t") == std::string::npos) return;
    const bool valid = document_ % jsonl_valid_every == 0;
    ++document_;
    if (valid) return;
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(raw_);
    } catch (const std::exception& e) {
      throw DataError(fmt::format("{}:{}: not JSON: {}", current_.string(), jsonl_line_, e.what()));
    }
    if (!doc.is_object() || !doc.contains("text") || !doc["text"].is_string()) {
      throw DataError(fmt::format("{}:{}: no \"text\" string field", current_.string(), jsonl_line_));
    }
    std::istringstream lines(doc["text"].get<std::string>());
    std::vector<std::string> in_order;
    for (std::string line; std::getline(lines, line);) in_order.push_back(std::move(line));
    pending_lines_.assign(in_order.rbegin(), in_order.rend());  // taken from the back
  }

  bool open_next_file() {
    in_.close();
    while (file_index_ < corpus_.files.size()) {
      const CorpusFile& file = corpus_.files[file_index_++];
      if (file.split != 0) continue;
      current_ = file.path;
      in_.clear();
      in_.open(current_, std::ios::binary);
      if (!in_) throw DataError("cannot open corpus file " + current_.string());
      return true;
    }
    return false;
  }

  const CorpusSource& corpus_;
  std::size_t file_index_ = 0;
  fs::path current_;
  std::ifstream in_;
  std::string raw_, line_, value_;
  std::vector<std::string> pending_lines_;
  std::size_t line_pos_ = 0;
  std::int64_t jsonl_line_ = 0, document_ = 0;
  bool done_ = false;
  std::exception_ptr error_;
  std::int64_t sentences_ = 0, bytes_ = 0;
};

std::unordered_map<std::string, std::string> trainer_arguments(const SentencePieceTraining& o) {
  std::string symbols = "<mask>";
  for (std::int64_t i = 0; i < trained_sentinels; ++i) symbols += fmt::format(",<extra_id_{}>", i);
  std::unordered_map<std::string, std::string> args = {
      {"model_type", o.type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"character_coverage", fmt::format("{}", o.character_coverage)},
      {"num_threads", std::to_string(o.threads)},
      {"max_sentence_length", std::to_string(max_sentence_bytes)},
      {"unk_id", "0"}, {"bos_id", "1"}, {"eos_id", "2"}, {"pad_id", "3"},
      {"user_defined_symbols", symbols},
      {"byte_fallback", o.byte_fallback ? "true" : "false"},
      {"normalization_rule_name", o.normalization},
      {"minloglevel", o.quiet ? "1" : "0"},
  };
  // Identity normalisation keeps the text as it is, whitespace runs included: what decodes is
  // what was encoded.
  if (o.normalization == "identity") args["remove_extra_whitespaces"] = "false";
  if (o.max_sentences > 0) {
    args["input_sentence_size"] = std::to_string(o.max_sentences);
    args["shuffle_input_sentence"] = "true";  // a reservoir sample with the library's fixed seed
  }
  return args;
}

void check_training_options(const SentencePieceTraining& o) {
  if (o.type != "unigram" && o.type != "bpe") {
    throw ConfigError("--type: " + quote_bounded(o.type) + " is not a SentencePiece model type; accepted: unigram, bpe");
  }
  const std::int64_t reserved = 4 + 1 + trained_sentinels + (o.byte_fallback ? 256 : 0);
  if (o.vocab_size <= reserved) {
    throw ConfigError(fmt::format("--vocab-size: {} leaves no room for text pieces after the {} reserved ones "
                                  "(unk, bos, eos, pad, <mask>, 100 sentinels{}); accepted: above {}",
                                  o.vocab_size, reserved, o.byte_fallback ? ", 256 bytes" : "", reserved));
  }
  if (!(o.character_coverage > 0 && o.character_coverage <= 1)) {
    throw ConfigError(fmt::format("--character-coverage: {} is outside (0, 1]", o.character_coverage));
  }
  if (o.threads < 1 || o.threads > 128) throw ConfigError(fmt::format("--threads: {} is outside 1..128", o.threads));
  if (o.max_sentences < 0 || (o.max_sentences > 0 && o.max_sentences <= 100)) {
    throw ConfigError(fmt::format("--max-sentences: {} must be 0 (all) or above 100", o.max_sentences));
  }
  const std::vector<std::string> rules = {"identity", "nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf"};
  if (std::find(rules.begin(), rules.end(), o.normalization) == rules.end()) {
    throw ConfigError("--normalization: " + quote_bounded(o.normalization) +
                      " is not a rule; accepted: identity, nmt_nfkc, nfkc, nmt_nfkc_cf, nfkc_cf");
  }
  if (o.out.extension() != ".model") {
    throw ConfigError("--out: " + quote_bounded(o.out.string()) + " must end in .model (the .vocab goes beside it)");
  }
}

// Writes `bytes` to `file` through a temporary file in the same folder, renamed over it.
void write_spm_file(const fs::path& file, const std::string& bytes) {
  const fs::path tmp = file.parent_path() / fmt::format(".{}.tmp-{}", file.filename().string(), ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw DataError("cannot write " + file.string() + " (through " + tmp.string() + ")");
    }
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw DataError("cannot move " + tmp.string() + " to " + file.string() + ": " + ec.message());
  }
}

// The trainer of the sentencepiece plugin's backend library, which alone calls libsentencepiece
// (plugins/sentencepiece/backend.hpp: opened with deep binding, since the library's own protobuf
// must not meet LibTorch's).
using TrainFn = int (*)(const char* args, int (*next)(void*, const char**, std::size_t*), void* next_ctx,
                        void (*emit)(void*, int, const char*, std::size_t), void* emit_ctx,
                        void (*error)(void*, const char*), void* error_ctx);

TrainFn sentencepiece_trainer() {
  const fs::path library = PluginLoader::builtin_folder() / "sentencepiece_backend" / "libsentencepiece_backend.so";
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (handle == nullptr) {
    const char* why = dlerror();
    throw Error(fmt::format("cannot open the SentencePiece backend {}: {} (it is built with the sentencepiece plugin "
                            "when libsentencepiece-dev is installed)", library.string(), why ? why : "unknown error"));
  }
  auto* train = reinterpret_cast<TrainFn>(dlsym(handle, "lmlab_sentencepiece_train"));
  if (train == nullptr) throw Error("the SentencePiece backend " + library.string() + " has no lmlab_sentencepiece_train");
  return train;
}

struct TrainerOutput {
  std::string model, vocab, error;
  static void emit(void* self, int kind, const char* data, std::size_t size) {
    (kind == 0 ? static_cast<TrainerOutput*>(self)->model : static_cast<TrainerOutput*>(self)->vocab).assign(data, size);
  }
  static void fail(void* self, const char* message) { static_cast<TrainerOutput*>(self)->error = message; }
};

}  // namespace

TrainedTokenizer train_sentencepiece(const SentencePieceTraining& o) {
  check_training_options(o);
  const CorpusSource corpus = find_corpus(DataSection{.corpus = o.corpus});
  const auto start = std::chrono::steady_clock::now();
  const TrainFn train = sentencepiece_trainer();
  CorpusSentences sentences(corpus);
  TrainerOutput output;
  std::string args;
  for (const auto& [key, value] : trainer_arguments(o)) args += key + "=" + value + "\n";
  const int status = train(args.c_str(), &CorpusSentences::next, &sentences, &TrainerOutput::emit, &output,
                           &TrainerOutput::fail, &output);
  if (sentences.error()) std::rethrow_exception(sentences.error());
  if (sentences.sentences() == 0) {
    throw DataError(fmt::format("corpus {} has no training text to train a tokenizer on (its train*.txt files, or "
                                "a .jsonl's training documents, are empty)", corpus.root.string()));
  }
  if (status != 0) throw DataError(fmt::format("SentencePiece training on {} failed: {}", corpus.root.string(), output.error));
  const std::string& model = output.model;
  const std::string& vocab = output.vocab;
  TrainedTokenizer trained;
  trained.sentences = sentences.sentences();
  trained.bytes = sentences.bytes();
  trained.vocab_size = static_cast<std::int64_t>(std::count(vocab.begin(), vocab.end(), '\n'));
  trained.model = o.out;
  trained.vocab = fs::path(o.out).replace_extension(".vocab");
  std::error_code ec;
  if (!o.out.parent_path().empty()) fs::create_directories(o.out.parent_path(), ec);
  write_spm_file(trained.vocab, vocab);
  write_spm_file(trained.model, model);
  trained.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return trained;
}

}  // namespace lmlab
