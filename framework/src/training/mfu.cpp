#include "training/mfu.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "results/run_reader.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

// The FLOP/s of a resumed file's peak_flops attribute `text`. A corrupt file is a DataError, as
// a corrupt checkpoint is: dropping MFU quietly would leave half of /train/mfu without a basis,
// and a NaN would pass as a peak and write NaN into every row.
double stated_flops(const fs::path& run_file, const std::string& text) {
  double flops = 0.0;
  std::size_t used = 0;
  try {
    flops = std::stod(text, &used);
  } catch (const std::logic_error&) {
    used = 0;  // not a number (std::invalid_argument) or beyond a double (std::out_of_range)
  }
  if (used == 0 || used != text.size() || !std::isfinite(flops) || flops < 0) {
    throw DataError(fmt::format("run file {}: attribute peak_flops is \"{}\"; accepted: a finite FLOP/s >= 0 "
                                "(0: unknown), the peak this run's /train/mfu is computed against",
                                run_file.string(), text));
  }
  return flops;
}

// The peak a resumed file states; flops_per_s 0 when it states none.
PeakFlops stated_peak(const fs::path& run_file) {
  const RunReader reader(run_file);
  const auto flops = reader.attribute("peak_flops");
  const auto source = reader.attribute("peak_flops_source");
  if (!flops || !source) return {0.0, "none: the run started before lmlab logged MFU"};
  return {stated_flops(run_file, *flops), *source};
}

}  // namespace

double train_flops_per_token(double forward_flops_per_token) { return 3.0 * forward_flops_per_token; }

double model_flops_utilisation(double tokens_per_s, double train_flops_per_token, double peak_flops_per_s) {
  return tokens_per_s * train_flops_per_token / peak_flops_per_s;
}

std::optional<double> MfuBasis::at(double steps_per_s) const {
  if (peak.flops_per_s <= 0) return std::nullopt;
  return model_flops_utilisation(steps_per_s * tokens_per_step, train_flops_per_token, peak.flops_per_s);
}

MfuBasis mfu_basis(const Experiment& e, const RunSetup& run, bool resumed, const fs::path& run_file,
                   std::ostream& out) {
  const RunModel& model = run.plugins.model;
  const Accounting size = plugin_call(model.info, "accounting", [&] { return model.plugin->accounting(); });
  MfuBasis basis;
  basis.train_flops_per_token = train_flops_per_token(size.flops_per_token);
  basis.tokens_per_step = static_cast<double>(e.train.grad_accum * e.train.batch_size * e.data.block_size);
  basis.peak = resumed ? stated_peak(run_file) : mfu_peak_flops(run.device, run.bf16);
  if (basis.peak.flops_per_s > 0) {
    out << fmt::format("MFU against a peak of {:.4g} TFLOP/s, {}\n", basis.peak.flops_per_s / 1e12, basis.peak.source);
  }
  return basis;
}

void write_mfu_attributes(RunFile& file, const MfuBasis& basis) {
  file.set_attribute("peak_flops", basis.peak.flops_per_s);
  file.set_attribute("peak_flops_source", basis.peak.source);
  file.set_attribute("train_flops_per_token", basis.train_flops_per_token);
}

}  // namespace lmlab
