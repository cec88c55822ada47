#include "results/run_file.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <filesystem>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <H5Cpp.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmlab/error.hpp"
#include "results/hdf5_util.hpp"

namespace lmlab {

namespace fs = std::filesystem;

namespace {

using hdf5::guarded;
using hdf5::utf8_string;

constexpr hsize_t chunk_rows = 1024;

enum class Kind { int64, float64, string };  // in the order of RunFile::Value's alternatives

const char* kind_name(Kind kind) {
  constexpr const char* names[] = {"int64", "float64", "string"};
  return names[static_cast<int>(kind)];
}

Kind kind_of(const RunFile::Value& value) { return static_cast<Kind>(value.index()); }

void check_name(const std::string& what, const std::string& name) {
  if (name.empty() || name == "." || name.find('/') != std::string::npos) {
    throw DataError("run file: invalid " + what + " name \"" + name + "\"");
  }
}

// A group path: names joined by '/', e.g. "generation/greedy/metrics".
void check_group_path(const std::string& path) {
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == ".") throw DataError("run file: invalid group name \"" + path + "\"");
    if (slash == std::string::npos) return;
    start = slash + 1;
  }
}

// Opens group `path`, creating it and every missing parent.
H5::Group open_or_create(H5::H5File& file, const std::string& path) {
  std::size_t slash = 0;
  while ((slash = path.find('/', slash + 1)) != std::string::npos) {
    const std::string parent = path.substr(0, slash);
    if (!file.nameExists(parent)) file.createGroup(parent);
  }
  return file.nameExists(path) ? file.openGroup(path) : file.createGroup(path);
}

struct Column {
  std::string name;
  Kind kind = Kind::int64;
  // Open from the first flush to the file's close: a dataset closed between flushes would write
  // its chunk cache on that close, where a full disk leaves HDF5 with an object it cannot close.
  H5::DataSet dataset;
  std::vector<std::int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;

  void push(const RunFile::Value& value) {
    switch (kind) {
      case Kind::int64: ints.push_back(std::get<std::int64_t>(value)); break;
      case Kind::float64:
        // An integer in a float column is the caller writing e.g. `0` for a loss; keep it.
        floats.push_back(std::holds_alternative<double>(value) ? std::get<double>(value)
                                                               : static_cast<double>(std::get<std::int64_t>(value)));
        break;
      case Kind::string: strings.push_back(std::get<std::string>(value)); break;
    }
  }
  void clear() { ints.clear(), floats.clear(), strings.clear(); }
};

struct Group {
  std::vector<Column> columns;
  hsize_t rows_on_disk = 0;
  hsize_t buffered_rows = 0;
};

H5::DataSet create_column(H5::Group& group, const Column& column) {
  const hsize_t dims = 0, max_dims = H5S_UNLIMITED;
  H5::DataSpace space(1, &dims, &max_dims);
  H5::DSetCreatPropList properties;
  properties.setChunk(1, &chunk_rows);
  switch (column.kind) {
    case Kind::int64: return group.createDataSet(column.name, H5::PredType::STD_I64LE, space, properties);
    case Kind::float64: return group.createDataSet(column.name, H5::PredType::IEEE_F64LE, space, properties);
    case Kind::string: return group.createDataSet(column.name, utf8_string(), space, properties);
  }
  throw DataError("run file: unknown column kind");
}

void write_column(H5::DataSet& dataset, const Column& column, hsize_t offset, hsize_t rows) {
  H5::DataSpace file_space = dataset.getSpace();
  file_space.selectHyperslab(H5S_SELECT_SET, &rows, &offset);
  H5::DataSpace memory_space(1, &rows);
  switch (column.kind) {
    case Kind::int64: dataset.write(column.ints.data(), H5::PredType::NATIVE_INT64, memory_space, file_space); break;
    case Kind::float64: dataset.write(column.floats.data(), H5::PredType::NATIVE_DOUBLE, memory_space, file_space); break;
    case Kind::string: {
      std::vector<const char*> pointers;
      pointers.reserve(column.strings.size());
      for (const std::string& s : column.strings) pointers.push_back(s.c_str());
      dataset.write(pointers.data(), utf8_string(), memory_space, file_space);
      break;
    }
  }
}

}  // namespace

struct RunFile::Impl {
  fs::path path;
  H5::H5File file;
  std::map<std::string, Group> groups;
  bool broken = false;  // a write failed: what HDF5 holds of the file may never reach the disk

