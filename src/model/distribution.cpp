#include "model/distribution.hpp"

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/policies/policy.hpp>
#include <boost/math/special_functions/beta.hpp>
#include <boost/math/special_functions/erf.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <boost/random/beta_distribution.hpp>
#include <boost/random/exponential_distribution.hpp>
#include <boost/random/gamma_distribution.hpp>
#include <boost/random/normal_distribution.hpp>
#include <cfloat>
#include <cmath>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

namespace chokepoint {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

double sample_beta(Stream &s, double alpha, double beta) {
    boost::random::beta_distribution<double> dist(alpha, beta);
    return dist(s);
}

// --- inverse CDFs (from_uniform) ----------------------------------------------------------------

// Boost.Math policy of the quantile functions: no exceptions (an argument at the edge of the
// domain yields the limit, which the callers clamp to the support) and double-precision internals
// (the default promotes double to long double: several times slower, and no more accurate after
// the final rounding to double than a few ulp).
namespace bmp = boost::math::policies;
using QuantilePolicy =
    bmp::policy<bmp::domain_error<bmp::ignore_error>, bmp::pole_error<bmp::ignore_error>,
                bmp::overflow_error<bmp::ignore_error>, bmp::underflow_error<bmp::ignore_error>,
                bmp::evaluation_error<bmp::ignore_error>, bmp::rounding_error<bmp::ignore_error>,
                bmp::promote_float<false>, bmp::promote_double<false>>;

constexpr double kUMin = DBL_MIN;         // u is clamped to [kUMin, kUMax]
constexpr double kUMax = 1.0 - 0x1.0p-53; // the largest double below 1
constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kLogSqrt2Pi = 0.91893853320467274178; // log(sqrt(2 pi))
constexpr double kMillsFrom = 30.0; // log Q(x) from the Mills ratio's continued fraction from here
constexpr double kQLinearMin = 1e-250; // tail probabilities below this: inverted in log space

/// Q^{-1}(q) = -Phi^{-1}(q): the standard normal's upper-tail quantile, q in (0, 1).
double q_inv(double q) {
    return kSqrt2 * boost::math::erfc_inv(2 * q, QuantilePolicy());
}

/// Mills ratio R(x) = Q(x) / phi(x), x >= kMillsFrom, by its continued fraction
/// R(x) = 1 / (x + 1 / (x + 2 / (x + 3 / (x + ...)))) evaluated backwards from 10 terms (at
/// x >= 30 the truncation error is below 1e-25).
double mills(double x) {
    double t = x;
    for (int k = 10; k >= 1; --k)
        t = x + k / t;
    return 1 / t;
}

/// log Q(x) for x >= 0 (Q(inf) = 0: -inf); no underflow however large x.
double log_q(double x) {
    if (x == kInf)
        return -kInf;
    if (x < kMillsFrom)
        return std::log(0.5 * boost::math::erfc(x / kSqrt2, QuantilePolicy()));
    return -0.5 * x * x - kLogSqrt2Pi + std::log(mills(x));
}

/// The x with log Q(x) = lq, for lq <= log(kQLinearMin) (so x > 33): Newton's method on log Q
/// (derivative -1 / R(x)) from the asymptotic x^2 = -2 lq - log(2 pi) - 2 log x; converges to
/// rounding in 2-3 steps.
double q_inv_log(double lq) {
    const double c = -2 * lq - 2 * kLogSqrt2Pi;
    double x = std::sqrt(c);
    x = std::sqrt(c - 2 * std::log(x));
    for (int i = 0; i < 6; ++i) {
        const double r = mills(x);
        const double dx = (-0.5 * x * x - kLogSqrt2Pi + std::log(r) - lq) * r;
        x += dx;
        if (!(std::abs(dx) > 1e-15 * x))
            break;
    }
    return x;
}

TruncNormalQ derive_trunc_normal(double mean, double sd, double lo, double hi) {
    TruncNormalQ t;
    t.mean = mean;
    t.sd = sd;
    t.lo = lo;
    t.hi = hi;
    const double al = (lo - mean) / sd, be = (hi - mean) / sd;
    if (!(sd > 0) || (al < 0 && be > 0)) {
        t.side = 0;
        t.p0 = (lo == -kInf) ? 0.0 : 0.5 * boost::math::erfc(-al / kSqrt2, QuantilePolicy());
        t.p1 = (hi == kInf) ? 0.0 : 0.5 * boost::math::erfc(be / kSqrt2, QuantilePolicy());
        t.mass = (1 - t.p0) - t.p1;
        return t;
    }
    // Wholly on one side of the mean: reflect the lower side to the upper tail.
    t.side = (al >= 0) ? 1 : -1;
    t.x0 = (t.side > 0) ? al : -be;
    t.x1 = (t.side > 0) ? be : -al;
    t.lq0 = log_q(t.x0);
    t.q0 = std::exp(t.lq0);
    t.r = std::exp(log_q(t.x1) - t.lq0);
    t.e0 = 0.5 * boost::math::erf(t.x0 / kSqrt2, QuantilePolicy());
    t.m = t.q0 * (1 - t.r);
    return t;
}

/// Standard truncated normal quantile at u (t derived for the Dist's parameters).
double trunc_normal_z(const TruncNormalQ &t, double u) {
    if (t.side == 0) {
        // Lower-tail probability p = Phi(alpha) + u Z; above the median the upper-tail
        // probability q = Q(beta) + (1 - u) Z instead, so that neither loses digits near 1.
        const double p = t.p0 + u * t.mass;
        if (p <= 0.5)
            return -q_inv(p);
        return q_inv(t.p1 + (1 - u) * t.mass);
    }
    // Upper-tail interval [x0, x1]: Q(x) = Q(x0) (r + w (1 - r)), with w = 1 - u on the upper
    // side and w = u on the reflected lower side (x -> -x). Near 0 (Phi(x) - 1/2 < 1/4, x < 0.67)
    // by Phi(x) - 1/2 = e0 + (1 - w) m instead: there 1 - w = u is exact and Q(x) is not.
    const double v = (t.side > 0) ? u : 1 - u;
    const double e = t.e0 + v * t.m;
    if (e < 0.25) {
        const double x = kSqrt2 * boost::math::erf_inv(2 * e, QuantilePolicy());
        const double xc = std::min(std::max(x, t.x0), t.x1);
        return (t.side > 0) ? xc : -xc;
    }
    const double w = (t.side > 0) ? 1 - u : u;
    const double s = t.r + w * (1 - t.r);
    const double q = t.q0 * s;
    double x = (q >= kQLinearMin) ? q_inv(q) : q_inv_log(t.lq0 + std::log(s));
    x = std::min(std::max(x, t.x0), t.x1);
    return (t.side > 0) ? x : -x;
}

// --- beta and gamma quantiles ------------------------------------------------------------------

double log_beta(double p, double q) {
    return std::lgamma(p) + std::lgamma(q) - std::lgamma(p + q);
}

/// beta(p, q)'s quantile where it is below ~1e-3, from the first-order quantile w = (p B u)^(1/p)
/// (lbeta = log B(p, q)): I_x(p, q) = x^p (1 - x)^q T(x) / (p B) with T(x) = sum_n (p + q)_n /
/// (p + 1)_n x^n (positive terms: no cancellation), i.e. phi(x) = log(x / w) + (q log(1 - x) +
/// log T) / p = 0, solved by Newton's method on log x (d phi / d log x = 1 / ((1 - x) T)) from w;
/// 2-4 steps. Relative throughout: no log u (~ -700, whose rounding would cost 1e-13).
double beta_lower_tail(double p, double q, double w) {
    if (!(w > 0))
        return 0.0; // below the smallest double
    double x = w;
    for (int it = 0; it < 40; ++it) {
        double term = 1, sum = 1;
        for (int n = 1; n < 100000 && term > 1e-17 * sum; ++n) {
            term *= (p + q + n - 1) / (p + n) * x;
            sum += term;
        }
        const double step =
            (std::log(x / w) + (q * std::log1p(-x) + std::log(sum)) / p) * (1 - x) * sum;
        x *= std::exp(-step);
        if (!(std::abs(step) > 2e-16))
            break;
    }
    return std::min(x, 1.0);
}

/// beta(p, q)'s quantile at u (lbeta = log B(p, q)): Boost's ibeta_inv, except where the quantile
/// is below ~1e-3. There Boost 1.74 fails: ibeta_inv(3, 3, u) throws below u ~ 1e-76 and
/// ibeta_inv(2, 5, u) returns 4.1e-51 for every u below ~1e-98 (the quantile at 1e-300 is
/// 2.6e-151); beta_lower_tail() is exact there.
double beta_quantile(double p, double q, double u, double lbeta) {
    const double w = std::pow(u, 1 / p) * std::pow(p * std::exp(lbeta), 1 / p);
    if (w < 1e-3)
        return beta_lower_tail(p, q, w);
    try {
        return boost::math::ibeta_inv(p, q, u, QuantilePolicy());
    } catch (...) { // an evaluation error that the policy does not reach (tools::newton_raphson)
        return std::min(w, 1.0);
    }
}

/// gamma(k)'s quantile (unit scale) at lower-tail probability u, or at upper-tail probability qq
/// (upper = true).
double gamma_quantile(double k, double u, bool upper = false) {
    try {
        return upper ? boost::math::gamma_q_inv(k, u, QuantilePolicy())
                     : boost::math::gamma_p_inv(k, u, QuantilePolicy());
    } catch (...) { // asymptotic forms: P(k, x) ~ x^k / Gamma(k + 1), Q(k, x) ~ e^-x
        return upper ? -std::log(u) : std::exp((std::lgamma(k + 1) + std::log(u)) / k);
    }
}

// --- tabulated beta and gamma quantiles ----------------------------------------------------------
//
// Boost's ibeta_inv / gamma_p_inv iterate on the incomplete functions: 0.3-3 us a call. The
// first from_uniform() of a shape tabulates instead the quantile x(u) of the unit beta(alpha, beta)
// or the unit-scale gamma(k) in three regions, each in a variable in which it is smooth (analytic),
// by piecewise Chebyshev interpolation (degree 24, Chebyshev-Lobatto nodes, so neighbouring pieces
// agree exactly at their common end):
//   left  u < uL:  t = (u / uL)^(1/alpha) in (0, 1], F(t) = x / t (x ~ c u^(1/alpha) as u -> 0,
//                  and x / t is a power series in t; F(0) = (alpha B(alpha, beta) uL)^(1/alpha),
//                  for the gamma (Gamma(k + 1) uL)^(1/k));
//   mid   uL <= u <= uH: F(u) = x;
//   right u > uH:  beta: t = ((1 - u) / (1 - uH))^(1/beta), F(t) = (1 - x) / t (the mirror
//                  image: 1 - X ~ beta(beta, alpha)); gamma: tau = -log(1 - u) <= 36.74 (u <=
//                  1 - 2^-53), v = log tau, F(v) = x / tau.
// The node values come from beta_quantile() / gamma_quantile(). A piece is accepted when its
// last three Chebyshev coefficients are below 1e-14 / 4 of the largest and it matches the
// quantile to 1e-14 relative at every third midpoint between nodes; otherwise it is halved (at
// most kMaxDepth times), and a piece that still fails (extreme shapes: beta(0.05, 0.05),
// gamma(0.05), gamma(1000) far out) is marked `exact`: there from_uniform() evaluates
// beta_quantile() / gamma_quantile() itself. A table is used only while the Dist's a, b, c, d
// are those it was noted for (LazyQuantileTable::key); tables depend on the shape only and are
// shared between Dists (shared_quantile_table).

constexpr int kChebN = 24;      // polynomial degree of a piece (kChebN + 1 nodes)
constexpr int kMaxDepth = 4;    // a region is split into at most 2^4 pieces
constexpr int kMaxEvals = 2500; // quantile evaluations per table at most (then: exact pieces)
constexpr double kTableTol = 1e-14;
constexpr double kSplitL = 0.35, kSplitH = 0.65; // uL, uH

} // namespace

