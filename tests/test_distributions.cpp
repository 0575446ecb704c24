// Distributions (distribution.hpp): regression goldens, moments against closed forms computed
// here independently, the loader's parameter conversions, composite forms (product, factor,
// by_regime) with a SampleContext.
#include "config/config.hpp"
#include "model/distribution.hpp"

#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/exponential.hpp>
#include <boost/math/distributions/gamma.hpp>
#include <boost/math/distributions/lognormal.hpp>
#include <boost/math/distributions/normal.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using namespace chokepoint;

namespace {

constexpr double kPi = 3.14159265358979323846;

double phi(double x) {
    return std::exp(-0.5 * x * x) / std::sqrt(2 * kPi);
}
double Phi(double x) {
    return 0.5 * std::erfc(-x / std::sqrt(2.0));
}

bool rel_close(double a, double b, double rel, double abs_tol = 0.0) {
    return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b)) + abs_tol;
}

struct SampleStats {
    double mean = 0, var = 0, m4 = 0;
};

/// One draw from each of the streams (seed, trial, quantity_id(name)), trial = 0 .. n-1.
SampleStats sample_stats(const Dist &d, const std::string &name, int n, SampleContext ctx = {}) {
    std::vector<double> x(static_cast<std::size_t>(n));
    const auto q = quantity_id(name);
    for (int i = 0; i < n; ++i) {
        Stream s(2024, static_cast<std::uint64_t>(i), q);
        x[static_cast<std::size_t>(i)] = d.sample(s, ctx);
    }
    SampleStats st;
    long double sum = 0;
    for (double v : x)
        sum += v;
    st.mean = static_cast<double>(sum / n);
    long double s2 = 0, s4 = 0;
    for (double v : x) {
        const long double dv = v - st.mean;
        s2 += dv * dv;
        s4 += dv * dv * dv * dv;
    }
    st.var = static_cast<double>(s2 / (n - 1));
    st.m4 = static_cast<double>(s4 / n);
    return st;
}

/// Checks Dist::mean()/variance() against the closed form (1e-9 relative: both are formulas),
/// then the sample mean and variance of N = 200000 draws against both, within 5 standard errors.
/// SE of the mean: sqrt(var / N) with the closed-form variance. SE of the sample variance:
/// sqrt((mu4 - var^2) / N), with mu4 the sample fourth central moment (the large-N variance of the
/// sample variance). A false alarm at 5 SE has probability < 1e-6 per check; the draws are
/// fixed by the seed, so the test is deterministic.
void check_moments(const std::string &name, const Dist &d, double mean_cf, double var_cf,
                   SampleContext ctx = {}) {
    const int N = 200000;
    INFO(name << ": closed form mean " << mean_cf << " var " << var_cf << "; Dist::mean() "
              << d.mean() << " Dist::variance() " << d.variance());
    CHECK(rel_close(d.mean(), mean_cf, 1e-9, 1e-12));
    CHECK(rel_close(d.variance(), var_cf, 1e-9, 1e-12));
    const auto st = sample_stats(d, name, N, ctx);
    const double se_mean = std::sqrt(var_cf / N);
    const double se_var = std::sqrt(std::max(0.0, st.m4 - st.var * st.var) / N);
    INFO("sample mean " << st.mean << " (SE " << se_mean << "), sample var " << st.var << " (SE "
                        << se_var << ")");
    CHECK(std::abs(st.mean - mean_cf) <= 5 * se_mean);
    CHECK(std::abs(st.mean - d.mean()) <= 5 * se_mean);
    CHECK(std::abs(st.var - var_cf) <= 5 * se_var);
    CHECK(std::abs(st.var - d.variance()) <= 5 * se_var);
}

struct Golden {
    const char *name;
    Dist dist;
    double v[3];
};

// REGRESSION GOLDENS, not independent truth: the first 3 samples of each distribution from the
// stream (seed 42, trial 7, quantity_id("golden")), generated once by running this code
// (CHOKEPOINT_PRINT_GOLDENS=1 ./test_distributions "[golden]" prints them with %.17g). A change
// means every result of every config changes: bump them only on purpose. Compared to 1e-13
// relative so that a last-bit difference of a platform's libm (exp, log, erf) does not fail.
std::vector<Golden> goldens() {
    return {
        {"fixed", Dist::fixed(2.5), {2.5, 2.5, 2.5}},
        {"uniform",
         Dist::uniform(-1.0, 3.0),
         {2.8430054950503214, 2.1820269992379711, 0.2947292974499327}},
        {"triangular",
         Dist::triangular(1.0, 2.0, 5.0),
         {4.3137176128960935, 3.4335010366150618, 2.1511735560673051}},
        {"pert",
         Dist::pert(600.0, 750.0, 900.0),
         {736.07126021711156, 767.38126499473753, 617.98423224087662}},
        {"pert_lambda2",
         Dist::pert(0.0, 1.0, 10.0, 2.0),
         {0.27707818203049722, 2.3203533317476528, 5.524317284315261}},
        {"normal",
         Dist::normal(10.0, 2.0),
         {8.2098969185915571, 7.0778404584529495, 12.08651127885245}},
        {"normal_trunc0",
         Dist::normal(0.3, 1.0, 0.0),
         {2.2729228844493665, 1.4437738674391241, 0.50725741028034876}},
        {"lognormal_median",
         Dist::lognormal_median(100.0, 0.4),
         {69.90586628676536, 55.742243893695147, 151.78612259216081}},
        {"lognormal_moments",
         Dist::lognormal_moments(50.0, 20.0),
         {32.884175668977257, 26.441305489738102, 69.389152082537919}},
        {"beta",
         Dist::beta(2.0, 5.0, 10.0, 20.0),
         {12.235695776587587, 11.746925479674363, 13.828812705834666}},
        {"gamma",
         Dist::gamma(2.5, 4.0),
         {5.0085447441354347, 6.2704750942051994, 8.6693283544408946}},
        {"gamma_shape_below_1",
         Dist::gamma(0.5, 2.0),
         {0.18592352722433053, 5.8701678666611983, 0.54569151452604481}},
        {"exponential",
         Dist::exponential(3.0),
         {2.1125846866886206, 5.4235076552000034, 5.7118384331166689}},
        {"bernoulli", Dist::bernoulli(0.6), {0, 0, 1}},
        {"discrete", Dist::discrete({1.0, 2.0, 10.0}, {1.0, 3.0, 0.5}), {10, 2, 2}},
    };
}

} // namespace

TEST_CASE("golden samples (regression): seed 42, trial 7, quantity 'golden'", "[golden]") {
    const bool print = std::getenv("CHOKEPOINT_PRINT_GOLDENS") != nullptr;
    for (const auto &g : goldens()) {
        Stream s(42, 7, quantity_id("golden"));
        double got[3];
        for (double &v : got)
            v = g.dist.sample(s, SampleContext{});
        if (print)
            std::printf("{\"%s\", ..., {%.17g, %.17g, %.17g}},\n", g.name, got[0], got[1], got[2]);
        for (int i = 0; i < 3; ++i) {
            INFO(g.name << " sample " << i << ": got " << got[i] << ", golden " << g.v[i]);
            CHECK(rel_close(got[i], g.v[i], 1e-13));
        }
    }
}

