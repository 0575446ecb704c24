// Global sensitivity estimators (sensitivity.hpp): ranks, Spearman, SRRC, rank importance with
// bootstrap CIs, Sobol' indices by pick-freeze.
#include "stats/sensitivity.hpp"

#include "core/random.hpp"

#include <boost/math/distributions/normal.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

using namespace chokepoint;

namespace {

const double kPi = std::acos(-1.0);

/// n x k row-major uniforms (0, 1), column i from Stream(seed, row, 1000 + i).
std::vector<double> uniform_matrix(std::uint64_t seed, std::size_t n, std::size_t k) {
    std::vector<double> X(n * k);
    for (std::size_t r = 0; r < n; ++r)
        for (std::size_t i = 0; i < k; ++i)
            X[r * k + i] = Stream(seed, r, 1000 + i).uniform01();
    return X;
}

std::vector<double> normal_matrix(std::uint64_t seed, std::size_t n, std::size_t k) {
    const boost::math::normal_distribution<double> nd;
    auto X = uniform_matrix(seed, n, k);
    for (double &x : X)
        x = boost::math::quantile(nd, x);
    return X;
}

std::vector<double> column(const std::vector<double> &X, std::size_t k, std::size_t i) {
    std::vector<double> c(X.size() / k);
    for (std::size_t r = 0; r < c.size(); ++r)
        c[r] = X[r * k + i];
    return c;
}

/// Reference rank regression, independent of the library's: average ranks, standardised
/// (divisor n), normal equations Z^T Z b = Z^T z_y by Gaussian elimination with partial
/// pivoting; R^2 = 1 - SSE / SST from the residuals.
RankRegression naive_srrc(const std::vector<double> &X, std::size_t k,
                          const std::vector<double> &y) {
    const std::size_t n = y.size();
    auto standardise = [n](std::vector<double> v) {
        double m = 0, s = 0;
        for (double x : v)
            m += x;
        m /= static_cast<double>(n);
        for (double x : v)
            s += (x - m) * (x - m);
        s = std::sqrt(s / static_cast<double>(n));
        for (double &x : v)
            x = (x - m) / s;
        return v;
    };
    std::vector<std::vector<double>> Z(k);
    for (std::size_t i = 0; i < k; ++i)
        Z[i] = standardise(average_ranks(column(X, k, i)));
    const auto zy = standardise(average_ranks(y));
    std::vector<std::vector<double>> A(k, std::vector<double>(k + 1));
    for (std::size_t i = 0; i < k; ++i) {
        for (std::size_t j = 0; j < k; ++j)
            A[i][j] = std::inner_product(Z[i].begin(), Z[i].end(), Z[j].begin(), 0.0);
        A[i][k] = std::inner_product(Z[i].begin(), Z[i].end(), zy.begin(), 0.0);
    }
    for (std::size_t c = 0; c < k; ++c) {
        std::size_t p = c;
        for (std::size_t r = c + 1; r < k; ++r)
            if (std::abs(A[r][c]) > std::abs(A[p][c]))
                p = r;
        std::swap(A[c], A[p]);
        for (std::size_t r = c + 1; r < k; ++r) {
            const double f = A[r][c] / A[c][c];
            for (std::size_t j = c; j <= k; ++j)
                A[r][j] -= f * A[c][j];
        }
    }
    std::vector<double> b(k);
    for (std::size_t c = k; c-- > 0;) {
        double t = A[c][k];
        for (std::size_t j = c + 1; j < k; ++j)
            t -= A[c][j] * b[j];
        b[c] = t / A[c][c];
    }
    double sse = 0, sst = 0;
    for (std::size_t r = 0; r < n; ++r) {
        double fit = 0;
        for (std::size_t i = 0; i < k; ++i)
            fit += b[i] * Z[i][r];
        sse += (zy[r] - fit) * (zy[r] - fit);
        sst += zy[r] * zy[r];
    }
    return {b, 1 - sse / sst};
}

bool same_bits(const std::vector<double> &a, const std::vector<double> &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

bool same_bits(const Importance &a, const Importance &b) {
    return same_bits(a.spearman, b.spearman) && same_bits(a.spearman_lo, b.spearman_lo) &&
           same_bits(a.spearman_hi, b.spearman_hi) && same_bits(a.srrc, b.srrc) &&
           same_bits(a.srrc_lo, b.srrc_lo) && same_bits(a.srrc_hi, b.srrc_hi) &&
           same_bits({a.r2, a.r2_lo, a.r2_hi}, {b.r2, b.r2_lo, b.r2_hi});
}

/// The linear model of the rank tests: y = sum a_i x_i, x_i ~ N(0, 1) independent. Then
/// (rank(x_i), rank(y)) -> (Phi(x_i), Phi(y / sigma)), whose correlation is Spearman's rho of a
/// bivariate normal with correlation a_i / sigma: (6 / pi) asin(a_i / (2 sigma)). The inputs'
/// ranks are uncorrelated in the limit, so the SRRCs have the same limit and R^2 -> sum rho_i^2.
struct LinearModel {
    std::vector<double> a{1, 2, 3, 4, 0}; // the last input does not enter y
    std::size_t k() const { return a.size(); }
    std::vector<double> X;
    std::vector<double> y;
    LinearModel(std::uint64_t seed, std::size_t n) {
        X = normal_matrix(seed, n, k());
        y.assign(n, 0.0);
        for (std::size_t r = 0; r < n; ++r)
            for (std::size_t i = 0; i < k(); ++i)
                y[r] += a[i] * X[r * k() + i];
    }
    double sigma() const {
        return std::sqrt(std::inner_product(a.begin(), a.end(), a.begin(), 0.0));
    }
    double rho(std::size_t i) const { return 6 / kPi * std::asin(a[i] / (2 * sigma())); }
    double r2() const {
        double s = 0;
        for (std::size_t i = 0; i < k(); ++i)
            s += rho(i) * rho(i);
        return s;
    }
};

} // namespace

// --- ranks and Spearman --------------------------------------------------------------------------

TEST_CASE("average_ranks: 1-based, ties get their average rank", "[sensitivity][ranks]") {
    // Exact: averages of integers are halves, exact in binary.
    CHECK(average_ranks({10, 20, 20, 30, 10}) == std::vector<double>{1.5, 3.5, 3.5, 5, 1.5});
    CHECK(average_ranks({3, 1, 2}) == std::vector<double>{3, 1, 2});
    CHECK(average_ranks({7, 7, 7}) == std::vector<double>{2, 2, 2});
    CHECK(average_ranks({-0.0, 0.0, -1}) == std::vector<double>{2.5, 2.5, 1});
    CHECK(average_ranks({}).empty());
    CHECK_THROWS_AS(average_ranks({1, std::nan(""), 2}), std::invalid_argument);
}

TEST_CASE("spearman: monotone transforms, reversal, known small examples", "[sensitivity][ranks]") {
    // Tolerance 1e-12: identical rank vectors; only the rounding of the two-pass sums remains.
    const auto X = uniform_matrix(1, 500, 1);
    std::vector<double> up(X.size()), down(X.size());
    for (std::size_t r = 0; r < X.size(); ++r) {
        up[r] = std::exp(3 * X[r]);
        down[r] = -X[r] * X[r] * X[r];
    }
    CHECK(spearman(X, up) == Approx(1).margin(1e-12));
    CHECK(spearman(X, down) == Approx(-1).margin(1e-12));
    // Without ties: 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 6 * 4 / 120 = 0.8.
    CHECK(spearman({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}) == Approx(0.8).margin(1e-12));
    // With ties: ranks {1, 2.5, 2.5, 4} and {1, 3, 2, 4}: 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10).
    CHECK(spearman({1, 2, 2, 3}, {1, 3, 2, 4}) == Approx(3 / std::sqrt(10.0)).margin(1e-12));
    CHECK(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));
    CHECK(std::isnan(spearman({1}, {2})));
    CHECK_THROWS_AS(spearman({1, 2}, {1, 2, 3}), std::invalid_argument);
}

