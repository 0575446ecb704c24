// Sampling designs (sampling.hpp): Latin hypercube stratification, Sobol' nets and replicate
// independence, rank correlation by Gaussian copula and Iman-Conover, and what a correlation may
// not change.
#include "config/config.hpp"
#include "core/errors.hpp"
#include "core/random.hpp"
#include "sampling/sampling.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

using namespace chokepoint;

namespace {

std::vector<DesignInput> inputs(int n, int coords = 1) {
    std::vector<DesignInput> v;
    for (int i = 0; i < n; ++i) {
        const std::string name = "facility/f" + std::to_string(i) + "/capacity";
        v.push_back({name, quantity_id(name), coords});
    }
    return v;
}

std::vector<double> draw(const Design &d, std::uint64_t first, std::uint64_t count) {
    std::vector<double> u(static_cast<std::size_t>(count * d.coords()));
    auto ws = d.workspace();
    d.fill(first, count, u.data(), *ws);
    return u;
}

std::vector<double> ranks(const std::vector<double> &x) {
    std::vector<std::size_t> o(x.size());
    std::iota(o.begin(), o.end(), 0);
    std::sort(o.begin(), o.end(), [&](auto a, auto b) { return x[a] < x[b]; });
    std::vector<double> r(x.size());
    for (std::size_t i = 0; i < o.size(); ++i)
        r[o[i]] = static_cast<double>(i);
    return r;
}

double pearson(const std::vector<double> &x, const std::vector<double> &y) {
    const double n = static_cast<double>(x.size());
    const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n,
                 my = std::accumulate(y.begin(), y.end(), 0.0) / n;
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxy / std::sqrt(sxx * syy);
}

double spearman(const std::vector<double> &x, const std::vector<double> &y) {
    return pearson(ranks(x), ranks(y));
}

std::vector<double> column(const std::vector<double> &u, int k, int j) {
    std::vector<double> c;
    for (std::size_t i = static_cast<std::size_t>(j); i < u.size();
         i += static_cast<std::size_t>(k))
        c.push_back(u[i]);
    return c;
}

} // namespace

TEST_CASE("permute is a bijection of [0, n)", "[sampling]") {
    for (std::uint64_t n : {1, 2, 3, 7, 64, 1000, 4097}) {
        std::set<std::uint64_t> seen;
        for (std::uint64_t i = 0; i < n; ++i) {
            const auto p = permute(i, n, 12345 + n);
            CHECK(p < n);
            seen.insert(p);
        }
        CHECK(seen.size() == n);
    }
    // Different keys give different permutations.
    int same = 0;
    for (std::uint64_t i = 0; i < 1000; ++i)
        same += permute(i, 1000, 1) == permute(i, 1000, 2);
    CHECK(same < 20);
}

TEST_CASE("Latin hypercube: every coordinate has one point per stratum in each replicate",
          "[sampling]") {
    DesignSettings s;
    s.kind = SamplerKind::LHS;
    s.seed = 7;
    s.trials = 3 * 500;
    s.replicates = 3;
    const Design d(s, inputs(5, 2), {});
    REQUIRE(d.coords() == 10);
    const auto u = draw(d, 0, s.trials);
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 10; ++c) {
            std::vector<int> count(500, 0);
            for (std::uint64_t t = 0; t < 500; ++t) {
                const double x = u[static_cast<std::size_t>((r * 500 + t) * 10 + c)];
                REQUIRE(x > 0);
                REQUIRE(x < 1);
                ++count[static_cast<std::size_t>(x * 500)];
            }
            CHECK(std::all_of(count.begin(), count.end(), [](int n) { return n == 1; }));
        }
    // Blocks do not matter: trials drawn one at a time equal trials drawn together.
    for (std::uint64_t t : {0, 499, 500, 1234})
        for (int c = 0; c < 10; ++c)
            CHECK(draw(d, t, 1)[static_cast<std::size_t>(c)] ==
                  u[static_cast<std::size_t>(t * 10 + c)]);
}