  ~Impl() {
    if (!broken) {
      try {
        flush();
      } catch (...) {  // a destructor must not throw; the rows since the last flush are lost
      }
    }
    // A file that cannot be written cannot be closed either (closing flushes): it stays open,
    // and the process ends without HDF5's library close (run_file::end_process).
    const hdf5::MutedCerr muted;
    if (broken) {
      hdf5::keep_open(file);
      for (auto& [name, group] : groups) {
        for (Column& column : group.columns) hdf5::keep_open(column.dataset);
      }
    }
    groups.clear();
  }

  /// guarded() for an operation that writes: a failure marks the file broken.
  template <class F>
  auto writing(const std::string& action, F&& operation) {
    try {
      return guarded(path, action, std::forward<F>(operation));
    } catch (...) {
      broken = true;
      throw;
    }
  }

  void flush() {
    writing("flush", [&] {
      for (auto& [name, group] : groups) write_group(name, group);
      file.flush(H5F_SCOPE_GLOBAL);
    });
  }

  void write_group(const std::string& name, Group& group) {
    if (group.buffered_rows == 0) return;
    const hsize_t total = group.rows_on_disk + group.buffered_rows;
    for (Column& column : group.columns) {
      if (column.dataset.getId() < 0) {
        H5::Group h5_group = open_or_create(file, name);
        column.dataset = h5_group.nameExists(column.name) ? h5_group.openDataSet(column.name)
                                                          : create_column(h5_group, column);
      }
      column.dataset.extend(&total);
      write_column(column.dataset, column, group.rows_on_disk, group.buffered_rows);
    }
    for (Column& column : group.columns) column.clear();
    group.rows_on_disk = total;
    group.buffered_rows = 0;
  }

  /// Reads the columns of an existing group and cuts them back to the rows a resumed run keeps.
  Group adopt_group(H5::Group& h5_group, std::int64_t last_step) {
    Group group;
    std::vector<H5::DataSet> datasets;
    hsize_t rows = 0;
    for (hsize_t i = 0; i < h5_group.getNumObjs(); ++i) {
      const std::string name = h5_group.getObjnameByIdx(i);
      if (h5_group.childObjType(name) != H5O_TYPE_DATASET) continue;
      H5::DataSet dataset = h5_group.openDataSet(name);
      Column column;
      column.name = name;
      switch (dataset.getTypeClass()) {
        case H5T_INTEGER: column.kind = Kind::int64; break;
        case H5T_FLOAT: column.kind = Kind::float64; break;
        case H5T_STRING: column.kind = Kind::string; break;
        default: continue;
      }
      const auto n = static_cast<hsize_t>(dataset.getSpace().getSimpleExtentNpoints());
      // A run killed inside a flush may leave columns of different lengths: keep the rows all have.
      rows = datasets.empty() ? n : std::min(rows, n);
      group.columns.push_back(std::move(column));
      datasets.push_back(std::move(dataset));
    }
    for (std::size_t c = 0; c < group.columns.size(); ++c) {
      if (group.columns[c].name != "step" || group.columns[c].kind != Kind::int64) continue;
      std::vector<std::int64_t> steps(static_cast<std::size_t>(datasets[c].getSpace().getSimpleExtentNpoints()));
      if (!steps.empty()) datasets[c].read(steps.data(), H5::PredType::NATIVE_INT64);
      hsize_t keep = 0;
      while (keep < rows && steps[keep] <= last_step) ++keep;
      rows = keep;
    }
    for (std::size_t c = 0; c < group.columns.size(); ++c) {
      datasets[c].extend(&rows);
      group.columns[c].dataset = datasets[c];
    }
    group.rows_on_disk = rows;
    return group;
  }

