// HDF5 helpers shared by the run file's writer (run_file.cpp) and its readers (run_reader.cpp).
#pragma once
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <H5Cpp.h>

#include "lmlab/error.hpp"

namespace lmlab::hdf5 {

inline H5::StrType utf8_string() {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  return type;
}

/// HDF5 otherwise prints its whole error stack to stderr for every failure, including the
/// ones we turn into a DataError with a better message.
inline void quiet_hdf5() {
  [[maybe_unused]] static const bool done = (H5::Exception::dontPrint(), true);
}

/// HDF5's message for a failed system call spells out its whole state (the time, buffer address,
/// sizes, on two lines): the call and its errno text are what a user needs ("file write failed:
/// File too large").
inline std::string system_reason(std::string message) {
  const std::string marker = "error message = '";
  const std::size_t quoted = message.find(marker);
  if (quoted != std::string::npos) {
    const std::size_t start = quoted + marker.size();
    return message.substr(0, message.find(':')) + ": " + message.substr(start, message.find('\'', start) - start);
  }
  std::replace(message.begin(), message.end(), '\n', ' ');
  return message;
}

/// The messages of HDF5's error stack ("unable to lock file", ...): the C++ exception itself only
/// names the API function that failed. The two outermost say what failed, the innermost why
/// ("truncated file: eof = 244000, ...").
inline std::string hdf5_detail(const H5::Exception& e) {
  std::vector<std::string> messages;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* err, void* data) -> herr_t {
        auto* out = static_cast<std::vector<std::string>*>(data);
        if (err->desc && *err->desc) out->emplace_back(err->desc);
        return 0;
      },
      &messages);
  if (messages.size() > 3) messages.erase(messages.begin() + 2, messages.end() - 1);
  if (!messages.empty()) messages.back() = system_reason(messages.back());
  std::string detail = e.getDetailMsg();
  for (const std::string& m : messages) detail += "; " + m;
  return detail;
}

/// Set once an HDF5 file had to be left open because it could not be written (see
/// RunFile::Impl's destructor): the process must then end without HDF5's library close.
inline std::atomic<bool> files_left_open{false};

/// Keeps an HDF5 object open for the rest of the process. HDF5 1.10 frees an object whose close
/// fails (it flushes first, which fails on a full disk) but keeps its id registered: the next
/// call that walks the ids, and the library close at exit, then crash on it. With a reference
/// more, the C++ wrapper's close only drops that reference and nothing is freed.
inline void keep_open(const H5::IdComponent& object) {
  if (object.getId() >= 0 && H5Iis_valid(object.getId()) > 0) H5Iinc_ref(object.getId());
  files_left_open = true;
}

/// Mutes std::cerr while it lives: HDF5's C++ destructors print there when a close fails, which
/// they do for every object of a file that can no longer be written; the failure is reported
/// once instead, as a DataError.
class MutedCerr {
 public:
  MutedCerr() : saved_(std::cerr.rdbuf(nullptr)) {}
  ~MutedCerr() { std::cerr.rdbuf(saved_); }
  MutedCerr(const MutedCerr&) = delete;
  MutedCerr& operator=(const MutedCerr&) = delete;

 private:
  std::streambuf* saved_;
};

/// Runs an HDF5 operation, turning its exceptions into a DataError naming the file.
template <class F>
auto guarded(const std::filesystem::path& path, const std::string& action, F&& operation) {
  quiet_hdf5();
  const MutedCerr muted;  // through the unwinding of the operation's objects too
  try {
    return operation();
  } catch (const H5::Exception& e) {
    throw DataError("run file " + path.string() + ": " + action + " failed (" + hdf5_detail(e) + ")");
  }
}

// The writer takes no file lock, so that a reader (h5py, `lmlab watch`, a plot script) can open
// the file while a run trains, with default settings. A locked writer would make every reader
// fail, or set HDF5_USE_FILE_LOCKING=FALSE; and a reader's lock must never stop a run's flush.
// What a reader sees is consistent because the writer touches the file only in flush() and
// set_attribute(), each ending with an HDF5 flush: between them the file on disk is complete.
// A reader that opens during a flush may see a group's columns at different lengths, or fail to
// open: it reads again (docs/hdf5-layout.md).
inline H5::FileAccPropList unlocked_access() {
  H5::FileAccPropList access;
#if H5_VERSION_GE(1, 10, 7)
  H5Pset_file_locking(access.getId(), /*use_file_locking=*/false, /*ignore_when_disabled=*/true);
#endif
  return access;
}

/// Opens `path` (creates it, with H5F_ACC_TRUNC) unlocked. The access list lives past guarded()'s
/// catch: closing it is an HDF5 call, which clears the error stack whose reason ("truncated file:
/// eof = ...") the DataError quotes.
inline H5::H5File open_file(const std::filesystem::path& path, unsigned flags, const std::string& action) {
  const H5::FileAccPropList access = unlocked_access();
  return guarded(path, action, [&] { return H5::H5File(path.string(), flags, H5::FileCreatPropList::DEFAULT, access); });
}

}  // namespace lmlab::hdf5
