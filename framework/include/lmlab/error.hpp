/// The exception types that may cross a plugin boundary. They are defined (key functions and
/// all) in the framework library, so host and plugins share one type_info for each.
#pragma once
#include <stdexcept>
#include <string>

namespace lmlab {

/// Base of every lmlab error.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what);
  ~Error() override;
};

/// Bad experiment file, override or option value. The message carries file:line:column, the
/// key path and what is accepted.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& what);
  ~ConfigError() override;
};

/// A plugin that cannot be loaded, registered or found, or that failed inside a call; the
/// message names the plugin and its library.
class PluginError : public Error {
 public:
  explicit PluginError(const std::string& what);
  ~PluginError() override;
};

/// Missing or malformed corpus, checkpoint or run file.
class DataError : public Error {
 public:
  explicit DataError(const std::string& what);
  ~DataError() override;
};

}  // namespace lmlab