struct QuantileTable {
    struct Piece {
        double t0, t1, mid, inv_half; // the piece covers [t0, t1]
        bool exact;                   // not approximated: evaluate the quantile itself
        double c[kChebN + 1];         // Chebyshev coefficients on [t0, t1]
    };
    bool gamma = false;  // else beta
    double p = 0, q = 0; // the shape parameters: beta(p, q) or gamma(p) (q unused)
    double inv_p = 0, inv_q = 0, lbeta = 0;
    std::vector<Piece> left, mid, right;

    double exact_quantile(double u) const {
        return gamma ? gamma_quantile(p, u) : beta_quantile(p, q, u, lbeta);
    }
    double quantile(double u) const;
};

namespace {

double chebyshev(const QuantileTable::Piece &pc, double t) {
    const double s = (t - pc.mid) * pc.inv_half;
    const double s2 = 2 * s;
    double b1 = 0, b2 = 0;
    for (int k = kChebN; k >= 1; --k) {
        const double b0 = s2 * b1 - b2 + pc.c[k];
        b2 = b1;
        b1 = b0;
    }
    return s * b1 - b2 + pc.c[0];
}

/// The piece holding t (pieces sorted, contiguous).
const QuantileTable::Piece &piece_at(const std::vector<QuantileTable::Piece> &pieces, double t) {
    std::size_t i = 0;
    while (i + 1 < pieces.size() && t > pieces[i].t1)
        ++i;
    return pieces[i];
}

template <class F>
void fit_region(std::vector<QuantileTable::Piece> &out, double t0, double t1, const F &f, int depth,
                int &evals) {
    QuantileTable::Piece pc{};
    pc.t0 = t0;
    pc.t1 = t1;
    pc.mid = 0.5 * (t0 + t1);
    pc.inv_half = 2 / (t1 - t0);
    pc.exact = true;
    if (evals + 2 * kChebN + 1 <= kMaxEvals && t1 > t0) {
        constexpr double kPi = 3.14159265358979323846;
        double fv[kChebN + 1];
        bool finite = true;
        for (int j = 0; j <= kChebN; ++j) {
            // Lobatto nodes, from t1 (j = 0) down to t0 (j = N); the ends exactly.
            const double t = (j == 0)        ? t1
                             : (j == kChebN) ? t0
                                             : pc.mid + std::cos(kPi * j / kChebN) / pc.inv_half;
            fv[j] = f(t);
            finite = finite && std::isfinite(fv[j]);
        }
        evals += kChebN + 1;
        if (finite) {
            for (int k = 0; k <= kChebN; ++k) {
                double acc = 0;
                for (int j = 0; j <= kChebN; ++j)
                    acc += ((j == 0 || j == kChebN) ? 0.5 : 1.0) * fv[j] *
                           std::cos(kPi * ((j * k) % (2 * kChebN)) / kChebN);
                pc.c[k] = acc * (2.0 / kChebN) * ((k == 0 || k == kChebN) ? 0.5 : 1.0);
            }
            // Converged when the last three coefficients are negligible (a cheap rejection,
            // before any check); then checked against f at every third midpoint between nodes.
            double scale = 0;
            for (double ck : pc.c)
                scale = std::max(scale, std::abs(ck));
            const double tail = std::max(
                {std::abs(pc.c[kChebN]), std::abs(pc.c[kChebN - 1]), std::abs(pc.c[kChebN - 2])});
            double err = (tail <= 0.25 * kTableTol * scale) ? 0.0 : kInf;
            for (int j = 1; j < kChebN && err <= kTableTol; j += 3) {
                const double t = pc.mid + std::cos(kPi * (j + 0.5) / kChebN) / pc.inv_half;
                const double want = f(t);
                err = std::max(err, std::abs(chebyshev(pc, t) - want) / std::abs(want));
                ++evals;
            }
            pc.exact = !(err <= kTableTol);
        }
    }
    if (pc.exact && depth < kMaxDepth && evals < kMaxEvals) {
        fit_region(out, t0, pc.mid, f, depth + 1, evals);
        fit_region(out, pc.mid, t1, f, depth + 1, evals);
        return;
    }
    out.push_back(pc);
}

/// Whether beta(p, q) (gamma = false) or gamma(p) (gamma = true) gets a table: shapes in
/// [0.01, 1e4] (finite); from_uniform() inverts the others directly.
bool tabulated_shape(bool gamma, double p, double q) {
    return (p >= 0.01 && p <= 1e4) && (gamma || (q >= 0.01 && q <= 1e4));
}

/// The table for beta(p, q) (gamma = false) or gamma(p) (gamma = true); null for shapes
/// tabulated_shape() refuses.
std::shared_ptr<const QuantileTable> make_quantile_table(bool gamma, double p, double q) {
    if (!tabulated_shape(gamma, p, q))
        return nullptr;
    auto t = std::make_shared<QuantileTable>();
    t->gamma = gamma;
    t->p = p;
    t->q = q;
    t->inv_p = 1 / p;
    t->inv_q = gamma ? 0 : 1 / q;
    t->lbeta = gamma ? 0 : log_beta(p, q);
    int evals = 0;
    const double uL = kSplitL, qH = 1 - kSplitH, lbeta = t->lbeta;
    const double left0 = gamma ? std::exp((std::lgamma(p + 1) + std::log(uL)) / p)
                               : std::exp((std::log(p) + lbeta + std::log(uL)) / p);
    auto left = [&](double tt) {
        if (tt == 0)
            return left0;
        const double u = uL * std::pow(tt, p);
        return (gamma ? gamma_quantile(p, u) : beta_quantile(p, q, u, lbeta)) / tt;
    };
    auto mid = [&](double u) {
        return gamma ? gamma_quantile(p, u) : beta_quantile(p, q, u, lbeta);
    };
    // u >= DBL_MIN: t >= (DBL_MIN / uL)^(1/p).
    fit_region(t->left, std::pow(kUMin / uL, 1 / p), 1.0, left, 0, evals);
    fit_region(t->mid, kSplitL, kSplitH, mid, 0, evals);
    if (gamma) {
        auto right = [&](double v) {
            const double tau = std::exp(v);
            return gamma_quantile(p, std::exp(-tau), true) / tau;
        };
        // 1 - u in [2^-53, 1 - uH]: tau in [-log(1 - uH), 53 log 2].
        fit_region(t->right, std::log(-std::log(qH)), std::log(53 * std::log(2.0)), right, 0,
                   evals);
    } else {
        const double right0 = std::exp((std::log(q) + lbeta + std::log(qH)) / q);
        auto right = [&](double tt) {
            if (tt == 0)
                return right0;
            return beta_quantile(q, p, qH * std::pow(tt, q), lbeta) / tt;
        };
        fit_region(t->right, std::pow(0x1.0p-53 / qH, 1 / q), 1.0, right, 0, evals);
    }
    return t;
}

} // namespace

