// What lmlab uses of libsentencepiece, behind a library of its own (libsentencepiece_backend.so,
// backend.cpp) that is opened with RTLD_DEEPBIND. Debian's libsentencepiece carries a copy of
// protobuf 3.14 and exports its symbols, while LibTorch loads libprotobuf 3.21: linked together
// the process aborts at start-up (or at the first model) whichever is found first. Deep binding
// lets the library's own calls find its own copy. The plugin talks to it through this interface;
// `lmlab tokenizer train` through the C function declared at the end.
#pragma once
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab_sentencepiece {

/// A loaded model: SentencePieceProcessor's calls, const and safe from several threads.
class Model {
 public:
  virtual ~Model() = default;
  virtual int size() const = 0;
  virtual const std::string& piece(int id) const = 0;
  virtual int piece_to_id(std::string_view piece) const = 0;  // unk_id() when absent
  virtual float score(int id) const = 0;
  virtual bool is_control(int id) const = 0;
  virtual bool is_unknown(int id) const = 0;
  virtual bool is_unused(int id) const = 0;
  virtual bool is_byte(int id) const = 0;
  virtual int unk_id() const = 0;
  virtual int bos_id() const = 0;  // -1 when the model has none
  virtual int eos_id() const = 0;
  virtual int pad_id() const = 0;
  /// False with the library's message in `error` when it fails.
  virtual bool encode(std::string_view text, std::vector<int>& ids, std::string& error) const = 0;
  virtual bool decode(const std::vector<int>& ids, std::string& text) const = 0;
  virtual bool decode_pieces(const std::vector<std::string>& pieces, std::string& text) const = 0;
};

/// The backend's factory: the model in `bytes` (a serialized ModelProto), or null with the
/// library's message in `error`.
using OpenModelFn = Model* (*)(const char* bytes, std::size_t size, std::string* error);
inline constexpr const char* open_model_symbol = "lmlab_sentencepiece_open_model";

/// Where the backend library is, relative to the folder of the plugin libraries (a folder of
/// its own, so the plugin loader, which reads every lib*.so of that folder, never takes it for
/// a plugin).
inline constexpr const char* backend_relative_path = "sentencepiece_backend/libsentencepiece_backend.so";

/// Opens the backend (once per process) and loads a model through it. Throws lmlab::DataError
/// naming `file` when the bytes are not a model, lmlab::Error when the backend is missing.
std::unique_ptr<Model> open_model(const std::string& bytes, const std::filesystem::path& file);

}  // namespace lmlab_sentencepiece

extern "C" {
/// Trains a model: `args` is "key=value" lines of the trainer's options; `next` gives each
/// sentence (returns 0 at the end); `emit` receives the serialized model (kind 0) and the .vocab
/// text (kind 1). Returns 0, or -1 with the library's message written to `error`.
using lmlab_sentencepiece_train_fn = int (*)(const char* args, int (*next)(void* ctx, const char** data, std::size_t* size),
                                             void* next_ctx, void (*emit)(void* ctx, int kind, const char* data, std::size_t size),
                                             void* emit_ctx, void (*error)(void* ctx, const char* message), void* error_ctx);
}