// --- SRRC ----------------------------------------------------------------------------------------

TEST_CASE("srrc: equals a naive rank regression (ties, correlated inputs)", "[sensitivity][srrc]") {
    // Inputs with a common factor (rank correlations ~0.5) rounded to 1 decimal (many ties); y
    // nonlinear. Tolerance 1e-9: two exact methods on a well-conditioned 6 x 6 system; they
    // differ only by rounding.
    const std::size_t n = 400, k = 6;
    auto U = uniform_matrix(2, n, k + 1);
    std::vector<double> X(n * k), y(n);
    for (std::size_t r = 0; r < n; ++r) {
        for (std::size_t i = 0; i < k; ++i)
            X[r * k + i] = std::round(10 * (U[r * (k + 1) + i] + U[r * (k + 1) + k])) / 10;
        y[r] = std::exp(X[r * k]) - 2 * X[r * k + 1] * X[r * k + 2] + std::sin(5 * X[r * k + 3]) +
               0.3 * U[r * (k + 1)];
    }
    const auto want = naive_srrc(X, k, y);
    const auto got = srrc(X.data(), n, k, y.data());
    REQUIRE(got.coef.size() == k);
    for (std::size_t i = 0; i < k; ++i)
        CHECK(got.coef[i] == Approx(want.coef[i]).margin(1e-9));
    CHECK(got.r2 == Approx(want.r2).margin(1e-9));
    // rank_importance's point estimates are the same computation.
    const auto imp = rank_importance(X.data(), n, k, y.data(), 0, 0.95, 1);
    for (std::size_t i = 0; i < k; ++i) {
        CHECK(imp.srrc[i] == got.coef[i]);
        CHECK(imp.spearman[i] == Approx(spearman(column(X, k, i), y)).margin(1e-12));
        CHECK(std::isnan(imp.srrc_lo[i]));
        CHECK(std::isnan(imp.spearman_hi[i]));
    }
    CHECK(std::isnan(imp.r2_lo));
}