double QuantileTable::quantile(double u) const {
    if (u < kSplitL) {
        const double t = std::pow(u * (1 / kSplitL), inv_p);
        const Piece &pc = piece_at(left, t);
        return pc.exact ? exact_quantile(u) : t * chebyshev(pc, std::max(t, pc.t0));
    }
    if (u <= kSplitH) {
        const Piece &pc = piece_at(mid, u);
        return pc.exact ? exact_quantile(u) : chebyshev(pc, u);
    }
    const double qq = 1 - u; // exact for u > 1/2
    if (gamma) {
        const double tau = -std::log(qq);
        const double v = std::log(tau);
        const Piece &pc = piece_at(right, v);
        return pc.exact ? gamma_quantile(p, qq, true)
                        : tau * chebyshev(pc, std::min(std::max(v, pc.t0), pc.t1));
    }
    const double t = std::pow(qq * (1 / (1 - kSplitH)), inv_q);
    const Piece &pc = piece_at(right, t);
    return pc.exact ? 1 - beta_quantile(q, p, qq, lbeta)
                    : 1 - t * chebyshev(pc, std::max(t, pc.t0));
}

namespace {
/// Tables already built, by shape: one table serves every Dist of that shape (scenarios rebuild
/// the baseline's distributions; a config often repeats a shape). Weak references: a table lives
/// as long as a Dist uses it; expired entries are swept when the map has doubled.
std::shared_ptr<const QuantileTable> shared_quantile_table(bool gamma, double p, double q) {
    static std::mutex mu;
    static std::map<std::tuple<bool, double, double>, std::weak_ptr<const QuantileTable>> cache;
    static std::size_t sweep_at = 1024;
    const auto key = std::make_tuple(gamma, p, gamma ? 0.0 : q);
    {
        std::lock_guard<std::mutex> lock(mu);
        const auto it = cache.find(key);
        if (it != cache.end())
            if (auto t = it->second.lock())
                return t;
    }
    auto t = make_quantile_table(gamma, p, q); // outside the lock: ~0.2-0.5 ms
    std::lock_guard<std::mutex> lock(mu);
    auto &slot = cache[key];
    if (auto other = slot.lock())
        return other; // built meanwhile by another thread: the same values
    slot = t;
    if (cache.size() >= sweep_at) {
        std::erase_if(cache, [](const auto &kv) { return kv.second.expired(); });
        sweep_at = std::max<std::size_t>(1024, 2 * cache.size());
    }
    return t;
}
} // namespace

