#include "distribution.hpp"

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <boost/random/beta_distribution.hpp>
#include <boost/random/exponential_distribution.hpp>
#include <boost/random/gamma_distribution.hpp>
#include <boost/random/normal_distribution.hpp>
#include <cmath>
#include <sstream>

namespace chokepoint {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

double sample_beta(Stream &s, double alpha, double beta) {
    boost::random::beta_distribution<double> dist(alpha, beta);
    return dist(s);
}

std::string num(double v) {
    std::ostringstream os;
    os.precision(6);
    os << v;
    return os.str();
}
} // namespace

Dist Dist::fixed(double v) {
    Dist d;
    d.kind = Kind::Fixed;
    d.a = v;
    return d;
}
Dist Dist::uniform(double lo, double hi) {
    Dist d;
    d.kind = Kind::Uniform;
    d.lo = lo;
    d.hi = hi;
    return d;
}
Dist Dist::triangular(double min, double mode, double max) {
    Dist d;
    d.kind = Kind::Triangular;
    d.a = min;
    d.b = mode;
    d.c = max;
    return d;
}
Dist Dist::pert(double min, double mode, double max, double lambda) {
    Dist d;
    d.kind = Kind::Pert;
    d.a = min;
    d.b = mode;
    d.c = max;
    d.d = lambda;
    return d;
}
Dist Dist::normal(double mean, double sd, double lo, double hi) {
    Dist d;
    d.kind = Kind::Normal;
    d.a = mean;
    d.b = sd;
    d.lo = lo;
    d.hi = hi;
    return d;
}
Dist Dist::lognormal_median(double median, double sigma) {
    Dist d;
    d.kind = Kind::Lognormal;
    d.a = std::log(median);
    d.b = sigma;
    return d;
}
Dist Dist::lognormal_moments(double mean, double sd) {
    const double s2 = std::log1p((sd * sd) / (mean * mean));
    Dist d;
    d.kind = Kind::Lognormal;
    d.a = std::log(mean) - 0.5 * s2;
    d.b = std::sqrt(s2);
    return d;
}
Dist Dist::beta(double alpha, double beta, double lo, double hi) {
    Dist d;
    d.kind = Kind::Beta;
    d.a = alpha;
    d.b = beta;
    d.lo = lo;
    d.hi = hi;
    return d;
}
Dist Dist::gamma(double shape, double scale) {
    Dist d;
    d.kind = Kind::Gamma;
    d.a = shape;
    d.b = scale;
    return d;
}
Dist Dist::exponential(double mean) {
    Dist d;
    d.kind = Kind::Exponential;
    d.a = mean;
    return d;
}
Dist Dist::bernoulli(double p) {
    Dist d;
    d.kind = Kind::Bernoulli;
    d.a = p;
    return d;
}
Dist Dist::discrete(std::vector<double> values, std::vector<double> weights) {
    Dist d;
    d.kind = Kind::Discrete;
    double total = 0;
    for (double w : weights)
        total += w;
    double acc = 0;
    d.cdf.reserve(weights.size());
    for (double w : weights) {
        acc += w / total;
        d.cdf.push_back(acc);
    }
    d.cdf.back() = 1.0;
    d.values = std::move(values);
    return d;
}

