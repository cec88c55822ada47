// Encoding throughput of the bpe tokenizer on one file, single-threaded: a fresh tokenizer with
// the word cache off, then on (first pass: cold, filling it; second pass: warm). Built on demand,
// outside the plugin host:
//   cmake --build build --target bpe_bench
//   build/bin/bpe_bench data/tokenizers/gpt2/encoder.json data/tokenizers/gpt2/vocab.bpe data/brown/train.txt
// or, for a tiktoken rank file: bpe_bench --ranks FILE PATTERN TEXT. Results: docs/tokenizers.md.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "bpe_tokenizer.hpp"
#include "lmlab/error.hpp"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void measure(bpe_plugin::BpeOptions o, const std::string& text) {
  for (const std::int64_t cache : {std::int64_t{0}, o.cache_words}) {
    o.cache_words = cache;
    const auto load_start = std::chrono::steady_clock::now();
    const bpe_plugin::BpeTokenizer tokenizer(o, {});
    const double load = seconds_since(load_start);
    for (int pass = 1; pass <= 2; ++pass) {
      const auto start = std::chrono::steady_clock::now();
      const auto ids = tokenizer.encode(text);
      const double s = seconds_since(start);
      std::cout << "cache_words " << cache << ", pass " << pass << ": " << ids.size() << " ids in " << s << " s, "
                << text.size() / s / 1e6 << " MB/s, " << static_cast<double>(text.size()) / ids.size()
                << " bytes/id (load " << load << " s)\n";
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  bpe_plugin::BpeOptions o;
  const std::string mode = argc > 1 ? argv[1] : "";
  if (argc == 4 && mode != "--ranks") {
    o.encoder = argv[1], o.merges = argv[2];
  } else if (argc == 5 && mode == "--ranks") {
    o.ranks = argv[2], o.pattern = argv[3], o.eos = "";
  } else {
    std::cerr << "usage: bpe_bench ENCODER_JSON MERGES TEXT | bpe_bench --ranks RANKS PATTERN TEXT\n";
    return 2;
  }
  std::ifstream in(argv[argc - 1], std::ios::binary);
  if (!in) {
    std::cerr << "bpe_bench: cannot open " << argv[argc - 1] << "\n";
    return 1;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    std::cout << "bpe_bench: " << argv[argc - 1] << ", " << buffer.str().size() << " bytes, one thread\n";
    measure(o, buffer.str());
  } catch (const lmlab::Error& e) {
    std::cerr << "bpe_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
