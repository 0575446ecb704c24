// The dense two-phase simplex (lp.hpp) on small LPs solved by hand.
#include "engine/lp.hpp"
#include "engine/lp_kernel.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <vector>

using namespace chokepoint;
using Status = LinearProgram::Status;

namespace {
constexpr double kTol = 1e-9;

/// Checks the dual: y >= 0, c_j <= sum_i a_ij y_i for every column (dual feasibility), and
/// b.y == objective (strong duality).
void check_dual(const LinearProgram &lp,
                const std::vector<std::vector<std::pair<int, double>>> &rows,
                const std::vector<double> &rhs, const std::vector<double> &cost) {
    std::vector<double> reduced(cost.size(), 0.0);
    double by = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const double y = lp.dual(static_cast<int>(i));
        CHECK(y >= -kTol);
        by += rhs[i] * y;
        for (const auto &[j, a] : rows[i])
            reduced[static_cast<std::size_t>(j)] += a * y;
    }
    for (std::size_t j = 0; j < cost.size(); ++j)
        CHECK(reduced[j] >= cost[j] - kTol);
    CHECK(by == Approx(lp.objective()).margin(kTol));
}
} // namespace

TEST_CASE("textbook LP: max 3x + 5y, x <= 4, 2y <= 12, 3x + 2y <= 18", "[lp]") {
    // Hillier & Lieberman's Wyndor problem: optimum (2, 6), value 36, duals (0, 3/2, 1).
    LinearProgram lp;
    lp.reset(2);
    const std::vector<std::vector<std::pair<int, double>>> rows{
        {{0, 1}}, {{1, 2}}, {{0, 3}, {1, 2}}};
    const std::vector<double> rhs{4, 12, 18};
    for (std::size_t i = 0; i < rows.size(); ++i)
        CHECK(lp.add_row(rows[i], rhs[i]) == static_cast<int>(i));
    lp.set_objective({{0, 3}, {1, 5}});
    REQUIRE(lp.solve() == Status::Optimal);
    CHECK(lp.objective() == Approx(36).margin(kTol));
    CHECK(lp.value(0) == Approx(2).margin(kTol));
    CHECK(lp.value(1) == Approx(6).margin(kTol));
    CHECK(lp.dual(0) == Approx(0).margin(kTol));
    CHECK(lp.dual(1) == Approx(1.5).margin(kTol));
    CHECK(lp.dual(2) == Approx(1).margin(kTol));
    CHECK(lp.rows() == 3);
    CHECK(lp.max_violation() <= 1e-9);
    check_dual(lp, rows, rhs, {3, 5});

    SECTION("rhs_derivative: positive where the row binds, zero where it is slack") {
        // Raising 2y <= 12 by e: y = 6 + e/2, x = 2 - e/3: +5/2 - 1 = 3/2 per unit.
        CHECK(lp.rhs_derivative({1}) == Approx(1.5).margin(kTol));
        CHECK(lp.rhs_derivative({2}) == Approx(1).margin(kTol));
        CHECK(lp.rhs_derivative({1, 2}) == Approx(2.5).margin(kTol));
        CHECK(lp.rhs_derivative({0}) == 0.0); // x <= 4 is slack
    }
    SECTION("re-solving with a larger rhs confirms the derivative") {
        LinearProgram lp2;
        lp2.reset(2);
        lp2.add_row(rows[0], 4);
        lp2.add_row(rows[1], 12);
        lp2.add_row(rows[2], 18.5);
        lp2.set_objective({{0, 3}, {1, 5}});
        REQUIRE(lp2.solve() == Status::Optimal);
        CHECK(lp2.objective() == Approx(36.5).margin(kTol));
    }
}

