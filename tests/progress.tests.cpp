// Progress lines: one per logged step, or one live line redrawn in place.
#include "support/catch.hpp"

#include <sstream>

#include "training/progress.hpp"

namespace progress_tests {

TEST_CASE("plain output prints one line per logged step; live output redraws one line") {
  std::ostringstream plain;
  lmlab::Progress p(plain, "run", 10, false);
  p.step(1, 2.5, 1000, false);
  p.step(2, 2.25, 1000, true);
  p.message("eval");
  p.finish();
  CHECK(plain.str().find("step 1/") == std::string::npos);
  CHECK(plain.str().find("[run] step 2/10  loss 2.2500  1000 tok/s") != std::string::npos);
  CHECK(plain.str().find("eval\n") != std::string::npos);
  CHECK(plain.str().find('\r') == std::string::npos);

  std::ostringstream live;
  lmlab::Progress q(live, "run", 10, true);
  q.step(1, 2.5, 1000, true);
  q.message("eval");
  q.finish();
  CHECK(live.str().find("\r\033[2K[run] step 1/10") != std::string::npos);
  CHECK(live.str().find("\r\033[2Keval\n") != std::string::npos);
}

}  // namespace progress_tests
