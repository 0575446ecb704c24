#include "cli/summary_text.hpp"

#include "config/config.hpp"
#include "io/output.hpp"
#include "stats/stats.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace chokepoint {

namespace {
std::vector<std::string> read_strings(H5::Group &g, const char *name) {
    auto ds = g.openDataSet(name);
    hsize_t n = 0;
    ds.getSpace().getSimpleExtentDims(&n);
    std::vector<char *> ptrs(static_cast<std::size_t>(n), nullptr);
    H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
    if (n)
        ds.read(ptrs.data(), t);
    std::vector<std::string> out;
    for (auto *p : ptrs)
        out.emplace_back(p ? p : "");
    if (n)
        H5Dvlen_reclaim(t.getId(), ds.getSpace().getId(), H5P_DEFAULT, ptrs.data());
    return out;
}

std::vector<double> read_doubles(H5::Group &g, const char *name) {
    auto ds = g.openDataSet(name);
    const auto n = ds.getSpace().getSimpleExtentNpoints();
    std::vector<double> v(static_cast<std::size_t>(n));
    if (n)
        ds.read(v.data(), H5::PredType::NATIVE_DOUBLE);
    return v;
}

std::string attr_str(H5::Group &g, const char *name) {
    if (!g.attrExists(name))
        return "";
    auto a = g.openAttribute(name);
    std::string s;
    a.read(a.getStrType(), s);
    return s;
}

/// Names of a model's entities (a scenario's own, or the file's /model).
struct Tables {
    std::vector<std::string> demands, demand_product, demand_country, facilities, nodes,
        restrictions, products, demand_unit;
    std::vector<std::int32_t> tiers;
};

struct Scenario {
    std::string name, description;
    std::uint64_t se_dof = 0;
    double ci95_t = 1.959963984540054;
    int replicates = 1;
    // importance sampling (format 1.4): the effective sample sizes; weighted = false without it
    bool weighted = false;
    double ess = 0, weight_mean = 1;
    std::vector<double> ps_ess, eud_ess;
    std::vector<double> eud, eud_se, share, expected_demand, lose, lose_se, ps, ps_se, levels, q,
        q_lo, q_hi, var_levels, var, cvar, cvar_se;
    std::vector<double> node_months, node_unserved_share, res_months, res_unserved_share,
        fac_months;
    Tables t;
    // paired differences against the baseline (scenarios other than the baseline)
    bool has_diff = false;
    std::vector<double> d_eud, d_eud_se, d_eud_se_ind, d_ps, d_ps_se, d_lose, d_lose_se;
};

/// Everything the summary shows, read once from the file.
struct FileSummary {
    std::string path, name, start, sha, version, commit;
    std::uint64_t trials = 0, seed = 0;
    int horizon = 0;
    std::vector<Scenario> scenarios;
};

Tables read_tables(H5::Group &model) {
    Tables t;
    t.demands = read_strings(model, "demands");
    t.demand_country = read_strings(model, "demand_country");
    t.facilities = read_strings(model, "facilities");
    t.nodes = read_strings(model, "nodes");
    t.restrictions = read_strings(model, "restrictions");
    t.products = read_strings(model, "products");
    {
        auto ds = model.openDataSet("demand_tier");
        t.tiers.resize(t.demands.size());
        if (!t.tiers.empty())
            ds.read(t.tiers.data(), H5::PredType::NATIVE_INT32);
        std::vector<std::int32_t> prod(t.demands.size());
        auto dp = model.openDataSet("demand_product");
        if (!prod.empty())
            dp.read(prod.data(), H5::PredType::NATIVE_INT32);
        // Product units (format 1.3 on; "t" before): a demand's quantities are in its product's.
        std::vector<std::string> units(t.products.size(), "t");
        if (H5Lexists(model.getId(), "product_units", H5P_DEFAULT) > 0)
            units = read_strings(model, "product_units");
        for (auto p : prod) {
            t.demand_product.push_back(t.products[static_cast<std::size_t>(p)]);
            t.demand_unit.push_back(units.at(static_cast<std::size_t>(p)));
        }
    }
    return t;
}

FileSummary read_file(const std::string &path) {
    quiet_hdf5_errors();
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        throw InputError(path + ": no such results file");
    require_regular_file(path, "results file"); // a FIFO would block HDF5's open() forever
    if (!H5::H5File::isHdf5(path))
        throw InputError(path + ": not an HDF5 file (expected a chokepoint results file)");
    FileSummary fs;
    fs.path = path;
    try {
        H5::H5File f(path, H5F_ACC_RDONLY);
        auto root = f.openGroup("/");
        check_file_format(root, path);
        if (!root.attrExists("trials"))
            throw InputError(path + ": incomplete results file (no 'trials' attribute)");
        if (root.attrExists("complete")) {
            std::int32_t complete = 0;
            root.openAttribute("complete").read(H5::PredType::NATIVE_INT32, &complete);
            if (complete != 1) {
                std::uint64_t done = 0, planned = 0;
                root.openAttribute("trials").read(H5::PredType::NATIVE_UINT64, &done);
                if (root.attrExists("trials_planned"))
                    root.openAttribute("trials_planned")
                        .read(H5::PredType::NATIVE_UINT64, &planned);
                const std::string name = std::filesystem::path(path).filename().string();
                const std::string what =
                    std::to_string(done) + " of " + std::to_string(planned) + " trials";
                if (name.ends_with(".checkpoint"))
                    throw InputError(path + ": a checkpoint of an unfinished run (" + what +
                                     "), not a results file; finish it with `chokepoint run "
                                     "--resume " +
                                     path + "`");
                // A run's hidden temporary file (.<name>.partial-...): not resumable itself.
                throw InputError(path + ": the temporary file of an unfinished run (" + what +
                                 "), not a results file: the run is still going, or was stopped "
                                 "without removing it; a stopped run continues from its "
                                 "OUT.checkpoint (`chokepoint run --resume OUT.checkpoint`)");
            }
        }
        root.openAttribute("trials").read(H5::PredType::NATIVE_UINT64, &fs.trials);
        root.openAttribute("seed").read(H5::PredType::NATIVE_UINT64, &fs.seed);
        root.openAttribute("horizon_months").read(H5::PredType::NATIVE_INT32, &fs.horizon);
        fs.name = attr_str(root, "name");
        fs.start = attr_str(root, "start");
        fs.sha = attr_str(root, "config_sha256");
        fs.version = attr_str(root, "program_version");
        fs.commit = attr_str(root, "git_commit");
        auto root_model = f.openGroup("/model");
        const Tables root_tables = read_tables(root_model); // a scenario without its own model
        auto scen = f.openGroup("/scenarios");
        std::vector<std::string> names; // the run's order (baseline first), else the file's
        if (root.attrExists("scenarios")) {
            std::stringstream ss(attr_str(root, "scenarios"));
            for (std::string id; std::getline(ss, id, ',');)
                names.push_back(id);
        } else {
            for (hsize_t i = 0; i < scen.getNumObjs(); ++i)
                names.push_back(scen.getObjnameByIdx(i));
        }
        for (const auto &name : names) {
            Scenario sc;
            sc.name = name;
            auto sg = f.openGroup("/scenarios/" + sc.name);
            if (H5Lexists(sg.getId(), "model", H5P_DEFAULT) > 0) {
                auto mg = sg.openGroup("model");
                sc.t = read_tables(mg);
            } else {
                sc.t = root_tables;
            }
            sc.description = attr_str(sg, "description");
            auto s = f.openGroup("/scenarios/" + sc.name + "/summary");
            if (H5Lexists(s.getId(), "diff_eud", H5P_DEFAULT) > 0) {
                sc.has_diff = true;
                sc.d_eud = read_doubles(s, "diff_eud");
                sc.d_eud_se = read_doubles(s, "diff_eud_se");
                sc.d_eud_se_ind = read_doubles(s, "diff_eud_se_independent");
                sc.d_ps = read_doubles(s, "diff_p_short");
                sc.d_ps_se = read_doubles(s, "diff_p_short_se");
                sc.d_lose = read_doubles(s, "diff_lose");
                sc.d_lose_se = read_doubles(s, "diff_lose_se");
            }
            if (s.attrExists("se_dof"))
                s.openAttribute("se_dof").read(H5::PredType::NATIVE_UINT64, &sc.se_dof);
            if (s.attrExists("ci95_t"))
                s.openAttribute("ci95_t").read(H5::PredType::NATIVE_DOUBLE, &sc.ci95_t);
            if (s.attrExists("replicates"))
                s.openAttribute("replicates").read(H5::PredType::NATIVE_INT32, &sc.replicates);
            if (!s.attrExists("se_dof")) { // files before format 1.3: what 1.3 would store
                sc.se_dof = sc.replicates > 1 ? static_cast<std::uint64_t>(sc.replicates - 1)
                                              : (fs.trials > 1 ? fs.trials - 1 : 0);
                sc.ci95_t = student_t_975(sc.se_dof);
            }
            if (s.attrExists("ess")) {
                sc.weighted = true;
                s.openAttribute("ess").read(H5::PredType::NATIVE_DOUBLE, &sc.ess);
                s.openAttribute("weight_mean").read(H5::PredType::NATIVE_DOUBLE, &sc.weight_mean);
                sc.ps_ess = read_doubles(s, "p_short_ess");
                sc.eud_ess = read_doubles(s, "eud_ess");
            }
            sc.expected_demand = read_doubles(s, "expected_demand");
            sc.eud = read_doubles(s, "eud");
            sc.eud_se = read_doubles(s, "eud_se");
            sc.share = read_doubles(s, "eud_share");
            sc.lose = read_doubles(s, "lose");
            sc.lose_se = read_doubles(s, "lose_se");
            sc.ps = read_doubles(s, "p_short");
            sc.ps_se = read_doubles(s, "p_short_se");
            sc.levels = read_doubles(s, "quantile_levels");
            sc.q = read_doubles(s, "shortfall_quantiles");
            sc.q_lo = read_doubles(s, "shortfall_quantiles_ci_low");
            sc.q_hi = read_doubles(s, "shortfall_quantiles_ci_high");
            sc.var_levels = read_doubles(s, "var_levels");
            sc.var = read_doubles(s, "var");
            sc.cvar = read_doubles(s, "cvar");
            sc.cvar_se = read_doubles(s, "cvar_se");
            sc.node_months = read_doubles(s, "node_binding_month_share");
            sc.node_unserved_share = read_doubles(s, "node_binding_unserved_share");
            sc.res_months = read_doubles(s, "restriction_binding_month_share");
            sc.res_unserved_share = read_doubles(s, "restriction_binding_unserved_share");
            sc.fac_months = read_doubles(s, "facility_binding_month_share");
            fs.scenarios.push_back(std::move(sc));
        }
    } catch (const H5::Exception &e) {
        throw InputError(
            path + ": cannot read as a chokepoint results file (HDF5: " + e.getDetailMsg() + ")");
    }
    return fs;
}

/// Fixed-point with `decimals` digits after the point (never an exponent below 1e12).
std::string fixed(double x, int decimals) {
    if (!std::isfinite(x))
        return std::isnan(x) ? "nan" : (x > 0 ? "inf" : "-inf");
    std::ostringstream os;
    if (std::fabs(x) >= 1e12)
        os << std::setprecision(3) << std::scientific << x;
    else
        os << std::setprecision(std::clamp(decimals, 0, 9)) << std::fixed << x;
    std::string r = os.str();
    if (r.find_first_not_of("-0.") == std::string::npos)
        r = "0"; // -0.000 and 0.000: zero at this precision
    return r;
}

/// Decimals that show 4 significant digits of x (at most 6; 0 from 1000 up).
int decimals_sig4(double x) {
    if (x == 0 || !std::isfinite(x))
        return 0;
    return std::clamp(3 - static_cast<int>(std::floor(std::log10(std::fabs(x)))), 0, 6);
}

/// A number without an uncertainty: 4 significant digits, fixed-point.
std::string num(double x) {
    return fixed(x, decimals_sig4(x));
}

/// "value ± se": the standard error to 2 significant digits, the value to the same decimal
/// place (one format for every cell of a column); an SE of exactly 0 shows as "± 0".
std::string pm(double v, double se) {
    if (!std::isfinite(se))
        return num(v);
    if (se == 0)
        return num(v) + "±0";
    int d = 1 - static_cast<int>(std::floor(std::log10(se)));
    if (std::round(se * std::pow(10.0, d)) >= 100) // 0.000999 rounds to 0.0010, not 0.00100
        --d;
    d = std::clamp(d, 0, 6);
    return fixed(v, d) + "±" + fixed(se, d);
}

/// A paired difference and its SE, "0" when both are at rounding level against `scale` (the
/// baseline's expected demand): differences of 1e-12 of a demand are solver round-off, not
/// an effect of the scenario.
bool at_rounding_level(double d, double se, double scale) {
    const double eps = 1e-9 * std::max(std::fabs(scale), 1e-3);
    return std::fabs(d) <= eps && (!std::isfinite(se) || se <= eps);
}

/// Prints rows as columns: the first `left` columns left-aligned, the rest right-aligned, two
/// spaces apart.
void print_table(std::ostream &os, const std::vector<std::vector<std::string>> &rows,
                 std::size_t left, const std::string &indent = "") {
    std::vector<std::size_t> w;
    auto width = [](const std::string &x) { // UTF-8 code points (± and Δ are two bytes)
        std::size_t n = 0;
        for (unsigned char c : x)
            n += (c & 0xC0) != 0x80;
        return n;
    };
    for (const auto &r : rows)
        for (std::size_t c = 0; c < r.size(); ++c) {
            if (w.size() <= c)
                w.push_back(0);
            w[c] = std::max(w[c], width(r[c]));
        }
    std::size_t total = width(indent);
    for (std::size_t x : w)
        total += x + 2;
    // Two spaces between columns; one (after the first) where that keeps the table within 100.
    const std::string gap = total > 102 ? " " : "  ";
    for (const auto &r : rows) {
        std::string line = indent;
        for (std::size_t c = 0; c < r.size(); ++c) {
            const std::string pad(w[c] - width(r[c]), ' ');
            if (c)
                line += c == 1 ? "  " : gap;
            line += c < left ? r[c] + (c + 1 < r.size() ? pad : "") : pad + r[c];
        }
        os << line << "\n";
    }
}

std::vector<std::size_t> top_indices(const std::vector<double> &score, int top) {
    std::vector<std::size_t> idx(score.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](auto a, auto b) { return score[a] > score[b]; });
    std::vector<std::size_t> out;
    for (std::size_t i : idx) {
        if (static_cast<int>(out.size()) >= top || score[i] <= 0)
            break;
        out.push_back(i);
    }
    return out;
}

