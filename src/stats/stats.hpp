// Mergeable accumulators of a run's statistics. Each block of trials fills its own
// accumulators; blocks are merged in block order, so a result does not depend on which
// thread simulated which block (nor, later, on which process).
#pragma once

#include "stats/rungs.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

namespace chokepoint {

/// The exact sum of any sequence of finite doubles: a two's-complement fixed-point number
/// wide enough for every double (bit 0 weighs 2^-1074) with room for 2^64 additions of the
/// largest. Addition is exact, hence associative and commutative: partial sums of blocks,
/// shards or processes combine into exactly the sum of the whole, in any order.
class ExactSum {
public:
    /// Adds x; zeros (most months' shortfalls) cost a test, not a call.
    void add(double x) {
        if (x != 0.0)
            add_nonzero(x);
    }
    void merge(const ExactSum &o);
    /// The sum, rounded to a double (within one unit in the last place; the same exact sum
    /// always gives the same double).
    double value() const;
    /// The sum in extended precision (64-bit significand): for differences of large sums.
    long double value_ld() const;
    bool operator==(const ExactSum &o) const { return w_ == o.w_; }
    /// Appends the exact state to `out` in a compact form (the words that differ from the sign
    /// fill; about 4 words for sums of similar values).
    void save(std::vector<std::uint64_t> &out) const;
    /// Reads a state written by save() from [p, end); returns the position after it. Throws
    /// std::runtime_error on a truncated or malformed state.
    const std::uint64_t *load(const std::uint64_t *p, const std::uint64_t *end);

private:
    static constexpr int kWords = 35; // 2240 bits: 2^-1074 .. 2^1024, plus 64 bits of carries
    template <class Float> Float value_as() const;
    void add_nonzero(double x);
    void add_bits(std::uint64_t mantissa, int shift, bool negative);
    std::array<std::uint64_t, kWords> w_{};
};

/// Count and exact sums of x and x^2: mergeable exactly, so a statistic does not depend on
/// how trials were cut into blocks, shards or processes, nor on the order of merging.
class Moments {
public:
    void add(double x) {
        ++n_;
        s1_.add(x);
        s2_.add(x * x);
    }
    void merge(const Moments &o) {
        n_ += o.n_;
        s1_.merge(o.s1_);
        s2_.merge(o.s2_);
    }
    std::uint64_t count() const { return n_; }
    double sum() const { return s1_.value(); }
    /// The sum of squares, sum x^2.
    double sum_sq() const { return s2_.value(); }
    double mean() const { return n_ ? s1_.value() / static_cast<double>(n_) : 0.0; }
    /// Sample variance, n - 1 in the denominator: (sum x^2 - (sum x)^2 / n) / (n - 1); exactly
    /// 0 when the sum of squared deviations is within the round-off of sum x^2 (see below).
    double variance() const {
        if (n_ < 2)
            return 0.0;
        // In extended precision: s2 - s1^2 / n cancels when the mean is large against the spread.
        const long double n = static_cast<long double>(n_), s1 = s1_.value_ld(),
                          s2 = s2_.value_ld();
        const long double ss = s2 - s1 * (s1 / n);
        // Each x*x added to s2 was rounded to a double (relative error <= 2^-53), so s2 is known
        // only to within 2^-53 s2, and the extended-precision step adds ~2^-63 s2: a sum of squared
        // deviations below 2^-52 s2 cannot be told from zero (n equal values of 0.1 would
        // otherwise give a standard error of ~6e-12). Such columns vary by less than ~1.5e-8 of
        // their root mean square; their variance is reported as exactly 0.
        if (ss <= 0x1p-52L * s2)
            return 0.0;
        return static_cast<double>(ss / (n - 1));
    }
    /// Standard error of the mean: sqrt(variance / n).
    double se() const { return n_ > 1 ? std::sqrt(variance() / static_cast<double>(n_)) : 0.0; }
    bool operator==(const Moments &o) const { return n_ == o.n_ && s1_ == o.s1_ && s2_ == o.s2_; }
    void save(std::vector<std::uint64_t> &out) const {
        out.push_back(n_);
        s1_.save(out);
        s2_.save(out);
    }
    const std::uint64_t *load(const std::uint64_t *p, const std::uint64_t *end);

private:
    std::uint64_t n_ = 0;
    ExactSum s1_, s2_;
};

/// Dimensions of a run's results.
struct Dims {
    int demands = 0, facilities = 0, nodes = 0, restrictions = 0, events = 0, regimes = 0,
        months = 0;
    int thresholds = 0; // shortfall-share thresholds (RunSettings::thresholds)
    int replicates = 1; // independent replicates of the sampling design
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
    // [demand * thresholds + j]: indicator "shortfall share > thresholds[j]"
    std::vector<Moments> share_above;
    // largest monthly shortfall [demand * months + month] (for the monthly quantile bands)
    std::vector<double> monthly_max;
    // conditional views, [event * demands + d] and [regime * demands + d]: total shortfall and
    // the indicator "short in >= 1 month", in trials where the event fired / did not fire, and
    // in trials of each regime
    std::vector<Moments> fired_shortfall, fired_short, unfired_shortfall, unfired_short;
    std::vector<Moments> regime_shortfall, regime_short;
    // per replicate of the design, [replicate * demands + d]: the replicate means give the
    // standard errors of Latin hypercube and Sobol' runs
    std::vector<Moments> rep_shortfall, rep_short_months, rep_any_short, rep_demand_total,
        rep_share;
    // paired differences against the baseline, per demand of a scenario (scenario minus
    // baseline in the same trial; empty counts for the baseline itself and for demands the
    // baseline lacks): total shortfall, short months, the short indicator, shortfall share;
    // and each of the four per replicate [replicate * demands + d] (the standard errors of
    // Latin hypercube and Sobol' runs)
    std::vector<Moments> diff_shortfall, diff_short_months, diff_any_short, diff_share,
        rep_diff_shortfall, rep_diff_short_months, rep_diff_any_short, rep_diff_share;
    // allocation LPs answered per rung of the solver ladder (lp.hpp), in these trials
    RungCounts lp_rungs;