TEST_CASE("srrc: y a monotone function of one input: (1, 0, 0), R^2 = 1", "[sensitivity][srrc]") {
    // rank(y) = rank(x_1) exactly, so the regression is exact: tolerance 1e-10 (rounding).
    const std::size_t n = 1000, k = 3;
    const auto X = uniform_matrix(3, n, k);
    std::vector<double> y(n);
    for (std::size_t r = 0; r < n; ++r)
        y[r] = std::log(X[r * k]) * 7 + 2;
    const auto f = srrc(X.data(), n, k, y.data());
    CHECK(f.coef[0] == Approx(1).margin(1e-10));
    CHECK(f.coef[1] == Approx(0).margin(1e-10));
    CHECK(f.coef[2] == Approx(0).margin(1e-10));
    CHECK(f.r2 == Approx(1).margin(1e-10));
}

TEST_CASE("srrc: linear model recovers (6/pi) asin(a_i / 2 sigma), nearly proportional to a_i",
          "[sensitivity][srrc]") {
    // n = 20000: the sampling SD of each coefficient is < 1 / sqrt(n) = 0.007; tolerance 0.02
    // (about 3 SD). The limits (6/pi) asin(a_i / (2 sigma)) are proportional to a_i up to the
    // curvature of asin (ratios within 2.5 %): the ratios to the largest are checked to 0.05.
    const LinearModel m(4, 20000);
    const auto f = srrc(m.X.data(), 20000, m.k(), m.y.data());
    for (std::size_t i = 0; i < m.k(); ++i) {
        INFO("input " << i << ": srrc " << f.coef[i] << ", limit " << m.rho(i));
        CHECK(f.coef[i] == Approx(m.rho(i)).margin(0.02));
    }
    for (std::size_t i = 0; i + 1 < m.k(); ++i)
        CHECK(f.coef[i] / f.coef[3] == Approx(m.a[i] / m.a[3]).margin(0.05));
    CHECK(f.r2 == Approx(m.r2()).margin(0.02));
    CHECK(f.r2 > 0.9);
}

TEST_CASE("rank_importance: constant input -> NaN, the rest fit as without it",
          "[sensitivity][srrc]") {
    const std::size_t n = 3000;
    const LinearModel m(5, n);
    const std::size_t k = m.k();
    std::vector<double> X2(n * (k + 1));
    for (std::size_t r = 0; r < n; ++r) {
        for (std::size_t i = 0, c = 0; i <= k; ++i)
            X2[r * (k + 1) + i] = i == 2 ? 42.0 : m.X[r * k + c++];
    }
    const auto with = rank_importance(X2.data(), n, k + 1, m.y.data(), 50, 0.9, 7);
    const auto without = rank_importance(m.X.data(), n, k, m.y.data(), 50, 0.9, 7);
    CHECK(std::isnan(with.spearman[2]));
    CHECK(std::isnan(with.srrc[2]));
    CHECK(std::isnan(with.srrc_lo[2]));
    CHECK(std::isnan(with.srrc_hi[2]));
    CHECK(std::isnan(with.spearman_lo[2]));
    // The same resamples and the same arithmetic on the other columns: the same bits.
    for (std::size_t i = 0, c = 0; i <= k; ++i) {
        if (i == 2)
            continue;
        CHECK(with.srrc[i] == without.srrc[c]);
        CHECK(with.srrc_lo[i] == without.srrc_lo[c]);
        CHECK(with.srrc_hi[i] == without.srrc_hi[c]);
        CHECK(with.spearman[i] == without.spearman[c]);
        CHECK(with.spearman_hi[i] == without.spearman_hi[c]);
        ++c;
    }
    CHECK(with.r2 == without.r2);
    CHECK(with.r2_lo == without.r2_lo);
}

TEST_CASE("rank_importance: aliased input (a monotone copy) -> NaN SRRC, Spearman kept",
          "[sensitivity][srrc]") {
    // Input 1 = exp(input 0): identical ranks, so it is aliased (pivot 0) and left out; the fit is
    // that of the other inputs (tolerance 1e-12: same arithmetic but a different Gram layout).
    const std::size_t n = 2000, k = 3;
    auto X = uniform_matrix(6, n, k);
    std::vector<double> y(n), Xr(n * 2);
    for (std::size_t r = 0; r < n; ++r) {
        X[r * k + 1] = std::exp(X[r * k]);
        y[r] = X[r * k] + 0.5 * X[r * k + 2];
        Xr[r * 2] = X[r * k];
        Xr[r * 2 + 1] = X[r * k + 2];
    }
    const auto imp = rank_importance(X.data(), n, k, y.data(), 20, 0.9, 3);
    const auto ref = srrc(Xr.data(), n, 2, y.data());
    CHECK(std::isnan(imp.srrc[1]));
    CHECK(std::isnan(imp.srrc_lo[1]));
    CHECK(imp.spearman[1] == imp.spearman[0]);
    CHECK(imp.srrc[0] == Approx(ref.coef[0]).margin(1e-12));
    CHECK(imp.srrc[2] == Approx(ref.coef[1]).margin(1e-12));
    CHECK(imp.r2 == Approx(ref.r2).margin(1e-12));
    CHECK(imp.srrc_lo[0] < imp.srrc[0]);
    CHECK(imp.srrc_hi[0] > imp.srrc[0]);
}

