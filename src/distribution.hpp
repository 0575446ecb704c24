// Distributions of uncertain quantities, parameterised the way analysts write them.
// Each distribution is sampled from the stream of one quantity (see random.hpp); composite
// forms (product of factors, per-regime choice) draw from that same stream in order.
#pragma once

#include "random.hpp"

#include <limits>
#include <string>
#include <vector>

namespace chokepoint {

/// What a sample may depend on besides its own stream: the trial's regime and the trial's
/// draws of the shared factors.
struct SampleContext {
    int regime = 0;
    const double *factors = nullptr;
};

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