TEST_CASE("degenerate LP: three constraints through the optimal vertex", "[lp]") {
    // max x + y, x <= 1, y <= 1, x + y <= 2: optimum 2 at (1, 1); the duals are not unique.
    LinearProgram lp;
    lp.reset(2);
    const std::vector<std::vector<std::pair<int, double>>> rows{
        {{0, 1}}, {{1, 1}}, {{0, 1}, {1, 1}}};
    const std::vector<double> rhs{1, 1, 2};
    for (std::size_t i = 0; i < rows.size(); ++i)
        lp.add_row(rows[i], rhs[i]);
    lp.set_objective({{0, 1}, {1, 1}});
    REQUIRE(lp.solve() == Status::Optimal);
    CHECK(lp.objective() == Approx(2).margin(kTol));
    CHECK(lp.value(0) == Approx(1).margin(kTol));
    CHECK(lp.value(1) == Approx(1).margin(kTol));
    check_dual(lp, rows, rhs, {1, 1});
    // True right derivatives: raising x <= 1 alone gains nothing (x + y <= 2 binds): 0.
    // Raising all three together gains 1 per unit. rhs_derivative must give the true value or
    // NaN ("undetermined, re-solve"), never a wrong number.
    auto true_or_nan = [](double got, double truth) {
        return std::isnan(got) || std::abs(got - truth) <= kTol;
    };
    CHECK(true_or_nan(lp.rhs_derivative({0}), 0.0));
    CHECK(true_or_nan(lp.rhs_derivative({1}), 0.0));
    CHECK(true_or_nan(lp.rhs_derivative({2}), 0.0));
    CHECK(true_or_nan(lp.rhs_derivative({0, 1}), 0.0));
    CHECK(true_or_nan(lp.rhs_derivative({0, 1, 2}), 1.0));
    CHECK(true_or_nan(lp.rhs_derivative({0, 2}), 1.0));
}

TEST_CASE("degenerate LP with many redundant rows at the optimum (cycling guard)", "[lp]") {
    // max x1 + x2 + x3 with x1 + x2 + x3 <= 1 repeated and each x_i <= 1, all pairs <= 1:
    // optimum 1; many bases are optimal and degenerate.
    LinearProgram lp;
    lp.reset(3);
    for (int r = 0; r < 5; ++r)
        lp.add_row({{0, 1}, {1, 1}, {2, 1}}, 1);
    for (int i = 0; i < 3; ++i)
        for (int j = i + 1; j < 3; ++j)
            lp.add_row({{i, 1}, {j, 1}}, 1);
    for (int i = 0; i < 3; ++i)
        lp.add_row({{i, 1}}, 1);
    lp.add_row({{0, 1}, {1, -1}}, 0); // x1 <= x2
    lp.set_objective({{0, 1}, {1, 1}, {2, 1}});
    REQUIRE(lp.solve() == Status::Optimal);
    CHECK(lp.objective() == Approx(1).margin(kTol));
    CHECK(lp.value(0) + lp.value(1) + lp.value(2) == Approx(1).margin(kTol));
    CHECK(lp.value(0) <= lp.value(1) + kTol);
}

TEST_CASE("infeasible LP", "[lp]") {
    // x <= 1 and x >= 2 (written -x <= -2)
    LinearProgram lp;
    lp.reset(1);
    lp.add_row({{0, 1}}, 1);
    lp.add_row({{0, -1}}, -2);
    lp.set_objective({{0, 1}});
    CHECK(lp.solve() == Status::Infeasible);
    // x + y <= 1, x + y >= 3
    lp.reset(2);
    lp.add_row({{0, 1}, {1, 1}}, 1);
    lp.add_row({{0, -1}, {1, -1}}, -3);
    lp.set_objective({{0, 1}});
    CHECK(lp.solve() == Status::Infeasible);
}

TEST_CASE("unbounded LP", "[lp]") {
    // max x with only -x <= 1
    LinearProgram lp;
    lp.reset(2);
    lp.add_row({{0, -1}}, 1);
    lp.add_row({{1, 1}}, 3);
    lp.set_objective({{0, 1}, {1, 1}});
    CHECK(lp.solve() == Status::Unbounded);
}