TEST_CASE("Sobol': each replicate is a randomly shifted digital net; replicates independent",
          "[sampling]") {
    DesignSettings s;
    s.kind = SamplerKind::Sobol;
    s.seed = 3;
    const std::uint64_t m = 256;
    const int R = 40;
    s.trials = m * R;
    s.replicates = R;
    const Design d(s, inputs(4), {});
    const auto u = draw(d, 0, s.trials);
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < 4; ++c) {
            std::vector<int> count(m, 0);
            for (std::uint64_t t = 0; t < m; ++t)
                ++count[static_cast<std::size_t>(
                    u[static_cast<std::size_t>((r * m + t) * 4 + static_cast<std::uint64_t>(c))] *
                    static_cast<double>(m))];
            CHECK(std::all_of(count.begin(), count.end(), [](int n) { return n == 1; }));
        }
    // Two-dimensional projections are nets too: 16 x 16 cells of 256 points, one in each (t = 0
    // for the first two Sobol' dimensions).
    {
        std::vector<int> cell(256, 0);
        for (std::uint64_t t = 0; t < m; ++t)
            ++cell[static_cast<std::size_t>(u[t * 4] * 16) * 16 +
                   static_cast<std::size_t>(u[t * 4 + 1] * 16)];
        CHECK(std::all_of(cell.begin(), cell.end(), [](int n) { return n == 1; }));
    }
    // Replicate estimates of E[f] for f = x0 x1 x2 x3 * 16 (true value 1) are independent: the
    // correlation of consecutive replicate estimates is within 3 / sqrt(R - 1) of 0, and their
    // mean is within 4 standard errors of 1.
    std::vector<double> est(R, 0.0);
    for (int r = 0; r < R; ++r) {
        for (std::uint64_t t = 0; t < m; ++t) {
            double f = 16;
            for (int c = 0; c < 4; ++c)
                f *= u[static_cast<std::size_t>((r * m + t) * 4 + static_cast<std::uint64_t>(c))];
            est[static_cast<std::size_t>(r)] += f / static_cast<double>(m);
        }
    }
    const std::vector<double> a(est.begin(), est.end() - 1), b(est.begin() + 1, est.end());
    CHECK(std::abs(pearson(a, b)) < 3.0 / std::sqrt(R - 1.0));
    const double mean = std::accumulate(est.begin(), est.end(), 0.0) / R;
    double var = 0;
    for (double e : est)
        var += (e - mean) * (e - mean) / (R - 1);
    CHECK(std::abs(mean - 1.0) < 4 * std::sqrt(var / R));
    // ... and far more precise than plain Monte Carlo of the same size: Var(f) = (16/9)^4 / 16^0
    // ... per point: (4/3)^4 - 1 = 2.16; MC replicate variance 2.16 / 256 = 0.0084.
    CHECK(var < 0.0084 / 4);
}

TEST_CASE("Gaussian copula: rank correlations within tolerance of their targets", "[sampling]") {
    for (SamplerKind kind : {SamplerKind::MC, SamplerKind::Sobol, SamplerKind::LHS}) {
        DesignSettings s;
        s.kind = kind;
        s.seed = 11;
        s.trials = 8192;
        s.replicates = 1;
        const Design d(s, inputs(4), {{0, 1, 0.7}, {1, 2, -0.4}, {0, 2, -0.2}});
        const auto u = draw(d, 0, s.trials);
        const auto c0 = column(u, 4, 0), c1 = column(u, 4, 1), c2 = column(u, 4, 2),
                   c3 = column(u, 4, 3);
        // The sampling error of a Spearman correlation at n = 8192 is below 0.011; 0.035 is
        // more than 3 standard errors.
        INFO("sampler " << static_cast<int>(kind));
        CHECK(std::abs(spearman(c0, c1) - 0.7) < 0.035);
        CHECK(std::abs(spearman(c1, c2) + 0.4) < 0.035);
        CHECK(std::abs(spearman(c0, c2) + 0.2) < 0.035);
        CHECK(std::abs(spearman(c0, c3)) < 0.035);
        if (kind == SamplerKind::LHS) { // Iman-Conover keeps the strata
            for (const auto *c : {&c0, &c1, &c2}) {
                std::vector<int> count(8192, 0);
                for (double x : *c)
                    ++count[static_cast<std::size_t>(x * 8192)];
                CHECK(std::all_of(count.begin(), count.end(), [](int n) { return n == 1; }));
            }
        }
    }
}