struct LazyQuantileTable {
    bool gamma = false;
    double p = 0, q = 0;
    double key[4] = {}; // the Dist's a, b, c, d it is for (PERT: all four)
    std::once_flag once;
    std::shared_ptr<const QuantileTable> table;

    /// The table, built (or found among those built) on the first call.
    const QuantileTable *get() {
        std::call_once(once, [this] { table = shared_quantile_table(gamma, p, q); });
        return table.get();
    }
};

namespace {

/// A lazy table for the Dist `d` of shape (p, q); null for shapes that get none.
std::shared_ptr<LazyQuantileTable> lazy_table(bool gamma, double p, double q, const Dist &d) {
    if (!tabulated_shape(gamma, p, q))
        return nullptr;
    auto t = std::make_shared<LazyQuantileTable>();
    t->gamma = gamma;
    t->p = p;
    t->q = q;
    t->key[0] = d.a;
    t->key[1] = d.b;
    t->key[2] = d.c;
    t->key[3] = d.d;
    return t;
}

double clamp_to(double v, double lo, double hi) {
    return std::min(std::max(v, lo), hi);
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
    if (max > min)
        d.qtab = lazy_table(false, 1 + lambda * (mode - min) / (max - min),
                            1 + lambda * (max - mode) / (max - min), d);
    return d;
}
Dist Dist::normal(double mean, double sd, double lo, double hi) {
    Dist d;
    d.kind = Kind::Normal;
    d.a = mean;
    d.b = sd;
    d.lo = lo;
    d.hi = hi;
    d.tn = derive_trunc_normal(mean, sd, lo, hi);
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
    d.qtab = lazy_table(false, alpha, beta, d);
    return d;
}
Dist Dist::gamma(double shape, double scale) {
    Dist d;
    d.kind = Kind::Gamma;
    d.a = shape;
    d.b = scale;
    d.qtab = lazy_table(true, shape, 0.0, d);
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
        // Truncated normal by its inverse CDF (from_uniform): exact and finite however far in a
        // tail the truncation lies (differences of CDFs would round to 0 or 1 there).
        const double u = s.uniform01();
        return from_uniform(&u, SampleContext{});
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

namespace {
/// The Dist's table, if it was built for the Dist's present parameters (the kind is checked by
/// the caller: only Pert, Beta and Gamma have one).
const QuantileTable *table_of(const Dist &d) {
    LazyQuantileTable *t = d.qtab.get();
    return (t && t->key[0] == d.a && t->key[1] == d.b && t->key[2] == d.c && t->key[3] == d.d)
               ? t->get()
               : nullptr;
}
} // namespace

int Dist::uniforms() const {
    switch (kind) {
    case Kind::Fixed:
    case Kind::Factor:
        return 0;
    case Kind::Product: {
        int n = 0;
        for (const auto &ch : children)
            n += ch.uniforms();
        return n;
    }
    case Kind::ByRegime: {
        int n = 0;
        for (const auto &ch : children)
            n = std::max(n, ch.uniforms());
        return n;
    }
    default:
        return 1;
    }
}

double Dist::from_uniform(const double *uu, const SampleContext &ctx) const {
    switch (kind) {
    case Kind::Fixed:
        return a;
    case Kind::Factor:
        return ctx.factors[factor];
    case Kind::Product: {
        double v = 1.0;
        for (const auto &ch : children) {
            v *= ch.from_uniform(uu, ctx);
            uu += ch.uniforms();
        }
        return v;
    }
    case Kind::ByRegime:
        return children[static_cast<std::size_t>(ctx.regime)].from_uniform(uu, ctx);
    default:
        break;
    }
    const double u = std::min(std::max(uu[0], kUMin), kUMax);
    switch (kind) {
    case Kind::Uniform:
        return clamp_to(lo + (hi - lo) * u, lo, hi);
    case Kind::Triangular: {
        // Same closed form as sample().
        const double fc = (c > a) ? (b - a) / (c - a) : 0.5;
        const double x = (u < fc) ? a + std::sqrt(u * (c - a) * (b - a))
                                  : c - std::sqrt((1 - u) * (c - a) * (c - b));
        return clamp_to(x, a, c);
    }
    case Kind::Pert: {
        if (c <= a)
            return a;
        if (const QuantileTable *t = table_of(*this))
            return clamp_to(a + (c - a) * t->quantile(u), a, c);
        const double alpha = 1 + d * (b - a) / (c - a);
        const double beta = 1 + d * (c - b) / (c - a);
        return clamp_to(a + (c - a) * beta_quantile(alpha, beta, u, log_beta(alpha, beta)), a, c);
    }
    case Kind::Normal: {
        if (!(b > 0))
            return clamp_to(a, lo, hi);
        if (tn.mean == a && tn.sd == b && tn.lo == lo && tn.hi == hi)
            return clamp_to(a + b * trunc_normal_z(tn, u), lo, hi);
        return clamp_to(a + b * trunc_normal_z(derive_trunc_normal(a, b, lo, hi), u), lo, hi);
    }
    case Kind::Lognormal: {
        const double z = -boost::math::erfc_inv(2 * u, QuantilePolicy());
        return std::min(std::exp(a + z * (b * kSqrt2)), DBL_MAX);
    }
    case Kind::Beta: {
        const QuantileTable *t = table_of(*this);
        const double x = t ? t->quantile(u) : beta_quantile(a, b, u, log_beta(a, b));
        return clamp_to(lo + (hi - lo) * x, lo, hi);
    }
    case Kind::Gamma: {
        // The table is for scale 1 (key a = shape; b, the scale, is in the key too).
        const QuantileTable *t = table_of(*this);
        const double x = t ? t->quantile(u) : gamma_quantile(a, u);
        return clamp_to(b * x, 0.0, DBL_MAX);
    }
    case Kind::Exponential:
        return std::min(-a * std::log1p(-u), DBL_MAX);
    case Kind::Bernoulli:
        // Upper tail: 1 on (1 - p, 1), so the value is non-decreasing in u.
        return (u > 1 - a) ? 1.0 : 0.0;
    case Kind::Discrete: {
        // The first value (in the order listed) whose cumulative probability reaches u.
        const auto it = std::lower_bound(cdf.begin(), cdf.end(), u);
        const auto i =
            std::min<std::size_t>(static_cast<std::size_t>(it - cdf.begin()), values.size() - 1);
        return values[i];
    }
    default:
        return std::numeric_limits<double>::quiet_NaN();
    }
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
        // The truncation mass, from the tail it lies in (a difference of CDFs near 1 would
        // cancel for a truncation far above the mean).
        const double Z =
            al > 0 ? boost::math::cdf(boost::math::complement(z, al)) -
                         ((hi == kInf) ? 0 : boost::math::cdf(boost::math::complement(z, be)))
                   : ((hi == kInf) ? 1 : boost::math::cdf(z, be)) -
                         ((lo == -kInf) ? 0 : boost::math::cdf(z, al));
        return std::clamp(a + b * (pa - pb) / Z, lo, hi);
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
