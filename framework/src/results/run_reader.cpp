#include "results/run_reader.hpp"

#include <H5Cpp.h>
#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "results/hdf5_util.hpp"
#include "results/run_file.hpp"

namespace lmlab {

namespace fs = std::filesystem;
using hdf5::guarded;

namespace {

std::string group_path(const std::string& group) { return group.empty() ? "/" : group; }

std::string render(const H5::Attribute& attribute, const fs::path& file, const std::string& name) {
  switch (attribute.getTypeClass()) {
    case H5T_STRING: {
      std::string value;
      attribute.read(attribute.getStrType(), value);
      return value.substr(0, value.find('\0'));
    }
    case H5T_INTEGER: {
      std::int64_t value = 0;
      attribute.read(H5::PredType::NATIVE_INT64, &value);
      return std::to_string(value);
    }
    case H5T_FLOAT: {
      double value = 0;
      attribute.read(H5::PredType::NATIVE_DOUBLE, &value);
      return fmt::format("{}", value);  // shortest text that reads back as the same double
    }
    default: throw DataError("run file " + file.string() + ": attribute " + name + " is not text or a number");
  }
}

}  // namespace

struct RunReader::Impl {
  fs::path path;
  H5::H5File file;

  // Closing fails when this process also writes the file and could not (a full disk): HDF5 then
  // shares one open file between both handles and flushes it on this close too. It stays open
  // (see hdf5::keep_open), and the failure is the writer's to report.
  ~Impl() {
    const hdf5::MutedCerr muted;
    try {
      file.close();
    } catch (const H5::Exception&) {
      hdf5::keep_open(file);
    }
  }

  std::vector<std::string> children(const std::string& group, H5O_type_t type) const {
    return guarded(path, "listing " + group_path(group), [&] {
      H5::Group g = file.openGroup(group_path(group));
      std::vector<std::string> names;
      for (hsize_t i = 0; i < g.getNumObjs(); ++i) {
        const std::string name = g.getObjnameByIdx(i);
        // An external link whose target is missing has no type: it is neither.
        H5O_type_t child = H5O_TYPE_UNKNOWN;
        try {
          child = g.childObjType(name);
        } catch (const H5::Exception&) {
        }
        if (child == type) names.push_back(name);
      }
      return names;
    });
  }

  template <class T>
  std::vector<T> numbers(const std::string& dataset, const H5::PredType& type) const {
    return guarded(path, "reading " + dataset, [&] {
      H5::DataSet ds = file.openDataSet(dataset);
      if (ds.getTypeClass() == H5T_STRING) throw DataError("run file " + path.string() + ": " + dataset + " holds text");
      std::vector<T> values(static_cast<std::size_t>(ds.getSpace().getSimpleExtentNpoints()));
      if (!values.empty()) ds.read(values.data(), type);
      return values;
    });
  }
};

RunReader::RunReader(const fs::path& file) : impl_(std::make_unique<Impl>()) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw DataError("run file " + file.string() + " does not exist");
  impl_->path = file;
  // Unlocked like the writer: HDF5 refuses to open a file twice in one process with different
  // locking flags, and a reader's lock must not stop a writer's flush either.
  impl_->file = hdf5::open_file(file, H5F_ACC_RDONLY, "opening");
}

RunReader::RunReader(RunReader&&) noexcept = default;
RunReader& RunReader::operator=(RunReader&&) noexcept = default;
RunReader::~RunReader() = default;

const fs::path& RunReader::path() const { return impl_->path; }

std::map<std::string, std::string> RunReader::attributes() const {
  return guarded(impl_->path, "reading attributes", [&] {
    std::map<std::string, std::string> out;
    const int n = impl_->file.getNumAttrs();
    for (int i = 0; i < n; ++i) {
      H5::Attribute attribute = impl_->file.openAttribute(static_cast<unsigned>(i));
      const std::string name = attribute.getName();
      out[name] = render(attribute, impl_->path, name);
    }
    return out;
  });
}