    explicit Accumulators(const Dims &d = {});
    void merge(const Accumulators &o);
    /// The exact state as 64-bit words (a header with the dimensions, then every field): what a
    /// checkpoint or a shard file stores so that a resumed or merged run continues exactly.
    std::vector<std::uint64_t> save() const;
    /// Restores a state written by save(); throws std::runtime_error when it is malformed or its
    /// dimensions are not `d`.
    static Accumulators load(const Dims &d, const std::vector<std::uint64_t> &words);
    bool operator==(const Accumulators &o) const;
    std::uint64_t trials() const { return shortfall.empty() ? 0 : shortfall[0].count(); }
};

/// A table read in passes a row at a time: scan(fn) calls fn(row_values) for every row in order.
using RowScan = std::function<void(const std::function<void(const double *)> &)>;
/// A table read in passes a block of rows at a time: scan(take) calls take(first, rows) for
/// consecutive blocks of rows in order, a block's values one row after another (the blocks need
/// not be of one size, and are read during the call only).
using BlockScan = std::function<void(const std::function<void(const double *, std::size_t)> &)>;

/// Order statistics of given 0-based ranks (the same ranks for every column) of each column of
/// an n x k table read in passes by `scan` (see exact_quantiles): exact, in bounded memory.
/// `threads` > 1 bins and sorts the columns in parallel (scan is always called on the calling
/// thread); the result does not depend on it.
std::vector<std::vector<double>>
exact_order_statistics(std::uint64_t n, int k, const std::vector<std::uint64_t> &ranks,
                       const std::vector<double> &col_min, const std::vector<double> &col_max,
                       const RowScan &scan, std::size_t max_values_in_memory = std::size_t(1) << 20,
                       int threads = 1);
/// The same from a table read a block of rows at a time (no copy of the rows into slabs).
std::vector<std::vector<double>> exact_order_statistics_blocks(
    std::uint64_t n, int k, const std::vector<std::uint64_t> &ranks,
    const std::vector<double> &col_min, const std::vector<double> &col_max, const BlockScan &scan,
    std::size_t max_values_in_memory = std::size_t(1) << 20, int threads = 1);

/// Distribution-free confidence interval for the p-quantile of n draws: 0-based ranks (lo, hi)
/// of the order statistics with P(x[lo] <= q_p <= x[hi]) >= conf (the number of draws below q_p
/// is binomial(n, p)). A rank is -1 when n is too small for that side to exist.
std::pair<std::int64_t, std::int64_t> quantile_ci_ranks(std::uint64_t n, double p, double conf);

/// The 0.975 quantile of Student's t with `dof` degrees of freedom: the factor of a two-sided
/// 95% interval mean +- t se when se has `dof` degrees of freedom (2.262 for 9, 1.96 as dof
/// grows); NaN for dof = 0 (no spread estimate).
double student_t_975(std::uint64_t dof);

/// numpy's "linear" quantile p of n values from its two order statistics a = x[floor(h)] and
/// b = x[floor(h) + 1], h = (n - 1) p.
double lerp_quantile(std::uint64_t n, double p, double a, double b);

/// Order statistics of a bootstrap resample of n values z: `count[i]` copies of z[i] (the counts
/// sum to n), `order` the indices sorted by value (ascending; ties in any order), `run` the
/// length of the sorted order's leading run of values with the bits of z[order[0]] (at least
/// 1), `ranks` ascending, each < n. Definition: the value at rank r is z[order[k]] for the
/// first k whose running count sum_{j <= k} count[order[j]] exceeds r. Found walking down from
/// the largest value, the walk ending at the leading run (a rank still open lies in it): its
/// cost is the values above the run, which for a rare shortfall (most trials 0) is few.
std::vector<double> resample_order_statistics(const std::vector<std::uint32_t> &count,
                                              const std::vector<double> &z,
                                              const std::vector<std::uint32_t> &order,
                                              std::size_t run,
                                              const std::vector<std::uint64_t> &ranks);

/// The length of the leading run of resample_order_statistics: how many values lead `order`
/// with the bits of its first (n >= 1).
std::size_t leading_run(const std::vector<double> &z, const std::vector<std::uint32_t> &order);

/// Conditional value at risk at level a, CVaR = the mean of the worst m = ceil(n (1 - a)) of n
/// trials, from the tail's sum (`sum`, over exactly those m values, ties included), the sum and
/// sum of squares of their deviations from a shift c (`dev`: x - c, `dev2`: (x - c)^2, over the
/// same m values) and the value at risk `var` (the a-quantile). Its standard error is the
/// estimator's asymptotic one, sqrt((Var(S | S >= VaR) + a (CVaR - VaR)^2) / m): the tail's own
/// spread plus the uncertainty of where the tail begins. (The spread alone, Var / m, understates
/// the error: about half of it for a uniform tail.) Both terms are taken from the deviations
/// (CVaR - VaR = (c - VaR) + dev / m), which changes nothing in exact arithmetic; with c = the
/// tail's smallest value the sums stay small, so that a tail of equal values has a standard
/// error of exactly 0 (the values' own sums and squares would leave round-off of their size).
struct CvarEstimate {
    double cvar = 0, se = 0;
};
CvarEstimate cvar_estimate(double a, std::uint64_t m, double sum, double shift, double dev,
                           double dev2, double var);

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
                const RowScan &scan, std::size_t max_values_in_memory = std::size_t(1) << 20,
                int threads = 1);
/// The same from a table read a block of rows at a time.
std::vector<std::vector<double>>
exact_quantiles_blocks(std::uint64_t n, int k, const std::vector<double> &levels,
                       const std::vector<double> &col_min, const std::vector<double> &col_max,
                       const BlockScan &scan,
                       std::size_t max_values_in_memory = std::size_t(1) << 20, int threads = 1);

} // namespace chokepoint