TEST_CASE("rank_importance: constant output -> everything NaN; bad arguments throw",
          "[sensitivity][srrc]") {
    const std::size_t n = 100, k = 2;
    const auto X = uniform_matrix(8, n, k);
    const std::vector<double> y(n, 3.0);
    const auto imp = rank_importance(X.data(), n, k, y.data(), 10, 0.9, 1);
    for (std::size_t i = 0; i < k; ++i) {
        CHECK(std::isnan(imp.spearman[i]));
        CHECK(std::isnan(imp.srrc[i]));
        CHECK(std::isnan(imp.srrc_hi[i]));
    }
    CHECK(std::isnan(imp.r2));
    CHECK(std::isnan(imp.r2_lo));
    std::vector<double> yy(n, 1.0);
    yy[0] = 2;
    CHECK_THROWS_AS(rank_importance(X.data(), n, k, yy.data(), -1, 0.9, 1), std::invalid_argument);
    CHECK_THROWS_AS(rank_importance(X.data(), n, k, yy.data(), 10, 1.0, 1), std::invalid_argument);
    CHECK_THROWS_AS(rank_importance(X.data(), 0, k, yy.data(), 10, 0.9, 1), std::invalid_argument);
    yy[5] = std::numeric_limits<double>::infinity();
    CHECK_THROWS_AS(rank_importance(X.data(), n, k, yy.data(), 10, 0.9, 1), std::invalid_argument);
}

// --- bootstrap -----------------------------------------------------------------------------------

TEST_CASE("rank_importance: the bootstrap equals resampling and re-ranking by brute force",
          "[sensitivity][bootstrap]") {
    // The replicates draw bootstrap_indices(seed, kRankBootstrapStream, b, n); recomputing
    // spearman() and srrc() on each explicitly resampled data set (sorted from scratch) and
    // taking bootstrap_quantile must give the same intervals. Data with many ties (values on a
    // grid of 8) so the resamples' tie groups are exercised. Tolerance 1e-10: the same
    // statistics by different arithmetic (direct and iterative solvers both checked).
    const std::size_t n = 80, k = 3;
    const int B = 40;
    const double conf = 0.8;
    const std::uint64_t seed = 99;
    const auto U = uniform_matrix(9, n, k + 1);
    std::vector<double> X(n * k), y(n);
    for (std::size_t r = 0; r < n; ++r) {
        for (std::size_t i = 0; i < k; ++i)
            X[r * k + i] = std::floor(8 * U[r * (k + 1) + i]);
        y[r] = X[r * k] + 2 * X[r * k + 1] - X[r * k + 2] + std::floor(4 * U[r * (k + 1) + k]);
    }
    std::vector<std::vector<double>> rho(k), beta(k);
    std::vector<double> r2;
    for (int b = 0; b < B; ++b) {
        const auto idx =
            bootstrap_indices(seed, kRankBootstrapStream, static_cast<std::uint64_t>(b), n);
        std::vector<double> Xb(n * k), yb(n);
        for (std::size_t r = 0; r < n; ++r) {
            for (std::size_t i = 0; i < k; ++i)
                Xb[r * k + i] = X[idx[r] * k + i];
            yb[r] = y[idx[r]];
        }
        const auto f = srrc(Xb.data(), n, k, yb.data());
        for (std::size_t i = 0; i < k; ++i) {
            rho[i].push_back(spearman(column(Xb, k, i), yb));
            beta[i].push_back(f.coef[i]);
        }
        r2.push_back(f.r2);
    }
    for (SrrcSolver solver : {SrrcSolver::direct, SrrcSolver::iterative}) {
        RankImportanceOptions opt;
        opt.solver = solver;
        const auto imp = rank_importance(X.data(), n, k, y.data(), B, conf, seed, opt);
        for (std::size_t i = 0; i < k; ++i) {
            INFO("solver " << static_cast<int>(solver) << ", input " << i);
            CHECK(imp.spearman_lo[i] == Approx(bootstrap_quantile(rho[i], 0.1)).margin(1e-10));
            CHECK(imp.spearman_hi[i] == Approx(bootstrap_quantile(rho[i], 0.9)).margin(1e-10));
            CHECK(imp.srrc_lo[i] == Approx(bootstrap_quantile(beta[i], 0.1)).margin(1e-10));
            CHECK(imp.srrc_hi[i] == Approx(bootstrap_quantile(beta[i], 0.9)).margin(1e-10));
        }
        CHECK(imp.r2_lo == Approx(bootstrap_quantile(r2, 0.1)).margin(1e-10));
        CHECK(imp.r2_hi == Approx(bootstrap_quantile(r2, 0.9)).margin(1e-10));
    }
}