std::optional<std::string> RunReader::attribute(const std::string& name) const {
  return guarded(impl_->path, "reading attribute " + name, [&]() -> std::optional<std::string> {
    if (!impl_->file.attrExists(name)) return std::nullopt;
    return render(impl_->file.openAttribute(name), impl_->path, name);
  });
}

bool RunReader::exists(const std::string& path) const {
  return guarded(impl_->path, "looking up " + path, [&] {
    // nameExists checks one link: check each parent first, as HDF5 fails on a missing one.
    for (std::size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      if (!impl_->file.nameExists(path.substr(0, slash))) return false;
    }
    return impl_->file.nameExists(path);
  });
}

std::vector<std::string> RunReader::groups(const std::string& group) const {
  return impl_->children(group, H5O_TYPE_GROUP);
}

std::vector<std::string> RunReader::datasets(const std::string& group) const {
  return impl_->children(group, H5O_TYPE_DATASET);
}

std::vector<std::uint64_t> RunReader::shape(const std::string& dataset) const {
  return guarded(impl_->path, "reading the shape of " + dataset, [&] {
    const H5::DataSpace space = impl_->file.openDataSet(dataset).getSpace();
    std::vector<hsize_t> dims(static_cast<std::size_t>(space.getSimpleExtentNdims()));
    if (!dims.empty()) space.getSimpleExtentDims(dims.data());
    return std::vector<std::uint64_t>(dims.begin(), dims.end());
  });
}

bool RunReader::is_text(const std::string& dataset) const {
  return guarded(impl_->path, "reading " + dataset,
                 [&] { return impl_->file.openDataSet(dataset).getTypeClass() == H5T_STRING; });
}

std::vector<double> RunReader::floats(const std::string& dataset) const {
  return impl_->numbers<double>(dataset, H5::PredType::NATIVE_DOUBLE);
}

std::vector<std::int64_t> RunReader::ints(const std::string& dataset) const {
  return impl_->numbers<std::int64_t>(dataset, H5::PredType::NATIVE_INT64);
}

std::vector<std::string> RunReader::strings(const std::string& dataset) const {
  return guarded(impl_->path, "reading " + dataset, [&] {
    H5::DataSet ds = impl_->file.openDataSet(dataset);
    // RunFile writes only variable-length strings; HDF5 cannot convert fixed-length ones to them.
    if (ds.getTypeClass() != H5T_STRING || !ds.getStrType().isVariableStr()) {
      throw DataError("run file " + impl_->path.string() + ": " + dataset + " is not variable-length text");
    }
    const auto n = static_cast<std::size_t>(ds.getSpace().getSimpleExtentNpoints());
    std::vector<std::string> values;
    values.reserve(n);
    if (n == 0) return values;
    std::vector<char*> pointers(n, nullptr);
    const H5::StrType memory_type = hdf5::utf8_string();
    ds.read(pointers.data(), memory_type);
    for (const char* p : pointers) values.emplace_back(p ? p : "");
    H5::DataSet::vlenReclaim(pointers.data(), memory_type, ds.getSpace());
    return values;
  });
}

namespace run_file {

std::vector<double> read_floats(const fs::path& file, const std::string& dataset) {
  return RunReader(file).floats(dataset);
}

std::vector<std::int64_t> read_ints(const fs::path& file, const std::string& dataset) {
  return RunReader(file).ints(dataset);
}

std::vector<std::string> read_strings(const fs::path& file, const std::string& dataset) {
  return RunReader(file).strings(dataset);
}

std::string read_attribute(const fs::path& file, const std::string& name) {
  auto value = RunReader(file).attribute(name);
  if (!value) throw DataError("run file " + file.string() + " has no attribute " + name);
  return *value;
}

bool has_attribute(const fs::path& file, const std::string& name) { return RunReader(file).attribute(name).has_value(); }

}  // namespace run_file

}  // namespace lmlab