TEST_CASE("a correlation changes only the inputs it names", "[sampling]") {
    for (SamplerKind kind : {SamplerKind::MC, SamplerKind::LHS, SamplerKind::Sobol}) {
        DesignSettings s;
        s.kind = kind;
        s.seed = 5;
        s.trials = 1024;
        const Design plain(s, inputs(4), {}), corr(s, inputs(4), {{1, 3, 0.5}});
        const auto a = draw(plain, 0, s.trials), b = draw(corr, 0, s.trials);
        for (int j : {0, 2})
            CHECK(column(a, 4, j) == column(b, 4, j));
        // The copula keeps the first correlated input and moves the second; Iman-Conover
        // reorders both.
        CHECK(column(a, 4, 3) != column(b, 4, 3));
    }
}

TEST_CASE("inconsistent correlations: an error naming the pair", "[sampling][errors]") {
    DesignSettings s;
    s.trials = 100;
    // x0 ~ x1 and x1 ~ x2 strongly, x0 ~ x2 strongly negative: no such joint distribution.
    CHECK_THROWS_WITH(Design(s, inputs(3), {{0, 1, 0.9}, {1, 2, 0.9}, {0, 2, -0.9}}),
                      Catch::Contains("facility/f2/capacity") &&
                          Catch::Contains("positive definite"));
    CHECK_NOTHROW(Design(s, inputs(3), {{0, 1, 0.9}, {1, 2, 0.9}, {0, 2, 0.7}}));
    s.replicates = 3; // 100 trials do not split into 3 replicates
    CHECK_THROWS_AS(Design(s, inputs(3), {}), InputError);
}

TEST_CASE("pick-freeze design: AB_i takes input i from B and the rest from A", "[sampling]") {
    for (SamplerKind kind : {SamplerKind::MC, SamplerKind::LHS, SamplerKind::Sobol}) {
        DesignSettings s;
        s.kind = kind;
        s.seed = 9;
        s.pick_freeze_rows = 64;
        s.pick_freeze_inputs = {0, 2};
        s.trials = 64 * 4;
        const Design d(s, inputs(3), {});
        const auto u = draw(d, 0, s.trials);
        auto at = [&](int mat, int row, int j) {
            return u[static_cast<std::size_t>((mat * 64 + row) * 3 + j)];
        };
        for (int row = 0; row < 64; ++row) {
            for (int j = 0; j < 3; ++j)
                CHECK(at(0, row, j) != at(1, row, j));
            // AB_0: input 0 from B, 1 and 2 from A; AB_2: input 2 from B.
            CHECK(at(2, row, 0) == at(1, row, 0));
            CHECK(at(2, row, 1) == at(0, row, 1));
            CHECK(at(2, row, 2) == at(0, row, 2));
            CHECK(at(3, row, 2) == at(1, row, 2));
            CHECK(at(3, row, 0) == at(0, row, 0));
        }
        CHECK(d.stream_trial(64 + 5) == 64 + 5); // B's own streams
        CHECK(d.stream_trial(2 * 64 + 5) == 5);  // AB_i: A's
    }
}