TEST_CASE("phase 1: a negative right-hand side (a >= row)", "[lp]") {
    // max -x - 2y subject to x + y >= 3 (-x - y <= -3) and x <= 2.
    // Optimum x = 2, y = 1, value -4. Duals from c = A^T y on the basis {x, y}:
    // for x: -1 = -y0 + y1, for y: -2 = -y0, so y0 = 2, y1 = 1.
    LinearProgram lp;
    lp.reset(2);
    const std::vector<std::vector<std::pair<int, double>>> rows{{{0, -1}, {1, -1}}, {{0, 1}}};
    const std::vector<double> rhs{-3, 2};
    lp.add_row(rows[0], rhs[0]);
    lp.add_row(rows[1], rhs[1]);
    lp.set_objective({{0, -1}, {1, -2}});
    REQUIRE(lp.solve() == Status::Optimal);
    CHECK(lp.objective() == Approx(-4).margin(kTol));
    CHECK(lp.value(0) == Approx(2).margin(kTol));
    CHECK(lp.value(1) == Approx(1).margin(kTol));
    CHECK(lp.dual(0) == Approx(2).margin(kTol));
    CHECK(lp.dual(1) == Approx(1).margin(kTol));
    check_dual(lp, rows, rhs, {-1, -2});
    // Raising the rhs of row 0 (-3 -> -3 + e) relaxes x + y >= 3 - e: y = 1 - e, +2 per unit.
    CHECK(lp.rhs_derivative({0}) == Approx(2).margin(kTol));
    CHECK(lp.rhs_derivative({1}) == Approx(1).margin(kTol));
}

TEST_CASE("phase 1 with an equality written as two rows (redundant artificial)", "[lp]") {
    // max x + 2y subject to x + y <= 1 and x + y >= 1: optimum (0, 1), value 2.
    LinearProgram lp;
    lp.reset(2);
    lp.add_row({{0, 1}, {1, 1}}, 1);
    lp.add_row({{0, -1}, {1, -1}}, -1);
    lp.set_objective({{0, 1}, {1, 2}});
    REQUIRE(lp.solve() == Status::Optimal);
    CHECK(lp.objective() == Approx(2).margin(kTol));
    CHECK(lp.value(0) == Approx(0).margin(kTol));
    CHECK(lp.value(1) == Approx(1).margin(kTol));
}

TEST_CASE("a lower bound on a flow, like a fixed tier delivery", "[lp]") {
    // Two consumers share a supply of 10: y1 + y2 <= 10, y1 >= 4 (fixed tier-1 delivery),
    // maximise y2: y2 = 6, and the supply row's dual is 1.
    LinearProgram lp;
    lp.reset(2);
    lp.add_row({{0, 1}, {1, 1}}, 10);
    lp.add_row({{0, -1}}, -4);
    lp.set_objective({{1, 1}});
    REQUIRE(lp.solve() == Status::Optimal);
    CHECK(lp.objective() == Approx(6).margin(kTol));
    CHECK(lp.value(0) == Approx(4).margin(kTol));
    CHECK(lp.dual(0) == Approx(1).margin(kTol));
    CHECK(lp.dual(1) == Approx(1).margin(kTol));
    CHECK(lp.rhs_derivative({0}) == Approx(1).margin(kTol));
}