// ---- JSON ----------------------------------------------------------------------------------

std::string json_str(const std::string &s) {
    std::ostringstream os;
    os << '"';
    for (unsigned char c : s) {
        switch (c) {
        case '"':
            os << "\\\"";
            break;
        case '\\':
            os << "\\\\";
            break;
        case '\n':
            os << "\\n";
            break;
        case '\t':
            os << "\\t";
            break;
        default:
            if (c < 0x20)
                os << "\\u" << std::hex << std::setw(4) << std::setfill('0') << int(c) << std::dec
                   << std::setfill(' ');
            else
                os << c;
        }
    }
    os << '"';
    return os.str();
}

std::string json_num(double v) {
    if (!std::isfinite(v))
        return "null";
    std::ostringstream os;
    os << std::setprecision(17) << v;
    return os.str();
}

/// The scenarios and demands to show; InputError for a name the file lacks.
struct Selection {
    std::vector<const Scenario *> scenarios;
    std::vector<bool> explicit_scenario; // named with --scenario: shown in full
    std::vector<std::string> demands;    // empty: all
};

Selection select(const FileSummary &fs, const SummaryOptions &opt) {
    Selection sel;
    for (const auto &id : opt.scenarios)
        if (std::none_of(fs.scenarios.begin(), fs.scenarios.end(),
                         [&](const Scenario &sc) { return sc.name == id; })) {
            std::string names;
            for (const auto &sc : fs.scenarios)
                names += (names.empty() ? "" : ", ") + sc.name;
            throw InputError(fs.path + ": no scenario '" + id + "' (the file has " + names + ")");
        }
    for (const auto &id : opt.demands) {
        bool found = false;
        for (const auto &sc : fs.scenarios)
            found = found ||
                    std::find(sc.t.demands.begin(), sc.t.demands.end(), id) != sc.t.demands.end();
        if (!found)
            throw InputError(fs.path + ": no demand '" + id + "' in any scenario");
    }
    for (const auto &sc : fs.scenarios) {
        const bool named =
            std::find(opt.scenarios.begin(), opt.scenarios.end(), sc.name) != opt.scenarios.end();
        if (!opt.scenarios.empty() && !named)
            continue;
        sel.scenarios.push_back(&sc);
        sel.explicit_scenario.push_back(named);
    }
    sel.demands = opt.demands;
    return sel;
}