TEST_CASE("moments: fixed", "[moments]") {
    const auto st = sample_stats(Dist::fixed(7.25), "fixed", 1000);
    CHECK(st.mean == 7.25);
    CHECK(st.var == 0.0);
    CHECK(Dist::fixed(7.25).mean() == 7.25);
    CHECK(Dist::fixed(7.25).variance() == 0.0);
}

TEST_CASE("moments: uniform", "[moments]") {
    const double a = -1, b = 3;
    check_moments("uniform", Dist::uniform(a, b), (a + b) / 2, (b - a) * (b - a) / 12);
}

TEST_CASE("moments: triangular", "[moments]") {
    const double a = 1, c = 2, b = 5; // min, mode, max
    check_moments("triangular", Dist::triangular(a, c, b), (a + b + c) / 3,
                  (a * a + b * b + c * c - a * b - a * c - b * c) / 18);
    // symmetric and degenerate-side cases
    check_moments("triangular_left", Dist::triangular(0, 0, 6), 2.0, 36.0 / 18);
}

TEST_CASE("moments: PERT", "[moments]") {
    // PERT(a, m, b, lambda) = a + (b - a) Beta(1 + lambda (m-a)/(b-a), 1 + lambda (b-m)/(b-a))
    auto pert_cf = [](double a, double m, double b, double lambda) {
        const double al = 1 + lambda * (m - a) / (b - a), be = 1 + lambda * (b - m) / (b - a);
        const double mean = a + (b - a) * al / (al + be);
        const double var = (b - a) * (b - a) * al * be / ((al + be) * (al + be) * (al + be + 1));
        return std::make_pair(mean, var);
    };
    auto [m1, v1] = pert_cf(600, 750, 900, 4);
    check_moments("pert", Dist::pert(600, 750, 900), m1, v1);
    CHECK(m1 == Approx((600 + 4 * 750 + 900) / 6.0).epsilon(1e-12)); // the classic (a+4m+b)/6
    auto [m2, v2] = pert_cf(0, 1, 10, 2);
    check_moments("pert_skewed_lambda2", Dist::pert(0, 1, 10, 2), m2, v2);
}

TEST_CASE("moments: normal", "[moments]") {
    check_moments("normal", Dist::normal(10, 2), 10, 4);
}

TEST_CASE("moments: normal truncated at 0 with mean near 0", "[moments]") {
    // X ~ N(mu, s) conditioned on X >= 0: alpha = -mu/s, Z = 1 - Phi(alpha),
    // mean = mu + s phi(alpha)/Z, var = s^2 (1 + alpha phi(alpha)/Z - (phi(alpha)/Z)^2).
    const double mu = 0.3, s = 1.0, al = -mu / s, Z = 1 - Phi(al), r = phi(al) / Z;
    check_moments("normal_trunc0", Dist::normal(mu, s, 0.0), mu + s * r,
                  s * s * (1 + al * r - r * r));
    // Both sides truncated: [lo, hi] = [-1, 0.5] around mean 0.
    const double lo = -1, hi = 0.5, a = lo, b = hi; // s = 1, mu = 0
    const double Z2 = Phi(b) - Phi(a);
    const double mean2 = (phi(a) - phi(b)) / Z2;
    const double var2 = 1 + (a * phi(a) - b * phi(b)) / Z2 - mean2 * mean2;
    check_moments("normal_trunc_both", Dist::normal(0.0, 1.0, lo, hi), mean2, var2);
    // A truncation far in the tail (inverse-CDF sampling must stay exact there).
    const double mu3 = -3.0, al3 = 3.0, Z3 = 1 - Phi(al3), r3 = phi(al3) / Z3;
    const auto d3 = Dist::normal(mu3, 1.0, 0.0);
    check_moments("normal_trunc_tail", d3, mu3 + r3, 1 + al3 * r3 - r3 * r3);
    const auto st = sample_stats(d3, "normal_trunc_tail_min", 10000);
    CHECK(st.mean > 0);
}

TEST_CASE("moments: lognormal by median and sigma, and by mean and sd", "[moments]") {
    const double med = 100, sig = 0.4;
    check_moments("lognormal_median", Dist::lognormal_median(med, sig),
                  med * std::exp(sig * sig / 2),
                  med * med * std::exp(sig * sig) * (std::exp(sig * sig) - 1));
    // by its own mean and sd: those are the moments
    check_moments("lognormal_moments", Dist::lognormal_moments(50, 20), 50, 400);
}

TEST_CASE("moments: beta scaled to [lo, hi]", "[moments]") {
    const double a = 2, b = 5, lo = 10, hi = 20;
    check_moments("beta", Dist::beta(a, b, lo, hi), lo + (hi - lo) * a / (a + b),
                  (hi - lo) * (hi - lo) * a * b / ((a + b) * (a + b) * (a + b + 1)));
    check_moments("beta_unit_u_shaped", Dist::beta(0.5, 0.5), 0.5, 0.25 / 2);
}

TEST_CASE("moments: gamma by shape and scale", "[moments]") {
    check_moments("gamma", Dist::gamma(2.5, 4.0), 10.0, 40.0);
    check_moments("gamma_shape_below_1", Dist::gamma(0.5, 2.0), 1.0, 2.0);
}

TEST_CASE("moments: exponential", "[moments]") {
    check_moments("exponential", Dist::exponential(3.0), 3.0, 9.0);
}

TEST_CASE("moments: bernoulli", "[moments]") {
    check_moments("bernoulli", Dist::bernoulli(0.3), 0.3, 0.21);
    // p = 0 and p = 1 are constants
    CHECK(sample_stats(Dist::bernoulli(0.0), "b0", 1000).mean == 0.0);
    CHECK(sample_stats(Dist::bernoulli(1.0), "b1", 1000).mean == 1.0);
}