double Dist::sample(Stream &s, const SampleContext &ctx) const {
    switch (kind) {
    case Kind::Fixed:
        return a;
    case Kind::Uniform:
        return lo + (hi - lo) * s.uniform01();
    case Kind::Triangular: {
        // Inverse CDF.
        const double u = s.uniform01();
        const double fc = (c > a) ? (b - a) / (c - a) : 0.5;
        if (u < fc)
            return a + std::sqrt(u * (c - a) * (b - a));
        return c - std::sqrt((1 - u) * (c - a) * (c - b));
    }
    case Kind::Pert: {
        if (c <= a)
            return a;
        const double alpha = 1 + d * (b - a) / (c - a);
        const double beta = 1 + d * (c - b) / (c - a);
        return a + (c - a) * sample_beta(s, alpha, beta);
    }
    case Kind::Normal: {
        if (lo == -kInf && hi == kInf) {
            boost::random::normal_distribution<double> n(a, b);
            return n(s);
        }
        // Truncated normal by inverse CDF: exact whatever the truncation mass.
        const boost::math::normal_distribution<double> n(a, b);
        const double plo = (lo == -kInf) ? 0.0 : boost::math::cdf(n, lo);
        const double phi = (hi == kInf) ? 1.0 : boost::math::cdf(n, hi);
        const double u = plo + (phi - plo) * s.uniform01();
        if (u <= 0.0)
            return lo;
        if (u >= 1.0)
            return hi;
        return std::clamp(boost::math::quantile(n, u), lo, hi);
    }
    case Kind::Lognormal: {
        boost::random::normal_distribution<double> n(a, b);
        return std::exp(n(s));
    }
    case Kind::Beta:
        return lo + (hi - lo) * sample_beta(s, a, b);
    case Kind::Gamma: {
        boost::random::gamma_distribution<double> g(a, b);
        return g(s);
    }
    case Kind::Exponential: {
        boost::random::exponential_distribution<double> e(1.0 / a);
        return e(s);
    }
    case Kind::Bernoulli:
        return s.uniform01() < a ? 1.0 : 0.0;
    case Kind::Discrete: {
        const double u = s.uniform01();
        const auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
        const auto i =
            std::min<std::size_t>(static_cast<std::size_t>(it - cdf.begin()), values.size() - 1);
        return values[i];
    }
    case Kind::Factor:
        return ctx.factors[factor];
    case Kind::Product: {
        double v = 1.0;
        for (const auto &ch : children)
            v *= ch.sample(s, ctx);
        return v;
    }
    case Kind::ByRegime:
        return children[static_cast<std::size_t>(ctx.regime)].sample(s, ctx);
    }
    return std::numeric_limits<double>::quiet_NaN();
}

double Dist::mean() const {
    switch (kind) {
    case Kind::Fixed:
        return a;
    case Kind::Uniform:
        return 0.5 * (lo + hi);
    case Kind::Triangular:
        return (a + b + c) / 3.0;
    case Kind::Pert:
        return (a + d * b + c) / (d + 2.0);
    case Kind::Normal: {
        if (lo == -kInf && hi == kInf)
            return a;
        const boost::math::normal_distribution<double> z(0, 1);
        const double al = (lo - a) / b, be = (hi - a) / b;
        const double pa = (lo == -kInf) ? 0 : boost::math::pdf(z, al);
        const double pb = (hi == kInf) ? 0 : boost::math::pdf(z, be);
        const double Z = ((hi == kInf) ? 1 : boost::math::cdf(z, be)) -
                         ((lo == -kInf) ? 0 : boost::math::cdf(z, al));
        return a + b * (pa - pb) / Z;
    }
    case Kind::Lognormal:
        return std::exp(a + 0.5 * b * b);
    case Kind::Beta:
        return lo + (hi - lo) * a / (a + b);
    case Kind::Gamma:
        return a * b;
    case Kind::Exponential:
        return a;
    case Kind::Bernoulli:
        return a;
    case Kind::Discrete: {
        double m = 0, prev = 0;
        for (std::size_t i = 0; i < values.size(); ++i) {
            m += values[i] * (cdf[i] - prev);
            prev = cdf[i];
        }
        return m;
    }
    default:
        return std::numeric_limits<double>::quiet_NaN();
    }
}

