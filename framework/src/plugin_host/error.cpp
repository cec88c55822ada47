#include "lmlab/error.hpp"

namespace lmlab {

Error::Error(const std::string& what) : std::runtime_error(what) {}
Error::~Error() = default;
ConfigError::ConfigError(const std::string& what) : Error(what) {}
ConfigError::~ConfigError() = default;
PluginError::PluginError(const std::string& what) : Error(what) {}
PluginError::~PluginError() = default;
DataError::DataError(const std::string& what) : Error(what) {}
DataError::~DataError() = default;

}  // namespace lmlab
