// "Did you mean": the closest names to a misspelt one.
#include "support/catch.hpp"

#include <string>
#include <vector>

#include "util/suggest.hpp"

namespace suggest_tests {

TEST_CASE("closest_matches lists the near names, closest first, at most three", "[suggest]") {
  const std::vector<std::string> steps = {"greedy", "sample", "temperature", "top_k", "top_p", "typical"};
  CHECK(lmlab::closest_matches("temperatur", steps) == std::vector<std::string>{"temperature"});
  CHECK(lmlab::closest_matches("top_x", steps) == std::vector<std::string>{"top_k", "top_p"});
  CHECK(lmlab::closest_matches("top_x", steps, 1) == std::vector<std::string>{"top_k"});
  CHECK(lmlab::closest_matches("beam", steps).empty());
  CHECK(lmlab::closest_matches(std::string(1 << 20, 't'), steps).empty());
}

TEST_CASE("did_you_mean words one, two or three suggestions, or nothing", "[suggest]") {
  const std::vector<std::string> names = {"ab1", "ab2", "ab3", "ab4", "zzzzzz"};
  CHECK(lmlab::did_you_mean("zzzzz", names) == " (did you mean 'zzzzzz'?)");
  CHECK(lmlab::did_you_mean("ab", {"ab1", "ab2"}) == " (did you mean 'ab1' or 'ab2'?)");
  CHECK(lmlab::did_you_mean("ab", names) == " (did you mean 'ab1', 'ab2' or 'ab3'?)");
  CHECK(lmlab::did_you_mean("qqqqqqq", names).empty());
}

}  // namespace suggest_tests