bool shown(const Selection &sel, const std::string &demand) {
    return sel.demands.empty() ||
           std::find(sel.demands.begin(), sel.demands.end(), demand) != sel.demands.end();
}

const Scenario *baseline_of(const FileSummary &fs) {
    for (const auto &sc : fs.scenarios)
        if (!sc.has_diff)
            return &sc;
    return nullptr;
}

void print_json(const FileSummary &fs, std::ostream &os, const SummaryOptions &opt) {
    const Selection sel = select(fs, opt);
    const int top = opt.top;
    os << "{\"file\": " << json_str(fs.path) << ", \"name\": " << json_str(fs.name)
       << ", \"program_version\": " << json_str(fs.version)
       << ", \"git_commit\": " << json_str(fs.commit) << ", \"trials\": " << fs.trials
       << ", \"seed\": " << fs.seed << ", \"horizon_months\": " << fs.horizon
       << ", \"start\": " << json_str(fs.start) << ", \"config_sha256\": " << json_str(fs.sha)
       << ", \"units\": {\"eud\": \"unit of the demand's product (field unit)\", \"lose\": "
          "\"months\", \"p_short\": \"probability\", \"eud_share\": \"fraction of the "
          "expected demand\", \"quantiles\": \"unit of the demand's product\", \"var\": \"unit "
          "of the demand's product\", \"cvar\": \"unit of the demand's product\", \"month_share\": "
          "\"fraction of trial-months\", \"unserved_share\": \"fraction of the chain's unserved "
          "demand\"}, \"scenarios\": [";
    bool first_scenario = true;
    for (const Scenario *scp : sel.scenarios) {
        const auto &sc = *scp;
        if (opt.diff_only && !sc.has_diff)
            continue;
        os << (first_scenario ? "" : ", ") << "{\"name\": " << json_str(sc.name)
           << ", \"description\": " << json_str(sc.description) << ", \"se_dof\": " << sc.se_dof
           << ", \"ci95_t\": " << json_num(sc.ci95_t);
        if (sc.weighted)
            os << ", \"importance_sampling\": {\"ess\": " << json_num(sc.ess)
               << ", \"weight_mean\": " << json_num(sc.weight_mean) << "}";
        os << ", \"demands\": [";
        first_scenario = false;
        const auto Q = sc.levels.size(), V = sc.var_levels.size();
        bool first_demand = true;
        for (std::size_t d = 0; d < sc.t.demands.size(); ++d) {
            if (!shown(sel, sc.t.demands[d]))
                continue;
            os << (first_demand ? "" : ", ") << "{\"id\": " << json_str(sc.t.demands[d])
               << ", \"product\": " << json_str(sc.t.demand_product[d])
               << ", \"unit\": " << json_str(sc.t.demand_unit[d])
               << ", \"country\": " << json_str(sc.t.demand_country[d])
               << ", \"tier\": " << sc.t.tiers[d] << ", \"eud\": " << json_num(sc.eud[d])
               << ", \"eud_se\": " << json_num(sc.eud_se[d])
               << ", \"eud_share\": " << json_num(sc.share[d])
               << ", \"lose\": " << json_num(sc.lose[d])
               << ", \"lose_se\": " << json_num(sc.lose_se[d])
               << ", \"p_short\": " << json_num(sc.ps[d])
               << ", \"p_short_se\": " << json_num(sc.ps_se[d]);
            if (sc.weighted)
                os << ", \"p_short_ess\": " << json_num(sc.ps_ess[d])
                   << ", \"eud_ess\": " << json_num(sc.eud_ess[d]);
            os << ", \"quantiles\": [";
            for (std::size_t j = 0; j < Q; ++j)
                os << (j ? ", " : "") << "{\"level\": " << json_num(sc.levels[j])
                   << ", \"value\": " << json_num(sc.q[d * Q + j]) << ", \"ci95\": ["
                   << json_num(sc.q_lo[d * Q + j]) << ", " << json_num(sc.q_hi[d * Q + j]) << "]}";
            os << "], \"var\": [";
            for (std::size_t j = 0; j < V; ++j)
                os << (j ? ", " : "") << "{\"level\": " << json_num(sc.var_levels[j])
                   << ", \"var\": " << json_num(sc.var[d * V + j])
                   << ", \"cvar\": " << json_num(sc.cvar[d * V + j])
                   << ", \"cvar_se\": " << json_num(sc.cvar_se[d * V + j]) << "}";
            os << "]}";
            first_demand = false;
        }
        auto ranking = [&](const char *key, const std::vector<std::string> &names,
                           const std::vector<double> &months, const std::vector<double> *share) {
            os << ", \"" << key << "\": [";
            bool first = true;
            for (std::size_t i : top_indices(months, top)) {
                os << (first ? "" : ", ") << "{\"id\": " << json_str(names[i])
                   << ", \"month_share\": " << json_num(months[i]);
                if (share)
                    os << ", \"unserved_share\": " << json_num((*share)[i]);
                os << "}";
                first = false;
            }
            os << "]";
        };
        os << "]";
        ranking("chokepoints", sc.t.nodes, sc.node_months, &sc.node_unserved_share);
        ranking("trade_chokepoints", sc.t.restrictions, sc.res_months, &sc.res_unserved_share);
        ranking("facilities", sc.t.facilities, sc.fac_months, nullptr);
        if (sc.has_diff) {
            os << ", \"differences_against_baseline\": [";
            bool first_diff = true;
            for (std::size_t d = 0; d < sc.t.demands.size(); ++d) {
                if (!shown(sel, sc.t.demands[d]))
                    continue;
                os << (first_diff ? "" : ", ") << "{\"id\": " << json_str(sc.t.demands[d])
                   << ", \"eud\": " << json_num(sc.d_eud[d])
                   << ", \"eud_se\": " << json_num(sc.d_eud_se[d])
                   << ", \"eud_se_independent\": " << json_num(sc.d_eud_se_ind[d])
                   << ", \"lose\": " << json_num(sc.d_lose[d])
                   << ", \"lose_se\": " << json_num(sc.d_lose_se[d])
                   << ", \"p_short\": " << json_num(sc.d_ps[d])
                   << ", \"p_short_se\": " << json_num(sc.d_ps_se[d]) << "}";
                first_diff = false;
            }
            os << "]";
        }
        os << "}";
    }
    os << "]}\n";
}

