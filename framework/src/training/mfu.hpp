/// Model FLOPs utilisation (MFU; Chowdhery et al. 2022, PaLM, appendix B): the share of the
/// hardware's peak FLOP/s that a run's training arithmetic uses, counting only the model's own
/// FLOPs. Forward: the architecture's Accounting::flops_per_token, 2 per multiply-add of every
/// weight matrix a token passes (the blocks and the output head, not the embedding lookups) plus
/// 4·n·d per layer for attention over the full context n. Training: 3 × forward, the backward
/// pass costing twice the forward (one product for the activations' gradients, one for the
/// weights'): "6N plus attention". Norms, softmax, the optimizer and recomputation are not counted.
#pragma once
#include <filesystem>
#include <optional>
#include <ostream>

#include "experiment/experiment.hpp"
#include "results/run_file.hpp"
#include "training/peak_flops.hpp"
#include "training/run_setup.hpp"

namespace lmlab {

/// Forward plus backward FLOPs per token: 3 × the forward's.
double train_flops_per_token(double forward_flops_per_token);

/// tokens_per_s × train_flops_per_token / peak_flops_per_s: 1 is the peak.
double model_flops_utilisation(double tokens_per_s, double train_flops_per_token, double peak_flops_per_s);

/// What a run's MFU is computed from, fixed when it starts.
struct MfuBasis {
  double train_flops_per_token = 0.0;
  /// Tokens through the model per optimizer step: grad_accum × batch_size × block_size. The
  /// windows' tokens, not the tokens the objective scores (/train/tokens): a masked LM scores
  /// about 15% of them but computes on all.
  double tokens_per_step = 0.0;
  PeakFlops peak;  // flops_per_s 0: unknown, and MFU with it

  /// The MFU of `steps_per_s` optimizer steps a second; nothing when the peak is unknown.
  std::optional<double> at(double steps_per_s) const;
};

/// The basis of run `e`: its model's accounting and batch, and the peak of its device and
/// precision (mfu_peak_flops(), which may measure for half a second). A resumed run keeps the
/// peak its file `run_file` states, so that one denominator serves all of /train/mfu; a file
/// from before lmlab logged MFU states none, and its rows stay without it. Prints the peak to `out`.
MfuBasis mfu_basis(const Experiment& e, const RunSetup& run, bool resumed, const std::filesystem::path& run_file,
                   std::ostream& out);

/// The root attributes peak_flops, peak_flops_source and train_flops_per_token of a fresh run.
void write_mfu_attributes(RunFile& file, const MfuBasis& basis);

}  // namespace lmlab
