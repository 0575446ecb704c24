#include "cli/summary_text.hpp"

#include "config/config.hpp"
#include "io/output.hpp"

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

/// Everything the summary shows, read once from the file.
/// Names of a model's entities (a scenario's own, or the file's /model).
struct Tables {
    std::vector<std::string> demands, demand_product, demand_country, facilities, nodes,
        restrictions, products;
    std::vector<std::int32_t> tiers;
};

struct Scenario {
    std::string name;
    std::vector<double> eud, eud_se, share, lose, lose_se, ps, ps_se, levels, q, q_lo, q_hi,
        var_levels, var, cvar, cvar_se;
    std::vector<double> node_months, node_unserved_share, res_months, res_unserved_share,
        fac_months;
    Tables t;
    // paired differences against the baseline (scenarios other than the baseline)
    bool has_diff = false;
    std::vector<double> d_eud, d_eud_se, d_eud_se_ind, d_ps, d_ps_se, d_lose, d_lose_se;
};

struct FileSummary {
    std::string path, name, start, sha;
    std::uint64_t trials = 0, seed = 0;
    int horizon = 0;
    std::vector<std::string> demands, demand_product, demand_country, facilities, nodes,
        restrictions, products;
    std::vector<std::int32_t> tiers;
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
        for (auto p : prod)
            t.demand_product.push_back(t.products[static_cast<std::size_t>(p)]);
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
                throw InputError(path + ": a checkpoint of an unfinished run (" +
                                 std::to_string(done) + " of " + std::to_string(planned) +
                                 " trials), not a results file; finish it with `chokepoint run "
                                 "--resume " +
                                 path + "`");
            }
        }
        root.openAttribute("trials").read(H5::PredType::NATIVE_UINT64, &fs.trials);
        root.openAttribute("seed").read(H5::PredType::NATIVE_UINT64, &fs.seed);
        root.openAttribute("horizon_months").read(H5::PredType::NATIVE_INT32, &fs.horizon);
        fs.name = attr_str(root, "name");
        fs.start = attr_str(root, "start");
        fs.sha = attr_str(root, "config_sha256");
        {
            auto model = f.openGroup("/model");
            const Tables t = read_tables(model);
            fs.demands = t.demands;
            fs.demand_product = t.demand_product;
            fs.demand_country = t.demand_country;
            fs.facilities = t.facilities;
            fs.nodes = t.nodes;
            fs.restrictions = t.restrictions;
            fs.products = t.products;
            fs.tiers = t.tiers;
        }
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
                sc.t = {fs.demands, fs.demand_product, fs.demand_country, fs.facilities,
                        fs.nodes,   fs.restrictions,   fs.products,       fs.tiers};
            }
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

std::string pm(double v, double se, int prec = 3) {
    std::ostringstream os;
    os << std::setprecision(prec) << std::fixed << v << " ± " << se;
    return os.str();
}

