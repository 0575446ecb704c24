// Importance sampling: fitting the proposal of run.importance.cross_entropy by pilot rounds
// (docs/importance.md). The fitted tilts join the model's run.importance.tilts, so that the run's
// design (make_design) draws from them and every trial carries its likelihood ratio.
#pragma once

#include "model/model.hpp"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace chokepoint {

/// The inputs the cross-entropy method may tilt: those of `ce.inputs` (names or prefixes ending
/// in '*'; default: the regime, every event input, and the inputs of the facilities and demands
/// of the target's value chain), drawn from one coordinate, not correlated, and not tilted by
/// hand.
std::vector<std::string> cross_entropy_candidates(const Model &m);

/// The bin edges of a fitted proposal of input `name` of `m`: a fixed grid on the quantile scale,
/// finer toward both ends (down to 1e-6), plus the input's own break point where it has one (an
/// event's occurrence with a fixed probability p fires above 1 - p).
std::vector<double> cross_entropy_edges(const Model &m, const std::string &name);

/// When run.importance.cross_entropy is set, runs its pilot rounds (baseline only, plain Monte
/// Carlo, seeds derived from run.seed: reproducible, and independent of `threads`), appends the
/// fitted tilts to m.run.importance.tilts (marked fitted) and records the rounds in
/// m.run.importance.ce_rounds. Progress lines go to `log` (nullptr: none). Does nothing when it is
/// not set or was fitted already. Throws InputError when no pilot trial comes near the target.
void fit_importance(Model &m, int threads, std::ostream *log);

} // namespace chokepoint
