// CF-style metadata of a finished results file (docs/output-format.md, "Attributes for netCDF
// tools"): `units` and `long_name` on every dataset of a scenario's trials, summary and
// convergence groups, `_FillValue` on the -1 markers, `flag_values`/`flag_meanings` on the regime
// index, and a `time` coordinate in the summary (the first day of each month from run.start).
// Written once, at the end of a run or merge; the per-trial rows and statistics are untouched.
#include "io/h5util.hpp"
#include "io/output.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>

namespace chokepoint {
using namespace io_detail;

namespace {
enum class Unit { Quantity, QuantityPerMonth, Months, MonthIndex, One, Count };

struct VarInfo {
    Unit unit;
    const char *long_name;
};

/// The long name and kind of unit of every dataset, by name (a `_se` twin: "standard error of").
const std::map<std::string, VarInfo> &variables() {
    static const std::map<std::string, VarInfo> table = {
        // per trial
        {"shortfall", {Unit::Quantity, "unserved demand over the horizon"}},
        {"demand_total", {Unit::Quantity, "demand (want) over the horizon"}},
        {"shortfall_share", {Unit::One, "unserved share of the demand over the horizon"}},
        {"short_months", {Unit::Months, "months with a shortfall"}},
        {"longest_run", {Unit::Months, "longest run of consecutive short months"}},
        {"stockpile_min", {Unit::Quantity, "lowest stockpile level"}},
        {"stockout_month", {Unit::MonthIndex, "first month the stockpile ran out (-1: never)"}},
        {"facility_binding_months", {Unit::Months, "months the facility's capacity binds"}},
        {"regime", {Unit::Count, "geopolitical regime of the trial (index into /model/regimes)"}},
        {"event_onset", {Unit::MonthIndex, "month the event began (-1: did not fire)"}},
        {"monthly_shortfall", {Unit::QuantityPerMonth, "unserved demand in the month"}},
        {"inputs", {Unit::One, "sampled input value (in the input's own unit)"}},
        {"trial", {Unit::Count, "trial index"}},
        {"weight", {Unit::One, "likelihood ratio p/q of the trial under importance sampling"}},
        // summary
        {"eud", {Unit::Quantity, "expected unserved demand over the horizon"}},
        {"expected_demand", {Unit::Quantity, "expected demand over the horizon"}},
        {"eud_share", {Unit::One, "expected unserved demand / expected demand"}},
        {"mean_shortfall_share", {Unit::One, "mean over trials of the unserved share"}},
        {"lose", {Unit::Months, "loss-of-supply expectation: expected number of short months"}},
        {"p_short", {Unit::One, "probability of a shortfall in at least one month"}},
        {"p_short_ess",
         {Unit::Count, "effective number of trials behind p_short (importance sampling)"}},
        {"eud_ess", {Unit::Count, "effective number of trials behind eud (importance sampling)"}},
        {"monthly_mean_shortfall", {Unit::QuantityPerMonth, "mean unserved demand in the month"}},
        {"facility_binding_trial_share", {Unit::One, "share of trials the facility binds"}},
        {"facility_binding_month_share", {Unit::One, "share of trial-months the facility binds"}},
        {"facility_binding_unserved",
         {Unit::Quantity, "mean unserved demand of the chain in months the facility binds"}},
        {"facility_binding_unserved_share",
         {Unit::One, "share of the chain's unserved demand in months the facility binds"}},
        {"node_binding_trial_share",
         {Unit::One, "share of trials the (product, country) node binds"}},
        {"node_binding_month_share",
         {Unit::One, "share of trial-months the (product, country) node binds"}},
        {"node_binding_unserved",
         {Unit::Quantity, "mean unserved demand of the chain in months the node binds"}},
        {"node_binding_unserved_share",
         {Unit::One, "share of the chain's unserved demand in months the node binds"}},
        {"restriction_binding_trial_share",
         {Unit::One, "share of trials the trade restriction binds"}},
        {"restriction_binding_month_share",
         {Unit::One, "share of trial-months the trade restriction binds"}},
        {"restriction_binding_unserved",
         {Unit::Quantity, "mean unserved demand of the chain in months the restriction binds"}},
        {"restriction_binding_unserved_share",
         {Unit::One, "share of the chain's unserved demand in months the restriction binds"}},
        {"event_fired_share", {Unit::One, "share of trials the event fires"}},
        {"regime_share", {Unit::One, "share of trials in the regime"}},
        {"eud_given_event",
         {Unit::Quantity, "expected unserved demand in trials where the event fires"}},
        {"eud_given_no_event",
         {Unit::Quantity, "expected unserved demand in trials where the event does not fire"}},
        {"p_short_given_event",
         {Unit::One, "probability of a shortfall in trials where the event fires"}},
        {"p_short_given_no_event",
         {Unit::One, "probability of a shortfall in trials where the event does not fire"}},
        {"eud_by_regime", {Unit::Quantity, "expected unserved demand in trials of the regime"}},
        {"p_short_by_regime", {Unit::One, "probability of a shortfall in trials of the regime"}},
        {"threshold_levels", {Unit::One, "unserved-share thresholds"}},
        {"threshold", {Unit::One, "unserved-share threshold"}},
        {"p_share_above", {Unit::One, "probability that the unserved share exceeds the threshold"}},
        {"quantile_levels", {Unit::One, "quantile levels"}},
        {"quantile", {Unit::One, "quantile level"}},
        {"shortfall_quantiles", {Unit::Quantity, "quantile of unserved demand over the horizon"}},
        {"shortfall_quantiles_ci_low",
         {Unit::Quantity, "lower end of the quantile's distribution-free 95% interval"}},
        {"shortfall_quantiles_ci_high",
         {Unit::Quantity, "upper end of the quantile's distribution-free 95% interval"}},
        {"var_levels", {Unit::One, "value-at-risk levels"}},
        {"var_level", {Unit::One, "value-at-risk level"}},
        {"var", {Unit::Quantity, "value at risk of unserved demand over the horizon"}},
        {"cvar",
         {Unit::Quantity, "conditional value at risk (mean of the worst trials beyond the level)"}},
        {"exceedance_x", {Unit::Quantity, "unserved demand on the exceedance curve's grid"}},
        {"exceedance_p", {Unit::One, "probability that unserved demand exceeds exceedance_x"}},
        {"monthly_band_levels", {Unit::One, "quantile levels of the monthly bands"}},
        {"band", {Unit::One, "quantile level of the monthly band"}},
        {"monthly_shortfall_bands",
         {Unit::QuantityPerMonth, "quantile of unserved demand in the month"}},
        {"diff_eud",
         {Unit::Quantity,
          "paired difference of expected unserved demand, scenario minus baseline"}},
        {"diff_lose", {Unit::Months, "paired difference of the loss-of-supply expectation"}},
        {"diff_p_short", {Unit::One, "paired difference of the probability of a shortfall"}},
        {"diff_mean_shortfall_share", {Unit::One, "paired difference of the mean unserved share"}},
        {"diff_shortfall_quantiles",
         {Unit::Quantity, "difference of the quantiles of unserved demand"}},
        {"replicate_eud",
         {Unit::Quantity, "expected unserved demand of each replicate of the design"}},
        {"grid", {Unit::Count, "index of the exceedance grid point"}},
        {"month", {Unit::MonthIndex, "month index from run.start (0: the first month)"}},
        {"replicate", {Unit::Count, "replicate index"}},
        {"trials", {Unit::Count, "trials simulated so far"}},
    };
    return table;
}

/// The products of `m` have different units (e.g. `t Co` and `t REO`).
bool mixed_units(const Model &m) {
    return std::any_of(m.products.begin(), m.products.end(),
                       [&](const auto &p) { return p.unit != m.products.front().unit; });
}

void annotate_group(H5::Group &g, const Model &m) {
    // The unit of product quantities: the products' shared unit, or "t" with the basis per
    // product named in /model/product_units.
    const bool mixed = mixed_units(m);
    const std::string qu = mixed || m.products.empty() || m.products.front().unit.empty()
                               ? "t"
                               : m.products.front().unit;
    for (hsize_t i = 0; i < g.getNumObjs(); ++i) {
        if (g.getObjTypeByIdx(i) != H5G_DATASET)
            continue;
        const std::string name = g.getObjnameByIdx(i);
        std::string base = name;
        std::string prefix;
        for (const char *suffix : {"_se_independent", "_se"}) {
            const std::string s(suffix);
            if (base.size() > s.size() && base.compare(base.size() - s.size(), s.size(), s) == 0) {
                base.resize(base.size() - s.size());
                prefix = s == "_se" ? "standard error of: "
                                    : "standard error for two independent runs of: ";
                break;
            }
        }
        const auto it = variables().find(base);
        if (it == variables().end())
            continue;
        auto ds = g.openDataSet(name);
        if (ds.getDataType().getClass() == H5T_STRING)
            continue;
        std::string units;
        switch (it->second.unit) {
        case Unit::Quantity:
            units = qu;
            break;
        case Unit::QuantityPerMonth:
            units = qu + "/month";
            break;
        case Unit::Months:
            units = "months";
            break;
        case Unit::MonthIndex:
        case Unit::One:
        case Unit::Count:
            units = "1";
            break;
        }
        attr_string(ds, "units", units);
        attr_string(ds, "long_name", prefix + it->second.long_name);
        if (mixed &&
            (it->second.unit == Unit::Quantity || it->second.unit == Unit::QuantityPerMonth))
            attr_string(ds, "comment",
                        "tonnes on each product's own basis: see /model/product_units");
        if ((base == "stockout_month" || base == "event_onset") && prefix.empty()) {
            // netCDF's missing-value marker: xarray reads -1 as NaN (or masks it).
            const std::int32_t fill = -1;
            H5::DataSpace scalar;
            ds.createAttribute("_FillValue", H5::PredType::NATIVE_INT32, scalar)
                .write(H5::PredType::NATIVE_INT32, &fill);
        }
        if (base == "regime" && prefix.empty() &&
            g.getObjName().find("/trials") != std::string::npos) {
            std::vector<std::int32_t> values;
            std::string meanings;
            for (std::size_t r = 0; r < m.regimes.size(); ++r) {
                values.push_back(static_cast<std::int32_t>(r));
                meanings += (meanings.empty() ? "" : " ") + m.regimes[r].id;
            }
            if (!values.empty()) {
                const hsize_t n = values.size();
                H5::DataSpace sp(1, &n);
                ds.createAttribute("flag_values", H5::PredType::NATIVE_INT32, sp)
                    .write(H5::PredType::NATIVE_INT32, values.data());
                attr_string(ds, "flag_meanings", meanings);
            }
        }
    }
}
} // namespace

void write_cf_attributes(H5::H5File &file, const Model &base,
                         const std::vector<const Model *> &models,
                         const std::vector<std::string> &scenario_ids) {
    auto root = file.openGroup("/");
    attr_string(root, "Conventions", "CF-1.8");
    for (std::size_t k = 0; k < models.size(); ++k) {
        const std::string path = "/scenarios/" + scenario_ids[k];
        for (const char *sub : {"trials", "summary", "convergence"}) {
            const std::string gp = path + "/" + sub;
            if (H5Lexists(file.getId(), gp.c_str(), H5P_DEFAULT) <= 0)
                continue;
            auto g = file.openGroup(gp);
            annotate_group(g, *models[k]);
            // A real time axis for the month dimension: the first day of each month.
            int y = 0, mo = 0;
            if (std::string(sub) == "summary" && H5Lexists(g.getId(), "month", H5P_DEFAULT) > 0 &&
                H5Lexists(g.getId(), "time", H5P_DEFAULT) <= 0 &&
                std::sscanf(base.run.start.c_str(), "%d-%d", &y, &mo) == 2 && mo >= 1 && mo <= 12) {
                namespace chr = std::chrono;
                const chr::year_month first{chr::year{y}, chr::month{static_cast<unsigned>(mo)}};
                std::vector<std::int64_t> days; // since 1970-01-01 of each month's first day
                for (int i = 0; i < base.run.horizon_months; ++i)
                    days.push_back(
                        chr::sys_days{(first + chr::months{i}) / 1}.time_since_epoch().count());
                const hsize_t n = days.size();
                H5::DataSpace sp(1, &n);
                auto ds = g.createDataSet("time", H5::PredType::NATIVE_INT64, sp);
                if (n)
                    ds.write(days.data(), H5::PredType::NATIVE_INT64);
                attr_string(ds, "units", "days since 1970-01-01");
                attr_string(ds, "calendar", "proleptic_gregorian");
                attr_string(ds, "standard_name", "time");
                attr_string(ds, "long_name", "first day of the month");
                label(g, "time", {"month"});
            }
        }
    }
}

} // namespace chokepoint
