// Distributions (distribution.hpp): regression goldens, moments against closed forms computed
// here independently, the loader's parameter conversions, composite forms (product, factor,
// by_regime) with a SampleContext.
#include "config.hpp"
#include "distribution.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
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
