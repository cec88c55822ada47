// The safetensors reader and writer (framework/src/pretrained/safetensors.hpp): round trips in
// every float dtype, sharded folders, and each way a truncated or hostile file is refused with a
// DataError naming the file and the tensor.
#include "support/catch.hpp"

#include <cstdint>
#include <cstring>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/error.hpp"
#include "pretrained/safetensors.hpp"
#include "support/test_support.hpp"

namespace safetensors_tests {
namespace {

namespace fs = std::filesystem;
using Catch::Contains;
using lmlab::DataError;
using lmlab::pretrained::SafetensorsFile;
using lmlab::pretrained::SafetensorsSet;
using lmlab::pretrained::write_safetensors;
using lmlab::test::TempDir;

// A file made of an 8-byte length, `header` and `data`, as a hostile writer would make it.
void write_raw(const fs::path& file, const std::string& header, const std::string& data,
               std::uint64_t claimed_length = UINT64_MAX) {
  const std::uint64_t length = claimed_length == UINT64_MAX ? header.size() : claimed_length;
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &length, 8);
  lmlab::test::write_file(file, bytes + header + data);
}

std::string message_of(const fs::path& file) {
  try {
    SafetensorsFile f(file);
  } catch (const DataError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("safetensors: F32, F16 and BF16 tensors round trip bit for bit, with metadata") {
  TempDir dir;
  const at::Tensor a = at::randn({3, 5});
  const at::Tensor b = at::randn({7}).to(at::kHalf);
  const at::Tensor c = at::randn({2, 2, 2}).to(at::kBFloat16);
  const at::Tensor t = at::randn({4, 6}).t();  // not contiguous: written in its logical order
  write_safetensors(dir / "m.safetensors", {{"a", a}, {"b", b}, {"c", c}, {"t", t}, {"empty", at::zeros({0, 3})}},
                    {{"format", "pt"}});
  const SafetensorsFile f(dir / "m.safetensors");
  CHECK(f.metadata().at("format") == "pt");
  CHECK(f.entries().size() == 5);
  CHECK(f.tensor("a").equal(a));
  CHECK(f.tensor("b").scalar_type() == at::kHalf);
  CHECK(f.tensor("b").equal(b));
  CHECK(f.tensor("c").equal(c));
  CHECK(f.tensor("t").equal(t));
  CHECK(f.tensor("empty").sizes() == at::IntArrayRef({0, 3}));
  CHECK(f.entries().at("b").dtype == "F16");
  // A tensor changed in place does not change the file (the mapping is private).
  f.tensor("a").zero_();
  CHECK(SafetensorsFile(dir / "m.safetensors").tensor("a").equal(a));
  CHECK_THROWS_WITH(f.tensor("missing"), Contains("has no tensor \"missing\""));
}

TEST_CASE("safetensors: a file in the reference layout, written by hand, reads as the format defines it") {
  TempDir dir;
  // Two F32 values then one I64: offsets from the end of the header, little-endian data.
  const float values[2] = {1.5f, -2.0f};
  const std::int64_t count = 7;
  std::string data(reinterpret_cast<const char*>(values), 8);
  data.append(reinterpret_cast<const char*>(&count), 8);
  write_raw(dir / "x.safetensors",
            R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}})",
            data);
  const SafetensorsFile f(dir / "x.safetensors");
  CHECK(f.tensor("w").equal(at::tensor({1.5f, -2.0f})));
  CHECK(f.entries().at("n").shape.empty());
  CHECK_THROWS_WITH(f.tensor("n"), Contains("tensor \"n\" is I64; lmlab reads F32, F16 and BF16"));
}

TEST_CASE("safetensors: truncated files and impossible header lengths are refused, naming the file") {
  TempDir dir;
  write_safetensors(dir / "ok.safetensors", {{"w", at::randn({16, 16})}});
  const std::string whole = lmlab::test::read_file(dir / "ok.safetensors");
  lmlab::test::write_file(dir / "short.safetensors", whole.substr(0, 5));
  CHECK_THAT(message_of(dir / "short.safetensors"), Contains("too short for the 8-byte header length"));
  CHECK_THAT(message_of(dir / "short.safetensors"), Contains("short.safetensors"));
  lmlab::test::write_file(dir / "cut.safetensors", whole.substr(0, whole.size() - 10));
  CHECK_THAT(message_of(dir / "cut.safetensors"), Contains("tensor \"w\": data_offsets [0, 1024] reach past"));
  lmlab::test::write_file(dir / "headless.safetensors", whole.substr(0, 20));
  CHECK_THAT(message_of(dir / "headless.safetensors"), Contains("only 12 follow the length"));
  write_raw(dir / "huge.safetensors", "{}", "", 1ull << 62);
  CHECK_THAT(message_of(dir / "huge.safetensors"), Contains("truncated, or not a safetensors file"));
  lmlab::test::write_file(dir / "empty.safetensors", "");
  CHECK_THAT(message_of(dir / "empty.safetensors"), Contains("0 bytes"));
  CHECK_THAT(message_of(dir / "absent.safetensors"), Contains("cannot open"));
}

