/// What an architecture family can do, and what an objective or a decoding chain needs of it.
/// Both are declared when a plugin registers, so an experiment that pairs an objective with a
/// model it cannot drive is rejected during validation, before any work.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace lmlab {

/// Fixed per architecture family, whatever its options.
struct Capabilities {
  bool generates = false;      // a causal path with a key/value cache: can continue a prompt
  bool bidirectional = false;  // some positions see later ones (a prefix, an encoder)
  bool has_encoder = false;    // a separate encoder reads ModelInput::encoder_tokens
  bool prefix = false;         // reads ModelInput::prefix_lengths
};

/// Each field that is set must equal the architecture's.
struct Requirements {
  std::optional<bool> generates{}, bidirectional{}, has_encoder{}, prefix{};
  bool empty() const { return !generates && !bidirectional && !has_encoder && !prefix; }
};

/// Where a regulariser acts in a training step, in the order the trainer calls them. The trainer
/// calls only the hooks a regulariser declares, in the order the experiment lists regularisers.
/// Each field is named after the Regulariser method it stands for.
struct HookPoints {
  bool extra_loss = false;   // adds a term to the objective's loss
  bool before_step = false;  // reads or changes gradients before the optimizer step
  bool after_step = false;   // acts on the parameters after the optimizer step
  bool log = false;          // writes its own rows to the run file on log steps
  bool empty() const { return !extra_loss && !before_step && !after_step && !log; }
};

/// What a plugin declares besides its options; architectures fill `provides`, objectives `needs`,
/// regularisers `hooks`. A `composite` objective mixes the objectives its `tasks` option lists,
/// each configured in a sub-table of its own name; each of them must suit the architecture.
struct PluginTraits {
  Capabilities provides{};
  Requirements needs{};
  HookPoints hooks{};
  bool composite = false;
};

/// "generates, bidirectional and has an encoder" (or "none").
std::string describe(const Capabilities& c);
/// "an architecture that generates and has no encoder" (or "any architecture").
std::string describe(const Requirements& r);
/// "adds a loss term, changes gradients" (or "none").
std::string describe(const HookPoints& h);
/// The first requirement `c` does not meet, as text ("does not generate"), or nothing.
std::optional<std::string> unmet(const Requirements& r, const Capabilities& c);

}  // namespace lmlab