  template <class T>
  void put_array(const std::string& path_in_file, const std::vector<std::uint64_t>& shape, const std::vector<T>& values,
                 const H5::DataType& file_type, const H5::DataType& memory_type) {
    check_group_path(path_in_file);
    std::uint64_t size = 1;
    for (const std::uint64_t d : shape) size *= d;
    if (shape.empty() || size != values.size()) {
      throw DataError(fmt::format("run file {}: {}: {} values do not fill shape ({})", path.string(), path_in_file,
                                  values.size(), fmt::join(shape, ", ")));
    }
    writing("writing " + path_in_file, [&] {
      const std::size_t slash = path_in_file.rfind('/');
      H5::Group parent = slash == std::string::npos ? file.openGroup("/") : open_or_create(file, path_in_file.substr(0, slash));
      const std::string name = path_in_file.substr(slash == std::string::npos ? 0 : slash + 1);
      if (slash != std::string::npos && !parent.attrExists("lmlab.derived")) {
        const std::int64_t yes = 1;
        parent.createAttribute("lmlab.derived", H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR))
            .write(H5::PredType::NATIVE_INT64, &yes);
      }
      if (parent.nameExists(name)) parent.unlink(name);
      const std::vector<hsize_t> dims(shape.begin(), shape.end());
      H5::DataSet dataset = parent.createDataSet(name, file_type, H5::DataSpace(static_cast<int>(dims.size()), dims.data()));
      try {
        if constexpr (std::is_same_v<T, std::string>) {
          std::vector<const char*> pointers;
          for (const std::string& v : values) pointers.push_back(v.c_str());
          if (!pointers.empty()) dataset.write(pointers.data(), memory_type);
        } else {
          if (!values.empty()) dataset.write(values.data(), memory_type);
        }
        file.flush(H5F_SCOPE_GLOBAL);
      } catch (const H5::Exception&) {
        hdf5::keep_open(dataset);  // its close would try the write again (see keep_open)
        throw;
      }
    });
  }

  template <class T>
  void put_attribute(const std::string& name, const H5::DataType& file_type, const H5::DataType& memory_type,
                     const T& value) {
    writing("setting attribute " + name, [&] {
      if (file.attrExists(name)) file.removeAttr(name);
      H5::Attribute attribute = file.createAttribute(name, file_type, H5::DataSpace(H5S_SCALAR));
      if constexpr (std::is_same_v<T, std::string>) {
        attribute.write(memory_type, value);
      } else {
        attribute.write(memory_type, &value);
      }
      file.flush(H5F_SCOPE_GLOBAL);
    });
  }
};

RunFile::RunFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RunFile::RunFile(RunFile&&) noexcept = default;
RunFile& RunFile::operator=(RunFile&&) noexcept = default;
RunFile::~RunFile() = default;

RunFile RunFile::create(const fs::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  if (ec) throw DataError("run file " + path.string() + ": cannot create its folder (" + ec.message() + ")");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  // Default (earliest) file format on purpose: the newest one marks the superblock "open for
  // writing", and a killed run's file then needs h5clear before anything can open it.
  impl->file = hdf5::open_file(path, H5F_ACC_TRUNC, "creating");
  impl->writing("flush", [&] { impl->file.flush(H5F_SCOPE_GLOBAL); });
  return RunFile(std::move(impl));
}

RunFile RunFile::resume(const fs::path& path, std::int64_t last_step) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw DataError("run file " + path.string() +
                    " does not exist; cannot resume (delete its checkpoint to start the run afresh)");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file = hdf5::open_file(path, H5F_ACC_RDWR, "opening for resume");
  impl->writing("truncating to step " + std::to_string(last_step), [&] {
    // Every group holding columns, at any depth (/generation/<decoding>/metrics).
    std::vector<std::string> pending{""};
    while (!pending.empty()) {
      const std::string parent = pending.back();
      pending.pop_back();
      H5::Group h5_parent = impl->file.openGroup(parent.empty() ? "/" : parent);
      std::vector<std::string> children;
      for (hsize_t i = 0; i < h5_parent.getNumObjs(); ++i) {
        const std::string child = h5_parent.getObjnameByIdx(i);
        if (h5_parent.childObjType(child) == H5O_TYPE_GROUP) children.push_back(child);
      }
      for (const std::string& child : children) {
        const std::string name = parent.empty() ? child : parent + "/" + child;
        // Derived tables describe rows that may be dropped here; the run writes them again at its end.
        if (impl->file.openGroup(name).attrExists("lmlab.derived")) {
          h5_parent.unlink(child);
          continue;
        }
        pending.push_back(name);
        H5::Group h5_group = impl->file.openGroup(name);
        Group adopted = impl->adopt_group(h5_group, last_step);
        if (!adopted.columns.empty()) impl->groups[name] = std::move(adopted);
      }
    }
    impl->file.flush(H5F_SCOPE_GLOBAL);
  });
  return RunFile(std::move(impl));
}

void RunFile::set_attribute(const std::string& name, const std::string& value) {
  impl_->put_attribute(name, utf8_string(), utf8_string(), value);
}