void risk_table(std::ostream &os, const Scenario &sc, const Selection &sel) {
    const auto Q = sc.levels.size(), V = sc.var_levels.size();
    const auto median = std::find(sc.levels.begin(), sc.levels.end(), 0.5);
    std::ostringstream lv;
    lv << std::setprecision(6) << (V ? sc.var_levels[0] * 100 : 95);
    const bool one_unit = std::adjacent_find(sc.t.demand_unit.begin(), sc.t.demand_unit.end(),
                                             std::not_equal_to<>()) == sc.t.demand_unit.end();
    const std::string u = one_unit && !sc.t.demand_unit.empty() ? " " + sc.t.demand_unit[0] : "";
    std::vector<std::vector<std::string>> rows{{"demand", "unit", "tier", "EUD" + u, "EUD %",
                                                "LOSE months", "P(short) %", "median" + u,
                                                "VaR" + lv.str() + u, "CVaR" + lv.str() + u}};
    for (std::size_t d = 0; d < sc.t.demands.size(); ++d) {
        if (!shown(sel, sc.t.demands[d]))
            continue;
        const double med = median == sc.levels.end()
                               ? std::numeric_limits<double>::quiet_NaN()
                               : sc.q[d * Q + static_cast<std::size_t>(median - sc.levels.begin())];
        rows.push_back({sc.t.demands[d], sc.t.demand_unit[d], std::to_string(sc.t.tiers[d]),
                        pm(sc.eud[d], sc.eud_se[d]), fixed(sc.share[d] * 100, 2),
                        pm(sc.lose[d], sc.lose_se[d]), pm(sc.ps[d] * 100, sc.ps_se[d] * 100),
                        num(med), V ? num(sc.var[d * V]) : "",
                        V ? pm(sc.cvar[d * V], sc.cvar_se[d * V]) : ""});
    }
    if (one_unit)
        for (auto &r : rows)
            r.erase(r.begin() + 1);
    print_table(os, rows, one_unit ? 1 : 2);
}