TEST_CASE("moments: discrete, and each value's frequency", "[moments]") {
    const std::vector<double> v{1.0, 2.0, 10.0}, w{1.0, 3.0, 0.5};
    const double W = 4.5;
    double mean = 0, m2 = 0;
    for (std::size_t i = 0; i < v.size(); ++i)
        mean += v[i] * w[i] / W;
    for (std::size_t i = 0; i < v.size(); ++i)
        m2 += (v[i] - mean) * (v[i] - mean) * w[i] / W;
    const auto d = Dist::discrete(v, w);
    check_moments("discrete", d, mean, m2);
    // frequencies within 5 SE of w_i / W (binomial SE sqrt(p (1 - p) / N))
    const int N = 200000;
    std::vector<int> count(3, 0);
    for (int i = 0; i < N; ++i) {
        Stream s(5, static_cast<std::uint64_t>(i), quantity_id("discrete_freq"));
        const double x = d.sample(s, {});
        for (std::size_t k = 0; k < 3; ++k)
            count[k] += x == v[k];
    }
    CHECK(count[0] + count[1] + count[2] == N);
    for (std::size_t k = 0; k < 3; ++k) {
        const double p = w[k] / W;
        CHECK(std::abs(count[k] / double(N) - p) <= 5 * std::sqrt(p * (1 - p) / N));
    }
    // a zero weight is never drawn
    const auto dz = Dist::discrete({1.0, 2.0, 3.0}, {1.0, 0.0, 1.0});
    for (int i = 0; i < 20000; ++i) {
        Stream s(6, static_cast<std::uint64_t>(i), 1);
        REQUIRE(dz.sample(s, {}) != 2.0);
    }
}

TEST_CASE("support() of each kind", "[dist]") {
    CHECK(Dist::fixed(3).support() == std::make_pair(3.0, 3.0));
    CHECK(Dist::uniform(1, 2).support() == std::make_pair(1.0, 2.0));
    CHECK(Dist::pert(1, 2, 4).support() == std::make_pair(1.0, 4.0));
    CHECK(Dist::beta(2, 2, 5, 7).support() == std::make_pair(5.0, 7.0));
    CHECK(Dist::normal(0, 1, 0.0).support().first == 0.0);
    CHECK(Dist::gamma(2, 2).support().first == 0.0);
    CHECK(Dist::bernoulli(0.5).support() == std::make_pair(0.0, 1.0));
    CHECK(Dist::discrete({4, -1, 2}, {1, 1, 1}).support() == std::make_pair(-1.0, 4.0));
}

TEST_CASE("product of factors and independent draws, with a SampleContext", "[composite]") {
    // {product: [2, uniform(0,1), factor 0]} with factor 0 = 3: 2 * U * 3, U the stream's first
    // uniform draw.
    Dist f;
    f.kind = Dist::Kind::Factor;
    f.factor = 0;
    Dist p;
    p.kind = Dist::Kind::Product;
    p.children = {Dist::fixed(2), Dist::uniform(0, 1), f};
    const double factors[] = {3.0};
    SampleContext ctx{0, factors};
    for (std::uint64_t t = 0; t < 100; ++t) {
        Stream s1(11, t, 99), s2(11, t, 99);
        const double u = s2.uniform01();
        CHECK(p.sample(s1, ctx) == 2 * u * 3.0);
    }
    Stream any(1, 1, 1);
    CHECK(f.sample(any, ctx) == 3.0);

    // Two independent children drawn in order from one stream: E[XY] = E[X] E[Y],
    // Var(XY) = E[X^2] E[Y^2] - (E[X] E[Y])^2. X ~ U(0,1), Y ~ U(1,3): mean 1, var 1/3 * 13/3 - 1.
    Dist q;
    q.kind = Dist::Kind::Product;
    q.children = {Dist::uniform(0, 1), Dist::uniform(1, 3)};
    const auto st = sample_stats(q, "product", 200000);
    const double var = (1.0 / 3) * (13.0 / 3) - 1.0;
    CHECK(std::abs(st.mean - 1.0) <= 5 * std::sqrt(var / 200000));
    CHECK(std::abs(st.var - var) <= 5 * std::sqrt((st.m4 - st.var * st.var) / 200000));
    CHECK(std::isnan(q.mean())); // composites have no closed form
}

TEST_CASE("by_regime picks the child of the context's regime", "[composite]") {
    Dist r;
    r.kind = Dist::Kind::ByRegime;
    r.children = {Dist::fixed(1.5), Dist::uniform(10, 20), Dist::bernoulli(1.0)};
    for (std::uint64_t t = 0; t < 50; ++t) {
        Stream a(3, t, 4), b(3, t, 4);
        CHECK(r.sample(a, SampleContext{0, nullptr}) == 1.5);
        const double x = r.sample(a, SampleContext{1, nullptr});
        // regime 1 draws the uniform from the stream (after regime 0's fixed draw used none)
        CHECK(x == Dist::uniform(10, 20).sample(b, {}));
        CHECK(r.sample(a, SampleContext{2, nullptr}) == 1.0);
    }
    CHECK(r.support() == std::make_pair(1.0, 20.0));
}

// --- the loader's conversions -------------------------------------------------------------------

namespace {
Model load_caps(const std::string &caps_yaml) {
    const std::string text = R"(
regimes:
  - {id: calm, weight: 0.7}
  - {id: war, weight: 0.3}
factors:
  - id: grade
    dist: {uniform: {min: 0.5, max: 1.5}}
products:
  - id: p
facilities:
)" + caps_yaml + R"(
demands:
  - {id: d, product: p, country: US, quantity: 1}
)";
    return load_model_from_string(text, "dists.yaml");
}
const Dist &cap(const Model &m, const std::string &id) {
    for (const auto &f : m.facilities)
        if (f.id == id)
            return f.capacity;
    FAIL("no facility " << id);
    return m.facilities.front().capacity;
}
} // namespace

TEST_CASE("loader: parameterisations convert to the stated moments", "[loader]") {
    const Model m = load_caps(R"(
  - {id: g_ms, product: p, country: US, capacity: {gamma: {mean: 12, sd: 3}}}
  - {id: g_ks, product: p, country: US, capacity: {gamma: {shape: 2, scale: 5}}}
  - {id: ln_ms, product: p, country: US, capacity: {lognormal: {mean: 50, sd: 20}}}
  - {id: ln_med, product: p, country: US, capacity: {lognormal: {median: 100, sigma: 0.4}}}
  - {id: ex_rate, product: p, country: US, capacity: {exponential: {rate: 0.25}}}
  - {id: ex_mean, product: p, country: US, capacity: {exponential: {mean: 4}}}
  - {id: nrm, product: p, country: US, capacity: {normal: {mean: 0.3, sd: 1}}}
  - {id: nrm_mm, product: p, country: US, capacity: {normal: {mean: 5, sd: 1, min: 4, max: 7}}}
  - {id: pert_l, product: p, country: US, capacity: {pert: {min: 0, mode: 1, max: 10, lambda: 2}}}
  - {id: beta_s, product: p, country: US, capacity: {beta: {a: 2, b: 5, min: 10, max: 20}}}
  - {id: disc_eq, product: p, country: US, capacity: {discrete: {values: [1, 2, 6]}}}
  - {id: fix, product: p, country: US, capacity: {fixed: 12.5}}
  - {id: plain, product: p, country: US, capacity: 7}
)");
    CHECK(cap(m, "g_ms").kind == Dist::Kind::Gamma);
    CHECK(cap(m, "g_ms").mean() == Approx(12).epsilon(1e-12));
    CHECK(cap(m, "g_ms").variance() == Approx(9).epsilon(1e-12));
    check_moments("loader_gamma_mean_sd", cap(m, "g_ms"), 12, 9);
    CHECK(cap(m, "g_ks").a == 2);
    CHECK(cap(m, "g_ks").b == 5);
    CHECK(cap(m, "ln_ms").mean() == Approx(50).epsilon(1e-12));
    CHECK(cap(m, "ln_ms").variance() == Approx(400).epsilon(1e-12));
    CHECK(std::exp(cap(m, "ln_med").a) == Approx(100).epsilon(1e-12));
    CHECK(cap(m, "ln_med").b == 0.4);
    CHECK(cap(m, "ex_rate").mean() == Approx(4).epsilon(1e-12));
    CHECK(cap(m, "ex_mean").mean() == 4);
    // A capacity cannot be negative: an unbounded normal is truncated at 0 (config reference).
    CHECK(cap(m, "nrm").lo == 0.0);
    CHECK(std::isinf(cap(m, "nrm").hi));
    {
        const double al = -0.3, r = phi(al) / (1 - Phi(al));
        check_moments("loader_normal_capacity", cap(m, "nrm"), 0.3 + r, 1 + al * r - r * r);
    }
    CHECK(cap(m, "nrm_mm").lo == 4.0);
    CHECK(cap(m, "nrm_mm").hi == 7.0);
    CHECK(cap(m, "pert_l").d == 2.0);
    CHECK(cap(m, "beta_s").lo == 10.0);
    CHECK(cap(m, "beta_s").hi == 20.0);
    CHECK(cap(m, "disc_eq").mean() == Approx(3).epsilon(1e-12));
    CHECK(cap(m, "fix").kind == Dist::Kind::Fixed);
    CHECK(cap(m, "fix").a == 12.5);
    CHECK(cap(m, "plain").a == 7);
}