// Importance tilts (CoordTilt): the coordinate's density becomes the proposal's, its likelihood
// ratio is width / mass of its bin, untilted inputs keep their coordinates.
TEST_CASE("importance tilt: the proposal's inverse CDF and the likelihood ratio of each bin",
          "[sampling][importance]") {
    DesignSettings s;
    s.kind = SamplerKind::MC;
    s.seed = 11;
    s.trials = 200000;
    CoordTilt t;
    t.input = 1;
    t.edges = {0.0, 0.9, 0.99, 1.0};
    t.mass = {0.2, 0.3, 0.5};
    s.tilts = {t};
    const Design tilted(s, inputs(3), {});
    DesignSettings plain_s = s;
    plain_s.tilts.clear();
    const Design plain(plain_s, inputs(3), {});
    const std::uint64_t n = s.trials;
    std::vector<double> u(n * 3), p(n * 3), w(n);
    auto ws = tilted.workspace();
    tilted.fill(0, n, u.data(), *ws, w.data());
    auto ws2 = plain.workspace();
    plain.fill(0, n, p.data(), *ws2);
    std::array<double, 3> in_bin{};
    double sum_w = 0, sum_w_tail = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
        // Untilted inputs: the same coordinates as the untilted design (bit for bit).
        REQUIRE(u[i * 3] == p[i * 3]);
        REQUIRE(u[i * 3 + 2] == p[i * 3 + 2]);
        // The tilted one: Q^-1 of the untilted uniform, piecewise linear.
        const double x = p[i * 3 + 1], v = u[i * 3 + 1];
        const double expect = x < 0.2   ? 0.9 * x / 0.2
                              : x < 0.5 ? 0.9 + (x - 0.2) / 0.3 * 0.09
                                        : 0.99 + (x - 0.5) / 0.5 * 0.01;
        REQUIRE(v == Approx(expect).margin(1e-12));
        REQUIRE(v > 0.0);
        REQUIRE(v < 1.0);
        const int b = v < 0.9 ? 0 : (v < 0.99 ? 1 : 2);
        const double lr = b == 0 ? 0.9 / 0.2 : (b == 1 ? 0.09 / 0.3 : 0.01 / 0.5);
        REQUIRE(w[i] == Approx(lr).epsilon(1e-12));
        in_bin[static_cast<std::size_t>(b)] += 1;
        sum_w += w[i];
        if (v > 0.995)
            sum_w_tail += w[i];
    }
    // The proposal's bin masses, and E_q[w] = 1, E_q[w 1{v > 0.995}] = 0.005 (the model's
    // probability), within 4 standard errors.
    const double nd = static_cast<double>(n);
    CHECK(in_bin[0] / nd == Approx(0.2).margin(4 * std::sqrt(0.2 * 0.8 / nd)));
    CHECK(in_bin[2] / nd == Approx(0.5).margin(4 * std::sqrt(0.25 / nd)));
    const double sd_w = std::sqrt(0.2 * 4.5 * 4.5 + 0.3 * 0.3 * 0.3 + 0.5 * 0.02 * 0.02 - 1.0);
    CHECK(sum_w / nd == Approx(1.0).margin(4 * sd_w / std::sqrt(nd)));
    const double pt = 0.005, sd_t = std::sqrt(0.25 * 0.02 * 0.02 - pt * pt); // half of bin 2
    CHECK(sum_w_tail / nd == Approx(pt).margin(4 * sd_t / std::sqrt(nd)));
}

TEST_CASE("importance tilt: without tilts every weight is exactly 1; bad proposals are refused",
          "[sampling][importance][errors]") {
    DesignSettings s;
    s.trials = 100;
    const Design d(s, inputs(2), {});
    std::vector<double> u(200), w(100, 0.0);
    auto ws = d.workspace();
    d.fill(0, 100, u.data(), *ws, w.data());
    for (double x : w)
        REQUIRE(x == 1.0);
    CHECK_FALSE(d.tilted());

    auto refused = [&](CoordTilt t, std::vector<DesignCorrelation> c, const char *what) {
        DesignSettings bad = s;
        bad.tilts = {std::move(t)};
        try {
            Design x(bad, inputs(2, 1), c);
            FAIL("accepted: " << what);
        } catch (const InputError &e) {
            CHECK_THAT(std::string(e.what()), Catch::Contains(what));
        }
    };
    refused({0, {0.0, 0.5, 1.0}, {1.0, 0.0}}, {}, "gives a bin no mass");
    refused({0, {0.0, 0.5}, {1.0}}, {}, "whole unit interval");
    refused({0, {0.0, 0.7, 0.5, 1.0}, {0.3, 0.3, 0.4}}, {}, "out of order");
    refused({0, {0.0, 0.5, 1.0}, {0.3, 0.3}}, {}, "summing to");
    refused({1, {0.0, 0.5, 1.0}, {0.5, 0.5}}, {{0, 1, 0.5}}, "correlated input cannot be tilted");
    DesignSettings multi = s;
    multi.tilts = {{0, {0.0, 0.5, 1.0}, {0.5, 0.5}}};
    CHECK_THROWS_AS(Design(multi, inputs(2, 2), {}), InputError);
}
