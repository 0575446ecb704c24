// Building a Model from parsed files (and a scenario's overlay): one pass per section, every
// error recorded with its place, cross-checks at the end.
#include "config/build.hpp"

#include "model/inputs.hpp"
#include "model/run_design.hpp"

#include <algorithm>

namespace chokepoint::config_detail {

std::vector<Item> section(Loader &L, const std::vector<ParsedFile> &files, const char *key) {
    std::vector<Item> items;
    for (const auto &pf : files) {
        const auto n = pf.root[key];
        if (!n.IsDefined() || n.IsNull())
            continue;
        if (!n.IsSequence()) {
            L.error(pf.path, n, key,
                    std::string("expected a list of entries (each starting with '- '), found ") +
                        show(n));
            continue;
        }
        for (std::size_t i = 0; i < n.size(); ++i)
            items.push_back({pf.path, n[i], std::string(key) + "[" + std::to_string(i) + "]"});
    }
    return items;
}

/// Assigns `id` to the item, reporting a duplicate.
template <class Map>
std::optional<std::string> unique_id(Loader &L, const Item &it, Map &index, const char *what) {
    auto id = L.identifier(it.file, it.node["id"], it.path + ".id");
    if (!id)
        return std::nullopt;
    if (index.count(*id)) {
        L.error(it.file, it.node["id"], it.path + ".id",
                std::string("duplicate ") + what + " id '" + *id + "'");
        return std::nullopt;
    }
    return id;
}

/// Strips InputError's "error: " and then "<key>: " from the front of `msg` (to re-report it
/// at a config location under that key); whether `key` was there.
bool strip_key(std::string &msg, const std::string &key) {
    if (msg.compare(0, 7, "error: ") == 0)
        msg.erase(0, 7);
    if (msg.compare(0, key.size() + 2, key + ": ") != 0)
        return false;
    msg.erase(0, key.size() + 2);
    return true;
}

/// Cross-checks of the run settings that name inputs and demands (after the model is built):
/// correlations, sensitivity inputs, the stopping rule; then the trial count they imply.
void check_design(Loader &L, Model &m, const ParsedFile &main) {
    const std::string &mf = main.path;
    const auto run = main.root["run"];
    // The input names, as sets and sorted, so that many correlations or patterns cost
    // O(n log n), not O(n^2); only when something names inputs (a model of 50,000 facilities
    // has 350,000 quantities).
    std::vector<std::string> names, sorted_names;
    std::unordered_set<std::string> name_set, all_names;
    const bool named =
        run && ((run["correlations"] && run["correlations"].IsSequence()) ||
                (run["sensitivity_inputs"] && run["sensitivity_inputs"].IsSequence()) ||
                m.run.importance.enabled());
    if (named) {
        for (const auto &in : design_inputs(m))
            names.push_back(in.name);
        name_set.insert(names.begin(), names.end());
        for (const auto &in : design_quantities(m))
            all_names.insert(in);
        sorted_names = names;
        std::sort(sorted_names.begin(), sorted_names.end());
    }
    auto check_input = [&](const YAML::Node &n, const std::string &path, const std::string &name) {
        if (name_set.count(name))
            return true;
        if (all_names.count(name)) {
            L.error(mf, n, path,
                    "input " + quote(name) +
                        " is fixed in this model (a single value, no uncertainty to correlate, "
                        "rank or tilt)");
            return false;
        }
        const auto near = nearest(name, names);
        L.error(mf, n, path,
                "unknown input " + quote(name) +
                    "; inputs are named <kind>/<id>/<quantity>, e.g. " +
                    (names.empty() ? std::string("facility/a/capacity") : names.front()) +
                    (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                    "; `chokepoint validate` lists them");
        return false;
    };
    if (run && run["correlations"] && run["correlations"].IsSequence()) {
        const auto cs = run["correlations"];
        std::set<std::pair<std::string, std::string>> seen;
        for (std::size_t i = 0; i < cs.size(); ++i) {
            const auto b = cs[i]["between"];
            if (!b.IsSequence() || b.size() != 2 || !b[0].IsScalar() || !b[1].IsScalar())
                continue;
            const auto p = "run.correlations[" + std::to_string(i) + "].between";
            const bool ok = check_input(b[0], p + "[0]", b[0].Scalar()) &&
                            check_input(b[1], p + "[1]", b[1].Scalar());
            auto key = std::minmax(b[0].Scalar(), b[1].Scalar());
            if (!seen.emplace(key.first, key.second).second && ok)
                L.error(mf, b, p, "this pair is correlated twice; give each pair once");
            // The pick-freeze rows take input i from B in the independent coordinates, and the
            // copula then mixes it into its partner: the two inputs' indices would measure
            // different things (the full effect of one, the independent part of the other, by
            // the order of the factorisation), which no documented Sobol' index is.
            for (int k = 0; ok && k < 2; ++k)
                if (m.run.sensitivity == Sensitivity::Sobol &&
                    sensitivity_selected(m, b[k].Scalar())) {
                    L.error(mf, b[k], p + "[" + std::to_string(k) + "]",
                            "input " + quote(b[k].Scalar()) +
                                " is correlated, and sensitivity: sobol studies it: Sobol' "
                                "indices need independent inputs (with the correlation, its "
                                "index would mix its own effect with its partner's); use "
                                "sensitivity: rank, or leave it out of sensitivity_inputs");
                    break;
                }
        }
    }
    if (run && run["sensitivity_inputs"] && run["sensitivity_inputs"].IsSequence()) {
        const auto si = run["sensitivity_inputs"];
        for (std::size_t i = 0; i < si.size(); ++i) {
            if (!si[i].IsScalar())
                continue;
            const std::string pat = si[i].Scalar();
            const auto p = "run.sensitivity_inputs[" + std::to_string(i) + "]";
            if (!pat.empty() && pat.back() == '*') {
                const auto prefix = pat.substr(0, pat.size() - 1);
                const auto at = std::lower_bound(sorted_names.begin(), sorted_names.end(), prefix);
                if (at == sorted_names.end() || at->compare(0, prefix.size(), prefix) != 0)
                    L.error(mf, si[i], p, "no input starts with " + quote(prefix));
            } else {
                check_input(si[i], p, pat);
            }
        }
    }
    auto &im = m.run.importance;
    if (im.enabled()) {
        const auto in = run["importance"];
        const auto tl = in["tilt"];
        std::size_t k = 0; // the entries that parsed, in order
        for (std::size_t i = 0; tl && tl.IsSequence() && i < tl.size() && k < im.tilts.size();
             ++i) {
            if (!tl[i].IsMap() || !tl[i]["input"] || !tl[i]["input"].IsScalar() ||
                tl[i]["input"].Scalar() != im.tilts[k].input)
                continue;
            auto &t = im.tilts[k++];
            const auto p = "run.importance.tilt[" + std::to_string(i) + "]";
            if (!check_input(tl[i]["input"], p + ".input", t.input))
                continue;
            if (!std::isnan(t.probability)) {
                const std::string suffix = "/occurs";
                const Event *ev = nullptr;
                if (t.input.size() > suffix.size() + 6 &&
                    t.input.compare(t.input.size() - suffix.size(), suffix.size(), suffix) == 0)
                    for (const auto &e : m.events)
                        if ("event/" + e.id + suffix == t.input)
                            ev = &e;
                if (!ev || !ev->probability.is_fixed()) {
                    L.error(mf, tl[i]["probability"], p + ".probability",
                            "probability: tilts the occurrence of an event with a fixed "
                            "probability (input event/<id>/occurs); for " +
                                quote(t.input) + " give above:, below:, between: or edges:");
                    continue;
                }
                const double p0 = ev->probability.a;
                // The event fires in the upper tail of its coordinate, u > 1 - p0.
                t.edges = {0.0, 1.0 - p0, 1.0};
                t.mass = {1.0 - t.probability, t.probability};
            }
        }
        if (im.ce.enabled) {
            const auto c = in["cross_entropy"];
            if (std::none_of(m.demands.begin(), m.demands.end(),
                             [&](const Demand &d) { return d.id == im.ce.demand; }))
                L.error(mf, c["demand"], "run.importance.cross_entropy.demand",
                        "unknown demand " + quote(im.ce.demand));
            const auto xs = c["inputs"];
            for (std::size_t i = 0; xs && xs.IsSequence() && i < xs.size(); ++i) {
                if (!xs[i].IsScalar())
                    continue;
                const std::string pat = xs[i].Scalar();
                const auto p = "run.importance.cross_entropy.inputs[" + std::to_string(i) + "]";
                if (!pat.empty() && pat.back() == '*') {
                    const auto prefix = pat.substr(0, pat.size() - 1);
                    const auto at =
                        std::lower_bound(sorted_names.begin(), sorted_names.end(), prefix);
                    if (at == sorted_names.end() || at->compare(0, prefix.size(), prefix) != 0)
                        L.error(mf, xs[i], p, "no input starts with " + quote(prefix));
                } else {
                    check_input(xs[i], p, pat);
                }
            }
        }
        if (m.run.sensitivity != Sensitivity::None)
            L.error(mf, in, "run.importance",
                    "importance sampling cannot be combined with run.sensitivity: rank "
                    "correlations and Sobol' indices of tilted trials describe the proposal, not "
                    "the model");
    }
    auto &st = m.run.stop;
    if (st.enabled) {
        if (std::none_of(m.demands.begin(), m.demands.end(),
                         [&](const Demand &d) { return d.id == st.demand; }))
            L.error(mf, run["stop_when"]["demand"], "run.stop_when.demand",
                    "unknown demand " + quote(st.demand));
        if (m.run.sampler != SamplerKind::MC)
            L.error(mf, run["stop_when"], "run.stop_when",
                    "a stopping rule needs run.sampler: mc (a Latin hypercube or Sobol' design "
                    "fixes its size in advance)");
        if (m.run.sensitivity == Sensitivity::Sobol)
            L.error(mf, run["stop_when"], "run.stop_when",
                    "a stopping rule cannot be combined with sensitivity: sobol");
    }
    if (m.run.sensitivity == Sensitivity::Sobol && run && run["replicates"] &&
        m.run.replicates != 1)
        L.error(mf, run["replicates"], "run.replicates",
                "sensitivity: sobol uses one replicate (its intervals come from the bootstrap)");
    if (!L.diags.empty())
        throw InputError(std::move(L.diags));
    try {
        set_trials(m, m.run.requested_trials);
    } catch (const InputError &e) {
        const YAML::Node where = run ? run : main.root;
        std::string msg = e.what();
        strip_key(msg, "run"); // its "error: " prefix: the diagnostic adds its own
        L.error(mf, where, "run", msg);
        throw InputError(std::move(L.diags));
    }
    if (!m.run.correlations.empty() || m.run.importance.enabled()) {
        try {
            // The correlation matrix must be positive definite; a tilted input must take one
            // coordinate and not be correlated.
            make_design(m);
        } catch (const InputError &e) {
            std::string msg = e.what();
            const bool importance = strip_key(msg, "run.importance");
            if (!importance)
                strip_key(msg, "run.correlations");
            const std::string key = importance ? "run.importance" : "run.correlations";
            L.error(mf, importance ? run["importance"] : run["correlations"], key, msg);
            throw InputError(std::move(L.diags));
        }
    }
}

/// The items of a list section: the overlay's when the scenario changes it, else the files'.
std::vector<Item> items_of(Loader &L, const std::vector<ParsedFile> &files, const Overlay *ov,
                           const char *key) {
    if (ov)
        if (const auto *items = ov->find(key))
            return *items;
    return section(L, files, key);
}

/// `allocation:` (the main config's; a scenario's edited copy when `ov` has one): the rule, its
/// blocs, its reference shares.
void parse_allocation(Loader &L, const std::vector<ParsedFile> &files, const Overlay *ov) {
    Model &m = L.m;
    // An included file's allocation is ignored, like its run: the rule is the study's choice.
    const auto &mf = files.front().path;
    const auto a = ov && ov->has_allocation ? ov->allocation : files.front().root["allocation"];
    if (!a)
        return;
    if (!L.check_map(mf, a, "allocation", {"rule", "blocs", "reference", "trade_shares", "source"}))
        return;
    auto &al = m.allocation;
    if (const auto n = a["rule"]) {
        if (auto v = L.string(mf, n, "allocation.rule")) {
            if (*v == "coordinated")
                al.rule = AllocationRule::Coordinated;
            else if (*v == "home_first")
                al.rule = AllocationRule::HomeFirst;
            else if (*v == "proportional")
                al.rule = AllocationRule::Proportional;
            else {
                const auto near = nearest(
                    *v, std::vector<std::string>{"coordinated", "home_first", "proportional"});
                L.error(mf, n, "allocation.rule",
                        quote(*v) +
                            " is not an allocation rule; expected coordinated, "
                            "home_first or proportional" +
                            (near.empty() ? "" : " (did you mean '" + near + "'?)"));
            }
        }
    }
    const std::string rule_name = al.rule == AllocationRule::Coordinated ? "coordinated"
                                  : al.rule == AllocationRule::HomeFirst ? "home_first"
                                                                         : "proportional";
    // In a scenario that switches the rule, keys of the baseline's rule are left as they are
    // (a set: cannot delete them) and ignored; in a config they are refused.
    const bool scenario = ov && ov->has_allocation;
    if (const auto n = a["blocs"]; n && !(scenario && al.rule != AllocationRule::HomeFirst)) {
        if (al.rule != AllocationRule::HomeFirst)
            L.error(mf, n, "allocation.blocs",
                    "blocs belong to rule home_first (this rule is " + rule_name + ")");
        else if (!n.IsSequence())
            L.error(mf, n, "allocation.blocs",
                    "expected a list of country group ids (country_groups), found " + show(n));
        else
            for (std::size_t i = 0; i < n.size(); ++i) {
                const std::string p = "allocation.blocs[" + std::to_string(i) + "]";
                auto g = L.string(mf, n[i], p);
                if (!g)
                    continue;
                if (!L.groups.count(*g)) {
                    const auto near = nearest(*g, L.groups);
                    L.error(mf, n[i], p,
                            quote(*g) + " is not a country group (define it in country_groups)" +
                                (near.empty() ? "" : " (did you mean '" + near + "'?)"));
                    continue;
                }
                al.blocs.push_back(*g);
            }
    }
    if (const auto n = a["reference"];
        n && !(scenario && al.rule != AllocationRule::Proportional)) {
        if (al.rule != AllocationRule::Proportional)
            L.error(mf, n, "allocation.reference",
                    "reference belongs to rule proportional (this rule is " + rule_name + ")");
        else if (auto v = L.string(mf, n, "allocation.reference")) {
            if (*v == "pooled")
                al.reference = ReferenceShares::Pooled;
            else if (*v == "trade_shares")
                al.reference = ReferenceShares::TradeShares;
            else
                L.error(mf, n, "allocation.reference",
                        quote(*v) + " is not a reference; expected pooled (each consumer's share "
                                    "of the undisrupted wants) or trade_shares (a table)");
        }
    }
    if (a["source"])
        L.string(mf, a["source"], "allocation.source");
    const auto t = a["trade_shares"];
    if (al.reference == ReferenceShares::TradeShares && !t) {
        L.error(mf, a, "allocation.trade_shares",
                "reference trade_shares needs the table trade_shares: {product: {exporter: "
                "{importer: share}}}");
        return;
    }
    if (!t || (scenario && al.reference != ReferenceShares::TradeShares))
        return;
    if (al.reference != ReferenceShares::TradeShares) {
        L.error(mf, t, "allocation.trade_shares",
                "a trade-share table needs rule proportional with reference trade_shares");
        return;
    }
    if (!t.IsMap()) {
        L.error(mf, t, "allocation.trade_shares",
                "expected {product: {exporter: {importer: share}}}, found " + show(t));
        return;
    }
    const auto C = m.countries.size();
    al.trade_shares.assign(m.products.size(), {});
    auto model_country = [&](const YAML::Node &n, const std::string &p) -> int {
        auto s = L.string(mf, n, p);
        if (!s)
            return -1;
        const auto it = L.country_index.find(*s);
        if (it == L.country_index.end()) {
            L.error(mf, n, p,
                    quote(*s) + " is not a country of the model (no facility or demand there)");
            return -1;
        }
        return it->second;
    };
    for (const auto &pk : t) {
        const std::string pp = "allocation.trade_shares." + path_key(pk.first.Scalar());
        auto prod = L.product_ref(mf, pk.first, pp);
        if (!prod)
            continue;
        auto &table = al.trade_shares[static_cast<std::size_t>(*prod)];
        table.assign(C * C, std::numeric_limits<double>::quiet_NaN());
        if (!pk.second.IsMap()) {
            L.error(mf, pk.second, pp,
                    "expected {exporter: {importer: share}}, found " + show(pk.second));
            continue;
        }
        for (const auto &ek : pk.second) {
            const std::string ep = pp + "." + path_key(ek.first.Scalar());
            const int e = model_country(ek.first, ep);
            if (e < 0)
                continue;
            if (!ek.second.IsMap()) {
                L.error(mf, ek.second, ep,
                        "expected {importer: share of the exporter's output}, found " +
                            show(ek.second));
                continue;
            }
            double sum = 0;
            for (const auto &ik : ek.second) {
                const std::string ip = ep + "." + path_key(ik.first.Scalar());
                const int i = model_country(ik.first, ip);
                auto v = L.number(mf, ik.second, ip);
                if (i < 0 || !v)
                    continue;
                if (!(*v >= 0 && *v <= 1)) {
                    L.error(mf, ik.second, ip, "a share must be in [0, 1], got " + L.fmt(*v));
                    continue;
                }
                table[static_cast<std::size_t>(e) * C + static_cast<std::size_t>(i)] = *v;
                sum += *v;
            }
            if (sum > 1 + 1e-9)
                L.error(mf, ek.second, ep,
                        "the shares of one exporter's output add up to " + L.fmt(sum) +
                            ", more than 1");
        }
    }
}

namespace {
struct RawRestriction {
    std::string id;
    int event;
    Loader::CountrySet from, to;
    std::vector<char> products;
    double leakage;
};
struct ShockTargets {
    std::vector<int> facilities;
    bool has_fac = false, has_ctry = false, has_prod = false;
    Loader::CountrySet countries;
    std::vector<char> products;
};

/// Builds a Model from parsed files (and a scenario's overlay), one section per method, in the
/// order the sections depend on each other; every error is recorded in L with its place.
struct Builder {
    const std::vector<ParsedFile> &files;
    const Overlay *ov;
    Loader L;
    Model &m = L.m;
    const ParsedFile &main = files.front();
    const std::string &mf = main.path;
    int H = 0; // months of the horizon (run)
    // Entities and their items, in model order (products, facilities, demands).
    std::vector<Item> product_items, facility_items, demand_items;
    std::vector<const Item *> product_item_of, facility_item_of, demand_item_of;
    std::map<std::string, int> facility_index, demand_index, lane_index, event_index;
    // Lanes and export controls, their country sets resolved once every country is known.
    std::vector<RawRestriction> raw_restrictions;
    std::vector<ShockTargets> shock_targets;

    Builder(const std::vector<ParsedFile> &f, std::vector<ConfigFile> texts, const Overlay *o)
        : files(f), ov(o) {
        m.files = std::move(texts);
    }

    /// The top-level keys, name and description.
    void top() {

        static const std::vector<std::string> top_keys{
            "name",    "description", "include",   "run",        "country_groups",
            "regimes", "factors",     "products",  "facilities", "demands",
            "lanes",   "events",      "scenarios", "allocation"};
        for (const auto &pf : files)
            L.check_map(pf.path, pf.root, "", top_keys);

        // name, description
        m.name = fs::path(mf).stem().string();
        if (main.root["name"]) {
            if (auto s = L.identifier(mf, main.root["name"], "name"))
                m.name = *s;
        }
        if (main.root["description"]) {
            if (auto s = L.string(mf, main.root["description"], "description"))
                m.description = *s;
        }
    }

    /// run.importance: tilts given by hand (tilt:) and the cross-entropy fit (cross_entropy:).
    void importance_settings(const YAML::Node &n) {
        auto &im = m.run.importance;
        if (!L.check_map(mf, n, "run.importance", {"tilt", "cross_entropy"}))
            return;
        if (!n["tilt"] && !n["cross_entropy"])
            L.error(mf, n, "run.importance",
                    "give tilt: (proposals by hand), cross_entropy: (fitted), or both");
        if (const auto t = n["tilt"]) {
            if (!t.IsSequence() || t.size() == 0)
                L.error(mf, t, "run.importance.tilt",
                        "expected a list of {input: name, above|below|between|probability|edges: "
                        "..., mass: ...}, found " +
                            show(t));
            else
                for (std::size_t i = 0; i < t.size(); ++i)
                    tilt_spec(t[i], "run.importance.tilt[" + std::to_string(i) + "]");
        }
        if (const auto c = n["cross_entropy"]) {
            const std::string p = "run.importance.cross_entropy";
            if (!L.check_map(mf, c, p,
                             {"demand", "shortfall_above", "inputs", "pilot_trials", "rarity",
                              "max_rounds", "defensive", "smoothing"}))
                return;
            auto &ce = im.ce;
            ce.enabled = true;
            if (auto v = L.identifier(mf, c["demand"], p + ".demand"))
                ce.demand = *v;
            // A number in (lo, hi), or (lo, hi] with `hi_included`.
            auto within = [&](const char *key, double &dst, double lo, double hi,
                              bool hi_included = false) {
                if (const auto x = c[key])
                    if (auto v = L.number(mf, x, p + "." + key)) {
                        if (!(*v > lo && (*v < hi || (hi_included && *v == hi))))
                            L.error(mf, x, p + "." + key,
                                    Loader::fmt(*v) +
                                        (hi_included
                                             ? " must lie in (" + Loader::fmt(lo) + ", " +
                                                   Loader::fmt(hi) + "]"
                                             : " must lie strictly between " + Loader::fmt(lo) +
                                                   " and " + Loader::fmt(hi)));
                        else
                            dst = *v;
                    }
            };
            if (const auto x = c["shortfall_above"])
                if (auto v = L.number(mf, x, p + ".shortfall_above")) {
                    if (*v < 0)
                        L.error(mf, x, p + ".shortfall_above",
                                "a shortfall threshold cannot be negative");
                    else
                        ce.shortfall_above = *v;
                }
            within("rarity", ce.rarity, 0, 0.5);
            within("defensive", ce.defensive, 0, 1);
            within("smoothing", ce.smoothing, 0, 1, true);
            if (const auto x = c["pilot_trials"])
                if (auto v = L.unsigned_int(mf, x, p + ".pilot_trials", 100, 10000000))
                    ce.pilot_trials = *v;
            if (const auto x = c["max_rounds"])
                if (auto v = L.unsigned_int(mf, x, p + ".max_rounds", 1, 100))
                    ce.max_rounds = static_cast<int>(*v);
            if (const auto x = c["inputs"]) {
                if (!x.IsSequence() || x.size() == 0)
                    L.error(mf, x, p + ".inputs",
                            "expected a non-empty list of input names or prefixes ending in '*', "
                            "found " +
                                show(x));
                else
                    for (std::size_t i = 0; i < x.size(); ++i)
                        if (auto v = L.string(mf, x[i], p + ".inputs[" + std::to_string(i) + "]"))
                            ce.inputs.push_back(*v);
            }
        }
    }

    /// One run.importance.tilt entry: the input and its proposal, in one of five forms.
    void tilt_spec(const YAML::Node &n, const std::string &p) {
        if (!L.check_map(mf, n, p,
                         {"input", "above", "below", "between", "probability", "edges", "mass"}))
            return;
        TiltSpec t;
        if (auto v = L.string(mf, n["input"], p + ".input"))
            t.input = *v;
        else
            return;
        int forms = 0;
        for (const char *k : {"above", "below", "between", "probability", "edges"})
            forms += n[k] ? 1 : 0;
        if (forms != 1) {
            L.error(mf, n, p,
                    "give exactly one of above: q, below: q, between: [a, b] (a range of the "
                    "input's quantiles), probability: p (an event's occurrence) or edges: [...]");
            return;
        }
        if (n["edges"]) {
            const auto e = n["edges"], ms = n["mass"];
            if (!e.IsSequence() || e.size() < 2) {
                L.error(mf, e, p + ".edges",
                        "expected a list of bin edges from 0 to 1, found " + show(e));
                return;
            }
            for (std::size_t i = 0; i < e.size(); ++i)
                if (auto v = L.number(mf, e[i], p + ".edges[" + std::to_string(i) + "]"))
                    t.edges.push_back(*v);
            if (!ms.IsSequence() || ms.size() + 1 != e.size()) {
                L.error(mf, ms ? ms : n, p + ".mass",
                        "with edges, give a list of " + std::to_string(e.size() - 1) +
                            " masses (one per bin), found " + show(ms));
                return;
            }
            for (std::size_t i = 0; i < ms.size(); ++i)
                if (auto v = L.number(mf, ms[i], p + ".mass[" + std::to_string(i) + "]"))
                    t.mass.push_back(*v);
            if (t.edges.size() != e.size() || t.mass.size() != ms.size())
                return;
        } else {
            // One segment [a, b] of the quantile scale gets `mass`; the rest keeps its shape.
            double a = 0, b = 1;
            // A number strictly inside (0, 1) at key `key`; `what` says what it is.
            auto inside = [&](const char *key, const std::string &what) {
                const auto x = n[key];
                auto v = L.number(mf, x, p + "." + key);
                if (v && !(*v > 0 && *v < 1)) {
                    L.error(mf, x, p + "." + key,
                            what + " must lie strictly between 0 and 1, found " + Loader::fmt(*v));
                    return std::optional<double>{};
                }
                return v;
            };
            const std::string quantile = "a quantile of the input";
            if (n["above"]) {
                auto v = inside("above", quantile);
                if (!v)
                    return;
                a = *v;
            } else if (n["below"]) {
                auto v = inside("below", quantile);
                if (!v)
                    return;
                b = *v;
            } else if (n["between"]) {
                const auto x = n["between"];
                if (!x.IsSequence() || x.size() != 2) {
                    L.error(mf, x, p + ".between",
                            "expected two quantiles [a, b] with 0 <= a < b <= 1, found " + show(x));
                    return;
                }
                auto lo = L.number(mf, x[0], p + ".between[0]");
                auto hi = L.number(mf, x[1], p + ".between[1]");
                if (!lo || !hi)
                    return;
                if (!(*lo >= 0 && *lo < *hi && *hi <= 1) || (*lo == 0 && *hi == 1)) {
                    L.error(mf, x, p + ".between",
                            "expected two quantiles [a, b] with 0 <= a < b <= 1 (not the whole "
                            "range), found " +
                                show(x));
                    return;
                }
                a = *lo;
                b = *hi;
            } else {
                // probability: p, the event's occurrence: resolved against the event's own
                // probability once the events are built (check_design).
                if (n["mass"]) {
                    L.error(mf, n["mass"], p + ".mass",
                            "probability: p is the proposal's probability itself; drop mass:");
                    return;
                }
                auto v = inside("probability", "the proposal's probability (both outcomes "
                                               "must stay possible)");
                if (!v)
                    return;
                t.probability = *v;
                m.run.importance.tilts.push_back(std::move(t));
                return;
            }
            if (!n["mass"]) {
                L.error(mf, n, p + ".mass",
                        "give the proposal's probability of that range, mass: m in (0, 1)");
                return;
            }
            auto mv = inside("mass", "the range's probability under the proposal (the rest "
                                     "of the range must stay possible)");
            if (!mv)
                return;
            // The segment [a, b] gets mass m; the rest (1 or 2 pieces) shares 1 - m by width.
            const double rest = 1.0 - (b - a);
            t.edges.push_back(0.0);
            if (a > 0) {
                t.edges.push_back(a);
                t.mass.push_back((1.0 - *mv) * a / rest);
            }
            t.mass.push_back(*mv);
            if (b < 1) {
                t.edges.push_back(b);
                t.mass.push_back((1.0 - *mv) * (1.0 - b) / rest);
            }
            t.edges.push_back(1.0);
        }
        try {
            CoordTilt ct;
            ct.edges = t.edges;
            ct.mass = t.mass;
            check_tilt(ct, t.input);
        } catch (const InputError &e) {
            std::string msg = e.what();
            strip_key(msg, "run.importance");
            L.error(mf, n, p, msg);
            return;
        }
        m.run.importance.tilts.push_back(std::move(t));
    }

    /// run: trials, seed, horizon, designs, correlations, stopping, sensitivity (one flat list of
    /// keys).
    void run_settings() {
        // run
        if (const auto run = main.root["run"]) {
            if (L.check_map(mf, run, "run",
                            {"trials", "seed", "horizon_months", "start", "block_size", "quantiles",
                             "thresholds", "store_monthly", "sampler", "replicates", "correlations",
                             "stop_when", "sensitivity", "sensitivity_inputs", "bootstrap",
                             "store_inputs", "importance"})) {
                if (const auto n = run["importance"])
                    importance_settings(n);
                if (run["trials"])
                    if (auto v = L.unsigned_int(mf, run["trials"], "run.trials", 1, 0xFFFFFFFFull))
                        m.run.trials = m.run.requested_trials = *v;
                if (run["seed"])
                    if (auto v = L.unsigned_int(mf, run["seed"], "run.seed", 0, ~0ull))
                        m.run.seed = *v;
                if (run["horizon_months"])
                    if (auto v = L.unsigned_int(mf, run["horizon_months"], "run.horizon_months", 1,
                                                1200))
                        m.run.horizon_months = static_cast<int>(*v);
                if (run["block_size"])
                    if (auto v =
                            L.unsigned_int(mf, run["block_size"], "run.block_size", 1, 1000000))
                        m.run.block_size = *v;
                if (run["start"]) {
                    // YYYY-MM, month 01 .. 12
                    const auto yyyy_mm = [](const std::string &v) {
                        const auto digit = [&](std::size_t i) {
                            return v[i] >= '0' && v[i] <= '9';
                        };
                        return v.size() == 7 && digit(0) && digit(1) && digit(2) && digit(3) &&
                               v[4] == '-' && digit(5) && digit(6) &&
                               ((v[5] == '0' && v[6] != '0') || (v[5] == '1' && v[6] <= '2'));
                    };
                    if (auto s = L.string(mf, run["start"], "run.start")) {
                        if (!yyyy_mm(*s))
                            L.error(mf, run["start"], "run.start",
                                    quote(*s) +
                                        " is not a month written YYYY-MM (e.g. \"2027-01\")");
                        else
                            m.run.start = *s;
                    }
                }
                if (run["store_monthly"])
                    if (auto b = L.boolean(mf, run["store_monthly"], "run.store_monthly"))
                        m.run.store_monthly = *b;
                if (const auto q = run["quantiles"]) {
                    if (!q.IsSequence() || q.size() == 0) {
                        L.error(mf, q, "run.quantiles",
                                "expected a non-empty list of numbers in (0, 1), found " + show(q));
                    } else {
                        m.run.quantiles.clear();
                        for (std::size_t i = 0; i < q.size(); ++i) {
                            const auto p = "run.quantiles[" + std::to_string(i) + "]";
                            if (auto v = L.number(mf, q[i], p)) {
                                if (*v <= 0 || *v >= 1)
                                    L.error(mf, q[i], p,
                                            "quantile level " + Loader::fmt(*v) +
                                                " must lie in (0, 1)");
                                else
                                    m.run.quantiles.push_back(*v);
                            }
                        }
                        // The median is always in the summary (its table shows it).
                        if (std::find(m.run.quantiles.begin(), m.run.quantiles.end(), 0.5) ==
                            m.run.quantiles.end())
                            m.run.quantiles.push_back(0.5);
                        std::sort(m.run.quantiles.begin(), m.run.quantiles.end());
                        m.run.quantiles.erase(
                            std::unique(m.run.quantiles.begin(), m.run.quantiles.end()),
                            m.run.quantiles.end());
                    }
                }
                if (const auto n = run["sampler"]) {
                    if (auto v = L.string(mf, n, "run.sampler")) {
                        if (*v == "mc")
                            m.run.sampler = SamplerKind::MC;
                        else if (*v == "lhs")
                            m.run.sampler = SamplerKind::LHS;
                        else if (*v == "sobol")
                            m.run.sampler = SamplerKind::Sobol;
                        else
                            L.error(mf, n, "run.sampler",
                                    quote(*v) +
                                        " is not a sampler; expected mc (plain Monte Carlo), "
                                        "lhs (Latin hypercube) or sobol (randomised Sobol')");
                    }
                    // Designs other than plain Monte Carlo need independent replicates for their
                    // error estimate.
                    if (m.run.sampler != SamplerKind::MC)
                        m.run.replicates = 10;
                }
                if (const auto n = run["replicates"])
                    if (auto v = L.unsigned_int(mf, n, "run.replicates", 1, 100000))
                        m.run.replicates = static_cast<int>(*v);
                if (const auto n = run["store_inputs"])
                    if (auto b = L.boolean(mf, n, "run.store_inputs"))
                        m.run.store_inputs = *b;
                if (const auto n = run["bootstrap"])
                    if (auto v = L.unsigned_int(mf, n, "run.bootstrap", 0, 100000))
                        m.run.bootstrap = static_cast<int>(*v);
                if (const auto n = run["sensitivity"]) {
                    if (auto v = L.string(mf, n, "run.sensitivity")) {
                        if (*v == "none")
                            m.run.sensitivity = Sensitivity::None;
                        else if (*v == "rank")
                            m.run.sensitivity = Sensitivity::Rank;
                        else if (*v == "sobol")
                            m.run.sensitivity = Sensitivity::Sobol;
                        else
                            L.error(mf, n, "run.sensitivity",
                                    quote(*v) +
                                        " is not a sensitivity analysis; expected none, rank "
                                        "(Spearman and rank-regression importance, with "
                                        "bootstrap intervals) or sobol (first-order and total "
                                        "Sobol' indices by a pick-freeze design)");
                    }
                }
                if (const auto n = run["sensitivity_inputs"]) {
                    if (!n.IsSequence() || n.size() == 0)
                        L.error(mf, n, "run.sensitivity_inputs",
                                "expected a non-empty list of input names (e.g. "
                                "facility/cn_ga_1/capacity) or prefixes ending in '*', found " +
                                    show(n));
                    else
                        for (std::size_t i = 0; i < n.size(); ++i)
                            if (auto v = L.string(
                                    mf, n[i], "run.sensitivity_inputs[" + std::to_string(i) + "]"))
                                m.run.sensitivity_inputs.push_back(*v);
                }
                if (const auto n = run["correlations"]) {
                    if (!n.IsSequence())
                        L.error(mf, n, "run.correlations",
                                "expected a list of {between: [input, input], rank: r}, found " +
                                    show(n));
                    else if (n.size() > kMaxCorrelations)
                        // The design factors a matrix of the correlated inputs (cubic in their
                        // number) and multiplies by it in every trial.
                        L.error(mf, n, "run.correlations",
                                std::to_string(n.size()) + " correlations: at most " +
                                    std::to_string(kMaxCorrelations) + " are allowed");
                    else
                        for (std::size_t i = 0; i < n.size(); ++i) {
                            const auto p = "run.correlations[" + std::to_string(i) + "]";
                            if (!L.check_map(mf, n[i], p, {"between", "rank"}))
                                continue;
                            CorrelationSpec c;
                            const auto b = n[i]["between"];
                            bool ok = true;
                            if (!b.IsSequence() || b.size() != 2) {
                                L.error(mf, b, p + ".between",
                                        "expected a list of two input names, e.g. "
                                        "[facility/a/capacity, facility/b/capacity], found " +
                                            show(b));
                                ok = false;
                            } else {
                                auto x = L.string(mf, b[0], p + ".between[0]");
                                auto y = L.string(mf, b[1], p + ".between[1]");
                                ok = x && y;
                                if (ok) {
                                    c.a = *x;
                                    c.b = *y;
                                    if (c.a == c.b) {
                                        L.error(mf, b, p + ".between",
                                                "an input cannot be correlated with itself");
                                        ok = false;
                                    }
                                }
                            }
                            if (auto r = L.number(mf, n[i]["rank"], p + ".rank")) {
                                if (!(*r > -1 && *r < 1)) {
                                    L.error(mf, n[i]["rank"], p + ".rank",
                                            "rank correlation " + Loader::fmt(*r) +
                                                " must lie strictly between -1 and 1");
                                    ok = false;
                                }
                                c.rank = *r;
                            } else {
                                ok = false;
                            }
                            if (ok)
                                m.run.correlations.push_back(c);
                        }
                }
                if (const auto n = run["stop_when"]) {
                    if (L.check_map(mf, n, "run.stop_when",
                                    {"statistic", "demand", "se_below", "relative_se_below",
                                     "min_trials", "max_trials", "min_effective_trials"})) {
                        auto &st = m.run.stop;
                        st.enabled = true;
                        if (auto v = L.string(mf, n["statistic"], "run.stop_when.statistic")) {
                            if (*v == "eud")
                                st.statistic = Statistic::EUD;
                            else if (*v == "p_short")
                                st.statistic = Statistic::PShort;
                            else if (*v == "lose")
                                st.statistic = Statistic::LOSE;
                            else
                                L.error(mf, n["statistic"], "run.stop_when.statistic",
                                        quote(*v) + " is not a statistic with a standard error; "
                                                    "expected eud, p_short or lose");
                        }
                        if (auto v = L.identifier(mf, n["demand"], "run.stop_when.demand"))
                            st.demand = *v;
                        const bool abs_given = static_cast<bool>(n["se_below"]),
                                   rel_given = static_cast<bool>(n["relative_se_below"]);
                        if (abs_given == rel_given)
                            L.error(mf, n, "run.stop_when",
                                    "give exactly one of se_below (an absolute standard error, in "
                                    "the statistic's unit) and relative_se_below (a share of the "
                                    "estimate, e.g. 0.05)");
                        else if (abs_given) {
                            if (auto v = L.number(mf, n["se_below"], "run.stop_when.se_below")) {
                                if (!(*v > 0))
                                    L.error(mf, n["se_below"], "run.stop_when.se_below",
                                            "the target standard error must be positive");
                                st.se_below = *v;
                            }
                        } else if (auto v = L.number(mf, n["relative_se_below"],
                                                     "run.stop_when.relative_se_below")) {
                            if (!(*v > 0 && *v < 1))
                                L.error(mf, n["relative_se_below"],
                                        "run.stop_when.relative_se_below",
                                        "the relative standard error must lie in (0, 1)");
                            st.se_below = *v;
                            st.relative = true;
                        }
                        if (auto v = L.unsigned_int(mf, n["min_trials"], "run.stop_when.min_trials",
                                                    1, 0xFFFFFFFFull))
                            st.min_trials = *v;
                        if (auto v = L.unsigned_int(mf, n["max_trials"], "run.stop_when.max_trials",
                                                    1, 0xFFFFFFFFull))
                            st.max_trials = *v;
                        if (n["min_effective_trials"])
                            if (auto v = L.unsigned_int(mf, n["min_effective_trials"],
                                                        "run.stop_when.min_effective_trials", 1,
                                                        0xFFFFFFFFull))
                                st.min_effective_trials = *v;
                        if (n["min_effective_trials"] && st.max_trials > 0 &&
                            st.min_effective_trials > st.max_trials)
                            L.error(
                                mf, n["min_effective_trials"], "run.stop_when.min_effective_trials",
                                "min_effective_trials (" + std::to_string(st.min_effective_trials) +
                                    ") exceeds max_trials (" + std::to_string(st.max_trials) +
                                    "): the effective trials never exceed the trials, so the "
                                    "target could never be met");
                        if (st.max_trials > 0 && st.min_trials > st.max_trials)
                            L.error(mf, n, "run.stop_when",
                                    "min_trials (" + std::to_string(st.min_trials) +
                                        ") exceeds max_trials (" + std::to_string(st.max_trials) +
                                        ")");
                        st.enabled = st.max_trials > 0;
                        // The run plans max_trials (--trials overrides it).
                        if (st.enabled)
                            m.run.trials = m.run.requested_trials = st.max_trials;
                    }
                }
                if (const auto q = run["thresholds"]) {
                    if (!q.IsSequence() || q.size() == 0) {
                        L.error(mf, q, "run.thresholds",
                                "expected a non-empty list of shares of demand in (0, 1], found " +
                                    show(q));
                    } else {
                        m.run.thresholds.clear();
                        for (std::size_t i = 0; i < q.size(); ++i) {
                            const auto p = "run.thresholds[" + std::to_string(i) + "]";
                            if (auto v = L.number(mf, q[i], p)) {
                                if (*v <= 0 || *v > 1)
                                    L.error(mf, q[i], p,
                                            "threshold " + Loader::fmt(*v) +
                                                " must lie in (0, 1] (a share of the demand's "
                                                "total want)");
                                else
                                    m.run.thresholds.push_back(*v);
                            }
                        }
                        std::sort(m.run.thresholds.begin(), m.run.thresholds.end());
                    }
                }
            }
        }

        H = m.run.horizon_months;
    }

    /// regimes: the main file's if it has them, else the included files' (which must agree).
    void regimes() {
        // regimes: the main file's if it has them, else the included files' (which must agree); a
        // scenario that changes them gives its list.
        if (const auto *ov_regimes = ov ? ov->find("regimes") : nullptr) {
            double total = 0;
            for (const auto &it : *ov_regimes) {
                if (!L.check_map(it.file, it.node, it.path, {"id", "weight"}))
                    continue;
                auto id = L.identifier(it.file, it.node["id"], it.path + ".id");
                auto w = L.number(it.file, it.node["weight"], it.path + ".weight");
                if (!id || !w)
                    continue;
                if (*w < 0 || *id == "default" || L.regime_index.count(*id)) {
                    L.error(it.file, *w < 0 ? it.node["weight"] : it.node["id"],
                            it.path + (*w < 0 ? ".weight" : ".id"),
                            *w < 0 ? "weight " + Loader::fmt(*w) + " must not be negative"
                            : *id == "default"
                                ? "'default' is a reserved word (the by_regime "
                                  "fallback) and cannot name a regime; choose another id"
                                : "duplicate regime id '" + *id + "'");
                    continue;
                }
                L.regime_index[*id] = static_cast<int>(m.regimes.size());
                m.regimes.push_back({*id, *w});
                total += *w;
            }
            if (!ov_regimes->empty() && !(total > 0))
                L.error(mf, main.root, "regimes",
                        "regime weights must sum to a positive number (they sum to " +
                            Loader::fmt(total) + ")");
            if (m.regimes.empty())
                m.regimes.push_back({"baseline", 1.0});
        } else {
            const ParsedFile *src = nullptr;
            if (main.root["regimes"])
                src = &main;
            for (const auto &pf : files) {
                if (!pf.root["regimes"] || src == &main)
                    continue;
                if (!src) {
                    src = &pf;
                    continue;
                }
                if (YAML::Dump(pf.root["regimes"]) != YAML::Dump(src->root["regimes"]))
                    L.error(pf.path, pf.root["regimes"], "regimes",
                            "included files define different regimes ('" + src->path +
                                "' differs); define the regimes in the main config to settle them");
            }
            if (src) {
                const auto rs = src->root["regimes"];
                if (!rs.IsSequence() || rs.size() == 0) {
                    L.error(src->path, rs, "regimes",
                            "expected a non-empty list of {id, weight} entries, found " + show(rs));
                } else {
                    double total = 0;
                    for (std::size_t i = 0; i < rs.size(); ++i) {
                        const auto p = "regimes[" + std::to_string(i) + "]";
                        if (!L.check_map(src->path, rs[i], p, {"id", "weight"}))
                            continue;
                        Regime r;
                        auto id = L.identifier(src->path, rs[i]["id"], p + ".id");
                        auto w = L.number(src->path, rs[i]["weight"], p + ".weight");
                        if (!id || !w)
                            continue;
                        if (*w < 0) {
                            L.error(src->path, rs[i]["weight"], p + ".weight",
                                    "weight " + Loader::fmt(*w) + " must not be negative");
                            continue;
                        }
                        if (*id == "default") {
                            // by_regime reads the key `default` as the distribution of the regimes
                            // not listed: a regime of that name would be ambiguous there.
                            L.error(src->path, rs[i]["id"], p + ".id",
                                    "'default' is a reserved word (the by_regime fallback) and "
                                    "cannot name a regime; choose another id");
                            continue;
                        }
                        if (L.regime_index.count(*id)) {
                            L.error(src->path, rs[i]["id"], p + ".id",
                                    "duplicate regime id '" + *id + "'");
                            continue;
                        }
                        L.regime_index[*id] = static_cast<int>(m.regimes.size());
                        m.regimes.push_back({*id, *w});
                        total += *w;
                    }
                    if (!(total > 0))
                        L.error(src->path, rs, "regimes",
                                "regime weights must sum to a positive number (they sum to " +
                                    Loader::fmt(total) + ")");
                }
            }
            if (m.regimes.empty())
                m.regimes.push_back({"baseline", 1.0});
        }
    }

    /// country_groups.
    void country_groups() {
        // country groups
        for (const auto &pf : files) {
            const auto cg = pf.root["country_groups"];
            if (!cg.IsDefined() || cg.IsNull())
                continue;
            if (!cg.IsMap()) {
                L.error(pf.path, cg, "country_groups",
                        "expected a map: group id -> list of countries, found " + show(cg));
                continue;
            }
            for (const auto &kv : cg) {
                const auto p = "country_groups." + path_key(kv.first.Scalar());
                auto id = L.identifier(pf.path, kv.first, p);
                if (!id)
                    continue;
                if (*id == "all" || *id == "all_except") {
                    // Country sets read `all` and `all_except` as keywords: such a group would be
                    // silently shadowed by the keyword wherever it is named.
                    L.error(pf.path, kv.first, p,
                            "'" + *id +
                                "' is a reserved word (a country set keyword) and cannot name a "
                                "group; choose another id");
                    continue;
                }
                if (L.groups.count(*id)) {
                    L.error(pf.path, kv.first, p, "duplicate country group '" + *id + "'");
                    continue;
                }
                if (L.valid_country_code(*id)) {
                    L.error(pf.path, kv.first, p,
                            "group id '" + *id +
                                "' looks like a country code; use a lower-case id");
                    continue;
                }
                auto cs = L.country_set(pf.path, kv.second, p);
                if (!cs)
                    continue;
                if (cs->all || cs->except) {
                    L.error(pf.path, kv.second, p,
                            "a group is a plain list of countries ('all' and all_except are not "
                            "allowed in a group)");
                    continue;
                }
                L.groups[*id] = {cs->codes.begin(), cs->codes.end()};
            }
        }
    }

    /// factors.
    void factors() {
        // factors
        for (const auto &it : items_of(L, files, ov, "factors")) {
            if (!L.check_map(it.file, it.node, it.path, {"id", "dist"}))
                continue;
            auto id = unique_id(L, it, L.factor_index, "factor");
            if (!id)
                continue;
            auto d = L.dist(it.file, it.node["dist"], it.path + ".dist", kAny);
            if (!d)
                continue;
            L.factor_index[*id] = static_cast<int>(m.factors.size());
            m.factors.push_back({*id, *d});
            L.factor_dists.push_back(*d);
        }
    }

    /// products (ids first so recipes may refer forward), recipes and their cycles.
    void products() {
        // products: ids first so recipes may refer forward
        product_items = items_of(L, files, ov, "products");
        for (const auto &it : product_items) {
            if (!L.check_map(it.file, it.node, it.path, {"id", "name", "unit", "recipe"}))
                continue;
            auto id = unique_id(L, it, L.product_index, "product");
            if (!id)
                continue;
            Product p;
            p.id = *id;
            p.name = *id;
            p.unit = "t";
            if (it.node["name"])
                if (auto s = L.text(it.file, it.node["name"], it.path + ".name"))
                    p.name = *s;
            if (it.node["unit"])
                if (auto s = L.text(it.file, it.node["unit"], it.path + ".unit"))
                    p.unit = *s;
            L.product_index[*id] = static_cast<int>(m.products.size());
            m.products.push_back(p);
            product_item_of.push_back(&it);
        }
        for (std::size_t pi = 0; pi < m.products.size(); ++pi) {
            const Item &it = *product_item_of[pi];
            const auto r = it.node["recipe"];
            if (!r.IsDefined() || r.IsNull())
                continue;
            const auto rp = it.path + ".recipe";
            if (!r.IsMap() || r.size() == 0) {
                L.error(it.file, r, rp,
                        "expected a map of input product -> tonnes per tonne of output, found " +
                            show(r));
                continue;
            }
            std::set<int> seen;
            for (const auto &kv : r) {
                const auto kp = rp + "." + path_key(kv.first.Scalar());
                auto in = L.product_ref(it.file, kv.first, kp);
                auto coef = L.number(it.file, kv.second, kp);
                if (!in || !coef)
                    continue;
                // The solver's tolerances are relative, ~1e-9 of a row's largest coefficient:
                // a coefficient 1e9 times smaller or larger than 1 is round-off to it (a
                // denormal one made every LP of the chain fail).
                if (!(*coef >= 1e-9 && *coef <= 1e9)) {
                    L.error(it.file, kv.second, kp,
                            "recipe coefficient " + Loader::fmt(*coef) +
                                (*coef <= 0 ? " must be > 0" : " must lie in [1e-9, 1e9]") +
                                " (units of input per unit of output; change the products' "
                                "units if it is outside)");
                    continue;
                }
                if (static_cast<std::size_t>(*in) == pi) {
                    L.error(it.file, kv.first, kp,
                            "a product cannot be an input of its own recipe");
                    continue;
                }
                if (!seen.insert(*in).second) {
                    L.error(it.file, kv.first, kp,
                            "input " + quote(kv.first.Scalar()) +
                                " is listed twice in this recipe");
                    continue;
                }
                m.products[pi].recipe.push_back({*in, *coef});
            }
        }
        if (product_items.empty())
            L.error(mf, main.root, "products", "no products: a config needs at least one product");

        // recipe cycles
        {
            std::vector<int> state(m.products.size(), 0);
            std::function<bool(int, std::vector<int> &)> dfs = [&](int p,
                                                                   std::vector<int> &path) -> bool {
                state[static_cast<std::size_t>(p)] = 1;
                path.push_back(p);
                for (const auto &[q, _] : m.products[static_cast<std::size_t>(p)].recipe) {
                    if (state[static_cast<std::size_t>(q)] == 1) {
                        std::string cyc;
                        for (int x : path)
                            cyc += m.products[static_cast<std::size_t>(x)].id + " -> ";
                        cyc += m.products[static_cast<std::size_t>(q)].id;
                        const Item &it = *product_item_of[static_cast<std::size_t>(p)];
                        L.error(
                            it.file, it.node["recipe"], it.path + ".recipe",
                            "recipe cycle: " + cyc +
                                " (a product cannot be made, directly or through other products, "
                                "from itself)");
                        return true;
                    }
                    if (state[static_cast<std::size_t>(q)] == 0 && dfs(q, path))
                        return true;
                }
                path.pop_back();
                state[static_cast<std::size_t>(p)] = 2;
                return false;
            };
            for (std::size_t p = 0; p < m.products.size(); ++p) {
                std::vector<int> path;
                if (state[p] == 0 && dfs(static_cast<int>(p), path))
                    break;
            }
        }
    }

    /// facilities.
    void facilities() {
        // facilities
        facility_items = items_of(L, files, ov, "facilities");
        m.facilities.reserve(facility_items.size());
        for (const auto &it : facility_items) {
            if (ov && ov->reuse && it.base >= 0) {
                // Unchanged by the scenario, with the same products, factors and regimes: the
                // baseline's facility is this one (only its country index is this model's).
                Facility fac = ov->base->facilities[static_cast<std::size_t>(it.base)];
                if (facility_index.count(fac.id)) {
                    L.error(it.file, it.node["id"], it.path + ".id",
                            "duplicate facility id '" + fac.id + "'");
                    continue;
                }
                fac.country = L.country(ov->base->countries[static_cast<std::size_t>(fac.country)]);
                facility_index[fac.id] = static_cast<int>(m.facilities.size());
                m.facilities.push_back(std::move(fac));
                facility_item_of.push_back(&it);
                continue;
            }
            if (!L.check_map(it.file, it.node, it.path,
                             {"id", "product", "country", "capacity", "availability", "start_month",
                              "ramp_months", "growth", "outages"}))
                continue;
            auto id = unique_id(L, it, facility_index, "facility");
            auto prod = L.product_ref(it.file, it.node["product"], it.path + ".product");
            auto ctry = L.string(it.file, it.node["country"], it.path + ".country");
            if (ctry && !L.valid_country_code(*ctry)) {
                L.error(it.file, it.node["country"], it.path + ".country",
                        quote(*ctry) + " is not a country code (upper-case, e.g. CN, US)");
                ctry.reset();
            }
            auto cap = L.dist(it.file, it.node["capacity"], it.path + ".capacity", kNonNeg);
            Facility fac;
            bool ok = id && prod && ctry && cap;
            if (it.node["availability"]) {
                auto d = L.dist(it.file, it.node["availability"], it.path + ".availability", kUnit);
                ok = ok && d;
                if (d)
                    fac.availability = *d;
            }
            if (it.node["start_month"]) {
                auto d = L.dist(it.file, it.node["start_month"], it.path + ".start_month", kNonNeg);
                ok = ok && d;
                if (d)
                    fac.start_month = *d;
            }
            if (it.node["ramp_months"]) {
                auto d = L.dist(it.file, it.node["ramp_months"], it.path + ".ramp_months", kNonNeg);
                ok = ok && d;
                if (d)
                    fac.ramp_months = *d;
            }
            if (it.node["growth"]) {
                auto d = L.dist(it.file, it.node["growth"], it.path + ".growth", kGrowth);
                ok = ok && d;
                if (d)
                    fac.growth = *d;
            }
            if (const auto o = it.node["outages"]) {
                const auto op = it.path + ".outages";
                if (L.check_map(it.file, o, op,
                                {"rate_per_year", "duration_months", "fraction_lost"})) {
                    auto rate =
                        L.dist(it.file, o["rate_per_year"], op + ".rate_per_year", kOutageRate);
                    auto dur =
                        L.dist(it.file, o["duration_months"], op + ".duration_months", kNonNeg);
                    std::optional<Dist> frac = Dist::fixed(1);
                    if (o["fraction_lost"])
                        frac = L.dist(it.file, o["fraction_lost"], op + ".fraction_lost", kUnit);
                    ok = ok && rate && dur && frac;
                    if (rate && dur && frac) {
                        fac.has_outages = true;
                        fac.outages = {*rate, *dur, *frac};
                    }
                } else {
                    ok = false;
                }
            }
            if (!ok)
                continue;
            fac.id = *id;
            fac.product = *prod;
            fac.country = L.country(*ctry);
            fac.capacity = *cap;
            facility_index[*id] = static_cast<int>(m.facilities.size());
            m.facilities.push_back(std::move(fac));
            facility_item_of.push_back(&it);
        }
        if (facility_items.empty())
            L.error(mf, main.root, "facilities",
                    "no facilities: a config needs at least one facility");
    }

    /// demands.
    void demands() {
        // demands
        demand_items = items_of(L, files, ov, "demands");
        m.demands.reserve(demand_items.size());
        for (const auto &it : demand_items) {
            if (ov && ov->reuse && it.base >= 0) { // as for facilities
                Demand dm = ov->base->demands[static_cast<std::size_t>(it.base)];
                if (demand_index.count(dm.id)) {
                    L.error(it.file, it.node["id"], it.path + ".id",
                            "duplicate demand id '" + dm.id + "'");
                    continue;
                }
                dm.country = L.country(ov->base->countries[static_cast<std::size_t>(dm.country)]);
                demand_index[dm.id] = static_cast<int>(m.demands.size());
                m.demands.push_back(std::move(dm));
                demand_item_of.push_back(&it);
                continue;
            }
            if (!L.check_map(it.file, it.node, it.path,
                             {"id", "product", "country", "quantity", "growth", "tier",
                              "tier_abroad", "stockpile"}))
                continue;
            auto id = unique_id(L, it, demand_index, "demand");
            auto prod = L.product_ref(it.file, it.node["product"], it.path + ".product");
            auto ctry = L.string(it.file, it.node["country"], it.path + ".country");
            if (ctry && !L.valid_country_code(*ctry)) {
                L.error(it.file, it.node["country"], it.path + ".country",
                        quote(*ctry) + " is not a country code (upper-case, e.g. CN, US)");
                ctry.reset();
            }
            auto q = L.dist(it.file, it.node["quantity"], it.path + ".quantity", kNonNeg);
            Demand dm;
            bool ok = id && prod && ctry && q;
            if (it.node["growth"]) {
                auto g = L.dist(it.file, it.node["growth"], it.path + ".growth", kGrowth);
                ok = ok && g;
                if (g)
                    dm.growth = *g;
            }
            if (it.node["tier"]) {
                auto t = L.unsigned_int(it.file, it.node["tier"], it.path + ".tier", 1, 100);
                ok = ok && t;
                if (t)
                    dm.tier = static_cast<int>(*t);
            }
            dm.tier_abroad = dm.tier;
            if (it.node["tier_abroad"]) {
                auto t = L.unsigned_int(it.file, it.node["tier_abroad"], it.path + ".tier_abroad",
                                        1, 100);
                ok = ok && t;
                if (t)
                    dm.tier_abroad = static_cast<int>(*t);
            }
            if (const auto s = it.node["stockpile"]) {
                const auto sp = it.path + ".stockpile";
                if (L.check_map(it.file, s, sp, {"initial", "max_level", "max_draw", "refill"})) {
                    auto init = L.dist(it.file, s["initial"], sp + ".initial", kNonNeg);
                    ok = ok && init;
                    if (init)
                        dm.stockpile.initial = *init;
                    auto opt = [&](const char *key, Dist &out, bool &has) {
                        if (!s[key])
                            return;
                        auto d = L.dist(it.file, s[key], sp + "." + key, kNonNeg);
                        ok = ok && d;
                        if (d) {
                            out = *d;
                            has = true;
                        }
                    };
                    opt("max_level", dm.stockpile.max_level, dm.stockpile.has_max_level);
                    opt("max_draw", dm.stockpile.max_draw, dm.stockpile.has_max_draw);
                    opt("refill", dm.stockpile.refill, dm.stockpile.has_refill);
                    dm.has_stockpile = true;
                } else {
                    ok = false;
                }
            }
            if (!ok)
                continue;
            dm.id = *id;
            dm.product = *prod;
            dm.country = L.country(*ctry);
            dm.quantity = *q;
            demand_index[*id] = static_cast<int>(m.demands.size());
            m.demands.push_back(std::move(dm));
            demand_item_of.push_back(&it);
        }
        if (demand_items.empty())
            L.error(mf, main.root, "demands", "no demands: a config needs at least one demand");
    }

    /// Every demanded or consumed product must be made somewhere.
    void made_somewhere() {
        // every demanded or consumed product must be made somewhere
        {
            std::vector<char> made(m.products.size(), 0);
            for (const auto &f : m.facilities)
                made[static_cast<std::size_t>(f.product)] = 1;
            for (std::size_t i = 0; i < m.demands.size(); ++i) {
                const auto &d = m.demands[i];
                if (!made[static_cast<std::size_t>(d.product)]) {
                    const Item &it = *demand_item_of[i];
                    L.error(it.file, it.node["product"], it.path + ".product",
                            "no facility makes product '" +
                                m.products[static_cast<std::size_t>(d.product)].id +
                                "': this demand can never be served");
                }
            }
            for (std::size_t i = 0; i < m.facilities.size(); ++i) {
                const auto &p = m.products[static_cast<std::size_t>(m.facilities[i].product)];
                for (const auto &[q, _] : p.recipe)
                    if (!made[static_cast<std::size_t>(q)]) {
                        const Item &it = *facility_item_of[i];
                        L.error(it.file, it.node["product"], it.path + ".product",
                                "recipe input '" + m.products[static_cast<std::size_t>(q)].id +
                                    "' of '" + p.id +
                                    "' is made by no facility: this facility can never produce");
                    }
            }
        }
    }

    /// lanes and events (country sets gathered now, resolved in finish()).
    void lanes_and_events() {
        // lanes and events need every country: gather the sets first, resolve after.

        for (const auto &it : section(L, files, "lanes")) {
            if (!L.check_map(it.file, it.node, it.path,
                             {"id", "from", "to", "products", "leakage"}))
                continue;
            auto id = unique_id(L, it, lane_index, "lane");
            auto from = L.country_set(it.file, it.node["from"], it.path + ".from");
            auto to = L.country_set(it.file, it.node["to"], it.path + ".to");
            auto prods = L.product_mask(it.file, it.node["products"], it.path + ".products");
            double leak = 0;
            if (it.node["leakage"]) {
                auto v = L.number(it.file, it.node["leakage"], it.path + ".leakage");
                if (v && (*v < 0 || *v > 1)) {
                    L.error(it.file, it.node["leakage"], it.path + ".leakage",
                            "leakage " + Loader::fmt(*v) + " must lie in [0, 1]");
                    v.reset();
                }
                if (!v)
                    continue;
                leak = *v;
            }
            if (!id || !from || !to)
                continue;
            lane_index[*id] = 0;
            raw_restrictions.push_back({*id, -1, *from, *to, prods, leak});
        }

        for (const auto &it : items_of(L, files, ov, "events")) {
            if (!it.node.IsMap()) {
                L.error(it.file, it.node, it.path,
                        "expected a map (key: value entries) describing an event, found " +
                            show(it.node));
                continue;
            }
            L.map_marks[it.path] = mark_of(it.node);
            if (!it.node["type"]) {
                L.error(it.file, it.node, it.path + ".type",
                        "missing required key 'type': give export_control or capacity_shock");
                continue;
            }
            const auto type = L.string(it.file, it.node["type"], it.path + ".type");
            if (!type)
                continue;
            Event ev;
            std::vector<std::string> keys{"id", "type", "onset", "duration_months"};
            if (*type == "export_control") {
                ev.type = EventType::ExportControl;
                keys.insert(keys.end(), {"exporters", "importers", "products", "leakage"});
            } else if (*type == "capacity_shock") {
                ev.type = EventType::CapacityShock;
                keys.insert(keys.end(), {"targets", "fraction_lost"});
            } else {
                std::string msg = "unknown event type " + quote(*type);
                const auto near = nearest(*type, {"export_control", "capacity_shock"});
                if (!near.empty())
                    msg += " (did you mean '" + near + "'?)";
                L.error(it.file, it.node["type"], it.path + ".type",
                        msg + "; expected export_control or capacity_shock");
                continue;
            }
            if (!L.check_map(it.file, it.node, it.path, keys))
                continue;
            auto id = unique_id(L, it, event_index, "event");
            bool ok = static_cast<bool>(id);
            if (id && lane_index.count(*id)) {
                L.error(it.file, it.node["id"], it.path + ".id",
                        "event id '" + *id +
                            "' is already a lane id; lanes and events share one set of ids");
                ok = false;
            }
            // onset
            const auto on = it.node["onset"];
            const auto op = it.path + ".onset";
            if (L.check_map(it.file, on, op,
                            {"probability", "month", "hazard_per_year", "active_at_start"})) {
                const int forms = (on["probability"] || on["month"] ? 1 : 0) +
                                  (on["hazard_per_year"] ? 1 : 0) + (on["active_at_start"] ? 1 : 0);
                if (forms != 1) {
                    std::vector<std::string> given;
                    for (const auto &kv : on)
                        given.push_back(kv.first.Scalar());
                    L.error(
                        it.file, on, op,
                        "give exactly one onset form: {probability, month}, {hazard_per_year} or "
                        "{active_at_start: true}; found " +
                            (given.empty() ? std::string("none") : join(given)));
                    ok = false;
                } else if (on["active_at_start"]) {
                    auto b = L.boolean(it.file, on["active_at_start"], op + ".active_at_start");
                    if (b && !*b) {
                        L.error(
                            it.file, on["active_at_start"], op + ".active_at_start",
                            "active_at_start: false is not an onset; give probability and month or "
                            "hazard_per_year");
                        ok = false;
                    }
                    ev.onset = OnsetKind::ActiveAtStart;
                    ok = ok && b;
                } else if (on["hazard_per_year"]) {
                    auto h =
                        L.dist(it.file, on["hazard_per_year"], op + ".hazard_per_year", kNonNeg);
                    ok = ok && h;
                    if (h)
                        ev.hazard_per_year = *h;
                    ev.onset = OnsetKind::Hazard;
                } else {
                    ev.onset = OnsetKind::Probability;
                    std::optional<Dist> pr = Dist::fixed(1);
                    if (on["probability"])
                        pr = L.dist(it.file, on["probability"], op + ".probability", kUnit);
                    auto mo = L.dist(it.file, on["month"], op + ".month", kNonNeg);
                    ok = ok && pr && mo;
                    if (pr)
                        ev.probability = *pr;
                    if (mo) {
                        ev.month = *mo;
                        const auto [lo, hi] = mo->support(&L.factor_dists);
                        (void)hi;
                        if (lo >= H) {
                            L.error(it.file, on["month"], op + ".month",
                                    "onset month " + mo->describe() +
                                        " is never inside the horizon: months run from 0 to " +
                                        std::to_string(H - 1) + " (run.horizon_months is " +
                                        std::to_string(H) + ")");
                            ok = false;
                        }
                    }
                }
            } else {
                ok = false;
            }
            auto dur =
                L.dist(it.file, it.node["duration_months"], it.path + ".duration_months", kNonNeg);
            ok = ok && dur;
            if (dur)
                ev.duration_months = *dur;
            if (ev.type == EventType::ExportControl) {
                auto ex = L.country_set(it.file, it.node["exporters"], it.path + ".exporters");
                auto im = L.country_set(it.file, it.node["importers"], it.path + ".importers");
                auto prods = L.product_mask(it.file, it.node["products"], it.path + ".products");
                if (it.node["leakage"]) {
                    auto lk = L.dist(it.file, it.node["leakage"], it.path + ".leakage", kUnit);
                    ok = ok && lk;
                    if (lk)
                        ev.leakage = *lk;
                }
                ok = ok && ex && im;
                if (ok)
                    raw_restrictions.push_back(
                        {*id, static_cast<int>(m.events.size()), *ex, *im, prods, 0.0});
                shock_targets.emplace_back();
            } else {
                ShockTargets st;
                const auto t = it.node["targets"];
                const auto tp = it.path + ".targets";
                if (L.check_map(it.file, t, tp, {"facilities", "countries", "products"})) {
                    if (const auto fs_ = t["facilities"]) {
                        st.has_fac = true;
                        if (!fs_.IsSequence() || fs_.size() == 0) {
                            L.error(it.file, fs_, tp + ".facilities",
                                    "expected a non-empty list of facility ids, found " +
                                        show(fs_));
                            ok = false;
                        } else {
                            for (std::size_t i = 0; i < fs_.size(); ++i) {
                                const auto fp = tp + ".facilities[" + std::to_string(i) + "]";
                                auto s = L.string(it.file, fs_[i], fp);
                                if (!s) {
                                    ok = false;
                                    continue;
                                }
                                const auto fi = facility_index.find(*s);
                                if (fi == facility_index.end()) {
                                    std::string msg = "unknown facility " + quote(*s);
                                    const auto near = nearest(*s, facility_index);
                                    if (!near.empty())
                                        msg += " (did you mean '" + near + "'?)";
                                    L.error(it.file, fs_[i], fp, msg);
                                    ok = false;
                                    continue;
                                }
                                st.facilities.push_back(fi->second);
                            }
                        }
                    }
                    if (t["countries"]) {
                        st.has_ctry = true;
                        auto cs = L.country_set(it.file, t["countries"], tp + ".countries");
                        ok = ok && cs;
                        if (cs)
                            st.countries = *cs;
                    }
                    if (t["products"]) {
                        st.has_prod = true;
                        st.products = L.product_mask(it.file, t["products"], tp + ".products");
                    }
                    if (!st.has_fac && !st.has_ctry && !st.has_prod) {
                        L.error(it.file, t, tp,
                                "no targets: give at least one of facilities, countries, products "
                                "(a facility is hit when it matches every one given)");
                        ok = false;
                    }
                } else {
                    ok = false;
                }
                if (it.node["fraction_lost"]) {
                    auto fl = L.dist(it.file, it.node["fraction_lost"], it.path + ".fraction_lost",
                                     kUnit);
                    ok = ok && fl;
                    if (fl)
                        ev.fraction_lost = *fl;
                }
                shock_targets.push_back(st);
            }
            if (!ok) {
                shock_targets.pop_back();
                continue;
            }
            ev.id = *id;
            event_index[*id] = static_cast<int>(m.events.size());
            m.events.push_back(std::move(ev));
        }
    }

    /// allocation, country bounds, homes, restrictions, shock targets, value chains, nodes; then
    /// the cross-checks of the design.
    void finish() {

        parse_allocation(L, files, ov);

        // Every restriction holds a mask over the countries (and the engine works per country):
        // a bound keeps a config of many made-up codes from filling the memory.
        if (m.countries.size() > kMaxCountries)
            L.error(mf, main.root, "",
                    std::to_string(m.countries.size()) + " distinct countries: at most " +
                        std::to_string(kMaxCountries) + " are allowed");
        if (!L.diags.empty()) {
            if (L.dropped > 0)
                L.diags.push_back({mf, 0, 0, "",
                                   std::to_string(L.dropped) + " more error" +
                                       (L.dropped == 1 ? "" : "s") + " not shown (only the first " +
                                       std::to_string(kMaxErrors) + " are reported)"});
            throw InputError(std::move(L.diags));
        }

        // Homes (home_first): each country is its own home, unless a bloc joins it to others
        // (overlapping blocs merge into one home, the smallest country index naming it).
        {
            auto &home = m.allocation.home;
            home.resize(m.countries.size());
            for (std::size_t k = 0; k < home.size(); ++k)
                home[k] = static_cast<int>(k);
            std::function<int(int)> root = [&](int k) {
                return home[static_cast<std::size_t>(k)] == k
                           ? k
                           : root(home[static_cast<std::size_t>(k)]);
            };
            for (const auto &b : m.allocation.blocs) {
                int first = -1;
                for (const auto &code : L.groups[b]) {
                    const auto it = L.country_index.find(code);
                    if (it == L.country_index.end())
                        continue; // a member with no facility or demand here
                    const int r = root(it->second);
                    if (first < 0)
                        first = r;
                    else if (r != first)
                        home[static_cast<std::size_t>(std::max(r, first))] = std::min(r, first);
                    first = std::min(first, r);
                }
            }
            for (std::size_t k = 0; k < home.size(); ++k)
                home[k] = root(static_cast<int>(k));
        }

        // resolve country sets now that every country is known
        std::set<int> placed; // the countries of the facilities and demands
        for (const auto &f : m.facilities)
            placed.insert(f.country);
        for (const auto &d : m.demands)
            placed.insert(d.country);
        auto note_unplaced = [&](const Loader::CountrySet &cs) {
            for (const auto &[code, where] : cs.written)
                if (!placed.count(L.country(code)))
                    m.unplaced_countries.emplace_back(code, where);
        };
        for (const auto &r : raw_restrictions) {
            note_unplaced(r.from);
            note_unplaced(r.to);
            Restriction res;
            res.id = r.id;
            res.event = r.event;
            res.exporter = L.resolve(r.from);
            res.importer = L.resolve(r.to);
            res.product = r.products;
            res.static_leakage = r.leakage;
            if (r.event >= 0)
                m.events[static_cast<std::size_t>(r.event)].restriction =
                    static_cast<int>(m.restrictions.size());
            m.restrictions.push_back(std::move(res));
        }
        // lanes first, then events (stable by construction: lanes were pushed first)
        for (std::size_t e = 0; e < m.events.size(); ++e) {
            auto &ev = m.events[e];
            if (ev.type != EventType::CapacityShock)
                continue;
            const auto &st = shock_targets[e];
            if (st.has_ctry)
                note_unplaced(st.countries);
            const auto cmask = st.has_ctry ? L.resolve(st.countries) : std::vector<char>();
            // The candidates: the facilities named (in facility order), else every facility.
            std::vector<int> named = st.facilities;
            std::sort(named.begin(), named.end());
            named.erase(std::unique(named.begin(), named.end()), named.end());
            const std::size_t n_cand = st.has_fac ? named.size() : m.facilities.size();
            for (std::size_t c = 0; c < n_cand; ++c) {
                const std::size_t f = st.has_fac ? static_cast<std::size_t>(named[c]) : c;
                const auto &fac = m.facilities[f];
                bool match = true;
                if (st.has_ctry)
                    match = match && cmask[static_cast<std::size_t>(fac.country)];
                if (st.has_prod)
                    match = match && st.products[static_cast<std::size_t>(fac.product)];
                if (match)
                    ev.facilities.push_back(static_cast<int>(f));
            }
        }

        // components of the recipe graph (union-find)
        {
            std::vector<int> parent(m.products.size());
            for (std::size_t i = 0; i < parent.size(); ++i)
                parent[i] = static_cast<int>(i);
            std::function<int(int)> find = [&](int x) {
                while (parent[static_cast<std::size_t>(x)] != x)
                    x = parent[static_cast<std::size_t>(x)] =
                        parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(x)])];
                return x;
            };
            for (std::size_t p = 0; p < m.products.size(); ++p)
                for (const auto &[q, _] : m.products[p].recipe)
                    parent[static_cast<std::size_t>(find(static_cast<int>(p)))] = find(q);
            std::map<int, int> comp;
            for (std::size_t p = 0; p < m.products.size(); ++p) {
                const int r = find(static_cast<int>(p));
                if (!comp.count(r))
                    comp[r] = static_cast<int>(comp.size());
                m.products[p].component = comp[r];
            }
            m.n_components = static_cast<int>(comp.size());
        }

        // (product, country) nodes
        {
            std::map<std::pair<int, int>, int> node_of;
            for (const auto &f : m.facilities) {
                const auto key = std::make_pair(f.product, f.country);
                auto it = node_of.find(key);
                if (it == node_of.end()) {
                    it = node_of.emplace(key, static_cast<int>(m.node_names.size())).first;
                    m.node_names.push_back(m.products[static_cast<std::size_t>(f.product)].id +
                                           "@" + m.countries[static_cast<std::size_t>(f.country)]);
                    m.node_product.push_back(f.product);
                    m.node_country.push_back(f.country);
                }
                m.facility_node.push_back(it->second);
            }
        }
        check_design(L, m, main);
    }

    Model run() {
        top();
        run_settings();
        regimes();
        country_groups();
        factors();
        products();
        facilities();
        demands();
        made_somewhere();
        lanes_and_events();
        finish();
        return std::move(L.m); // m is L.m: a plain `return m` would copy the whole model
    }
};
} // namespace

Model build(const std::vector<ParsedFile> &files, std::vector<ConfigFile> texts,
            const Overlay *ov) {
    Builder b(files, std::move(texts), ov);
    return b.run();
}

} // namespace chokepoint::config_detail