TEST_CASE("loader: product of factors and by_regime", "[loader]") {
    const Model m = load_caps(R"(
  - {id: byp, product: p, country: CN, capacity: {product: [1000, {factor: grade}, {uniform: {min: 0.5, max: 0.7}}]}}
  - id: reg
    product: p
    country: CN
    capacity: {by_regime: {war: 5, default: {uniform: {min: 10, max: 12}}}}
)");
    const Dist &byp = cap(m, "byp");
    REQUIRE(byp.kind == Dist::Kind::Product);
    REQUIRE(byp.children.size() == 3);
    CHECK(byp.children[1].kind == Dist::Kind::Factor);
    CHECK(byp.children[1].factor == 0);
    CHECK(std::isinf(byp.support(nullptr).second)); // factor support unknown without the factors
    const std::vector<Dist> fdists{m.factors[0].dist};
    CHECK(byp.support(&fdists).first == Approx(1000 * 0.5 * 0.5));
    CHECK(byp.support(&fdists).second == Approx(1000 * 1.5 * 0.7));
    const double factors[] = {1.25};
    for (std::uint64_t t = 0; t < 20; ++t) {
        Stream a(1, t, 2), b(1, t, 2);
        const double x = byp.sample(a, SampleContext{0, factors});
        CHECK(x == Approx(1000 * 1.25 * (0.5 + 0.2 * b.uniform01())).epsilon(1e-15));
    }
    const Dist &reg = cap(m, "reg");
    REQUIRE(reg.kind == Dist::Kind::ByRegime);
    REQUIRE(reg.children.size() == 2); // one per regime, in regime order: calm, war
    CHECK(reg.children[0].kind == Dist::Kind::Uniform); // calm: the default
    CHECK(reg.children[1].a == 5);
    Stream s(1, 1, 1);
    CHECK(reg.sample(s, SampleContext{1, nullptr}) == 5);
    const double calm = reg.sample(s, SampleContext{0, nullptr});
    CHECK((calm >= 10 && calm <= 12));
}

// --- inverse-CDF sampling: Dist::from_uniform, Dist::uniforms ----------------------------------