TEST_CASE("reset clears the previous problem; badly scaled rows", "[lp]") {
    LinearProgram lp;
    lp.reset(2);
    lp.add_row({{0, 1}}, 5);
    lp.set_objective({{0, 1}});
    REQUIRE(lp.solve() == Status::Optimal);
    CHECK(lp.objective() == Approx(5));
    // a second, unrelated problem with rows scaled by 1e6 and 1e-6
    lp.reset(2);
    lp.add_row({{0, 1e6}, {1, 1e6}}, 3e6); // x + y <= 3
    lp.add_row({{0, 1e-6}}, 2e-6);         // x <= 2
    lp.set_objective({{0, 2}, {1, 1}});
    REQUIRE(lp.solve() == Status::Optimal);
    CHECK(lp.rows() == 2);
    CHECK(lp.objective() == Approx(5).margin(1e-9));
    CHECK(lp.value(0) == Approx(2).margin(1e-9));
    CHECK(lp.value(1) == Approx(1).margin(1e-9));
    // duals in the caller's units: row 0: 1e-6 per unit of its rhs, row 1: 1e6
    CHECK(lp.dual(0) == Approx(1e-6).epsilon(1e-9));
    CHECK(lp.dual(1) == Approx(1e6).epsilon(1e-9));
    // no rows at all: the optimum of max 0 is 0 at x = 0
    lp.reset(1);
    lp.set_objective({});
    REQUIRE(lp.solve() == Status::Optimal);
    CHECK(lp.objective() == 0.0);
}

// The simplex's inner loops (lp_kernel.hpp) against their plain scalar definitions, bit for
// bit, on random sparse data full of zeros (both signs), exact cancellations, residues just
// either side of the flush threshold, NaN and infinities.
namespace {
std::uint64_t bits_of(double v) {
    std::uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    return b;
}

double definition_flush(double v) {
    return std::abs(v) < lp_kernel::kResidue ? 0.0 : v;
}

/// Entries a flow tableau holds: mostly zeros, small integers and ratios, some awkward values.
double tableau_entry(std::mt19937_64 &rng) {
    static const double special[] = {0.0,
                                     -0.0,
                                     1.0,
                                     -1.0,
                                     0.5,
                                     1e-13,
                                     -1e-13,
                                     std::nextafter(1e-13, 0.0),
                                     -std::nextafter(1e-13, 0.0),
                                     4.6e-6,
                                     1.15,
                                     std::numeric_limits<double>::quiet_NaN(),
                                     std::numeric_limits<double>::infinity(),
                                     -std::numeric_limits<double>::infinity(),
                                     std::numeric_limits<double>::denorm_min()};
    std::uniform_int_distribution<int> kind(0, 9);
    switch (kind(rng)) {
    case 0:
    case 1:
    case 2:
    case 3:
        return 0.0;
    case 4:
        return -0.0;
    case 5:
        return special[std::uniform_int_distribution<std::size_t>(0, std::size(special) - 1)(rng)];
    case 6:
        return static_cast<double>(std::uniform_int_distribution<int>(-3, 3)(rng));
    default:
        return std::uniform_real_distribution<double>(-2.0, 2.0)(rng);
    }
}
} // namespace

