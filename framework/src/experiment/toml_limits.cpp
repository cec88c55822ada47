// A one-pass scan of TOML text for its nesting depth, so that no input reaches toml++'s
// recursive descent deeper than max_toml_depth.
#include "experiment/toml_limits.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "experiment/integer_literal.hpp"
#include "lmlab/error.hpp"
#include "lmlab/options.hpp"

namespace lmlab {
namespace {

// Tracks the depth a value would have at each point of the text: a table header's parts, each
// part of a dotted key, and each array or inline table opened around it. Strings and comments
// are skipped, so dots and brackets inside them do not count.
class TomlDepthScan {
 public:
  TomlDepthScan(std::string_view text, std::string_view source, std::size_t outer)
      : text_(text), source_(source), header_base_(outer), header_(outer) {}

  void run() {
    while (pos_ < text_.size()) step(text_[pos_]);
  }

 private:
  struct Open {
    char bracket;       // '[' an array, '{' an inline table
    std::size_t depth;  // the container's own depth
  };

  void step(char c) {
    if (c == '\n') {
      ++line_;
      ++pos_;
      if (open_.empty()) start_statement();
      return;
    }
    if (c == ' ' || c == '\t' || c == '\r') return void(++pos_);
    if (c == '#') return skip_comment();
    if (c == '"' || c == '\'') {
      statement_start_ = false;
      return skip_string(c);
    }
    if (open_.empty() && statement_start_ && c == '[') return header();
    statement_start_ = false;
    ++pos_;
    if (in_key_) key_char(c);
    else value_char(c);
  }

  void start_statement() {
    statement_start_ = true;
    in_key_ = true;
    key_parts_ = 1;
  }

  std::size_t table_depth() const { return open_.empty() ? header_ : open_.back().depth; }

  void key_char(char c) {
    if (c == '.') limit(table_depth() + ++key_parts_);
    else if (c == '=') {
      in_key_ = false;
      pending_ = table_depth() + key_parts_;
      limit(pending_);
    } else if (c == '}' || c == ']') close();
  }

  void value_char(char c) {
    if (c == '[' || c == '{') {
      open_.push_back({c, pending_});
      limit(pending_);
      if (c == '[') pending_ += 1;
      else begin_inline_key();
    } else if (c == ',') {
      if (!open_.empty() && open_.back().bracket == '{') begin_inline_key();
      else if (!open_.empty()) pending_ = open_.back().depth + 1;
    } else if (c == ']' || c == '}') {
      close();
    }
  }

  void begin_inline_key() {
    in_key_ = true;
    key_parts_ = 1;
  }

  void close() {
    if (!open_.empty()) open_.pop_back();
    in_key_ = false;
    if (!open_.empty() && open_.back().bracket == '[') pending_ = open_.back().depth + 1;
  }

  // `[a.b.c]` or `[[a.b.c]]`: the table's depth is its parts (one more for an array of tables).
  void header() {
    ++pos_;
    std::size_t depth = header_base_ + 1;
    if (pos_ < text_.size() && text_[pos_] == '[') {
      ++pos_;
      ++depth;
    }
    limit(depth);
    while (pos_ < text_.size() && text_[pos_] != ']' && text_[pos_] != '\n') {
      const char c = text_[pos_];
      if (c == '"' || c == '\'') {
        skip_string(c);
        continue;
      }
      if (c == '.') limit(++depth);
      ++pos_;
    }
    header_ = depth;
    in_key_ = true;
    key_parts_ = 1;
    statement_start_ = false;
    while (pos_ < text_.size() && text_[pos_] == ']') ++pos_;
  }

  void skip_comment() {
    while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
  }