namespace {

double fu(const Dist &d, double u, SampleContext ctx = {}) {
    return d.from_uniform(&u, ctx);
}

constexpr double kInfD = std::numeric_limits<double>::infinity();

/// The truncated normal's quantile by Boost.Math (default policy) on the CDF scale, the way
/// sample() inverts it, except that a truncation above the mean uses the upper-tail (complement)
/// probabilities, which have the digits there.
double trunc_normal_ref(double mean, double sd, double lo, double hi, double u) {
    const boost::math::normal_distribution<double> n(mean, sd);
    if (lo >= mean) {
        const double qlo = boost::math::cdf(boost::math::complement(n, lo));
        const double qhi = (hi == kInfD) ? 0.0 : boost::math::cdf(boost::math::complement(n, hi));
        return boost::math::quantile(boost::math::complement(n, qlo - u * (qlo - qhi)));
    }
    const double plo = (lo == -kInfD) ? 0.0 : boost::math::cdf(n, lo);
    const double phi_ = (hi == kInfD) ? 1.0 : boost::math::cdf(n, hi);
    return boost::math::quantile(n, plo + u * (phi_ - plo));
}

struct QuantileCase {
    std::string name;
    Dist dist;
    std::function<double(double)> quantile; // independent reference (Boost.Math or closed form)
    double median;                          // reference median
    double scale;                           // absolute tolerance scale (a spread of the values)
};

/// One case per kind and parameterisation (the goldens' and the moments tests' distributions).
std::vector<QuantileCase> quantile_cases() {
    namespace bm = boost::math;
    std::vector<QuantileCase> v;
    v.push_back({"uniform", Dist::uniform(-1, 3), [](double u) { return -1 + 4 * u; }, 1.0, 4});
    // triangular(a, m, b): F^-1(u) = a + sqrt(u (b-a)(m-a)) below F(m) = (m-a)/(b-a), else
    // b - sqrt((1-u)(b-a)(b-m)); median (1, 2, 5): F(2) = 1/4 < 1/2, so 5 - sqrt(0.5 * 4 * 3).
    auto tri = [](double a, double m, double b) {
        return [=](double u) {
            return u < (m - a) / (b - a) ? a + std::sqrt(u * (b - a) * (m - a))
                                         : b - std::sqrt((1 - u) * (b - a) * (b - m));
        };
    };
    v.push_back({"triangular", Dist::triangular(1, 2, 5), tri(1, 2, 5), 5 - std::sqrt(6.0), 4});
    v.push_back(
        {"triangular_left", Dist::triangular(0, 0, 6), tri(0, 0, 6), 6 - std::sqrt(0.5 * 36), 6});
    auto pert = [](double a, double m, double b, double lambda) {
        const bm::beta_distribution<double> be(1 + lambda * (m - a) / (b - a),
                                               1 + lambda * (b - m) / (b - a));
        return std::make_pair(std::function<double(double)>(
                                  [=](double u) { return a + (b - a) * bm::quantile(be, u); }),
                              a + (b - a) * bm::median(be));
    };
    {
        auto [q, med] = pert(600, 750, 900, 4);
        v.push_back({"pert", Dist::pert(600, 750, 900), q, med, 300}); // symmetric: median 750
    }
    {
        auto [q, med] = pert(0, 1, 10, 2);
        v.push_back({"pert_lambda2", Dist::pert(0, 1, 10, 2), q, med, 10});
    }
    {
        const bm::normal_distribution<double> n(10, 2);
        v.push_back(
            {"normal", Dist::normal(10, 2), [=](double u) { return bm::quantile(n, u); }, 10.0, 2});
    }
    auto tn = [&](const std::string &name, double mean, double sd, double lo, double hi) {
        v.push_back({name, Dist::normal(mean, sd, lo, hi),
                     [=](double u) { return trunc_normal_ref(mean, sd, lo, hi, u); },
                     trunc_normal_ref(mean, sd, lo, hi, 0.5), sd});
    };
    tn("normal_trunc0", 0.3, 1.0, 0.0, kInfD);
    tn("normal_trunc_both", 0.0, 1.0, -1.0, 0.5);
    tn("normal_trunc_tail", -3.0, 1.0, 0.0, kInfD);  // lo 3 sd above the mean
    tn("normal_trunc_below", 5.0, 2.0, -kInfD, 1.0); // hi 2 sd below the mean
    tn("normal_trunc_at_mean", 4.0, 0.5, 4.0, kInfD);
    {
        const bm::lognormal_distribution<double> ln(std::log(100.0), 0.4);
        v.push_back({"lognormal_median", Dist::lognormal_median(100, 0.4),
                     [=](double u) { return bm::quantile(ln, u); }, 100.0, 40});
        const auto d = Dist::lognormal_moments(50, 20);
        const bm::lognormal_distribution<double> lm(d.a, d.b);
        v.push_back({"lognormal_moments", d, [=](double u) { return bm::quantile(lm, u); },
                     std::exp(d.a), 20});
    }
    {
        const bm::beta_distribution<double> be(2, 5), bu(0.5, 0.5);
        v.push_back({"beta", Dist::beta(2, 5, 10, 20),
                     [=](double u) { return 10 + 10 * bm::quantile(be, u); },
                     10 + 10 * bm::median(be), 10});
        v.push_back({"beta_unit_u_shaped", Dist::beta(0.5, 0.5),
                     [=](double u) { return bm::quantile(bu, u); }, 0.5, 1});
    }
    {
        const bm::gamma_distribution<double> g(2.5, 4.0), g2(0.5, 2.0);
        v.push_back({"gamma", Dist::gamma(2.5, 4.0), [=](double u) { return bm::quantile(g, u); },
                     bm::median(g), 6});
        v.push_back({"gamma_shape_below_1", Dist::gamma(0.5, 2.0),
                     [=](double u) { return bm::quantile(g2, u); }, bm::median(g2), 1.4});
    }
    {
        const bm::exponential_distribution<double> e(1.0 / 3.0);
        v.push_back({"exponential", Dist::exponential(3.0),
                     [=](double u) { return bm::quantile(e, u); }, 3.0 * std::log(2.0), 3});
    }
    // Bernoulli(p): 1 on the upper tail u > 1 - p. Discrete: the first value whose cumulative
    // probability (1/4.5, 4/4.5, 1) reaches u.
    v.push_back(
        {"bernoulli", Dist::bernoulli(0.3), [](double u) { return u > 0.7 ? 1.0 : 0.0; }, 0.0, 1});
    v.push_back({"bernoulli_0", Dist::bernoulli(0.0), [](double) { return 0.0; }, 0.0, 1});
    v.push_back({"bernoulli_1", Dist::bernoulli(1.0), [](double) { return 1.0; }, 1.0, 1});
    v.push_back({"discrete", Dist::discrete({1.0, 2.0, 10.0}, {1.0, 3.0, 0.5}),
                 [](double u) { return u <= 1 / 4.5   ? 1.0
                                       : u <= 4 / 4.5 ? 2.0
                                                      : 10.0; }, 2.0, 3});
    v.push_back({"fixed", Dist::fixed(2.5), [](double) { return 2.5; }, 2.5, 1});
    return v;
}

const double kU1 = 1.0 - 0x1.0p-53; // the largest double below 1

} // namespace

TEST_CASE("from_uniform: the median and the quantile function of every kind", "[from_uniform]") {
    const double us[] = {0.001, 0.01, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.99, 0.999};
    for (const auto &c : quantile_cases()) {
        INFO(c.name << " (" << c.dist.describe() << ")");
        CHECK(c.dist.uniforms() == (c.dist.kind == Dist::Kind::Fixed ? 0 : 1));
        const double med = fu(c.dist, 0.5);
        INFO("median: from_uniform " << med << ", reference " << c.median);
        CHECK(rel_close(med, c.median, 1e-12, 1e-12 * c.scale));
        for (double u : us) {
            const double got = fu(c.dist, u), want = c.quantile(u);
            INFO("u = " << u << ": from_uniform " << got << ", reference " << want);
            CHECK(rel_close(got, want, 1e-12, 1e-12 * c.scale));
        }
    }
}

TEST_CASE("from_uniform: non-decreasing over a grid of u, extremes included", "[from_uniform]") {
    std::vector<double> us{1e-300, 1e-200, 1e-100, 1e-16};
    for (int i = 0; i < 1000; ++i)
        us.push_back((i + 0.5) / 1000);
    us.insert(us.end(), {1 - 1e-12, 1 - 1e-15, kU1});
    auto cases = quantile_cases();
    cases.push_back({"normal_far_tail", Dist::normal(0, 1, 8.0), nullptr, 0, 1});
    cases.push_back({"normal_far_lower_tail", Dist::normal(0, 1, -kInfD, -40.0), nullptr, 0, 1});
    cases.push_back(
        {"normal_far_slab", Dist::normal(2, 3, 2 + 3 * 40.0, 2 + 3 * 41.0), nullptr, 0, 1});
    for (const auto &c : cases) {
        INFO(c.name);
        double prev = -kInfD;
        int bad = 0;
        for (double u : us) {
            const double x = fu(c.dist, u);
            bad += !(x >= prev);
            prev = x;
        }
        CHECK(bad == 0);
    }
}

