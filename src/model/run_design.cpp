#include "model/run_design.hpp"

#include "core/errors.hpp"
#include "model/inputs.hpp"

namespace chokepoint {

std::shared_ptr<const Design> make_design(const Model &m) {
    const auto inputs = design_inputs_union(m);
    auto index = [&](const std::string &name) {
        for (std::size_t i = 0; i < inputs.size(); ++i)
            if (inputs[i].name == name)
                return static_cast<int>(i);
        throw InputError("run.correlations: " + name + " is not an uncertain input of the model");
    };
    DesignSettings s;
    s.kind = m.run.sampler;
    s.seed = m.run.seed;
    s.trials = m.run.trials;
    s.replicates = m.run.pick_freeze_rows > 0 ? 1 : m.run.replicates;
    s.pick_freeze_rows = m.run.pick_freeze_rows;
    if (s.pick_freeze_rows > 0)
        for (std::size_t i = 0; i < inputs.size(); ++i)
            if (sensitivity_selected(m, inputs[i].name))
                s.pick_freeze_inputs.push_back(static_cast<int>(i));
    std::vector<DesignCorrelation> corr;
    for (const auto &c : m.run.correlations)
        corr.push_back({index(c.a), index(c.b), c.rank});
    for (const auto &t : m.run.importance.tilts) {
        CoordTilt ct;
        ct.input = -1;
        for (std::size_t i = 0; i < inputs.size(); ++i)
            if (inputs[i].name == t.input)
                ct.input = static_cast<int>(i);
        if (ct.input < 0)
            throw InputError("run.importance: " + t.input +
                             " is not an uncertain input of the model");
        ct.edges = t.edges;
        ct.mass = t.mass;
        s.tilts.push_back(std::move(ct));
    }
    return std::make_shared<const Design>(s, inputs, corr);
}

} // namespace chokepoint