TEST_CASE("rank_importance: iterative and direct solvers agree with many correlated inputs",
          "[sensitivity][bootstrap]") {
    // k = 80 inputs sharing a factor (pairwise rank correlation ~0.2), n = 3000: the iterative
    // solver's stopping rule (residual 1e-11) leaves errors ~1e-11 times the condition number.
    // Tolerance 1e-8.
    const std::size_t n = 3000, k = 80;
    const auto U = normal_matrix(10, n, k + 1);
    std::vector<double> X(n * k), y(n, 0.0);
    for (std::size_t r = 0; r < n; ++r)
        for (std::size_t i = 0; i < k; ++i) {
            X[r * k + i] = U[r * (k + 1) + i] + 0.5 * U[r * (k + 1) + k];
            y[r] += (i % 7 == 0 ? 1.0 : 0.1) * X[r * k + i];
        }
    RankImportanceOptions direct, iterative;
    direct.solver = SrrcSolver::direct;
    iterative.solver = SrrcSolver::iterative;
    const auto a = rank_importance(X.data(), n, k, y.data(), 20, 0.9, 5, direct);
    const auto b = rank_importance(X.data(), n, k, y.data(), 20, 0.9, 5, iterative);
    const auto c = rank_importance(X.data(), n, k, y.data(), 20, 0.9, 5); // automatic
    for (std::size_t i = 0; i < k; ++i) {
        CHECK(a.srrc[i] == b.srrc[i]); // the point estimate is always direct
        CHECK(a.srrc_lo[i] == Approx(b.srrc_lo[i]).margin(1e-8));
        CHECK(a.srrc_hi[i] == Approx(b.srrc_hi[i]).margin(1e-8));
        CHECK(a.spearman_lo[i] == b.spearman_lo[i]);
    }
    CHECK(a.r2_lo == Approx(b.r2_lo).margin(1e-8));
    CHECK(same_bits(b, c)); // automatic = iterative for k > 48
}

TEST_CASE("rank_importance: CIs contain the limits and shrink like 1/sqrt(n)",
          "[sensitivity][bootstrap]") {
    // 99 % intervals (B = 400) at n = 2000 and 8000 for the linear model. (1) Each contains the
    // limit (6/pi) asin(a_i / (2 sigma)) of Spearman and SRRC and the limit of R^2 (the O(1/n)
    // bias is < 1e-3 of the width). (2) The widths shrink by sqrt(4) = 2: the geometric mean of
    // the 10 width ratios (Spearman, SRRC) is within [1.75, 2.3] (each width from B = 400 has a
    // relative SD of about 6 %, the mean of 10 ratios about 3 %, so this is about +-4 SD). (3)
    // For the input that does not enter y, Spearman's rho has the exact null SD 1/sqrt(n - 1):
    // the 99 % width is within 15 % of 2 * 2.576 / sqrt(n - 1).
    const int B = 400;
    const double conf = 0.99, z = 2.5758293035489;
    const LinearModel small(11, 2000), large(12, 8000);
    const auto s = rank_importance(small.X.data(), 2000, small.k(), small.y.data(), B, conf, 1);
    const auto l = rank_importance(large.X.data(), 8000, large.k(), large.y.data(), B, conf, 2);
    double log_ratio = 0;
    for (std::size_t i = 0; i < small.k(); ++i) {
        const double want = small.rho(i);
        for (const Importance *imp : {&s, &l}) {
            INFO("input " << i << ": limit " << want << ", spearman [" << imp->spearman_lo[i]
                          << ", " << imp->spearman_hi[i] << "], srrc [" << imp->srrc_lo[i] << ", "
                          << imp->srrc_hi[i] << "]");
            CHECK(imp->spearman_lo[i] <= want);
            CHECK(imp->spearman_hi[i] >= want);
            CHECK(imp->srrc_lo[i] <= want);
            CHECK(imp->srrc_hi[i] >= want);
        }
        log_ratio +=
            std::log((s.spearman_hi[i] - s.spearman_lo[i]) / (l.spearman_hi[i] - l.spearman_lo[i]));
        log_ratio += std::log((s.srrc_hi[i] - s.srrc_lo[i]) / (l.srrc_hi[i] - l.srrc_lo[i]));
    }
    const double ratio = std::exp(log_ratio / (2.0 * static_cast<double>(small.k())));
    INFO("geometric mean width ratio n = 2000 / n = 8000: " << ratio);
    CHECK(ratio > 1.75);
    CHECK(ratio < 2.3);
    CHECK(s.r2_lo <= small.r2());
    CHECK(s.r2_hi >= small.r2());
    CHECK(l.r2_lo <= large.r2());
    CHECK(l.r2_hi >= large.r2());
    const std::size_t null_input = 4;
    CHECK((s.spearman_hi[null_input] - s.spearman_lo[null_input]) / (2 * z / std::sqrt(1999.0)) ==
          Approx(1).margin(0.15));
    CHECK((l.spearman_hi[null_input] - l.spearman_lo[null_input]) / (2 * z / std::sqrt(7999.0)) ==
          Approx(1).margin(0.15));
}

