// Distributions of uncertain quantities, parameterised the way analysts write them.
// Each distribution is sampled from the stream of one quantity (see random.hpp); composite
// forms (product of factors, per-regime choice) draw from that same stream in order.
#pragma once

#include "core/random.hpp"

#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace chokepoint {

/// What a sample may depend on besides its own stream: the trial's regime and the trial's
/// draws of the shared factors.
struct SampleContext {
    int regime = 0;
    const double *factors = nullptr;
};

/// What Dist::from_uniform() needs of a normal truncated to [lo, hi], derived once by
/// Dist::normal() so that a call costs one inverse error function. Standardised bounds
/// alpha = (lo - mean) / sd, beta = (hi - mean) / sd; Q(x) = 1 - Phi(x) = Phi(-x).
/// side 0 (alpha < 0 < beta): p0 = Phi(alpha), p1 = Q(beta), mass = 1 - p0 - p1.
/// side +1 (alpha >= 0) and side -1 (beta <= 0, reflected: x -> -x): the interval is [x0, x1]
/// with 0 <= x0 < x1 <= inf in the upper tail; lq0 = log Q(x0), r = Q(x1) / Q(x0) (in [0, 1]),
/// computed in log space so that a truncation 40 sd out does not underflow; near x = 0 (where
/// Q(x) ~ 1/2 has no relative precision) e0 = Phi(x0) - 1/2 and m = Q(x0) - Q(x1) instead.
struct TruncNormalQ {
    // The parameters these were derived from: from_uniform() uses them only when they still match
    // (a Dist assembled field by field, or changed after construction, derives them per call).
    double mean = std::numeric_limits<double>::quiet_NaN(), sd = 0, lo = 0, hi = 0;
    int side = 0;
    double p0 = 0, p1 = 0, mass = 1;               // side 0
    double x0 = 0, x1 = 0, lq0 = 0, q0 = 0, r = 0; // side +1 / -1 (q0 = Q(x0), 0 if it underflows)
    double e0 = 0, m = 0;                          // side +1 / -1
};

/// Piecewise Chebyshev approximation of the beta or gamma quantile function (distribution.cpp),
/// used by from_uniform() for PERT, beta and gamma distributions.
struct QuantileTable;

/// A PERT's, beta's or gamma's quantile table, built on first use (distribution.cpp): the
/// shape parameters and the Dist parameters it is for, and the table once built. Shared by copies
/// of the Dist; tables of the same shape are shared by every Dist (a process-wide cache).
struct LazyQuantileTable;

struct Dist {
    enum class Kind {
        Fixed,       // a = value
        Uniform,     // [lo, hi]
        Triangular,  // a = min, b = mode, c = max
        Pert,        // a = min, b = mode, c = max, d = lambda; sampled as scaled beta
        Normal,      // a = mean, b = sd, truncated to [lo, hi]
        Lognormal,   // a = mu (log-mean), b = sigma (log-sd)
        Beta,        // a = alpha, b = beta, scaled to [lo, hi]
        Gamma,       // a = shape, b = scale
        Exponential, // a = mean
        Bernoulli,   // a = p
        Discrete,    // values, cdf
        Factor,      // factor index
        Product,     // children multiplied
        ByRegime,    // children indexed by regime
    };

    Kind kind = Kind::Fixed;
    double a = 0, b = 0, c = 0, d = 0;
    double lo = -std::numeric_limits<double>::infinity();
    double hi = std::numeric_limits<double>::infinity();
    int factor = -1;
    std::vector<double> values, cdf;
    std::vector<Dist> children;
    TruncNormalQ tn; // Normal only: derived by Dist::normal() for from_uniform()
    /// Pert, Beta, Gamma: the quantile of the unit beta / unit-scale gamma, tabulated (~0.2-0.5
    /// ms a table) so that from_uniform() costs ~50 ns instead of the 0.3-3 us of Boost's
    /// iterative inverse. The factory functions only note the shape: the table is built by the
    /// first from_uniform() that needs it (thread-safe, once), and one table serves every Dist of
    /// the same shape, so that loading a config fits no table (a config of 50,000 PERTs would
    /// otherwise spend ~15 s there) and scenarios share the baseline's tables. Shared by copies;
    /// a Dist without one (built field by field, or a shape outside [0.01, 1e4]), or whose a, b,
    /// c, d have changed since, is inverted directly on each call.
    std::shared_ptr<LazyQuantileTable> qtab;