  // Basic strings honour backslash escapes; multi-line ones (""" and ''') may hold newlines and
  // end with up to two extra quotes. An unterminated string runs to the end of its line (or,
  // multi-line, of the text): toml++ reports it.
  void skip_string(char quote) {
    const bool basic = quote == '"';
    const bool multi = text_.substr(pos_, 3) == std::string(3, quote);
    pos_ += multi ? 3 : 1;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '\n') {
        if (!multi) return;
        ++line_;
      }
      if (basic && c == '\\') {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') ++line_;
        pos_ += 2;
        continue;
      }
      if (c == quote && (!multi || text_.substr(pos_, 3) == std::string(3, quote))) {
        pos_ += multi ? 3 : 1;
        for (int extra = 0; multi && extra < 2 && pos_ < text_.size() && text_[pos_] == quote; ++extra) ++pos_;
        return;
      }
      ++pos_;
    }
  }

  void limit(std::size_t depth) const {
    if (depth <= max_toml_depth) return;
    config_error_at(fmt::format("{}:{}", source_.empty() ? "<input>" : source_, line_), "",
                    fmt::format("nested deeper than {} levels (table headers, dotted keys, arrays and inline "
                                "tables count together)",
                                max_toml_depth),
                    fmt::format("at most {} levels", max_toml_depth));
  }

  std::string_view text_;
  std::string source_;
  std::size_t pos_ = 0, line_ = 1;
  std::size_t header_base_;  // the outer depth every header starts from
  std::size_t header_;       // the depth of the current [table]
  std::size_t key_parts_ = 1, pending_ = 0;
  bool in_key_ = true, statement_start_ = true;
  std::vector<Open> open_;
};

std::string_view trim_toml_space(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

struct LineValue {
  std::string key_path;    // "train.steps"; "" when the line holds no `=`
  std::string_view value;  // the text after `=`, up to a comment
};

// The `key = value` on line `line` (1-based), its key under the nearest [table] header above it,
// for messages about that value. Good for the plain layout of experiment files, which is all a
// message needs; anything else gives an empty LineValue.
LineValue value_at_line(std::string_view text, std::size_t line) {
  std::string_view header;
  std::string_view here;
  std::size_t number = 1;
  for (std::size_t pos = 0; pos <= text.size() && number <= line; ++number) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view content = trim_toml_space(text.substr(pos, end - pos));
    if (number == line) here = content;
    else if (content.starts_with('[')) header = content.substr(0, content.find(']'));
    pos = end + 1;
  }
  while (header.starts_with('[')) header.remove_prefix(1);
  const std::size_t equals = here.find('=');
  if (equals == std::string_view::npos) return {};
  const std::string key(trim_toml_space(here.substr(0, equals)));
  const std::string table(trim_toml_space(header));
  const std::string_view rest = here.substr(equals + 1);
  const std::string_view value = trim_toml_space(rest.substr(0, rest.find('#')));
  return {(table.empty() ? key : table + "." + key).substr(0, 200), value};
}

}  // namespace

void check_toml_limits(std::string_view text, std::string_view source, std::size_t outer_depth) {
  if (text.size() > max_toml_bytes) {
    config_error_at(source.empty() ? "<input>" : source, "",
                    fmt::format("{} bytes is too large for an experiment file", text.size()),
                    fmt::format("at most {} bytes ({} MiB)", max_toml_bytes, max_toml_bytes >> 20));
  }
  TomlDepthScan(text, source, outer_depth).run();
}

toml::table parse_toml(std::string_view text, std::string_view source, std::size_t outer_depth) {
  check_toml_limits(text, source, outer_depth);
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    const std::string location =
        fmt::format("{}:{}:{}", source.empty() ? "<input>" : source, begin.line, begin.column);
    const std::string_view description = e.description();
    // toml++ words an integer past 64 bits as a syntax error; it is a value out of range.
    const bool too_big = description.find("is not representable in 64 bits") != std::string_view::npos ||
                         description.find("numeric value too long") != std::string_view::npos;
    const LineValue line = value_at_line(text, begin.line);
    if (too_big && is_integer_literal(line.value)) {
      config_error_at(location, line.key_path, integer_overflow_message(line.value), integer_range_text());
    }
    config_error_at(location, "", description.substr(0, 500));
  }
}

}  // namespace lmlab