void diff_table(std::ostream &os, const Scenario &sc, const Scenario *base, const Selection &sel) {
    const bool one_unit = std::adjacent_find(sc.t.demand_unit.begin(), sc.t.demand_unit.end(),
                                             std::not_equal_to<>()) == sc.t.demand_unit.end();
    const std::string u = one_unit && !sc.t.demand_unit.empty() ? " " + sc.t.demand_unit[0] : "";
    std::vector<std::vector<std::string>> rows{
        {"demand", "unit", "ΔEUD" + u, "[± indep.]", "ΔLOSE months", "ΔP(short) %"}};
    std::size_t unchanged = 0;
    for (std::size_t d = 0; d < sc.t.demands.size(); ++d) {
        const auto &id = sc.t.demands[d];
        if (!shown(sel, id))
            continue;
        if (std::isnan(sc.d_eud[d])) {
            rows.push_back({id, sc.t.demand_unit[d], "(not in the baseline)", "", "", ""});
            continue;
        }
        double scale = sc.expected_demand.empty() ? 1.0 : sc.expected_demand[d];
        if (base) {
            const auto it = std::find(base->t.demands.begin(), base->t.demands.end(), id);
            if (it != base->t.demands.end() && !base->expected_demand.empty())
                scale = std::max(
                    scale,
                    base->expected_demand[static_cast<std::size_t>(it - base->t.demands.begin())]);
        }
        const bool round_eud = at_rounding_level(sc.d_eud[d], sc.d_eud_se[d], scale);
        const bool moved = !round_eud || sc.d_lose[d] != 0 || sc.d_ps[d] != 0;
        if (!moved && sel.demands.empty()) {
            ++unchanged;
            continue;
        }
        rows.push_back(
            {id, sc.t.demand_unit[d], round_eud ? "0" : pm(sc.d_eud[d], sc.d_eud_se[d]),
             round_eud ? "" : "[±" + num(sc.d_eud_se_ind[d]) + "]",
             sc.d_lose[d] == 0 && sc.d_lose_se[d] == 0 ? "0" : pm(sc.d_lose[d], sc.d_lose_se[d]),
             sc.d_ps[d] == 0 && sc.d_ps_se[d] == 0 ? "0"
                                                   : pm(sc.d_ps[d] * 100, sc.d_ps_se[d] * 100)});
    }
    if (one_unit)
        for (auto &r : rows)
            r.erase(r.begin() + 1);
    if (rows.size() == 1) {
        os << "  no demand changes (every paired difference is 0 or at rounding level)\n";
        return;
    }
    print_table(os, rows, one_unit ? 1 : 2, "  ");
    if (unchanged)
        os << "  (" << unchanged << " other demand" << (unchanged == 1 ? "" : "s")
           << " unchanged: differences 0 or at rounding level)\n";
}