TEST_CASE("rank_importance: same seed same bits, whatever the thread count",
          "[sensitivity][bootstrap]") {
    const std::size_t n = 2000;
    const LinearModel m(13, n);
    RankImportanceOptions one, two;
    one.threads = 1;
    two.threads = 2;
    const auto a = rank_importance(m.X.data(), n, m.k(), m.y.data(), 60, 0.95, 77);
    const auto b = rank_importance(m.X.data(), n, m.k(), m.y.data(), 60, 0.95, 77, one);
    const auto c = rank_importance(m.X.data(), n, m.k(), m.y.data(), 60, 0.95, 77, two);
    RankImportanceOptions tight; // a budget for one replicate's scratch: one thread
    tight.memory_budget = 1;
    const auto d = rank_importance(m.X.data(), n, m.k(), m.y.data(), 60, 0.95, 77, tight);
    CHECK(same_bits(a, b));
    CHECK(same_bits(a, c));
    CHECK(same_bits(a, d));
    const auto e = rank_importance(m.X.data(), n, m.k(), m.y.data(), 60, 0.95, 78);
    CHECK(same_bits(a.srrc, e.srrc));
    CHECK_FALSE(same_bits(a.srrc_lo, e.srrc_lo));
}

TEST_CASE("bootstrap_quantile: type 7, NaN dropped", "[sensitivity][bootstrap]") {
    CHECK(bootstrap_quantile({3, 1, 2, 4}, 0.5) == 2.5);
    CHECK(bootstrap_quantile({3, 1, 2, 4}, 0.0) == 1);
    CHECK(bootstrap_quantile({3, 1, 2, 4}, 1.0) == 4);
    CHECK(bootstrap_quantile({3, 1, std::nan(""), 2, 4}, 0.25) == 1.75);
    CHECK(std::isnan(bootstrap_quantile({std::nan("")}, 0.5)));
    // Indices are uniform on 0 .. n-1 and differ between replicates.
    const auto i0 = bootstrap_indices(1, kRankBootstrapStream, 0, 10);
    const auto i1 = bootstrap_indices(1, kRankBootstrapStream, 1, 10);
    CHECK(i0 != i1);
    CHECK(*std::max_element(i0.begin(), i0.end()) < 10);
}

// --- Sobol' --------------------------------------------------------------------------------------

namespace {

/// The pick-freeze design's outputs for a model of k uniform (0, 1) coordinates.
template <class F> struct Design {
    std::vector<double> fA, fB;
    std::vector<std::vector<double>> fAB;
    Design(std::uint64_t seed, std::size_t n, std::size_t k, F model) {
        fA.resize(n);
        fB.resize(n);
        fAB.assign(k, std::vector<double>(n));
        std::vector<double> u(k);
        for (int mat = 0; mat < static_cast<int>(k) + 2; ++mat)
            for (std::size_t r = 0; r < n; ++r) {
                for (std::size_t i = 0; i < k; ++i)
                    u[i] = pick_freeze_uniform(seed, mat, r, i);
                const double f = model(u);
                (mat == 0   ? fA[r]
                 : mat == 1 ? fB[r]
                            : fAB[static_cast<std::size_t>(mat - 2)][r]) = f;
            }
    }
};
template <class F>
Design<F> make_design(std::uint64_t seed, std::size_t n, std::size_t k, F model) {
    return Design<F>(seed, n, k, model);
}

} // namespace

