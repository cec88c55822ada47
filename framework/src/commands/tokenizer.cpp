// `lmlab tokenizer train|encode|show`: train a SentencePiece model on a corpus (tokenizer_train.hpp),
// encode text or a file with any tokenizer plugin (ids, pieces, or speed), and show how tokenizers
// split a text side by side.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands/command.hpp"
#include "commands/tokenizer_train.hpp"
#include "experiment/config.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/plugin_loader.hpp"
#include "plugin_host/run_tokenizer.hpp"

namespace lmlab::commands {
namespace {

namespace fs = std::filesystem;

// Which tokenizers a command builds, and with what options.
struct TokenizerChoiceArgs {
  std::vector<std::string> names;
  std::vector<std::string> overrides;  // --set key=value (encode) or name.key=value (show)
  std::string model;                   // --model: the sentencepiece tokenizer's model option
  std::vector<std::string> plugin_paths;
};

struct EncodeArgs {
  TokenizerChoiceArgs choice;
  std::string tokenizer;  // empty: sentencepiece with --model, else byte
  std::string file;
  std::vector<std::string> text;
  bool pieces = false, stats = false, lines = false;
  std::int64_t chunk_bytes = std::int64_t{1} << 20;  // as prepare reads a corpus (PrepareOptions)
};

struct ShowArgs {
  TokenizerChoiceArgs choice;
  std::vector<std::string> text;
};

struct BuiltTokenizer {
  std::string name;
  std::shared_ptr<const Tokenizer> tokenizer;
};

// `options` checked against the plugin's declaration (unknown keys and bad values are
// ConfigErrors naming the key), then the tokenizer built with them.
BuiltTokenizer build_named(const Registry& registry, const std::string& name, toml::table options,
                           const std::string& model) {
  if (!model.empty() && name == "sentencepiece") options.insert_or_assign("model", model);
  const toml::table resolved = resolve_plugin<Tokenizer>(registry, name, options, "tokenizer");
  return {name, build_tokenizer(registry, PluginChoice{name, resolved, {}})};
}

void load_plugins(PluginLoader& loader, const TokenizerChoiceArgs& a) {
  loader.load_standard(a.plugin_paths, fs::current_path(), "--plugin-path");
}

std::string read_text_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError("cannot open " + file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw DataError("cannot read " + file);
  return text;
}

// A piece on one line: control characters escaped.
std::string printable_piece(const std::string& piece) {
  std::string out;
  for (const char c : piece) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else out.push_back(c);
  }
  return out;
}

std::string joined_ids(const std::vector<std::int64_t>& ids) { return fmt::format("{}", fmt::join(ids, " ")); }

std::string joined_pieces(const Tokenizer& tokenizer, const std::vector<std::int64_t>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + printable_piece(tokenizer.piece(ids[i]));
  return out;
}

// Where a chunk of a file ends: after the last newline within `limit` bytes (the whole rest
// when it fits, and at `limit` when a line is longer).
std::size_t file_chunk_end(const std::string& text, std::size_t start, std::size_t limit) {
  if (text.size() - start <= limit) return text.size();
  const std::size_t newline = text.rfind('\n', start + limit - 1);
  if (newline != std::string::npos && newline >= start) return newline + 1;
  std::size_t cut = start + limit;
  while (cut > start + 1 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

// The pieces of `text` a file encodes as: its lines (without their newlines) with --lines,
// else chunks of at most --chunk-bytes cut after a newline, as prepare reads a corpus.
std::vector<std::string_view> file_parts(const std::string& text, const EncodeArgs& a) {
  std::vector<std::string_view> parts;
  const std::string_view all(text);
  std::size_t start = 0;
  while (start < text.size()) {
    if (a.lines) {
      const std::size_t newline = text.find('\n', start);
      const std::size_t end = newline == std::string::npos ? text.size() : newline;
      parts.push_back(all.substr(start, end - start));
      start = end + 1;
    } else {
      const std::size_t end = file_chunk_end(text, start, static_cast<std::size_t>(a.chunk_bytes));
      parts.push_back(all.substr(start, end - start));
      start = end;
    }
  }
  return parts;
}

std::int64_t count_characters(std::string_view text) {
  return std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

int encode_stats(const BuiltTokenizer& built, const std::string& file, const std::vector<std::string_view>& parts) {
  std::int64_t tokens = 0, bytes = 0, characters = 0;
  double seconds = 0;
  for (const std::string_view part : parts) {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<std::int64_t> ids = built.tokenizer->encode(part);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    tokens += static_cast<std::int64_t>(ids.size());
    bytes += static_cast<std::int64_t>(part.size());
    characters += count_characters(part);
  }
  std::cout << fmt::format("{}: {} ({})\n", file, built.name, built.tokenizer->identity());
  std::cout << fmt::format("  tokens {}  bytes {}  characters {}  parts {}\n", tokens, bytes, characters, parts.size());
  std::cout << fmt::format("  tokens/character {:.4f}  bytes/token {:.3f}\n",
                           characters ? double(tokens) / double(characters) : 0.0,
                           tokens ? double(bytes) / double(tokens) : 0.0);
  std::cout << fmt::format("  encode {:.3f} s  {:.2f} MB/s (one thread)\n", seconds,
                           seconds > 0 ? double(bytes) / 1e6 / seconds : 0.0);
  return 0;
}

int encode(const EncodeArgs& a) {
  if (a.file.empty() == a.text.empty()) throw ConfigError("tokenizer encode: give either --file FILE or the text to encode");
  if (a.stats && a.file.empty()) throw ConfigError("tokenizer encode: --stats measures a --file");
  Registry registry;
  PluginLoader loader(registry);
  load_plugins(loader, a.choice);
  toml::table options;
  apply_overrides(options, a.choice.overrides);
  const std::string name = !a.tokenizer.empty() ? a.tokenizer : a.choice.model.empty() ? "byte" : "sentencepiece";
  const BuiltTokenizer built = build_named(registry, name, options, a.choice.model);
  std::string text;
  std::vector<std::string_view> parts;
  if (a.file.empty()) {
    text = fmt::format("{}", fmt::join(a.text, " "));
    parts.push_back(text);
  } else {
    text = read_text_file(a.file);
    parts = file_parts(text, a);
  }
  if (a.stats) return encode_stats(built, a.file, parts);
  for (const std::string_view part : parts) {
    const std::vector<std::int64_t> ids = built.tokenizer->encode(part);
    std::cout << (a.pieces ? joined_pieces(*built.tokenizer, ids) : joined_ids(ids)) << '\n';
  }
  return 0;
}

int show(const ShowArgs& a) {
  Registry registry;
  PluginLoader loader(registry);
  load_plugins(loader, a.choice);
  toml::table options;  // name -> that tokenizer's options
  apply_overrides(options, a.choice.overrides);
  std::vector<std::string> names = a.choice.names;
  if (names.empty()) names = a.choice.model.empty() ? std::vector<std::string>{"byte"} : std::vector<std::string>{"byte", "sentencepiece"};
  const std::string text = fmt::format("{}", fmt::join(a.text, " "));
  std::cout << fmt::format("text: {} ({} bytes, {} characters)\n", text, text.size(), count_characters(text));
  for (const std::string& name : names) {
    const toml::table* own = options[name].as_table();
    const BuiltTokenizer built = build_named(registry, name, own ? *own : toml::table{}, a.choice.model);
    const std::vector<std::int64_t> ids = built.tokenizer->encode(text);
    std::cout << fmt::format("\n{} ({}), {} tokens of a vocabulary of {}\n", name, built.tokenizer->identity(),
                             ids.size(), built.tokenizer->vocab_size());
    std::cout << "  ids:    " << joined_ids(ids) << '\n';
    std::cout << "  pieces: " << joined_pieces(*built.tokenizer, ids) << '\n';
    const std::string decoded = built.tokenizer->decode(ids);
    if (decoded != text) std::cout << "  decodes to: " << decoded << '\n';
  }
  return 0;
}

int train(const SentencePieceTraining& options) {
  const TrainedTokenizer t = train_sentencepiece(options);
  std::cout << fmt::format("trained a {} SentencePiece model of {} pieces on {} sentences ({:.1f} MB) of {} in {:.1f} s\n",
                           options.type, t.vocab_size, t.sentences, double(t.bytes) / 1e6, options.corpus, t.seconds);
  std::cout << fmt::format("wrote {} and {}\n", t.model.string(), t.vocab.string());
  return 0;
}

void add_choice_options(CLI::App& sub, TokenizerChoiceArgs& a, const char* set_help) {
  // One value per --set, so that the text after it stays the text.
  sub.add_option("--set", a.overrides, set_help)->allow_extra_args(false);
  sub.add_option("--model", a.model, "the sentencepiece tokenizer's .model file (sets its model option)");
  sub.add_option("--plugin-path", a.plugin_paths, "another plugin folder or library (repeatable)")->allow_extra_args(false);
}

CLI::App* add_train(CLI::App& parent, SentencePieceTraining& o) {
  auto* sub = parent.add_subcommand("train", "train a SentencePiece model on a corpus's training text");
  sub->add_option("--corpus", o.corpus, "brown (data/brown), a folder of train*.txt, or a .jsonl")->capture_default_str();
  sub->add_option("--type", o.type, "unigram or bpe")->capture_default_str();
  sub->add_option("--vocab-size", o.vocab_size, "pieces in the model, reserved ones included")->capture_default_str();
  sub->add_option("--out", o.out, "the .model file to write (its .vocab goes beside it)")->required();
  sub->add_option("--character-coverage", o.character_coverage, "share of characters covered by pieces; "
                  "the rest become bytes (or <unk>)")->capture_default_str();
  sub->add_option("--max-sentences", o.max_sentences, "train on a uniform sample of this many sentences (0: all)")
      ->capture_default_str();
  sub->add_option("--threads", o.threads, "trainer threads (a unigram model depends on them)")->capture_default_str();
  sub->add_option("--normalization", o.normalization, "identity (lossless), nmt_nfkc, nfkc, nmt_nfkc_cf or nfkc_cf")
      ->capture_default_str();
  sub->add_flag("--byte-fallback,!--no-byte-fallback", o.byte_fallback,
                "characters outside the pieces become UTF-8 byte pieces rather than <unk> (default: on)");
  sub->add_flag("!--verbose", o.quiet, "show the library's training log");
  return sub;
}

}  // namespace

Command add_tokenizer_command(CLI::App& app) {
  auto* sub = app.add_subcommand("tokenizer", "train a SentencePiece model; encode or show text with a tokenizer");
  sub->require_subcommand(1);
  auto training = std::make_shared<SentencePieceTraining>();
  auto* train_sub = add_train(*sub, *training);

  auto enc = std::make_shared<EncodeArgs>();
  auto* encode_sub = sub->add_subcommand("encode", "print the ids (or pieces, or speed) of a text or a file");
  encode_sub->add_option("--tokenizer", enc->tokenizer, "the tokenizer plugin (default: sentencepiece with "
                         "--model, else byte)");
  add_choice_options(*encode_sub, enc->choice, "a tokenizer option: key=value (repeatable)");
  encode_sub->add_option("--file", enc->file, "encode this file")->check(CLI::ExistingFile);
  encode_sub->add_flag("--pieces", enc->pieces, "print pieces instead of ids");
  encode_sub->add_flag("--stats", enc->stats, "print tokens, bytes, tokens per character and MB/s of the --file");
  encode_sub->add_flag("--lines", enc->lines, "encode the file line by line (newlines not encoded)");
  encode_sub->add_option("--chunk-bytes", enc->chunk_bytes, "encode the file in chunks of at most this many bytes, "
                         "cut after a newline")->capture_default_str()->check(CLI::PositiveNumber);
  encode_sub->add_option("text", enc->text, "the text to encode (words joined by spaces)");

  auto sh = std::make_shared<ShowArgs>();
  auto* show_sub = sub->add_subcommand("show", "how each tokenizer splits a text: ids and pieces");
  show_sub->add_option("--tokenizer", sh->choice.names, "a tokenizer plugin (repeatable; default: byte, and "
                       "sentencepiece with --model)")->allow_extra_args(false);
  add_choice_options(*show_sub, sh->choice, "a tokenizer's option: name.key=value (repeatable)");
  show_sub->add_option("text", sh->text, "the text (words joined by spaces)")->required();

  return {sub, [=] {
            if (*train_sub) return train(*training);
            if (*encode_sub) return encode(*enc);
            return show(*sh);
          }};
}

}  // namespace lmlab::commands
