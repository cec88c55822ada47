#include <dlfcn.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "backend.hpp"
#include "lmlab/error.hpp"

namespace lmlab_sentencepiece {

namespace {

namespace fs = std::filesystem;

// The folder this plugin library was loaded from.
fs::path plugin_folder() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&plugin_folder), &info) == 0 || info.dli_fname == nullptr) return {};
  return fs::path(info.dli_fname).parent_path();
}

// Opened once and never closed: models made by it may live until the process ends.
OpenModelFn backend() {
  static std::once_flag once;
  static OpenModelFn open = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    const fs::path library = plugin_folder() / backend_relative_path;
    void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (handle == nullptr) {
      const char* why = dlerror();
      failure = "cannot open the SentencePiece backend " + library.string() + ": " + (why ? why : "unknown error") +
                " (it is built with the sentencepiece plugin; libsentencepiece0 must be installed)";
      return;
    }
    open = reinterpret_cast<OpenModelFn>(dlsym(handle, open_model_symbol));
    if (open == nullptr) failure = "the SentencePiece backend " + library.string() + " has no " + open_model_symbol;
  });
  if (open == nullptr) throw lmlab::Error(failure);
  return open;
}

}  // namespace

std::unique_ptr<Model> open_model(const std::string& bytes, const fs::path& file) {
  std::string error;
  std::unique_ptr<Model> model(backend()(bytes.data(), bytes.size(), &error));
  if (!model) {
    throw lmlab::DataError("sentencepiece model " + file.string() +
                           " cannot be loaded (not a sentencepiece model, or cut short): " + error);
  }
  return model;
}

}  // namespace lmlab_sentencepiece
