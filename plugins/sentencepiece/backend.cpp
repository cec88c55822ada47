// The only code that calls libsentencepiece; built as its own library and opened with deep
// binding (backend.hpp says why). It links neither LibTorch nor lmlab.
#include "backend.hpp"

#include <cstddef>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

namespace {

class ProcessorModel final : public lmlab_sentencepiece::Model {
 public:
  int size() const override { return sp.GetPieceSize(); }
  const std::string& piece(int id) const override { return sp.IdToPiece(id); }
  int piece_to_id(std::string_view piece) const override { return sp.PieceToId(piece); }
  float score(int id) const override { return sp.GetScore(id); }
  bool is_control(int id) const override { return sp.IsControl(id); }
  bool is_unknown(int id) const override { return sp.IsUnknown(id); }
  bool is_unused(int id) const override { return sp.IsUnused(id); }
  bool is_byte(int id) const override { return sp.IsByte(id); }
  int unk_id() const override { return sp.unk_id(); }
  int bos_id() const override { return sp.bos_id(); }
  int eos_id() const override { return sp.eos_id(); }
  int pad_id() const override { return sp.pad_id(); }
  bool encode(std::string_view text, std::vector<int>& ids, std::string& error) const override {
    const auto status = sp.Encode(text, &ids);
    if (!status.ok()) error = status.ToString();
    return status.ok();
  }
  bool decode(const std::vector<int>& ids, std::string& text) const override { return sp.Decode(ids, &text).ok(); }
  bool decode_pieces(const std::vector<std::string>& pieces, std::string& text) const override {
    return sp.Decode(pieces, &text).ok();
  }

  sentencepiece::SentencePieceProcessor sp;
};

// The trainer's view of the caller's sentences.
class CallbackSentences final : public sentencepiece::SentenceIterator {
 public:
  CallbackSentences(int (*next)(void*, const char**, std::size_t*), void* ctx) : next_(next), ctx_(ctx) { Next(); }
  bool done() const override { return done_; }
  void Next() override {
    const char* data = nullptr;
    std::size_t size = 0;
    done_ = next_(ctx_, &data, &size) == 0;
    if (!done_) value_.assign(data, size);
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  int (*next_)(void*, const char**, std::size_t*);
  void* ctx_;
  bool done_ = false;
  std::string value_;
};

}  // namespace

extern "C" __attribute__((visibility("default"))) lmlab_sentencepiece::Model* lmlab_sentencepiece_open_model(
    const char* bytes, std::size_t size, std::string* error) {
  auto model = std::make_unique<ProcessorModel>();
  const auto status = model->sp.LoadFromSerializedProto(std::string_view(bytes, size));
  if (!status.ok()) {
    *error = status.ToString();
    return nullptr;
  }
  return model.release();
}

extern "C" __attribute__((visibility("default"))) int lmlab_sentencepiece_train(
    const char* args, int (*next)(void*, const char**, std::size_t*), void* next_ctx,
    void (*emit)(void*, int, const char*, std::size_t), void* emit_ctx, void (*error)(void*, const char*),
    void* error_ctx) {
  std::unordered_map<std::string, std::string> kwargs;
  std::istringstream lines(args);
  for (std::string line; std::getline(lines, line);) {
    const std::size_t eq = line.find('=');
    if (eq != std::string::npos) kwargs[line.substr(0, eq)] = line.substr(eq + 1);
  }
  CallbackSentences sentences(next, next_ctx);
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(kwargs, &sentences, &model);
  if (!status.ok()) {
    error(error_ctx, status.ToString().c_str());
    return -1;
  }
  ProcessorModel trained;
  if (!trained.sp.LoadFromSerializedProto(model).ok()) {
    error(error_ctx, "the trained model does not load");
    return -1;
  }
  // The .vocab as the library's own trainer writes it: piece, tab, score, per line.
  std::ostringstream vocab;
  for (int id = 0; id < trained.size(); ++id) vocab << trained.piece(id) << '\t' << trained.score(id) << '\n';
  emit(emit_ctx, 0, model.data(), model.size());
  const std::string text = vocab.str();
  emit(emit_ctx, 1, text.data(), text.size());
  return 0;
}