std::string num(double v, int prec = 4) {
    std::ostringstream os;
    os << std::setprecision(prec) << v;
    return os.str();
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

void print_json(const FileSummary &fs, std::ostream &os, int top) {
    os << "{\"file\": " << json_str(fs.path) << ", \"name\": " << json_str(fs.name)
       << ", \"trials\": " << fs.trials << ", \"seed\": " << fs.seed
       << ", \"horizon_months\": " << fs.horizon << ", \"start\": " << json_str(fs.start)
       << ", \"config_sha256\": " << json_str(fs.sha) << ", \"scenarios\": [";
    for (std::size_t si = 0; si < fs.scenarios.size(); ++si) {
        const auto &sc = fs.scenarios[si];
        os << (si ? ", " : "") << "{\"name\": " << json_str(sc.name) << ", \"demands\": [";
        const auto Q = sc.levels.size(), V = sc.var_levels.size();
        for (std::size_t d = 0; d < sc.t.demands.size(); ++d) {
            os << (d ? ", " : "") << "{\"id\": " << json_str(sc.t.demands[d])
               << ", \"product\": " << json_str(sc.t.demand_product[d])
               << ", \"country\": " << json_str(sc.t.demand_country[d])
               << ", \"tier\": " << sc.t.tiers[d] << ", \"eud\": " << json_num(sc.eud[d])
               << ", \"eud_se\": " << json_num(sc.eud_se[d])
               << ", \"eud_share\": " << json_num(sc.share[d])
               << ", \"lose\": " << json_num(sc.lose[d])
               << ", \"lose_se\": " << json_num(sc.lose_se[d])
               << ", \"p_short\": " << json_num(sc.ps[d])
               << ", \"p_short_se\": " << json_num(sc.ps_se[d]) << ", \"quantiles\": [";
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
            for (std::size_t d = 0; d < sc.t.demands.size(); ++d)
                os << (d ? ", " : "") << "{\"id\": " << json_str(sc.t.demands[d])
                   << ", \"eud\": " << json_num(sc.d_eud[d])
                   << ", \"eud_se\": " << json_num(sc.d_eud_se[d])
                   << ", \"eud_se_independent\": " << json_num(sc.d_eud_se_ind[d])
                   << ", \"lose\": " << json_num(sc.d_lose[d])
                   << ", \"lose_se\": " << json_num(sc.d_lose_se[d])
                   << ", \"p_short\": " << json_num(sc.d_ps[d])
                   << ", \"p_short_se\": " << json_num(sc.d_ps_se[d]) << "}";
            os << "]";
        }
        os << "}";
    }
    os << "]}\n";
}

void print_text(const FileSummary &fs, std::ostream &os, int top) {
    os << fs.path << ": study '" << fs.name << "', " << fs.trials << " trials, seed " << fs.seed
       << ", " << fs.horizon << " months" << (fs.start.empty() ? "" : " from " + fs.start)
       << "\nShortfall in t over the horizon; ± one standard error; CVaR = mean of the worst 5% "
          "of trials.\n";
    for (const auto &sc : fs.scenarios) {
        os << "\nscenario '" << sc.name << "'\n";
        os << std::left << std::setw(26) << "demand" << std::setw(5) << "tier" << std::setw(24)
           << "EUD (t)" << std::setw(8) << "EUD %" << std::setw(18) << "LOSE (months)"
           << std::setw(17) << "P(short)" << std::setw(11) << "median" << std::setw(11) << "VaR95"
           << "CVaR95\n";
        const auto Q = sc.levels.size(), V = sc.var_levels.size();
        const auto median = std::find(sc.levels.begin(), sc.levels.end(), 0.5);
        for (std::size_t d = 0; d < sc.t.demands.size(); ++d) {
            std::ostringstream pct;
            pct << std::setprecision(2) << std::fixed << sc.share[d] * 100;
            const double med =
                median == sc.levels.end()
                    ? std::numeric_limits<double>::quiet_NaN()
                    : sc.q[d * Q + static_cast<std::size_t>(median - sc.levels.begin())];
            os << std::setw(26) << sc.t.demands[d] << std::setw(5) << sc.t.tiers[d] << std::setw(24)
               << pm(sc.eud[d], sc.eud_se[d]) << std::setw(8) << pct.str() << std::setw(18)
               << pm(sc.lose[d], sc.lose_se[d], 2) << std::setw(17) << pm(sc.ps[d], sc.ps_se[d], 3)
               << std::setw(11) << num(med) << std::setw(11) << num(V ? sc.var[d * V] : 0)
               << (V ? pm(sc.cvar[d * V], sc.cvar_se[d * V], 2) : "") << "\n";
        }
        auto ranking = [&](const char *title, const std::vector<std::string> &names,
                           const std::vector<double> &months, const std::vector<double> &share) {
            os << "\n"
               << title
               << " (share of trial-months binding; share of the chain's unserved demand in those "
                  "months):\n";
            const auto idx = top_indices(months, top);
            for (std::size_t i : idx)
                os << "  " << std::setw(36) << names[i] << std::setw(10) << num(months[i])
                   << num(share[i]) << "\n";
            if (idx.empty())
                os << "  (none binds)\n";
        };
        if (sc.has_diff) {
            os << "\npaired differences, scenario minus baseline, same trials (± one standard "
                  "error; [± for two independent runs]):\n";
            os << std::left << std::setw(26) << "demand" << std::setw(34) << "ΔEUD (t)"
               << std::setw(18) << "ΔLOSE (months)"
               << "ΔP(short)\n";
            for (std::size_t d = 0; d < sc.t.demands.size(); ++d) {
                if (std::isnan(sc.d_eud[d])) {
                    os << std::setw(26) << sc.t.demands[d] << "(not in the baseline)\n";
                    continue;
                }
                os << std::setw(26) << sc.t.demands[d] << std::setw(34)
                   << pm(sc.d_eud[d], sc.d_eud_se[d]) + " [± " + num(sc.d_eud_se_ind[d]) + "]"
                   << std::setw(18) << pm(sc.d_lose[d], sc.d_lose_se[d], 2)
                   << pm(sc.d_ps[d], sc.d_ps_se[d], 3) << "\n";
            }
        }
        ranking("chokepoints by (product, country)", sc.t.nodes, sc.node_months,
                sc.node_unserved_share);
        ranking("trade chokepoints", sc.t.restrictions, sc.res_months, sc.res_unserved_share);
    }
}
} // namespace

void print_summary(const std::string &path, std::ostream &os, int top, bool json) {
    const FileSummary fs = read_file(path);
    if (json)
        print_json(fs, os, top);
    else
        print_text(fs, os, top);
}

} // namespace chokepoint