void rankings(std::ostream &os, const Scenario &sc, int top) {
    auto ranking = [&](const char *title, const std::vector<std::string> &names,
                       const std::vector<double> &months, const std::vector<double> &share) {
        os << title << ":\n";
        // Nodes of one product that bind in exactly the same trial-months (e.g. one magnet
        // stage in every country that makes it) are one line: "product@DE,EE,US".
        const auto idx = top_indices(months, static_cast<int>(names.size()));
        std::vector<std::vector<std::string>> rows{{"", "binding", "unserved"}};
        std::vector<bool> used(idx.size(), false);
        int lines = 0;
        for (std::size_t a = 0; a < idx.size() && lines < top; ++a) {
            if (used[a])
                continue;
            const std::size_t i = idx[a];
            const auto at = names[i].find('@');
            std::string label = names[i];
            if (at != std::string::npos) {
                const std::string product = names[i].substr(0, at);
                std::string where = names[i].substr(at + 1);
                for (std::size_t b = a + 1; b < idx.size(); ++b) {
                    const std::size_t j = idx[b];
                    if (!used[b] && months[j] == months[i] && share[j] == share[i] &&
                        names[j].compare(0, at + 1, product + "@") == 0) {
                        used[b] = true;
                        where += "," + names[j].substr(at + 1);
                    }
                }
                label = product + "@" + where;
            }
            rows.push_back({label, fixed(months[i], 4), fixed(share[i], 4)});
            ++lines;
        }
        if (idx.empty())
            os << "  (none binds)\n";
        else
            print_table(os, rows, 1, "  ");
    };
    ranking("chokepoints by (product, country)", sc.t.nodes, sc.node_months,
            sc.node_unserved_share);
    ranking("trade chokepoints", sc.t.restrictions, sc.res_months, sc.res_unserved_share);
    os << "(binding: share of trial-months it binds; unserved: share of its chain's unserved "
          "demand then)\n";
}

