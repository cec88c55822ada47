/// Catch2 for lmlab's tests. LibTorch's logging (glog) defines a one-argument CHECK macro that
/// would replace Catch's whenever a LibTorch header comes after Catch; pulling glog in first and
/// dropping its CHECK makes the include order irrelevant.
#pragma once
#include <c10/util/Logging.h>
#undef CHECK
#include <catch2/catch.hpp>

namespace lmlab::test {

/// Matches an exception whose what() contains `part` (Catch2 v2's Message() wants all of it).
class MessageContains final : public Catch::MatcherBase<std::exception> {
 public:
  explicit MessageContains(std::string part) : part_(std::move(part)) {}
  bool match(const std::exception& e) const override { return std::string(e.what()).find(part_) != std::string::npos; }
  std::string describe() const override { return "message contains \"" + part_ + "\""; }

 private:
  std::string part_;
};

}  // namespace lmlab::test
