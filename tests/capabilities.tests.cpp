// Capabilities and requirements: the text lmlab plugins, run files and compatibility errors
// show, and which requirement a family fails first.
#include <optional>
#include <string>

#include "lmlab/capabilities.hpp"

// Last, as in every test file.
#include "support/catch.hpp"

namespace capabilities_tests {

using lmlab::Capabilities;
using lmlab::describe;
using lmlab::Requirements;
using lmlab::unmet;

TEST_CASE("capabilities: describe lists what a family can do", "[capabilities]") {
  CHECK(describe(Capabilities{}) == "none");
  CHECK(describe(Capabilities{.generates = true}) == "generates");
  CHECK(describe(Capabilities{.has_encoder = true}) == "has an encoder");
  CHECK(describe(Capabilities{.prefix = true}) == "takes prefix lengths");
  // The families' texts, as docs/architectures.md shows them.
  CHECK(describe(Capabilities{.generates = true, .bidirectional = true}) == "generates and bidirectional");
  CHECK(describe(Capabilities{.generates = true, .bidirectional = true, .prefix = true}) ==
        "generates, bidirectional and takes prefix lengths");
  CHECK(describe(Capabilities{.generates = true, .bidirectional = true, .has_encoder = true, .prefix = true}) ==
        "generates, bidirectional, has an encoder and takes prefix lengths");
}

TEST_CASE("capabilities: describe says what a requirement asks for, set or unset", "[capabilities]") {
  CHECK(describe(Requirements{}) == "any architecture");
  CHECK(describe(Requirements{.generates = true}) == "an architecture that generates");
  CHECK(describe(Requirements{.generates = false}) == "an architecture that does not generate");
  CHECK(describe(Requirements{.bidirectional = false}) == "an architecture that is causal everywhere");
  CHECK(describe(Requirements{.has_encoder = true}) == "an architecture that has an encoder");
  CHECK(describe(Requirements{.has_encoder = false}) == "an architecture that has no encoder");
  CHECK(describe(Requirements{.prefix = true}) == "an architecture that takes prefix lengths");
  CHECK(describe(Requirements{.prefix = false}) == "an architecture that takes no prefix lengths");
  // causal_lm's needs.
  CHECK(describe(Requirements{.generates = true, .has_encoder = false}) ==
        "an architecture that generates and has no encoder");
  CHECK(describe(Requirements{.generates = true, .bidirectional = false, .has_encoder = false}) ==
        "an architecture that generates, is causal everywhere and has no encoder");
}

TEST_CASE("capabilities: a requirement set to false is still a requirement", "[capabilities]") {
  CHECK(Requirements{}.empty());
  CHECK_FALSE(Requirements{.generates = false}.empty());
  CHECK_FALSE(Requirements{.bidirectional = false}.empty());
  CHECK_FALSE(Requirements{.has_encoder = false}.empty());
  CHECK_FALSE(Requirements{.prefix = false}.empty());
  CHECK_FALSE(Requirements{.prefix = true}.empty());
}

TEST_CASE("capabilities: unmet names what the family does instead, for each flag", "[capabilities]") {
  const Capabilities nothing{};
  const Capabilities everything{.generates = true, .bidirectional = true, .has_encoder = true, .prefix = true};
  // Nothing asked: always met.
  CHECK_FALSE(unmet(Requirements{}, nothing).has_value());
  CHECK_FALSE(unmet(Requirements{}, everything).has_value());

  CHECK(unmet(Requirements{.generates = true}, nothing) == std::optional<std::string>("does not generate"));
  CHECK(unmet(Requirements{.generates = false}, everything) == std::optional<std::string>("generates"));
  CHECK_FALSE(unmet(Requirements{.generates = true}, everything).has_value());
  CHECK_FALSE(unmet(Requirements{.generates = false}, nothing).has_value());

  CHECK(unmet(Requirements{.bidirectional = true}, nothing) == std::optional<std::string>("is causal everywhere"));
  CHECK_FALSE(unmet(Requirements{.bidirectional = true}, everything).has_value());
  CHECK_FALSE(unmet(Requirements{.bidirectional = false}, nothing).has_value());

  CHECK(unmet(Requirements{.has_encoder = true}, nothing) == std::optional<std::string>("has no encoder"));
  CHECK(unmet(Requirements{.has_encoder = false}, everything) == std::optional<std::string>("has an encoder"));
  CHECK_FALSE(unmet(Requirements{.has_encoder = true}, everything).has_value());
  CHECK_FALSE(unmet(Requirements{.has_encoder = false}, nothing).has_value());

  CHECK(unmet(Requirements{.prefix = true}, nothing) == std::optional<std::string>("takes no prefix lengths"));
  CHECK(unmet(Requirements{.prefix = false}, everything) == std::optional<std::string>("takes prefix lengths"));
  CHECK_FALSE(unmet(Requirements{.prefix = true}, everything).has_value());
  CHECK_FALSE(unmet(Requirements{.prefix = false}, nothing).has_value());
}

TEST_CASE("capabilities: unmet reports the first failing requirement, in declaration order", "[capabilities]") {
  // causal_lm's needs against each family.
  const Requirements causal_lm{.generates = true, .has_encoder = false};
  const Capabilities causal_decoder{.generates = true};
  const Capabilities prefix_decoder{.generates = true, .bidirectional = true, .prefix = true};
  const Capabilities encoder_decoder{.generates = true, .bidirectional = true, .has_encoder = true};
  const Capabilities encoder_only{.bidirectional = true};
  CHECK_FALSE(unmet(causal_lm, causal_decoder).has_value());
  CHECK_FALSE(unmet(causal_lm, prefix_decoder).has_value());
  CHECK(unmet(causal_lm, encoder_decoder) == std::optional<std::string>("has an encoder"));
  CHECK(unmet(causal_lm, encoder_only) == std::optional<std::string>("does not generate"));
  // Both fail: generates comes first.
  CHECK(unmet(Requirements{.generates = true, .has_encoder = true}, encoder_only) ==
        std::optional<std::string>("does not generate"));
}

// The bidirectional flag is an adjective in a list of capabilities, but must read as a verb
// phrase after "an architecture that" and after "but architecture 'x'", as the others do.
TEST_CASE("capabilities: a bidirectional requirement and its failure read as sentences", "[capabilities]") {
  CHECK(describe(Requirements{.bidirectional = true}) == "an architecture that is bidirectional");
  CHECK(unmet(Requirements{.bidirectional = false}, Capabilities{.bidirectional = true}) ==
        std::optional<std::string>("is bidirectional"));
}

}  // namespace capabilities_tests