TEST_CASE("lp_kernel: each inner loop gives the bits of its scalar definition", "[lp]") {
    std::mt19937_64 rng(20261207);
    SECTION("flush_residue") {
        for (int it = 0; it < 100000; ++it) {
            const double v = tableau_entry(rng) * (it % 3 == 0 ? 1e-13 : 1.0);
            const double got = lp_kernel::flush_residue(v), want = definition_flush(v);
            if (std::isnan(want))
                REQUIRE(std::isnan(got));
            else
                REQUIRE(bits_of(got) == bits_of(want));
        }
    }
    SECTION("first_minimum_below and first_below: Dantzig's and Bland's choice") {
        for (int it = 0; it < 20000; ++it) {
            const int n = std::uniform_int_distribution<int>(0, 23)(rng);
            std::vector<double> v(static_cast<std::size_t>(n));
            for (auto &x : v) // few distinct values: ties are the rule
                x = it % 2 ? tableau_entry(rng)
                           : static_cast<double>(std::uniform_int_distribution<int>(-2, 1)(rng));
            const double bound = -1e-10;
            int dantzig = -1, bland = -1;
            double best = bound;
            for (int j = 0; j < n; ++j)
                if (v[static_cast<std::size_t>(j)] < best) {
                    dantzig = j;
                    best = v[static_cast<std::size_t>(j)];
                }
            for (int j = 0; j < n && bland < 0; ++j)
                if (v[static_cast<std::size_t>(j)] < bound)
                    bland = j;
            REQUIRE(lp_kernel::first_minimum_below(v.data(), n, bound) == dantzig);
            REQUIRE(lp_kernel::first_below(v.data(), n, bound) == bland);
        }
    }
    SECTION("scale_row and the elimination of one or two rows") {
        for (int it = 0; it < 5000; ++it) {
            const int width = std::uniform_int_distribution<int>(0, 41)(rng);
            const auto W = static_cast<std::size_t>(width);
            std::vector<double> prow(W), r0(W), r1(W);
            for (std::size_t j = 0; j < W; ++j) {
                prow[j] = tableau_entry(rng);
                r0[j] = tableau_entry(rng);
                r1[j] = tableau_entry(rng);
            }
            const double inv = 1.0 / std::uniform_real_distribution<double>(0.1, 3.0)(rng);
            // scale_row against its definition
            std::vector<double> want_row = prow;
            std::vector<int> want_nz;
            for (std::size_t j = 0; j < W; ++j) {
                const bool nonzero = want_row[j] != 0.0;
                want_row[j] = nonzero ? want_row[j] * inv : 0.0;
                if (nonzero)
                    want_nz.push_back(static_cast<int>(j));
            }
            std::vector<int> nz(W); // exactly the documented minimum: an overrun fails under ASan
            const std::size_t cnt = lp_kernel::scale_row(prow.data(), width, inv, nz.data());
            nz.resize(cnt);
            REQUIRE(nz == want_nz);
            for (std::size_t j = 0; j < W; ++j)
                REQUIRE((std::isnan(want_row[j]) ? std::isnan(prow[j])
                                                 : bits_of(prow[j]) == bits_of(want_row[j])));
            // the rows' entries under the pivot row's non-zeros: some cancel exactly, some
            // leave a residue either side of the threshold
            const double f0 = tableau_entry(rng), f1 = tableau_entry(rng);
            std::vector<double> pv(cnt);
            for (std::size_t k = 0; k < cnt; ++k) {
                pv[k] = prow[static_cast<std::size_t>(nz[k])];
                const auto j = static_cast<std::size_t>(nz[k]);
                switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
                case 0:
                    r0[j] = f0 * pv[k];
                    break;
                case 1:
                    r1[j] = f1 * pv[k] + 5e-14;
                    break;
                case 2:
                    r0[j] = f0 * pv[k] - 2e-13;
                    break;
                default:
                    break;
                }
            }
            std::vector<double> w0 = r0, w1 = r1, one = r0;
            for (std::size_t k = 0; k < cnt; ++k) {
                const auto j = static_cast<std::size_t>(nz[k]);
                w0[j] = definition_flush(w0[j] - f0 * pv[k]);
                w1[j] = definition_flush(w1[j] - f1 * pv[k]);
            }
            lp_kernel::eliminate_rows(r0.data(), r1.data(), f0, f1, nz.data(), pv.data(), cnt);
            lp_kernel::eliminate_row(one.data(), f0, nz.data(), pv.data(), cnt);
            for (std::size_t j = 0; j < W; ++j) {
                const auto same = [](double a, double b) {
                    return std::isnan(b) ? std::isnan(a) : bits_of(a) == bits_of(b);
                };
                REQUIRE(same(r0[j], w0[j]));
                REQUIRE(same(r1[j], w1[j]));
                REQUIRE(same(one[j], w0[j]));
            }
        }
    }
}

