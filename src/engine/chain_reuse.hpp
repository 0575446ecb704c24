// Which value chains of a scenario are the baseline's, unchanged (docs/performance.md): a
// scenario that edits one chain (a reserve, a refinery) re-simulates that chain only and copies
// the baseline's per-trial results of the others, which its own simulation would reproduce bit for
// bit (same inputs, same coordinates, same LPs).
#pragma once

#include "model/model.hpp"

#include <string>
#include <vector>

namespace chokepoint {

struct ChainReuse {
    std::vector<char> reuse; // [scenario component] 1: identical to a baseline component
    // scenario index -> baseline index for the entities of reused components (-1 elsewhere)
    std::vector<int> demand, facility, node, restriction;
    bool any() const;
};

/// Everything that determines a component's monthly allocation and its per-trial results, as
/// text (numbers in hexadecimal floating point, entities by id in model order): products and
/// recipes, facilities, demands and stockpiles with every distribution, the restrictions and events
/// that touch it, the regimes, factors and allocation settings. Empty when the component cannot be
/// reused (a restriction that spans it and another component).
std::string component_signature(const Model &m, int component);

/// The components of `scenario` whose signature equals that of the baseline's component holding
/// the same products, with the index maps of their entities. Nothing is reused when the two
/// models' countries differ (their order shapes the allocation's country classes), and with the
/// environment variable CHOKEPOINT_NO_CHAIN_REUSE set (tests: the differential check).
ChainReuse chain_reuse(const Model &baseline, const Model &scenario);

} // namespace chokepoint