/// Importance sampling: the effective sample sizes, overall and behind each demand's P(short),
/// wrapped at 100 columns.
void ess_lines(std::ostream &os, const Scenario &sc, const Selection &sel, std::uint64_t trials) {
    auto whole = [](double v) {
        std::string digits = std::to_string(static_cast<long long>(std::llround(v)));
        for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3)
            digits.insert(static_cast<std::size_t>(i), ",");
        return digits;
    };
    os << "importance sampling: ESS " << whole(sc.ess) << " of " << whole(double(trials))
       << " trials, mean weight " << fixed(sc.weight_mean, 4) << "\n";
    std::string line = "ESS behind P(short):";
    for (std::size_t d = 0; d < sc.t.demands.size(); ++d) {
        if (!shown(sel, sc.t.demands[d]))
            continue;
        const std::string item = " " + sc.t.demands[d] + " " + whole(sc.ps_ess[d]);
        if (line.size() + item.size() > 100) {
            os << line << "\n";
            line = "    ";
        }
        line += item;
    }
    os << line << "\n";
}

void print_text(const FileSummary &fs, std::ostream &os, const SummaryOptions &opt) {
    const Selection sel = select(fs, opt);
    os << fs.path << "\nstudy '" << fs.name << "', " << fs.trials << " trials, seed " << fs.seed
       << ", " << fs.horizon << " months" << (fs.start.empty() ? "" : " from " + fs.start)
       << (fs.version.empty() ? "" : ", chokepoint " + fs.version) << "\n";
    os << "Shortfall over the horizon in the demand's unit; EUD = expected unserved demand, LOSE = "
          "expected\nshort months; ± one standard error";
    const Scenario *base = baseline_of(fs);
    if (base && base->replicates > 1)
        os << " from " << base->replicates << " replicate means (" << base->se_dof
           << " degrees of freedom: a 95% interval is ± " << fixed(base->ci95_t, 3)
           << " SE for EUD, LOSE, P(short))";
    else
        os << " (95% interval ± 1.96 SE)";
    os << ".\n";
    if (base && base->weighted)
        os << "Importance-sampled (run.importance): unbiased estimates from likelihood-ratio "
              "weights;\nESS = effective number of trials behind an estimate.\n";
    for (std::size_t k = 0; k < sel.scenarios.size(); ++k) {
        const Scenario &sc = *sel.scenarios[k];
        const bool full = !opt.diff_only && (!sc.has_diff || sel.explicit_scenario[k]);
        if (!sc.has_diff && opt.diff_only)
            continue;
        os << "\nscenario '" << sc.name << "'"
           << (sc.description.empty() ? "" : ": " + sc.description) << "\n";
        if (full) {
            risk_table(os, sc, sel);
            if (sc.weighted)
                ess_lines(os, sc, sel, fs.trials);
        }
        if (sc.has_diff) {
            os << (full ? "\n" : "")
               << "paired differences against the baseline (same trials; [± for independent "
                  "runs]):\n";
            diff_table(os, sc, base, sel);
        }
        if (full) {
            os << "\n";
            rankings(os, sc, opt.top);
        }
    }
    if (!opt.diff_only && opt.scenarios.empty() && fs.scenarios.size() > 1)
        os << "\n(`chokepoint summary FILE --scenario ID` shows a scenario in full; also --demand "
              "ID,\n--diff-only, --csv and --json)\n";
}