TEST_CASE("lp_kernel: pivot_tableau (and with its rows listed) gives the bits of the plain pivot",
          "[lp]") {
    // The definition: chokepoint's pivot before the kernels (commit 6117eb0), entry by entry.
    auto plain_pivot = [](std::vector<double> &t, int m, int width, int r, int c) {
        auto T = [&](int i, int j) -> double & {
            return t[static_cast<std::size_t>(i) * static_cast<std::size_t>(width) +
                     static_cast<std::size_t>(j)];
        };
        const double inv = 1.0 / T(r, c);
        std::vector<int> nz;
        for (int j = 0; j < width; ++j) {
            const bool nonzero = T(r, j) != 0.0;
            T(r, j) = nonzero ? T(r, j) * inv : 0.0;
            if (nonzero)
                nz.push_back(j);
        }
        T(r, c) = 1.0;
        for (int i = 0; i <= m; ++i) {
            if (i == r)
                continue;
            const double f = T(i, c);
            if (f == 0.0)
                continue;
            for (int j : nz)
                T(i, j) = definition_flush(T(i, j) - f * T(r, j));
            T(i, c) = 0.0;
        }
    };
    std::mt19937_64 rng(7);
    lp_kernel::PivotScratch scratch;
    for (int it = 0; it < 20000; ++it) {
        const int m = std::uniform_int_distribution<int>(0, 13)(rng);
        const int width = std::uniform_int_distribution<int>(1, 37)(rng);
        std::vector<double> tab(static_cast<std::size_t>(m + 1) * static_cast<std::size_t>(width));
        for (auto &x : tab)
            x = tableau_entry(rng);
        const int r = std::uniform_int_distribution<int>(0, std::max(0, m - 1))(rng);
        const int c = std::uniform_int_distribution<int>(0, width - 1)(rng);
        auto &pivot_entry = tab[static_cast<std::size_t>(r) * static_cast<std::size_t>(width) +
                                static_cast<std::size_t>(c)];
        if (!std::isfinite(pivot_entry) || pivot_entry == 0.0)
            pivot_entry = std::uniform_real_distribution<double>(0.25, 4.0)(rng);
        // Some rows cancel exactly, or to a residue, against the pivot row.
        for (int i = 0; i <= m; ++i)
            if (i != r && std::uniform_int_distribution<int>(0, 2)(rng) == 0)
                for (int j = 0; j < width; ++j)
                    tab[static_cast<std::size_t>(i) * static_cast<std::size_t>(width) +
                        static_cast<std::size_t>(j)] =
                        tab[static_cast<std::size_t>(r) * static_cast<std::size_t>(width) +
                            static_cast<std::size_t>(j)] *
                        (it % 2 ? 1.0 : 1.0 + 1e-14);
        std::vector<double> want = tab, listed = tab;
        plain_pivot(want, m, width, r, c);
        lp_kernel::pivot_tableau(tab.data(), m, width, r, c, scratch);
        // The simplex's variant: the rows below the objective with a non-zero in column c listed
        // first (the ratio test's list), then the pivot on them.
        scratch.rows.assign(static_cast<std::size_t>(m) + 1, -1);
        const std::size_t nr =
            lp_kernel::nonzero_rows(listed.data(), m, width, c, scratch.rows.data());
        std::size_t expect_nr = 0;
        for (int i = 0; i < m; ++i)
            if (listed[static_cast<std::size_t>(i) * static_cast<std::size_t>(width) +
                       static_cast<std::size_t>(c)] != 0.0)
                REQUIRE(scratch.rows[expect_nr++] == i);
        REQUIRE(nr == expect_nr);
        lp_kernel::pivot_tableau_rows(listed.data(), m, width, r, c, nr, scratch);
        for (std::size_t k = 0; k < tab.size(); ++k) {
            REQUIRE(
                (std::isnan(want[k]) ? std::isnan(tab[k]) : bits_of(tab[k]) == bits_of(want[k])));
            REQUIRE((std::isnan(want[k]) ? std::isnan(listed[k])
                                         : bits_of(listed[k]) == bits_of(want[k])));
        }
    }
}
