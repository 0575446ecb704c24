// Mergeable accumulators of a run's statistics. Each block of trials fills its own
// accumulators; blocks are merged in block order, so a result does not depend on which
// thread simulated which block (nor, later, on which process).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

namespace chokepoint {

/// Count, mean and sum of squared deviations (Welford; Chan et al. to merge).
struct Moments {
    double n = 0, mean = 0, m2 = 0;

    void add(double x) {
        n += 1;
        const double d = x - mean;
        mean += d / n;
        m2 += d * (x - mean);
    }
    void merge(const Moments &o) {
        if (o.n == 0)
            return;
        if (n == 0) {
            *this = o;
            return;
        }
        const double nn = n + o.n;
        const double d = o.mean - mean;
        mean += d * (o.n / nn);
        m2 += o.m2 + d * d * (n * o.n / nn);
        n = nn;
    }
    /// Sample variance (n - 1 in the denominator).
    double variance() const { return n > 1 ? m2 / (n - 1) : 0.0; }
    /// Standard error of the mean: sqrt(variance / n).
    double se() const { return n > 1 ? std::sqrt(variance() / n) : 0.0; }
};

/// Dimensions of a run's results.
struct Dims {
    int demands = 0, facilities = 0, nodes = 0, restrictions = 0, events = 0, regimes = 0,
        months = 0;
};

struct Accumulators {
    Dims dims;
    // per demand
    std::vector<Moments> shortfall, demand_total, shortfall_share, short_months, any_short;
    std::vector<double> shortfall_min, shortfall_max;
    // [demand * months + month]
    std::vector<Moments> monthly;
    // chokepoints: per trial indicator (binds in >= 1 month), share of months, unserved
    std::vector<Moments> fac_trial, fac_months, fac_unserved;
    std::vector<Moments> node_trial, node_months, node_unserved;
    std::vector<Moments> res_trial, res_months, res_unserved;
    std::vector<Moments> event_fired;
    std::vector<std::uint64_t> regime_count;

    explicit Accumulators(const Dims &d = {});
    void merge(const Accumulators &o);
    std::uint64_t trials() const {
        return shortfall.empty() ? 0 : static_cast<std::uint64_t>(shortfall[0].n);
    }
};

/// Exact quantiles (numpy's default "linear" definition: h = (n - 1) p, interpolate between
/// order statistics floor(h) and floor(h) + 1) of each column of an n x k table too large to
/// hold, read in passes by `scan`. Memory stays bounded: a histogram pass locates every needed
/// order statistic, a collection pass keeps only the values of the bins that hold them, and a
/// bin with too many values is refined by another pass.
///
/// scan(fn) must call fn(row_values) for every row in order (row_values has k entries).
std::vector<std::vector<double>>
exact_quantiles(std::uint64_t n, int k, const std::vector<double> &levels,
                const std::vector<double> &col_min, const std::vector<double> &col_max,
                const std::function<void(const std::function<void(const double *)> &)> &scan,
                std::size_t max_values_in_memory = std::size_t(1) << 20);

} // namespace chokepoint