double Dist::variance() const {
    switch (kind) {
    case Kind::Fixed:
        return 0;
    case Kind::Uniform:
        return (hi - lo) * (hi - lo) / 12.0;
    case Kind::Triangular:
        return (a * a + b * b + c * c - a * b - a * c - b * c) / 18.0;
    case Kind::Pert: {
        const double alpha = 1 + d * (b - a) / (c - a), beta = 1 + d * (c - b) / (c - a);
        const double ab = alpha + beta;
        return (c - a) * (c - a) * alpha * beta / (ab * ab * (ab + 1));
    }
    case Kind::Normal: {
        if (lo == -kInf && hi == kInf)
            return b * b;
        const boost::math::normal_distribution<double> z(0, 1);
        const double al = (lo - a) / b, be = (hi - a) / b;
        const double pa = (lo == -kInf) ? 0 : boost::math::pdf(z, al);
        const double pb = (hi == kInf) ? 0 : boost::math::pdf(z, be);
        const double Z = ((hi == kInf) ? 1 : boost::math::cdf(z, be)) -
                         ((lo == -kInf) ? 0 : boost::math::cdf(z, al));
        const double ta = (lo == -kInf) ? 0 : al * pa;
        const double tb = (hi == kInf) ? 0 : be * pb;
        const double r = (pa - pb) / Z;
        return b * b * (1 + (ta - tb) / Z - r * r);
    }
    case Kind::Lognormal:
        return (std::exp(b * b) - 1) * std::exp(2 * a + b * b);
    case Kind::Beta: {
        const double ab = a + b;
        return (hi - lo) * (hi - lo) * a * b / (ab * ab * (ab + 1));
    }
    case Kind::Gamma:
        return a * b * b;
    case Kind::Exponential:
        return a * a;
    case Kind::Bernoulli:
        return a * (1 - a);
    case Kind::Discrete: {
        const double m = mean();
        double v = 0, prev = 0;
        for (std::size_t i = 0; i < values.size(); ++i) {
            v += (values[i] - m) * (values[i] - m) * (cdf[i] - prev);
            prev = cdf[i];
        }
        return v;
    }
    default:
        return std::numeric_limits<double>::quiet_NaN();
    }
}

std::pair<double, double> Dist::support(const std::vector<Dist> *factors) const {
    switch (kind) {
    case Kind::Fixed:
        return {a, a};
    case Kind::Uniform:
    case Kind::Beta:
        return {lo, hi};
    case Kind::Triangular:
    case Kind::Pert:
        return {a, c};
    case Kind::Normal:
        return {lo, hi};
    case Kind::Lognormal:
    case Kind::Gamma:
    case Kind::Exponential:
        return {0.0, kInf};
    case Kind::Bernoulli:
        return {a > 0 && a < 1 ? 0.0 : a, a > 0 ? 1.0 : 0.0};
    case Kind::Discrete:
        return {*std::min_element(values.begin(), values.end()),
                *std::max_element(values.begin(), values.end())};
    case Kind::Factor:
        if (factors && factor >= 0)
            return (*factors)[static_cast<std::size_t>(factor)].support();
        return {-kInf, kInf};
    case Kind::Product: {
        double l = 1, h = 1;
        for (const auto &ch : children) {
            const auto [cl, ch_hi] = ch.support(factors);
            const double cands[4] = {l * cl, l * ch_hi, h * cl, h * ch_hi};
            double nl = kInf, nh = -kInf;
            for (double v : cands) {
                if (std::isnan(v))
                    v = 0; // 0 * inf
                nl = std::min(nl, v);
                nh = std::max(nh, v);
            }
            l = nl;
            h = nh;
        }
        return {l, h};
    }
    case Kind::ByRegime: {
        double l = kInf, h = -kInf;
        for (const auto &ch : children) {
            const auto [cl, chh] = ch.support(factors);
            l = std::min(l, cl);
            h = std::max(h, chh);
        }
        return {l, h};
    }
    }
    return {-kInf, kInf};
}

std::string Dist::describe() const {
    switch (kind) {
    case Kind::Fixed:
        return num(a);
    case Kind::Uniform:
        return "uniform(" + num(lo) + ", " + num(hi) + ")";
    case Kind::Triangular:
        return "triangular(" + num(a) + ", " + num(b) + ", " + num(c) + ")";
    case Kind::Pert:
        return "pert(" + num(a) + ", " + num(b) + ", " + num(c) + ")";
    case Kind::Normal:
        return "normal(" + num(a) + ", " + num(b) + ")";
    case Kind::Lognormal:
        return "lognormal(median " + num(std::exp(a)) + ", sigma " + num(b) + ")";
    case Kind::Beta:
        return "beta(" + num(a) + ", " + num(b) + ")";
    case Kind::Gamma:
        return "gamma(" + num(a) + ", " + num(b) + ")";
    case Kind::Exponential:
        return "exponential(mean " + num(a) + ")";
    case Kind::Bernoulli:
        return "bernoulli(" + num(a) + ")";
    case Kind::Discrete:
        return "discrete(" + std::to_string(values.size()) + " values)";
    case Kind::Factor:
        return "factor";
    case Kind::Product:
        return "product of " + std::to_string(children.size());
    case Kind::ByRegime:
        return "by regime";
    }
    return "?";
}

} // namespace chokepoint
