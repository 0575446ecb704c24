// The uncertain quantities of a model, named and laid out in slots (the one list the simulator
// draws them by), and the models a run simulates (the baseline and its scenarios).
#pragma once

#include "model/model.hpp"
#include "sampling/sampling.hpp"

#include <array>
#include <string>
#include <vector>

namespace chokepoint {

/// A quantity a trial may draw: its name (<kind>/<id>/<quantity>), its distribution (nullptr for
/// the regime, an event's occurrence and a hazard onset time, which take one uniform each), and
/// whether this model draws it at all.
struct Quantity {
    std::string name;
    const Dist *dist = nullptr;
    bool drawn = true;
    int coords() const { return drawn ? (dist ? dist->uniforms() : 1) : 0; }
};

/// The slots of each entity's quantities. Each entity's quantities are listed by slot below
/// (facility_quantities, ...), so a slot and its quantity cannot drift apart: adding a facility
/// field is a slot here, its line in facility_quantities, and its use in the simulator.
enum FacQ { FCap, FAvail, FStart, FRamp, FOutageRate, FGrowth, FacSlots };
enum DemQ { DQty, DGrowth, DInit, DMaxLevel, DMaxDraw, DRefill, DemSlots };
enum EvQ { EProb, EOccurs, EMonth, EHazard, EOnsetTime, EDuration, ELeakage, EFraction, EvSlots };

std::array<Quantity, FacSlots> facility_quantities(const Facility &f);
std::array<Quantity, DemSlots> demand_quantities(const Demand &d);
std::array<Quantity, EvSlots> event_quantities(const Event &e);

/// Every quantity a trial of `m` draws, in slot order: the regime, the factors, then each
/// facility's, demand's and event's slots.
std::vector<Quantity> quantities(const Model &m);

/// The uncertain inputs of a model (quantities drawn from at least one uniform coordinate), in a
/// fixed order: the regime, factors, facilities, demands, events; named <kind>/<id>/<quantity>.
std::vector<DesignInput> design_inputs(const Model &m);
/// The names of the inputs a run stores per trial (run.store_inputs, --store-inputs or
/// sensitivity: rank); empty when it stores none.
std::vector<std::string> kept_input_names(const Model &m);
/// Every quantity name, fixed ones included (for messages).
std::vector<std::string> design_quantities(const Model &m);
/// The inputs of the baseline and of every scenario (baseline's first): one design serves all
/// scenarios, so that shared inputs take the same coordinates in each (common random numbers).
std::vector<DesignInput> design_inputs_union(const Model &m);
/// Whether input `name` is among run.sensitivity_inputs (all inputs when none are listed).
bool sensitivity_selected(const Model &m, const std::string &name);

/// The models a run simulates: the baseline (index 0) and each of its scenarios, with their ids.
std::vector<const Model *> run_models(const Model &m);
std::vector<std::string> run_scenario_ids(const Model &m);

/// For each demand of `scenario`, its index among the baseline's demands (by id), or -1.
std::vector<int> baseline_demands(const Model &baseline, const Model &scenario);

} // namespace chokepoint
