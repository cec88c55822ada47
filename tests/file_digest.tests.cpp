// Sealed files (util/file_digest.hpp, util/sealed_writer.hpp): SHA-256 against a known value,
// and every kind of damage told apart from an intact file.
#include "support/catch.hpp"

#include <fstream>

#include "lmlab/error.hpp"
#include "support/test_support.hpp"
#include "util/file_digest.hpp"
#include "util/sealed_writer.hpp"

namespace file_digest_tests {

namespace fs = std::filesystem;
using lmlab::SealCheck;

namespace {

void write_sealed(const fs::path& file, const std::string& contents) {
  lmlab::SealedWriter out(file, "test file");
  out.write(contents.data(), contents.size() / 2);  // in two pieces, as a streaming writer gives them
  out.write(contents.data() + contents.size() / 2, contents.size() - contents.size() / 2);
  out.finish();
  out.publish();
}

}  // namespace

TEST_CASE("SHA-256 of bytes given in pieces is the standard digest") {
  lmlab::Sha256 hash;
  hash.update("a", 1);
  hash.update("bc", 2);
  CHECK(lmlab::to_hex(hash.digest()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(lmlab::to_hex(lmlab::Sha256().digest()) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("a sealed file is intact as written; a flipped, cut or added byte is found") {
  lmlab::test::TempDir dir;
  const fs::path file = dir / "data.bin";
  const std::string contents = "some contents\nthat matter\n";
  write_sealed(file, contents);
  CHECK_FALSE(fs::exists(file.string() + ".tmp"));
  CHECK(fs::file_size(file) == contents.size() + lmlab::seal_size);
  SealCheck check = lmlab::check_seal(file);
  CHECK(check.state == SealCheck::State::intact);
  CHECK(check.contents_size == contents.size());

  std::string bytes = lmlab::test::read_file(file);
  bytes[3] ^= 1;
  lmlab::test::write_file(file, bytes);
  check = lmlab::check_seal(file);
  CHECK(check.state == SealCheck::State::corrupt);
  CHECK_THAT(check.problem, Catch::Contains("SHA-256"));

  write_sealed(file, contents);
  lmlab::test::write_file(file, lmlab::test::read_file(file).insert(5, "x"));
  CHECK(lmlab::check_seal(file).state == SealCheck::State::corrupt);

  // A file cut short loses its seal: it reads as unsealed (its reader then finds it incomplete).
  write_sealed(file, contents);
  fs::resize_file(file, fs::file_size(file) - 1);
  CHECK(lmlab::check_seal(file).state == SealCheck::State::unsealed);
  lmlab::test::write_file(file, contents);
  check = lmlab::check_seal(file);
  CHECK(check.state == SealCheck::State::unsealed);
  CHECK(check.contents_size == contents.size());
  CHECK_THROWS_AS(lmlab::check_seal(dir / "missing.bin"), lmlab::DataError);
}

TEST_CASE("a sealed write that fails leaves the file as it was and no temporary") {
  lmlab::test::TempDir dir;
  const fs::path file = dir / "data.bin";
  write_sealed(file, "first");
  {
    lmlab::SealedWriter out(file, "test file");
    out.write("second", 6);
    // Never finished (an exception on the way): the destructor removes the temporary.
  }
  CHECK_FALSE(fs::exists(file.string() + ".tmp"));
  CHECK(lmlab::check_seal(file).state == SealCheck::State::intact);
  CHECK(lmlab::test::read_file(file).substr(0, 5) == "first");
  // A temporary that cannot be created (a folder in its place) is refused, naming the file.
  fs::create_directories(dir / "blocked.bin.tmp");
  CHECK_THROWS_WITH(lmlab::SealedWriter(dir / "blocked.bin", "test file"),
                    Catch::Contains("cannot write test file " + (dir / "blocked.bin").string()));
}

}  // namespace file_digest_tests