TEST_CASE("pick-freeze design: AB_i takes input i from B, the rest from A",
          "[sensitivity][sobol]") {
    CHECK(pick_freeze_source(0, 0) == 0);
    CHECK(pick_freeze_source(0, 5) == 0);
    CHECK(pick_freeze_source(1, 0) == 1);
    CHECK(pick_freeze_source(1, 5) == 1);
    CHECK(pick_freeze_source(2, 0) == 1);
    CHECK(pick_freeze_source(2, 1) == 0);
    CHECK(pick_freeze_source(4, 2) == 1);
    CHECK(pick_freeze_source(4, 1) == 0);
    CHECK_THROWS_AS(pick_freeze_source(-1, 0), std::invalid_argument);
    for (std::size_t row : {0u, 1u, 977u})
        for (std::size_t i = 0; i < 4; ++i) {
            const double a = pick_freeze_uniform(3, 0, row, i),
                         b = pick_freeze_uniform(3, 1, row, i);
            CHECK(a != b);
            CHECK(a > 0);
            CHECK(b < 1);
            for (std::size_t j = 0; j < 4; ++j)
                CHECK(pick_freeze_uniform(3, 2 + static_cast<int>(j), row, i) == (i == j ? b : a));
        }
    CHECK(pick_freeze_uniform(3, 0, 0, 0) != pick_freeze_uniform(3, 0, 0, 1));
    CHECK(pick_freeze_uniform(3, 0, 0, 0) != pick_freeze_uniform(3, 0, 1, 0));
    CHECK(pick_freeze_uniform(3, 0, 0, 0) != pick_freeze_uniform(4, 0, 0, 0));
}

TEST_CASE("sobol_indices: additive model S_i = ST_i = a_i^2 / sum a_j^2", "[sensitivity][sobol]") {
    // y = sum a_i x_i, x_i ~ U(0, 1) independent, a = (1, 2, 3): V_i = a_i^2 / 12, no
    // interactions. n = 20000, B = 300, 99 % CIs. Each estimate within 4 bootstrap SE of the
    // truth (SE = CI width / (2 * 2.576)) and within 0.03; each CI contains the truth.
    const std::vector<double> a{1, 2, 3};
    const double sum = 14;
    const auto d = make_design(21, 20000, 3, [&](const std::vector<double> &u) {
        return a[0] * u[0] + a[1] * u[1] + a[2] * u[2];
    });
    const auto s = sobol_indices(d.fA, d.fB, d.fAB, 300, 0.99, 5);
    CHECK(s.variance == Approx(sum / 12).epsilon(0.03)); // sampling: SD about 1 %
    for (std::size_t i = 0; i < 3; ++i) {
        const double want = a[i] * a[i] / sum;
        const double se1 = (s.first_hi[i] - s.first_lo[i]) / (2 * 2.5758);
        const double set = (s.total_hi[i] - s.total_lo[i]) / (2 * 2.5758);
        INFO("input " << i << ": S " << s.first[i] << " +- " << se1 << ", ST " << s.total[i]
                      << " +- " << set << ", truth " << want);
        CHECK(std::abs(s.first[i] - want) <= std::min(4 * se1, 0.03) + 1e-12);
        CHECK(std::abs(s.total[i] - want) <= std::min(4 * set, 0.03) + 1e-12);
        CHECK(s.first_lo[i] <= want);
        CHECK(s.first_hi[i] >= want);
        CHECK(s.total_lo[i] <= want);
        CHECK(s.total_hi[i] >= want);
    }
}

TEST_CASE("sobol_indices: Ishigami function against its closed forms", "[sensitivity][sobol]") {
    // f = sin x1 + a sin^2 x2 + b x3^4 sin x1, x_i ~ U(-pi, pi), a = 7, b = 0.1.
    // n = 20000, B = 300, 99 % CIs. Tolerance: 4 bootstrap SE (SE = CI width / (2 * 2.576);
    // about 0.01 for S, 0.005-0.01 for ST here) and at most 0.04; each CI contains the truth.
    const double A = 7, b = 0.1, pi4 = std::pow(kPi, 4), pi8 = std::pow(kPi, 8);
    const double V = A * A / 8 + b * pi4 / 5 + b * b * pi8 / 18 + 0.5;
    const double V1 = 0.5 * std::pow(1 + b * pi4 / 5, 2), V2 = A * A / 8;
    const double V13 = b * b * pi8 * (1.0 / 18 - 1.0 / 50);
    const double S[3] = {V1 / V, V2 / V, 0}, ST[3] = {(V1 + V13) / V, V2 / V, V13 / V};
    CHECK(S[0] == Approx(0.3139).margin(1e-4)); // the published values
    CHECK(S[1] == Approx(0.4424).margin(1e-4));
    CHECK(ST[0] == Approx(0.5576).margin(1e-4));
    CHECK(ST[2] == Approx(0.2437).margin(1e-4));
    const auto d = make_design(22, 20000, 3, [&](const std::vector<double> &u) {
        const double x1 = kPi * (2 * u[0] - 1), x2 = kPi * (2 * u[1] - 1),
                     x3 = kPi * (2 * u[2] - 1);
        return std::sin(x1) + A * std::sin(x2) * std::sin(x2) + b * std::pow(x3, 4) * std::sin(x1);
    });
    const auto s = sobol_indices(d.fA, d.fB, d.fAB, 300, 0.99, 6);
    CHECK(s.variance == Approx(V).epsilon(0.03));
    for (std::size_t i = 0; i < 3; ++i) {
        const double se1 = (s.first_hi[i] - s.first_lo[i]) / (2 * 2.5758);
        const double set = (s.total_hi[i] - s.total_lo[i]) / (2 * 2.5758);
        INFO("x" << i + 1 << ": S " << s.first[i] << " +- " << se1 << " (truth " << S[i] << "), ST "
                 << s.total[i] << " +- " << set << " (truth " << ST[i] << ")");
        CHECK(std::abs(s.first[i] - S[i]) <= std::min(4 * se1, 0.04));
        CHECK(std::abs(s.total[i] - ST[i]) <= std::min(4 * set, 0.04));
        CHECK(s.first_lo[i] <= S[i]);
        CHECK(s.first_hi[i] >= S[i]);
        CHECK(s.total_lo[i] <= ST[i]);
        CHECK(s.total_hi[i] >= ST[i]);
    }
}