TEST_CASE("from_uniform: stratified mean and variance match mean() and variance()",
          "[from_uniform]") {
    // u_i = (i + 0.5) / N, N = 100000: a midpoint rule for E[X] = int_0^1 F^-1(u) du, far more
    // accurate than N random draws. Its error comes from the tails' end cells (unbounded
    // quantiles) and the jumps of Bernoulli/discrete (<= 1/N each): observed <= 5e-6 for the
    // means and <= 1.6e-4 for the variances (the heavier tails: gamma(0.5), lognormal), so the
    // tolerance is 1e-3 of the variance, and of max(|mean|, sd) for the mean.
    // CHOKEPOINT_PRINT_STRATIFIED=1 prints the errors.
    const int N = 100000;
    for (const auto &c : quantile_cases()) {
        long double s = 0, s2 = 0;
        for (int i = 0; i < N; ++i)
            s += fu(c.dist, (i + 0.5) / N);
        const double m = static_cast<double>(s / N);
        for (int i = 0; i < N; ++i) {
            const long double dv = fu(c.dist, (i + 0.5) / N) - m;
            s2 += dv * dv;
        }
        const double var = static_cast<double>(s2 / N);
        const double sd = std::sqrt(c.dist.variance());
        if (std::getenv("CHOKEPOINT_PRINT_STRATIFIED"))
            std::printf("%s: mean err %.3g (rel to max(|mean|, sd)), var err %.3g (rel)\n",
                        c.name.c_str(),
                        std::abs(m - c.dist.mean()) / std::max(std::abs(c.dist.mean()), sd),
                        std::abs(var - c.dist.variance()) / c.dist.variance());
        INFO(c.name << ": stratified mean " << m << " var " << var << "; mean() " << c.dist.mean()
                    << " variance() " << c.dist.variance());
        CHECK(std::abs(m - c.dist.mean()) <= 1e-3 * std::max(std::abs(c.dist.mean()), sd) + 1e-15);
        CHECK(std::abs(var - c.dist.variance()) <= 1e-3 * c.dist.variance() + 1e-15);
    }
}

TEST_CASE("from_uniform(U) and sample() have the same distribution (two-sample KS)",
          "[from_uniform]") {
    // n = m = 20000 draws each, U from Stream::uniform01 (its own streams, so the two samples are
    // independent). Two-sample Kolmogorov-Smirnov at alpha = 0.001: reject when
    // D > c(alpha) sqrt((n + m) / (n m)), c(0.001) = sqrt(-ln(0.001 / 2) / 2) = 1.949, so
    // D_crit = 1.949 * sqrt(2 / 20000) = 0.01949. For the discrete cases (Bernoulli, discrete)
    // the test is conservative. Deterministic: the streams are fixed by their seeds. (Not for a
    // truncation far out, [mean + 8 sd, inf): there sample() itself degenerates, its
    // Phi(lo) + U (1 - Phi(lo)) taking a handful of double values; from_uniform is checked
    // against mpmath instead.)
    const int n = 20000;
    const double d_crit = 1.949 * std::sqrt(2.0 / n);
    const auto cases = quantile_cases();
    for (const auto &c : cases) {
        std::vector<double> x(n), y(n);
        for (int i = 0; i < n; ++i) {
            Stream su(77, static_cast<std::uint64_t>(i), quantity_id("ks_from_uniform/" + c.name));
            Stream ss(78, static_cast<std::uint64_t>(i), quantity_id("ks_sample/" + c.name));
            x[static_cast<std::size_t>(i)] = fu(c.dist, su.uniform01());
            y[static_cast<std::size_t>(i)] = c.dist.sample(ss, {});
        }
        std::sort(x.begin(), x.end());
        std::sort(y.begin(), y.end());
        // sup |F_x - F_y| over the pooled values, ties stepped over together.
        double D = 0;
        std::size_t i = 0, j = 0;
        while (i < x.size() && j < y.size()) {
            const double t = std::min(x[i], y[j]);
            while (i < x.size() && x[i] == t)
                ++i;
            while (j < y.size() && y[j] == t)
                ++j;
            D = std::max(D, std::abs(double(i) / n - double(j) / n));
        }
        INFO(c.name << ": KS D = " << D << ", critical " << d_crit);
        CHECK(D < d_crit);
    }
}

TEST_CASE("from_uniform: extremes of u stay finite and within support()", "[from_uniform]") {
    auto cases = quantile_cases();
    cases.push_back({"normal_far_tail", Dist::normal(0, 1, 8.0), nullptr, 0, 1});
    cases.push_back({"normal_far_lower_tail", Dist::normal(0, 1, -kInfD, -8.0), nullptr, 0, 1});
    cases.push_back({"normal_40sd", Dist::normal(0, 1, 40.0), nullptr, 0, 1});
    cases.push_back({"normal_1000sd_below", Dist::normal(0, 1, -kInfD, -1000.0), nullptr, 0, 1});
    cases.push_back({"normal_slab_40_41", Dist::normal(0, 1, 40.0, 41.0), nullptr, 0, 1});
    cases.push_back({"beta_tiny_shape", Dist::beta(0.05, 0.05), nullptr, 0, 1});
    cases.push_back({"gamma_tiny_shape", Dist::gamma(0.01, 1.0), nullptr, 0, 1});
    cases.push_back({"lognormal_wide", Dist::lognormal_median(1.0, 5.0), nullptr, 0, 1});
    cases.push_back({"pert_degenerate", Dist::pert(3, 3, 3), nullptr, 0, 1});
    const double us[] = {1e-300,
                         1e-16,
                         0.5,
                         1 - 1e-16,
                         kU1,
                         0.0,
                         1.0, // outside (0, 1): clamped, still finite
                         std::numeric_limits<double>::denorm_min()};
    for (const auto &c : cases) {
        const auto [lo, hi] = c.dist.support();
        for (double u : us) {
            double x = 0;
            REQUIRE_NOTHROW(x = fu(c.dist, u));
            INFO(c.name << " at u = " << u << ": " << x << ", support [" << lo << ", " << hi
                        << "]");
            CHECK(std::isfinite(x));
            CHECK(x >= lo);
            CHECK(x <= hi);
        }
    }
}

TEST_CASE("from_uniform: truncated normal far in the tails (mpmath references)", "[from_uniform]") {
    // References: the standard normal truncated to [lo, hi] inverted at 400 digits by mpmath
    // (Q(x) = erfc(x / sqrt 2) / 2, findroot on log Q). Compared to 1e-14 relative.
    struct Ref {
        double lo, hi, u, x;
    };
    const Ref refs[] = {
        {8, kInfD, 1e-300, 8.0},
        {8, kInfD, 0.1, 8.0129630496072725},
        {8, kInfD, 0.5, 8.0849110073915441},
        {8, kInfD, 0.9, 8.2788033416911982},
        {8, kInfD, kU1, 11.693169781421483},
        {-kInfD, -8, 1e-300, -37.979791475189364},
        {-kInfD, -8, 0.5, -8.0849110073915441},
        {40, kInfD, 0.1, 40.002632283207007},
        {40, kInfD, 0.5, 40.017314126764651},
        {40, kInfD, 0.9, 40.057487458036022},
        {40, kInfD, kU1, 40.907563906503473},
        {40, 41, kU1, 40.907016863748095},
        {-kInfD, -40, 1e-300, -54.597888255653815},
        {-kInfD, -40, 0.5, -40.017314126764651},
        {-kInfD, -1000, 0.5, -1000.0006931462472},
        {-kInfD, -1000, 1e-300, -1000.6905364173297},
        {30, kInfD, 0.5, 30.023070467827311},
        {33, kInfD, 0.9, 33.069638066291206},
        {36, kInfD, kU1, 37.005656052945076},
        {0, kInfD, 1e-16, 1.2533141373155002e-16}, // half-normal near 0: relative digits kept
        {-1, 0.5, 0.5, -0.18896823220577513},
    };
    for (const auto &r : refs) {
        const double got = fu(Dist::normal(0, 1, r.lo, r.hi), r.u);
        INFO("[" << r.lo << ", " << r.hi << "] at u = " << r.u << ": " << got << ", mpmath "
                 << r.x);
        CHECK(rel_close(got, r.x, 1e-14));
    }
    // Scaled: mean 100, sd 5, truncated to [mean + 8 sd, inf): 100 + 5 z.
    CHECK(rel_close(fu(Dist::normal(100, 5, 140), 0.5), 100 + 5 * 8.0849110073915441, 1e-14));
    // The stratified mean of [8, inf) against the closed form 8-sd mean phi(8) / Q(8) (with Q
    // from erfc: mean() itself cancels 1 - Phi(8) there and is ~7% off).
    const auto d = Dist::normal(0, 1, 8.0);
    const int N = 100000;
    long double s = 0;
    for (int i = 0; i < N; ++i)
        s += fu(d, (i + 0.5) / N);
    const double mean_cf = phi(8) / (0.5 * std::erfc(8 / std::sqrt(2.0)));
    CHECK(rel_close(static_cast<double>(s / N), mean_cf, 1e-6));
}

