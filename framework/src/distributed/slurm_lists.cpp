// Slurm's compressed lists: host lists ("node[01-03,07],gpu5") and task counts ("2(x3),1").
#include <fmt/format.h>

#include <charconv>

#include "distributed/world.hpp"
#include "lmlab/error.hpp"

namespace lmlab::distributed {
namespace {

std::string hostlist_quote(const std::string& value) {
  constexpr std::size_t limit = 120;
  return value.size() <= limit ? "'" + value + "'" : "'" + value.substr(0, limit) + "...'";
}

[[noreturn]] void bad_hostlist(const std::string& list, const std::string& why) {
  throw ConfigError(fmt::format("Slurm host list {} (SLURM_JOB_NODELIST) is malformed: {}", hostlist_quote(list), why));
}

// Splits at the commas outside brackets.
std::vector<std::string> split_hosts(const std::string& list) {
  std::vector<std::string> parts(1);
  int depth = 0;
  for (char c : list) {
    if (c == '[' && ++depth > 1) bad_hostlist(list, "nested '['");
    if (c == ']' && --depth < 0) bad_hostlist(list, "']' without '['");
    if (c == ',' && depth == 0) {
      parts.emplace_back();
      continue;
    }
    parts.back() += c;
  }
  if (depth != 0) bad_hostlist(list, "'[' without ']'");
  return parts;
}

std::uint64_t hostlist_number(const std::string& list, const std::string& digits) {
  std::uint64_t value = 0;
  const char* end = digits.data() + digits.size();
  const auto [stop, error] = std::from_chars(digits.data(), end, value);
  if (digits.empty() || error != std::errc{} || stop != end)
    bad_hostlist(list, fmt::format("{} is not a number in a range", hostlist_quote(digits)));
  return value;
}

// The suffixes one bracket group stands for: "01-03,7" -> 01 02 03 7.
std::vector<std::string> expand_group(const std::string& list, const std::string& group, std::size_t max_hosts) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= group.size()) {
    const std::size_t comma = std::min(group.find(',', start), group.size());
    const std::string item = group.substr(start, comma - start);
    const std::size_t dash = item.find('-');
    const std::string low_text = item.substr(0, dash);
    const std::uint64_t low = hostlist_number(list, low_text);
    const std::uint64_t high = dash == std::string::npos ? low : hostlist_number(list, item.substr(dash + 1));
    if (high < low) bad_hostlist(list, fmt::format("range {} runs backwards", hostlist_quote(item)));
    if (high - low >= max_hosts || out.size() + (high - low) >= max_hosts)
      bad_hostlist(list, fmt::format("more than {} hosts", max_hosts));
    for (std::uint64_t n = low; n <= high; ++n) out.push_back(fmt::format("{:0{}}", n, low_text.size()));
    start = comma + 1;
  }
  return out;
}

// One host expression with any number of bracket groups, expanded left to right.
void expand_host(const std::string& list, const std::string& expr, std::size_t max_hosts,
                 std::vector<std::string>& hosts) {
  if (expr.empty()) bad_hostlist(list, "an empty host name");
  std::vector<std::string> names{""};
  std::size_t at = 0;
  while (at < expr.size()) {
    const std::size_t open = expr.find('[', at);
    const std::string literal = expr.substr(at, open == std::string::npos ? std::string::npos : open - at);
    for (auto& name : names) name += literal;
    if (open == std::string::npos) break;
    const std::size_t close = expr.find(']', open);
    const auto suffixes = expand_group(list, expr.substr(open + 1, close - open - 1), max_hosts);
    if (names.size() * suffixes.size() + hosts.size() > max_hosts)
      bad_hostlist(list, fmt::format("more than {} hosts", max_hosts));
    std::vector<std::string> next;
    for (const auto& name : names)
      for (const auto& suffix : suffixes) next.push_back(name + suffix);
    names = std::move(next);
    at = close + 1;
  }
  hosts.insert(hosts.end(), names.begin(), names.end());
}

}  // namespace

std::vector<std::string> expand_slurm_hostlist(const std::string& list, std::size_t max_hosts) {
  if (list.find_first_of(" \t\r\n") != std::string::npos) bad_hostlist(list, "white space");
  std::vector<std::string> hosts;
  for (const auto& expr : split_hosts(list)) expand_host(list, expr, max_hosts, hosts);
  return hosts;
}

std::vector<int> expand_slurm_tasks_per_node(const std::string& value) {
  const auto bad = [&](const std::string& why) {
    return ConfigError(fmt::format("SLURM_TASKS_PER_NODE={} is malformed: {} (accepted: counts such as '2(x3),1')",
                                   hostlist_quote(value), why));
  };
  std::vector<int> counts;
  std::size_t start = 0;
  while (start <= value.size()) {
    const std::size_t comma = std::min(value.find(',', start), value.size());
    const std::string item = value.substr(start, comma - start);
    int count = 0, repeat = 1;
    const char* end = item.data() + item.size();
    auto [stop, error] = std::from_chars(item.data(), end, count);
    if (item.empty() || error != std::errc{} || count < 1)
      throw bad(fmt::format("{} is not a task count", hostlist_quote(item)));
    if (stop != end) {
      const std::string tail(stop, end);
      if (tail.size() < 4 || tail.compare(0, 2, "(x") != 0 || tail.back() != ')')
        throw bad(fmt::format("{} is not N or N(xM)", hostlist_quote(item)));
      const auto [rstop, rerror] = std::from_chars(stop + 2, end - 1, repeat);
      if (rerror != std::errc{} || rstop != end - 1 || repeat < 1 || repeat > 1000000)
        throw bad(fmt::format("{} has a bad repeat count", hostlist_quote(item)));
    }
    if (counts.size() + static_cast<std::size_t>(repeat) > 1000000) throw bad("more than 1000000 nodes");
    counts.insert(counts.end(), static_cast<std::size_t>(repeat), count);
    start = comma + 1;
  }
  return counts;
}

}  // namespace lmlab::distributed