void RunFile::set_attribute(const std::string& name, std::int64_t value) {
  impl_->put_attribute(name, H5::PredType::STD_I64LE, H5::PredType::NATIVE_INT64, value);
}

void RunFile::set_attribute(const std::string& name, double value) {
  impl_->put_attribute(name, H5::PredType::IEEE_F64LE, H5::PredType::NATIVE_DOUBLE, value);
}

void RunFile::write_array(const std::string& path, const std::vector<std::uint64_t>& shape,
                          const std::vector<double>& values) {
  impl_->put_array(path, shape, values, H5::PredType::IEEE_F64LE, H5::PredType::NATIVE_DOUBLE);
}

void RunFile::write_array(const std::string& path, const std::vector<std::uint64_t>& shape,
                          const std::vector<std::int64_t>& values) {
  impl_->put_array(path, shape, values, H5::PredType::STD_I64LE, H5::PredType::NATIVE_INT64);
}

void RunFile::write_array(const std::string& path, const std::vector<std::uint64_t>& shape,
                          const std::vector<std::string>& values) {
  impl_->put_array(path, shape, values, utf8_string(), utf8_string());
}

void RunFile::link_external(const std::string& path, const std::string& target, const std::string& object) {
  check_group_path(path);
  impl_->writing("linking " + path + " to " + target, [&] {
    const std::size_t slash = path.rfind('/');
    if (slash != std::string::npos) open_or_create(impl_->file, path.substr(0, slash));
    if (H5Lcreate_external(target.c_str(), object.c_str(), impl_->file.getId(), path.c_str(), H5P_DEFAULT,
                           H5P_DEFAULT) < 0) {
      throw H5::FileIException("H5Lcreate_external", "cannot create the link");
    }
    impl_->file.flush(H5F_SCOPE_GLOBAL);
  });
}

void RunFile::append(const std::string& group_name, const Row& row) {
  const auto mismatch = [&](const std::string& column, const std::string& why) {
    return DataError("run file " + impl_->path.string() + ": group " + group_name + ", column " + column + ": " + why);
  };
  const auto find = [&](const std::string& name) {
    return std::find_if(row.begin(), row.end(), [&](const auto& cell) { return cell.first == name; });
  };
  check_group_path(group_name);
  if (row.empty()) throw DataError("run file " + impl_->path.string() + ": empty row for group " + group_name);
  for (auto cell = row.begin(); cell != row.end(); ++cell) {
    check_name("column", cell->first);
    if (find(cell->first) != cell) throw mismatch(cell->first, "named twice in one row");
  }
  Group& group = impl_->groups[group_name];
  if (group.columns.empty()) {
    for (const auto& [name, value] : row) group.columns.push_back(Column{name, kind_of(value), {}, {}, {}, {}});
  }
  // Check the whole row before buffering any of it, so a rejected row leaves the columns even.
  std::vector<const RunFile::Value*> values;
  for (const Column& column : group.columns) {
    const auto it = find(column.name);
    if (it == row.end()) throw mismatch(column.name, "missing from the row (earlier rows have it)");
    const Kind kind = kind_of(it->second);
    if (kind != column.kind && !(column.kind == Kind::float64 && kind == Kind::int64)) {
      throw mismatch(column.name, std::string("holds ") + kind_name(column.kind) + ", the row gives " + kind_name(kind));
    }
    values.push_back(&it->second);
  }
  if (row.size() != group.columns.size()) {  // every column was found and names are unique: the row has more
    for (const auto& [name, value] : row) {
      const bool known = std::any_of(group.columns.begin(), group.columns.end(),
                                     [&](const Column& column) { return column.name == name; });
      if (!known) throw mismatch(name, "not among the group's columns (earlier rows lack it)");
    }
  }
  for (std::size_t c = 0; c < group.columns.size(); ++c) group.columns[c].push(*values[c]);
  ++group.buffered_rows;
}

void RunFile::flush() { impl_->flush(); }

void RunFile::set_status(const fs::path& file, const std::string& status, const std::string& reason) {
  Impl impl;
  impl.path = file;
  impl.file = hdf5::open_file(file, H5F_ACC_RDWR, "opening to set its status");
  impl.put_attribute("status", utf8_string(), utf8_string(), status);
  impl.put_attribute("status_reason", utf8_string(), utf8_string(), reason);
}

const fs::path& RunFile::path() const { return impl_->path; }

void run_file::end_process(int status) {
  if (!hdf5::files_left_open) std::exit(status);
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(status);
}

}  // namespace lmlab