TEST_CASE("from_uniform: a Normal assembled field by field, or changed, is still exact",
          "[from_uniform]") {
    // Dist::normal() derives the inversion's constants; a Dist built by hand has none, and one
    // whose bounds were changed has stale ones: from_uniform must notice and derive them itself.
    Dist h;
    h.kind = Dist::Kind::Normal;
    h.a = -3;
    h.b = 1;
    h.lo = 0;
    Dist changed = Dist::normal(-3, 1, -1.0, 5.0);
    changed.lo = 0;
    changed.hi = kInfD;
    const auto f = Dist::normal(-3, 1, 0.0);
    for (double u : {1e-300, 0.01, 0.3, 0.5, 0.77, 0.99, kU1}) {
        CHECK(fu(h, u) == fu(f, u));
        CHECK(fu(changed, u) == fu(f, u));
    }
}

TEST_CASE("from_uniform: a PERT, beta or gamma without its table, or changed, is still exact",
          "[from_uniform]") {
    // The factory's quantile table is used only for the parameters it was built for; otherwise
    // from_uniform inverts directly (Boost.Math / the deep-tail series), to the same 1e-12.
    Dist hp;
    hp.kind = Dist::Kind::Pert;
    hp.a = 600;
    hp.b = 750;
    hp.c = 900;
    hp.d = 4;
    Dist mode_moved = Dist::pert(0, 1, 10, 2);
    mode_moved.b = 5;
    Dist rescaled = Dist::gamma(2.5, 4.0);
    rescaled.b = 2.0;
    Dist reshaped = Dist::beta(2, 5, 10, 20);
    reshaped.a = 3;
    for (double u : {1e-300, 1e-30, 0.01, 0.3, 0.5, 0.77, 0.99, kU1}) {
        INFO("u = " << u);
        CHECK(rel_close(fu(hp, u), fu(Dist::pert(600, 750, 900), u), 1e-12));
        CHECK(rel_close(fu(mode_moved, u), fu(Dist::pert(0, 5, 10, 2), u), 1e-12, 1e-300));
        CHECK(rel_close(fu(rescaled, u), fu(Dist::gamma(2.5, 2.0), u), 1e-12, 1e-300));
        CHECK(rel_close(fu(reshaped, u), fu(Dist::beta(3, 5, 10, 20), u), 1e-12));
    }
}

TEST_CASE("uniforms() and from_uniform of composites", "[from_uniform][composite]") {
    Dist fac;
    fac.kind = Dist::Kind::Factor;
    fac.factor = 1;
    CHECK(Dist::fixed(3).uniforms() == 0);
    CHECK(fac.uniforms() == 0);
    CHECK(Dist::pert(1, 2, 3).uniforms() == 1);
    CHECK(Dist::bernoulli(0.5).uniforms() == 1);
    CHECK(Dist::discrete({1, 2}, {1, 1}).uniforms() == 1);

    // Product of (factor, pert, uniform): 2 coordinates, pert reads u[0], uniform u[1].
    Dist prod;
    prod.kind = Dist::Kind::Product;
    const auto pe = Dist::pert(600, 750, 900);
    const auto un = Dist::uniform(0.5, 0.7);
    prod.children = {fac, pe, un};
    CHECK(prod.uniforms() == 2);
    const double factors[] = {9.0, 1.25};
    const SampleContext ctx{0, factors};
    for (const auto &uv : {std::vector<double>{0.2, 0.9}, {0.5, 0.5}, {0.99, 0.01}}) {
        const double want = 1.25 * fu(pe, uv[0]) * fu(un, uv[1]);
        CHECK(prod.from_uniform(uv.data(), ctx) == want);
    }
    // Fixed children read nothing: product(2, uniform, 3, uniform) reads u[0], u[1].
    Dist p2;
    p2.kind = Dist::Kind::Product;
    p2.children = {Dist::fixed(2), Dist::uniform(0, 1), Dist::fixed(3), Dist::uniform(10, 20)};
    CHECK(p2.uniforms() == 2);
    const double u2[] = {0.25, 0.5};
    CHECK(p2.from_uniform(u2, {}) == 2 * 0.25 * 3 * 15);

    // ByRegime of (pert, product(uniform, uniform)): the max, 2; each regime's child reads from
    // u[0] (common coordinates across regimes).
    Dist inner;
    inner.kind = Dist::Kind::Product;
    inner.children = {Dist::uniform(0, 1), Dist::uniform(1, 3)};
    Dist reg;
    reg.kind = Dist::Kind::ByRegime;
    reg.children = {pe, inner};
    CHECK(reg.uniforms() == 2);
    const double u3[] = {0.3, 0.75};
    CHECK(reg.from_uniform(u3, SampleContext{0, nullptr}) == fu(pe, 0.3));
    CHECK(reg.from_uniform(u3, SampleContext{1, nullptr}) == 0.3 * (1 + 2 * 0.75));
    // ByRegime of fixed values reads nothing.
    Dist regf;
    regf.kind = Dist::Kind::ByRegime;
    regf.children = {Dist::fixed(1), Dist::fixed(2)};
    CHECK(regf.uniforms() == 0);
    CHECK(regf.from_uniform(nullptr, SampleContext{1, nullptr}) == 2);
    // Product of a ByRegime and a uniform: the ByRegime takes its max (2) coordinates.
    Dist outer;
    outer.kind = Dist::Kind::Product;
    outer.children = {reg, Dist::uniform(0, 10)};
    CHECK(outer.uniforms() == 3);
    const double u4[] = {0.3, 0.75, 0.6};
    CHECK(outer.from_uniform(u4, SampleContext{0, nullptr}) == fu(pe, 0.3) * 6.0);
    CHECK(outer.from_uniform(u4, SampleContext{1, nullptr}) == 0.3 * (1 + 2 * 0.75) * 6.0);
}