TEST_CASE("sobol_indices: bootstrap equals brute-force resampling; V = 0 gives NaN",
          "[sensitivity][sobol]") {
    // Tolerance 1e-12: the same formulas on the resampled rows, summed in another order.
    const std::size_t n = 50, k = 2;
    const int B = 25;
    const auto d = make_design(
        23, n, k, [](const std::vector<double> &u) { return u[0] * u[0] + 3 * u[0] * u[1]; });
    std::vector<std::vector<double>> first(k), total(k);
    for (int b = 0; b < B; ++b) {
        const auto idx =
            bootstrap_indices(8, kSobolBootstrapStream, static_cast<std::uint64_t>(b), n);
        std::vector<double> fA(n), fB(n);
        std::vector<std::vector<double>> fAB(k, std::vector<double>(n));
        for (std::size_t r = 0; r < n; ++r) {
            fA[r] = d.fA[idx[r]];
            fB[r] = d.fB[idx[r]];
            for (std::size_t i = 0; i < k; ++i)
                fAB[i][r] = d.fAB[i][idx[r]];
        }
        const auto s = sobol_indices(fA, fB, fAB, 0, 0.9, 0);
        for (std::size_t i = 0; i < k; ++i) {
            first[i].push_back(s.first[i]);
            total[i].push_back(s.total[i]);
        }
    }
    const auto s = sobol_indices(d.fA, d.fB, d.fAB, B, 0.9, 8);
    for (std::size_t i = 0; i < k; ++i) {
        CHECK(s.first_lo[i] == Approx(bootstrap_quantile(first[i], 0.05)).margin(1e-12));
        CHECK(s.first_hi[i] == Approx(bootstrap_quantile(first[i], 0.95)).margin(1e-12));
        CHECK(s.total_lo[i] == Approx(bootstrap_quantile(total[i], 0.05)).margin(1e-12));
        CHECK(s.total_hi[i] == Approx(bootstrap_quantile(total[i], 0.95)).margin(1e-12));
    }
    // Threads do not change the bits.
    const auto s1 = sobol_indices(d.fA, d.fB, d.fAB, B, 0.9, 8, 1);
    CHECK(same_bits(s.first_lo, s1.first_lo));
    CHECK(same_bits(s.total_hi, s1.total_hi));

    // V = 0: the output is the same everywhere.
    const std::vector<double> c(n, 2.5);
    const auto z = sobol_indices(c, c, {c, c}, 10, 0.9, 1);
    CHECK(z.variance == 0);
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(std::isnan(z.first[i]));
        CHECK(std::isnan(z.total[i]));
        CHECK(std::isnan(z.first_lo[i]));
        CHECK(std::isnan(z.total_hi[i]));
    }
    CHECK_THROWS_AS(sobol_indices(c, std::vector<double>(n - 1, 1.0), {c}, 0, 0.9, 1),
                    std::invalid_argument);
    CHECK_THROWS_AS(sobol_indices(c, c, {std::vector<double>(3, 1.0)}, 0, 0.9, 1),
                    std::invalid_argument);
}

// --- cost (hidden: ./test_sensitivity "[.bench]")
// -------------------------------------------------

TEST_CASE("rank_importance cost: n = 20000, k = 100, B = 200", "[.bench]") {
    const std::size_t n = 20000, k = 100;
    const auto X = uniform_matrix(31, n, k);
    std::vector<double> y(n, 0.0);
    for (std::size_t r = 0; r < n; ++r)
        for (std::size_t i = 0; i < k; ++i)
            y[r] += static_cast<double>(i % 10) * X[r * k + i];
    for (SrrcSolver solver : {SrrcSolver::automatic, SrrcSolver::direct}) {
        RankImportanceOptions opt;
        opt.solver = solver;
        const auto t0 = std::chrono::steady_clock::now();
        const auto imp = rank_importance(X.data(), n, k, y.data(), 200, 0.95, 1, opt);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        WARN("solver " << (solver == SrrcSolver::direct ? "direct" : "automatic (iterative)")
                       << ": " << s << " s, r2 " << imp.r2 << " [" << imp.r2_lo << ", " << imp.r2_hi
                       << "]");
        CHECK(imp.r2 > 0.9);
    }
}