TEST_CASE("safetensors: offsets out of range, overlapping, gapped or of the wrong size are refused") {
  TempDir dir;
  const std::string data(32, '\0');
  const auto check = [&](const std::string& header, const std::string& expected) {
    write_raw(dir / "bad.safetensors", header, data);
    CHECK_THAT(message_of(dir / "bad.safetensors"), Contains(expected));
  };
  check(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[16,48]}})", "reach past the 32 bytes");
  check(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[6],"data_offsets":[8,32]}})",
        "tensors \"a\" and \"b\" overlap");
  check(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}})",
        "bytes 8 to 16 of the data belong to no tensor");
  check(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", "describe 16 bytes of data, but the file holds 32");
  check(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,32]}})", "span 32 bytes, but F32 of shape [3] need 12");
  check(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[32,0]}})", "end before they begin");
  check(R"({"a":{"dtype":"F32","shape":[-8],"data_offsets":[0,32]}})", "not a non-negative integer");
  check(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,32]}})", "overflows");
  check(R"({"a":{"dtype":"F33","shape":[8],"data_offsets":[0,32]}})", "unknown dtype \"F33\"");
  check(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0]}})", "not a pair");
  check(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32],"extra":1}})", "unknown key \"extra\"");
  check(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]},"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})",
        "tensor \"a\" appears twice");
  check(R"({"a":[1,2]})", "its entry is not an object");
  check(R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})",
        "__metadata__ \"k\" is not a string");
}

TEST_CASE("safetensors: a header that is not JSON, or nests too deep, is refused") {
  TempDir dir;
  const auto check = [&](const std::string& header, const std::string& expected) {
    write_raw(dir / "bad.safetensors", header, "");
    CHECK_THAT(message_of(dir / "bad.safetensors"), Contains(expected));
  };
  check(R"({"a":{"dtype":"F32",)", "not valid JSON");
  check("\xff\xfe{}", "not valid JSON");
  check("[]", "not a JSON object");
  check(std::string(100000, '[') + std::string(100000, ']'), "nests deeper");
}

TEST_CASE("safetensors: a sharded folder reads through its index; a hostile index is refused") {
  TempDir dir;
  const at::Tensor a = at::randn({3}), b = at::randn({2, 2});
  write_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", a}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"b", b}});
  const auto index = [&](const std::string& map) {
    lmlab::test::write_file(dir / "model.safetensors.index.json",
                            R"({"metadata":{"total_size":28},"weight_map":{)" + map + "}}");
  };
  index(R"("a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors")");
  const SafetensorsSet set(dir.path());
  CHECK(set.names() == std::vector<std::string>{"a", "b"});
  CHECK(set.tensor("a").equal(a));
  CHECK(set.tensor("b").equal(b));
  CHECK(set.file_of("b").filename() == "model-00002-of-00002.safetensors");

  const auto refused = [&](const std::string& map, const std::string& expected) {
    index(map);
    CHECK_THROWS_WITH(SafetensorsSet(dir.path()), Contains(expected));
  };
  refused(R"("a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors")",
          "puts tensor \"b\" in model-00001-of-00002.safetensors, which does not hold it");
  write_safetensors(dir / "extra.safetensors", {{"c", a}, {"unlisted", b}});
  refused(R"("a":"model-00001-of-00002.safetensors","c":"extra.safetensors")",
          "does not put tensor \"unlisted\" in extra.safetensors");
  refused(R"("a":"../model-00001-of-00002.safetensors")", "must be a file name in the same folder");
  refused(R"("a":7)", "is not a file name");
  lmlab::test::write_file(dir / "model.safetensors.index.json", "{\"weight_map\": ");
  CHECK_THROWS_WITH(SafetensorsSet(dir.path()), Contains("is not a JSON object"));
  TempDir none;
  CHECK_THROWS_WITH(SafetensorsSet(none.path()), Contains("no model.safetensors"));
}

TEST_CASE("safetensors: the writer refuses dtypes without a safetensors name and repeated names") {
  TempDir dir;
  CHECK_THROWS_WITH(write_safetensors(dir / "x.safetensors", {{"i", at::arange(3)}}),
                    Contains("tensor 'i' is Long"));
  CHECK_THROWS_WITH(write_safetensors(dir / "x.safetensors", {{"a", at::ones({1})}, {"a", at::ones({1})}}),
                    Contains("'a' is repeated"));
  CHECK_FALSE(fs::exists(dir / "x.safetensors"));
}

}  // namespace safetensors_tests
