#include "summary_text.hpp"

#include "output.hpp"

#include <algorithm>
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

std::string pm(double v, double se, int prec = 3) {
    std::ostringstream os;
    os << std::setprecision(prec) << std::fixed << v << " ± " << se;
    return os.str();
}
} // namespace

void print_summary(const std::string &path, std::ostream &os, int top) {
    H5::Exception::dontPrint();
    try {
        H5::H5File f(path, H5F_ACC_RDONLY);
        auto root = f.openGroup("/");
        std::string ft;
        {
            auto a = root.openAttribute("filetype");
            a.read(a.getStrType(), ft);
        }
        if (ft != kFileType)
            throw std::runtime_error(path + ": not a chokepoint results file (filetype '" + ft +
                                     "')");
        std::int32_t ver[2] = {0, 0};
        root.openAttribute("format_version").read(H5::PredType::NATIVE_INT32, ver);
        if (ver[0] != kFormatMajor)
            throw std::runtime_error(
                path + ": format version " + std::to_string(ver[0]) + "." + std::to_string(ver[1]) +
                " is not readable by this program (reads " + std::to_string(kFormatMajor) + ".x)");
        std::uint64_t trials = 0;
        root.openAttribute("trials").read(H5::PredType::NATIVE_UINT64, &trials);
        auto model = f.openGroup("/model");
        const auto demands = read_strings(model, "demands");
        const auto facilities = read_strings(model, "facilities");
        const auto nodes = read_strings(model, "nodes");
        const auto restrictions = read_strings(model, "restrictions");
        auto s = f.openGroup("/scenarios/baseline/summary");
        const auto eud = read_doubles(s, "eud"), eud_se = read_doubles(s, "eud_se");
        const auto share = read_doubles(s, "eud_share");
        const auto lose = read_doubles(s, "lose"), lose_se = read_doubles(s, "lose_se");
        const auto ps = read_doubles(s, "p_short"), ps_se = read_doubles(s, "p_short_se");
        const auto levels = read_doubles(s, "quantile_levels");
        const auto qs = read_doubles(s, "shortfall_quantiles");
        os << path << ": " << trials << " trials\n\n";
        os << std::left << std::setw(28) << "demand" << std::setw(24) << "EUD (t) ± SE"
           << std::setw(10) << "EUD %" << std::setw(22) << "LOSE (months) ± SE" << std::setw(20)
           << "P(short) ± SE";
        for (double l : levels) {
            std::ostringstream h;
            h << "q" << l * 100;
            os << std::setw(10) << h.str();
        }
        os << "\n";
        for (std::size_t d = 0; d < demands.size(); ++d) {
            std::ostringstream pct;
            pct << std::setprecision(2) << std::fixed << share[d] * 100;
            os << std::setw(28) << demands[d] << std::setw(24) << pm(eud[d], eud_se[d])
               << std::setw(10) << pct.str() << std::setw(22) << pm(lose[d], lose_se[d], 2)
               << std::setw(20) << pm(ps[d], ps_se[d], 3);
            for (std::size_t q = 0; q < levels.size(); ++q) {
                std::ostringstream v;
                v << std::setprecision(3) << qs[d * levels.size() + q];
                os << std::setw(10) << v.str();
            }
            os << "\n";
        }
        auto ranking = [&](const char *title, const std::vector<std::string> &names,
                           const char *share_name, const char *unserved_name) {
            const auto sh = read_doubles(s, share_name);
            const auto un = read_doubles(s, unserved_name);
            std::vector<std::size_t> idx(names.size());
            std::iota(idx.begin(), idx.end(), 0);
            std::stable_sort(idx.begin(), idx.end(), [&](auto a, auto b) { return sh[a] > sh[b]; });
            os << "\n"
               << title
               << " (share of trial-months binding; mean unserved t/trial in those months):\n";
            int shown = 0;
            for (std::size_t i : idx) {
                if (shown >= top || sh[i] <= 0)
                    break;
                os << "  " << std::setw(36) << names[i] << std::setw(10) << std::setprecision(4)
                   << sh[i] << " " << std::setprecision(4) << un[i] << "\n";
                ++shown;
            }
            if (shown == 0)
                os << "  (none binds)\n";
        };
        ranking("chokepoints by (product, country)", nodes, "node_binding_month_share",
                "node_binding_unserved");
        ranking("trade chokepoints", restrictions, "restriction_binding_month_share",
                "restriction_binding_unserved");
        (void)facilities;
    } catch (const H5::Exception &e) {
        throw std::runtime_error(
            path + ": cannot read as a chokepoint results file (HDF5: " + e.getDetailMsg() + ")");
    }
}

} // namespace chokepoint
