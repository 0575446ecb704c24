// The sampling design of a run of a model (sampling/sampling.hpp builds designs from inputs; this
// builds the one a run uses from its model: run.sampler, replicates, correlations, pick-freeze).
#pragma once

#include "model/model.hpp"
#include "sampling/sampling.hpp"

#include <memory>

namespace chokepoint {

/// The sampling design of a run (run.sampler, replicates, correlations, pick-freeze), over the
/// inputs of the baseline and every scenario (design_inputs_union). Throws InputError.
std::shared_ptr<const Design> make_design(const Model &m);

} // namespace chokepoint