TEST_CASE("from_uniform: PERT, beta and gamma tables match Boost.Math over a dense grid",
          "[from_uniform]") {
    // The factory functions tabulate these quantiles (piecewise Chebyshev, validated against Boost
    // at construction); here, independently, against Boost.Math's quantile with its default
    // (long double) policy at 2000 u from 1e-20 to 1 - 1e-15, log-spaced in both tails, 1e-12
    // relative. Shapes: PERTs with the mode anywhere, lambda 1 to 8; beta and gamma shapes from
    // 0.05 to 1000 (the extreme ones partly fall back to the iterative inverse).
    namespace bm = boost::math;
    std::vector<double> us;
    for (int i = 0; i < 500; ++i) {
        const double e = -20 + 19.0 * i / 500; // 1e-20 .. 1e-1
        us.push_back(std::pow(10.0, e));
        us.push_back(1 - std::pow(10.0, -15 + 14.0 * i / 500)); // 1 - 1e-15 .. 1 - 1e-1
    }
    for (int i = 0; i < 1000; ++i)
        us.push_back((i + 0.5) / 1000);
    struct BetaCase {
        Dist d;
        double alpha, beta, lo, hi;
    };
    std::vector<BetaCase> betas;
    for (double mode : {0.0, 0.05, 0.3, 0.5, 0.77, 0.95, 1.0})
        for (double lambda : {1.0, 2.0, 4.0, 8.0}) {
            const double al = 1 + lambda * mode, be = 1 + lambda * (1 - mode);
            betas.push_back({Dist::pert(10, 10 + 5 * mode, 15, lambda), al, be, 10, 15});
        }
    for (auto [al, be] : std::vector<std::pair<double, double>>{
             {2, 5}, {0.5, 0.5}, {0.05, 0.05}, {0.3, 4}, {20, 3}, {100, 100}, {1000, 2}, {1, 1}})
        betas.push_back({Dist::beta(al, be, -1, 2), al, be, -1, 2});
    for (const auto &c : betas) {
        const bm::beta_distribution<double> ref(c.alpha, c.beta);
        int bad = 0;
        double worst = 0, worst_u = 0;
        for (double u : us) {
            const double want = c.lo + (c.hi - c.lo) * bm::quantile(ref, u);
            const double got = fu(c.d, u);
            const double err = std::abs(got - want) / std::max(std::abs(want), 1e-300);
            if (err > worst) {
                worst = err;
                worst_u = u;
            }
            bad += !rel_close(got, want, 1e-12, 1e-12 * (c.hi - c.lo) * 1e-3);
        }
        INFO(c.d.describe() << " = beta(" << c.alpha << ", " << c.beta << "): worst relative error "
                            << worst << " at u = " << worst_u);
        CHECK(bad == 0);
    }
    for (double k : {0.05, 0.5, 1.0, 2.5, 7.3, 50.0, 1000.0}) {
        const bm::gamma_distribution<double> ref(k, 3.0);
        const auto d = Dist::gamma(k, 3.0);
        int bad = 0;
        double worst = 0, worst_u = 0;
        for (double u : us) {
            const double want = bm::quantile(ref, u), got = fu(d, u);
            const double err = std::abs(got - want) / std::max(std::abs(want), 1e-300);
            if (err > worst) {
                worst = err;
                worst_u = u;
            }
            bad += !rel_close(got, want, 1e-12, 1e-300);
        }
        INFO("gamma(" << k << ", 3): worst relative error " << worst << " at u = " << worst_u);
        CHECK(bad == 0);
    }
}

TEST_CASE("from_uniform: beta and gamma deep lower tails (where Boost 1.74's ibeta_inv fails)",
          "[from_uniform]") {
    // As u -> 0 the quantile of beta(a, b) is (a B(a, b) u)^(1/a) (1 + O(x)) and that of gamma(k)
    // (Gamma(k + 1) u)^(1/k) (1 + O(x)): at u = 1e-300 the O(x) terms are far below rounding.
    // Boost 1.74's ibeta_inv(3, 3, u) throws there, and ibeta_inv(2, 5, u) returns 4.1e-51.
    const double u = 1e-300;
    CHECK(rel_close(fu(Dist::beta(3, 3), u), std::cbrt(0.1 * u), 1e-13)); // 3 B(3,3) = 1/10
    CHECK(rel_close(fu(Dist::beta(2, 5), u), std::sqrt(u / 15), 1e-13));  // 2 B(2,5) = 1/15
    CHECK(rel_close(fu(Dist::beta(1, 4), 1e-200), 1e-200 / 4, 1e-13));    // 1 - (1-x)^4
    CHECK(rel_close(fu(Dist::gamma(2.5, 1.0), u), std::pow(std::tgamma(3.5) * u, 0.4), 1e-13));
    CHECK(rel_close(fu(Dist::gamma(1.0, 2.0), u), 2 * u, 1e-13)); // exponential: -2 log(1 - u)
    // PERT(0, 0.5, 1) = beta(3, 3): the same deep tail, through the PERT parameterisation.
    CHECK(rel_close(fu(Dist::pert(0, 0.5, 1), 1e-200), std::cbrt(0.1 * 1e-200), 1e-13));
    // and without a table (a Dist assembled field by field: the direct inversion)
    Dist h;
    h.kind = Dist::Kind::Beta;
    h.a = 3;
    h.b = 3;
    h.lo = 0;
    h.hi = 1;
    CHECK(rel_close(fu(h, u), std::cbrt(0.1 * u), 1e-13));
    for (double v : {1e-100, 1e-20, 0.001, 0.2, 0.5, 0.9, 1 - 1e-9})
        CHECK(rel_close(fu(h, v), fu(Dist::beta(3, 3), v), 1e-12));
}

TEST_CASE("mean and sample of a normal truncated far above its mean", "[distributions]") {
    // N(0, 1) on [8, inf): mean = phi(8) / Q(8) = 8.12137 (inverse Mills ratio); every draw lies in
    // [8, inf) and is finite.
    const Dist d = Dist::normal(0, 1, 8);
    CHECK(d.mean() == Approx(8.121368).epsilon(1e-6));
    Stream s(1, 0, quantity_id("far_tail"));
    double sum = 0;
    for (int i = 0; i < 20000; ++i) {
        const double x = d.sample(s, {});
        REQUIRE(std::isfinite(x));
        REQUIRE(x >= 8);
        sum += x;
    }
    // sd of the draws ~0.12: the mean of 20000 is within 0.005 (> 4 SE) of the true mean.
    CHECK(std::abs(sum / 20000 - 8.121368) < 0.005);
}
