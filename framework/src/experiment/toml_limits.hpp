/// Size and nesting limits on TOML text, checked before toml++ sees it: its parser descends
/// recursively into dotted keys and table headers (and its tables are destroyed recursively), so
/// a document 40,000 levels deep overflows the stack. Every TOML document lmlab reads from a user
/// (experiment files, `base` files, `--set` values) goes through parse_toml.
#pragma once
#include <cstddef>
#include <string_view>

#include <toml++/toml.h>

namespace lmlab {

/// Far above any real experiment file (a few KiB), far below what stresses the parser.
inline constexpr std::size_t max_toml_bytes = std::size_t{4} << 20;

/// Tables, dotted-key parts, arrays and inline tables counted together from the root. Real
/// files nest under 10 deep; toml++ itself stops arrays at 256 but not headers or dotted keys.
inline constexpr std::size_t max_toml_depth = 64;

/// Throws ConfigError "<source>:<line>: ..." naming the limit when `text` is larger than
/// max_toml_bytes or nests deeper than max_toml_depth. `outer_depth` is the depth the document is
/// placed at (a `--set` value under its key path). A cheap scan that skips strings and comments;
/// it needs no well-formed input, since toml++ reports syntax errors afterwards.
void check_toml_limits(std::string_view text, std::string_view source, std::size_t outer_depth = 0);

/// check_toml_limits, then toml++; a syntax error becomes ConfigError "<source>:line:col: ...".
toml::table parse_toml(std::string_view text, std::string_view source, std::size_t outer_depth = 0);

}  // namespace lmlab
