#include "config/config.hpp"

#include "config/build.hpp"
#include "model/inputs.hpp"

#include <bit>
#include <set>
#include <tuple>

namespace chokepoint {

using namespace config_detail;

namespace {

/// Model::warnings from the unplaced countries of the baseline and its scenarios: a code that
/// has no facility or demand in any of them (a scenario that adds a refinery in CA places CA).
void collect_country_warnings(Model &m) {
    std::set<std::string> placed;
    auto place = [&](const Model &x) {
        for (const auto &f : x.facilities)
            placed.insert(x.countries[static_cast<std::size_t>(f.country)]);
        for (const auto &d : x.demands)
            placed.insert(x.countries[static_cast<std::size_t>(d.country)]);
    };
    place(m);
    for (const auto &sc : m.scenarios)
        place(*sc.model);
    std::set<std::tuple<std::string, int, int, std::string>> seen;
    auto report = [&](const Model &x) {
        for (const auto &[code, where] : x.unplaced_countries) {
            if (placed.count(code) ||
                !seen.emplace(where.file, where.line, where.column, where.path).second)
                continue;
            Diagnostic d = where;
            d.message = "country '" + code +
                        "' has no facility or demand in the model (nor in any scenario), so "
                        "it names nobody here";
            if (const auto near = nearest(code, placed); !near.empty())
                d.message += " (did you mean '" + near + "'?)";
            m.warnings.push_back(std::move(d));
        }
    };
    report(m);
    for (const auto &sc : m.scenarios)
        report(*sc.model);
}

Model load_with_reader(const std::string &text, const std::string &path, const FileReader &reader) {
    std::vector<ParsedFile> files;
    std::vector<std::string> stack;
    std::vector<ConfigFile> texts;
    try {
        parse_with_includes(path, text, files, stack, texts, reader);
        Model m = build(files, std::move(texts));
        add_scenarios(m, files);
        collect_country_warnings(m);
        set_trials(m, m.run.requested_trials); // the design now spans the scenarios' inputs
        return m;
    } catch (const YAML::Exception &e) {
        // Every bad input should have been caught with its own message above; this is the net
        // under them, so that bad input is always an InputError (exit code 2), never a crash.
        throw InputError(std::vector<Diagnostic>{
            {path, e.mark.line >= 0 ? e.mark.line + 1 : 0, e.mark.line >= 0 ? e.mark.column + 1 : 0,
             "",
             "cannot interpret the config here (" + e.msg +
                 "); check the structure of this part against docs/config-reference.md"}});
    }
}

} // namespace

void set_trials(Model &m, std::uint64_t trials) {
    auto &r = m.run;
    r.requested_trials = trials;
    if (r.stop.enabled)
        r.stop.max_trials = trials;
    if (r.sensitivity == Sensitivity::Sobol) {
        std::size_t k = 0;
        for (const auto &in : design_inputs_union(m))
            k += sensitivity_selected(m, in.name);
        if (k == 0)
            throw InputError("sensitivity: sobol: no inputs to study");
        r.pick_freeze_rows = trials;
        r.trials = trials * (k + 2);
        if (r.trials > 0xFFFFFFFFull)
            throw InputError("sensitivity: sobol: " + std::to_string(trials) + " base rows x (" +
                             std::to_string(k) + " inputs + 2) exceed 2^32 trials");
    } else {
        r.trials = trials;
        if (r.replicates < 1 || trials % static_cast<std::uint64_t>(r.replicates) != 0)
            throw InputError("run.trials (" + std::to_string(trials) +
                             ") must be a multiple of run.replicates (" +
                             std::to_string(r.replicates) +
                             ") so that every replicate has as many trials");
    }
    // Scenarios run on the baseline's trials: the same run settings.
    for (auto &sc : m.scenarios) {
        if (sc.model.use_count() == 1) {
            // The only owner (the loader made it, non-const): set the run in place rather than
            // copy a whole model at every call.
            const_cast<Model &>(*sc.model).run = r;
        } else {
            auto copy = std::make_shared<Model>(*sc.model);
            copy->run = r;
            sc.model = std::move(copy);
        }
    }
}

void select_scenarios(Model &m, const std::vector<std::string> &ids) {
    if (ids.empty())
        return;
    std::vector<std::string> known{"baseline"};
    for (const auto &sc : m.scenarios)
        known.push_back(sc.id);
    for (const auto &id : ids)
        if (std::find(known.begin(), known.end(), id) == known.end()) {
            const auto near = nearest(id, known);
            std::string list;
            for (const auto &k : known)
                list += (list.empty() ? "" : ", ") + k;
            throw InputError("--scenario " + quote(id) + ": no such scenario (the config has " +
                             list + ")" + (near.empty() ? "" : "; did you mean '" + near + "'?"));
        }
    std::vector<ScenarioModel> kept;
    for (auto &sc : m.scenarios)
        if (std::find(ids.begin(), ids.end(), sc.id) != ids.end())
            kept.push_back(sc);
    m.scenarios = std::move(kept);
}

Model load_model_from_string(const std::string &text, const std::string &path) {
    return load_with_reader(text, path, read_file);
}

Model load_model(const std::string &path) {
    return load_model_from_string(read_file(path), path);
}

Model load_model_from_files(const std::vector<ConfigFile> &files) {
    if (files.empty())
        throw InputError("no config texts given");
    const auto reader = [&](const std::string &path) -> std::string {
        for (const auto &f : files)
            if (f.path == path)
                return f.text;
        file_error(path, "not among the stored config files");
    };
    return load_with_reader(files.front().text, files.front().path, reader);
}

std::string sampling_warning(const Model &m) {
    const RunSettings &r = m.run;
    if (r.sampler != SamplerKind::Sobol || r.trials == 0)
        return "";
    // A pick-freeze design (sensitivity: sobol) has one replicate of pick_freeze_rows base rows.
    const bool pick_freeze = r.pick_freeze_rows > 0;
    const std::uint64_t reps =
        pick_freeze ? 1 : static_cast<std::uint64_t>(std::max(1, r.replicates));
    const std::uint64_t rows = pick_freeze ? r.pick_freeze_rows : r.trials / reps;
    if (rows == 0 || (rows & (rows - 1)) == 0)
        return "";
    const std::uint64_t below = std::bit_floor(rows);
    std::string why = "run.sampler sobol: each replicate has " + std::to_string(rows) +
                      " rows, not a power of two; Sobol' points are balanced only at 2^k rows, "
                      "so part of their variance reduction is lost (the estimates stay unbiased)";
    if (pick_freeze)
        return why + "; use run.trials = " + std::to_string(below) + " or " +
               std::to_string(below * 2) + " base rows";
    return why + "; use run.trials = replicates x 2^k, e.g. " + std::to_string(reps * below) +
           " or " + std::to_string(reps * below * 2);
}

} // namespace chokepoint