std::string csv_field(const std::string &x) {
    if (x.find_first_of(",\"\n") == std::string::npos)
        return x;
    std::string q = "\"";
    for (char c : x)
        q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

/// One row per (scenario, demand): the headline statistics and, for scenarios, the paired
/// differences; numbers to 17 significant digits, empty where a value does not exist.
void print_csv(const FileSummary &fs, std::ostream &os, const SummaryOptions &opt) {
    const Selection sel = select(fs, opt);
    os << "scenario,demand,product,unit,country,tier,eud,eud_se,eud_share,lose,lose_se,p_short,"
          "p_short_se,median,var_level,var,cvar,cvar_se,se_dof,ci95_t,diff_eud,diff_eud_se,"
          "diff_lose,diff_lose_se,diff_p_short,diff_p_short_se,p_short_ess,eud_ess\n";
    auto n17 = [](double v) {
        if (!std::isfinite(v))
            return std::string();
        std::ostringstream o;
        o << std::setprecision(17) << v;
        return o.str();
    };
    for (const Scenario *scp : sel.scenarios) {
        const Scenario &sc = *scp;
        if (opt.diff_only && !sc.has_diff)
            continue;
        const auto Q = sc.levels.size(), V = sc.var_levels.size();
        const auto median = std::find(sc.levels.begin(), sc.levels.end(), 0.5);
        for (std::size_t d = 0; d < sc.t.demands.size(); ++d) {
            if (!shown(sel, sc.t.demands[d]))
                continue;
            const double med =
                median == sc.levels.end()
                    ? std::numeric_limits<double>::quiet_NaN()
                    : sc.q[d * Q + static_cast<std::size_t>(median - sc.levels.begin())];
            os << csv_field(sc.name) << ',' << csv_field(sc.t.demands[d]) << ','
               << csv_field(sc.t.demand_product[d]) << ',' << csv_field(sc.t.demand_unit[d]) << ','
               << csv_field(sc.t.demand_country[d]) << ',' << sc.t.tiers[d] << ',' << n17(sc.eud[d])
               << ',' << n17(sc.eud_se[d]) << ',' << n17(sc.share[d]) << ',' << n17(sc.lose[d])
               << ',' << n17(sc.lose_se[d]) << ',' << n17(sc.ps[d]) << ',' << n17(sc.ps_se[d])
               << ',' << n17(med) << ',' << (V ? n17(sc.var_levels[0]) : "") << ','
               << (V ? n17(sc.var[d * V]) : "") << ',' << (V ? n17(sc.cvar[d * V]) : "") << ','
               << (V ? n17(sc.cvar_se[d * V]) : "") << ',' << sc.se_dof << ',' << n17(sc.ci95_t);
            if (sc.has_diff)
                os << ',' << n17(sc.d_eud[d]) << ',' << n17(sc.d_eud_se[d]) << ','
                   << n17(sc.d_lose[d]) << ',' << n17(sc.d_lose_se[d]) << ',' << n17(sc.d_ps[d])
                   << ',' << n17(sc.d_ps_se[d]);
            else
                os << ",,,,,,";
            // Effective sample sizes: importance-sampled runs only.
            os << ',' << (sc.weighted ? n17(sc.ps_ess[d]) : "") << ','
               << (sc.weighted ? n17(sc.eud_ess[d]) : "");
            os << "\n";
        }
    }
}
} // namespace

void print_summary(const std::string &path, std::ostream &os, const SummaryOptions &opt) {
    const FileSummary fs = read_file(path);
    if (opt.json)
        print_json(fs, os, opt);
    else if (opt.csv)
        print_csv(fs, os, opt);
    else
        print_text(fs, os, opt);
}

} // namespace chokepoint