    static Dist fixed(double v);
    static Dist uniform(double lo, double hi);
    static Dist triangular(double min, double mode, double max);
    static Dist pert(double min, double mode, double max, double lambda = 4.0);
    static Dist normal(double mean, double sd, double lo = -std::numeric_limits<double>::infinity(),
                       double hi = std::numeric_limits<double>::infinity());
    static Dist lognormal_median(double median, double sigma);
    static Dist lognormal_moments(double mean, double sd);
    static Dist beta(double alpha, double beta, double lo = 0.0, double hi = 1.0);
    static Dist gamma(double shape, double scale);
    static Dist exponential(double mean);
    static Dist bernoulli(double p);
    static Dist discrete(std::vector<double> values, std::vector<double> weights);

    double sample(Stream &s, const SampleContext &ctx) const;

    /// How many uniform coordinates from_uniform() reads: 0 for Fixed and Factor; 1 for every other
    /// leaf (Bernoulli and Discrete included); for Product the sum over the children; for ByRegime
    /// the largest over the children (every regime's child reads the same coordinates from u[0],
    /// so the draw is common across regimes).
    int uniforms() const;

    /// The value at uniform coordinates u[0 .. uniforms() - 1], each in (0, 1): the quantile
    /// function (inverse CDF) of the same distribution sample() draws from, so from_uniform(U) with
    /// U iid uniform has sample()'s distribution (not its bits: sample() may use other
    /// algorithms). For Latin hypercube, randomised Sobol' points and Gaussian copulas.
    /// - Non-decreasing in each coordinate (up to rounding: u one ulp apart may give values a
    ///   few ulp out of order, as any floating-point quantile function may); finite and within
    ///   support() for every u in (0, 1), u = 1e-300 and 1 - 2^-53 included; never throws. A u
    ///   outside (0, 1) (0 or 1 from a careless caller) is clamped to [DBL_MIN, 1 - 2^-53] first.
    /// - Normal truncated to [lo, hi]: exact (to rounding) however far out the truncation lies,
    ///   [mean + 40 sd, inf) included: tail probabilities, and below 1e-250 their logarithms.
    /// - Beta and PERT deep lower tails (quantile < 1e-3) by their own series: Boost 1.74's
    ///   ibeta_inv fails there (throws, or is wrong by orders of magnitude, below u ~ 1e-76).
    /// - Bernoulli(p): 1.0 when u > 1 - p, else 0.0 (the upper tail, so non-decreasing in u).
    /// - Discrete: values[i] for the smallest i with cdf[i] >= u, i.e. the values in the order
    ///   listed, each taking a slice of (0, 1) as wide as its probability (a zero weight: none).
    ///   Non-decreasing in u when the values are listed in ascending order.
    /// - Product: child k reads the coordinates after those of children 0 .. k-1 (in order);
    ///   Factor reads ctx.factors[factor] and no coordinate. ByRegime: children[ctx.regime] at u.
    /// Thread-safe (const; the only state written is the quantile table a PERT, beta or gamma
    /// builds once, on its first call, under std::call_once). Cost per leaf: closed forms (uniform,
    /// triangular, exponential, Bernoulli, discrete), one inverse error function (normal,
    /// lognormal, truncated normal: Boost.Math erfc_inv in double precision), or the factory's
    /// table (PERT, beta, gamma: a Chebyshev series in u or a power of u, validated at construction
    /// against the direct inversion (Boost.Math ibeta_inv / gamma_p_inv) to 1e-14 relative; where
    /// it could not be, the direct inversion).
    double from_uniform(const double *u, const SampleContext &ctx) const;

    /// Closed-form mean and variance (for documentation and tests); NaN for composites.
    double mean() const;
    double variance() const;

    /// Smallest and largest possible value (factor references need the factor supports).
    std::pair<double, double> support(const std::vector<Dist> *factors = nullptr) const;

    bool is_fixed() const { return kind == Kind::Fixed; }
    /// Human-readable one-line description, e.g. "pert(600, 750, 900)".
    std::string describe() const;
};

} // namespace chokepoint
