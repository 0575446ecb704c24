#include "engine/lp.hpp"

#include "engine/lp_kernel.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <istream>
#include <limits>
#include <ostream>
#include <sstream>
#include <stdexcept>

namespace chokepoint {

namespace {
constexpr double kPivotEps = 1e-9;
constexpr double kCostEps = 1e-10;
constexpr double kFeasEps = 1e-9;

std::string fmt_g(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}
} // namespace

const char *LinearProgram::status_name(Status s) {
    switch (s) {
    case Status::Optimal:
        return "optimal";
    case Status::Infeasible:
        return "infeasible";
    case Status::Unbounded:
        return "unbounded";
    case Status::IterationLimit:
        return "iteration limit";
    case Status::Numerical:
        break;
    }
    return "no certificate";
}

std::string LpFailure::describe() const {
    std::ostringstream os;
    os << "allocation LP failed";
    if (!scenario.empty())
        os << " in scenario '" << scenario << "'";
    if (trial >= 0)
        os << ", trial " << trial;
    if (month >= 0)
        os << ", month " << month;
    if (!chain.empty())
        os << ", value chain " << chain;
    if (!role.empty())
        os << " (" << role << ")";
    os << ": every solver rung failed [" << ladder_ << "]";
    return os.str();
}

const char *LpFailure::what() const noexcept {
    try {
        what_ = describe();
        return what_.c_str();
    } catch (...) {
        return "allocation LP failed";
    }
}

void LinearProgram::reset(int n) {
    n_ = n;
    row_start_.assign(1, 0);
    idx_.clear();
    val_.clear();
    rhs_.clear();
    flip_.clear();
    cost_.assign(static_cast<std::size_t>(n), 0.0);
}

int LinearProgram::add_row(const std::vector<std::pair<int, double>> &coefs, double rhs,
                           bool always_artificial) {
    flip_.push_back(rhs < 0 || always_artificial);
    for (const auto &[j, c] : coefs) {
        idx_.push_back(j);
        val_.push_back(c);
    }
    row_start_.push_back(static_cast<int>(idx_.size()));
    rhs_.push_back(rhs);
    return static_cast<int>(rhs_.size()) - 1;
}

void LinearProgram::set_objective(const std::vector<std::pair<int, double>> &coefs) {
    cost_.assign(static_cast<std::size_t>(n_), 0.0);
    for (const auto &[j, c] : coefs)
        cost_[static_cast<std::size_t>(j)] += c;
}

void LinearProgram::pivot(int r, int c) {
    ++pivots_;
    lp_kernel::pivot_tableau(tab_.data(), m_, width_, r, c, scratch_);
    basis_[static_cast<std::size_t>(r)] = c;
}

// Runs simplex iterations on the current objective row (row m_); entering columns are
// restricted to [0, ncols_enter). Returns false if unbounded.
bool LinearProgram::iterate(int ncols_enter, int max_iter) {
    int degenerate_run = 0;
    scratch_.rows.resize(static_cast<std::size_t>(m_) + 1); // the entering column's rows
    for (int it = 0; it < max_iter; ++it) {
        const double *obj = &T(m_, 0);
        const bool bland = safe_ || degenerate_run > 20;
        const int enter = bland ? lp_kernel::first_below(obj, ncols_enter, -kCostEps)
                                : lp_kernel::first_minimum_below(obj, ncols_enter, -kCostEps);
        if (enter < 0)
            return true;
        int leave = -1;
        double ratio = std::numeric_limits<double>::infinity();
        // Only rows with a non-zero entry can block (a zero is below every pivot tolerance);
        // listed once, the same list tells the pivot which rows to update.
        int *rows = scratch_.rows.data();
        const std::size_t nr = lp_kernel::nonzero_rows(tab_.data(), m_, width_, enter, rows);
        for (std::size_t k = 0; k < nr; ++k) {
            const int i = rows[k];
            const double a = T(i, enter);
            if (basis_[static_cast<std::size_t>(i)] >= art0_ && ncols_enter <= art0_ &&
                std::abs(a) > kPivotEps) {
                // Phase 2, an artificial left basic at zero in a redundant row: it must stay
                // at zero, so this row blocks at once (pivoting it out keeps it zero).
                if (leave < 0 || ratio > 0 || basis_[static_cast<std::size_t>(leave)] < art0_) {
                    leave = i;
                    ratio = 0;
                }
                continue;
            }
            if (a <= (safe_ ? 1e-7 : kPivotEps))
                continue;
            // Rounding can leave a basic value a hair below zero; treat it as zero.
            const double q = std::max(0.0, T(i, rhs_col_)) / a;
            // Ties: the larger pivot element (stabler), or under Bland's rule the smaller
            // basic index (which guarantees termination).
            const bool tie = leave >= 0 && q <= ratio + 1e-9;
            const bool better_tie = tie && (bland ? basis_[static_cast<std::size_t>(i)] <
                                                        basis_[static_cast<std::size_t>(leave)]
                                                  : a > T(leave, enter));
            if (q < ratio - 1e-12 || better_tie) {
                ratio = q;
                leave = i;
            }
        }
        if (leave < 0)
            return false;
        degenerate_run = (ratio <= 1e-12) ? degenerate_run + 1 : 0;
        // The ratio test read a basic value a rounding error below zero as zero; make it so
        // before pivoting. Otherwise the entering variable takes that value divided by the pivot
        // element: a residue of -4e-12 on a row whose pivot is a small want (4.6e-6, a nearly
        // full stockpile's refill) became a fill fraction of -8e-7, which verification rightly
        // refused, and the run died (issue 10, seed 5). Zeroing it solves b perturbed by the
        // residue, within the feasibility tolerance the certificate checks.
        if (T(leave, rhs_col_) < 0)
            T(leave, rhs_col_) = 0.0;
        ++pivots_;
        lp_kernel::pivot_tableau_rows(tab_.data(), m_, width_, leave, enter, nr, scratch_);
        basis_[static_cast<std::size_t>(leave)] = enter;
    }
    throw std::runtime_error("simplex iteration limit");
}

LinearProgram::Status LinearProgram::solve() {
    warm_ = false;
    pivots_ = 0;
    ladder_log_.clear();
    const bool same_shape =
        have_last_ && n_ == last_n_ && row_start_ == last_row_start_ && idx_ == last_idx_;
    cold_reason_ = !have_last_ ? 1 : !same_shape ? 2 : 3;
    auto note = [&](Rung r, const std::string &what) {
        if (!ladder_log_.empty())
            ladder_log_ += "; ";
        ladder_log_ += std::string(rung_name(r)) + ": " + what;
    };
    auto outcome = [&](Status st) -> std::string {
        if (st != Status::Numerical)
            return status_name(st);
        return "no certificate (primal " + fmt_g(cert_.primal) + ", dual " + fmt_g(cert_.dual) +
               ", gap " + fmt_g(cert_.gap) + ")";
    };
    Status st = Status::Numerical;
    bool done = false;
    // 1. Warm: the last optimal basis of this object, updated for the new coefficients.
    if (first_rung_ <= Rung::Warm) {
        if (!have_last_)
            note(Rung::Warm, "not tried (nothing remembered)");
        else if (!same_shape)
            note(Rung::Warm, "not tried (other rows)");
        else if (!warm_start_)
            note(Rung::Warm, "not tried (warm starts off)");
        else if (try_warm()) {
            warm_ = true;
            cold_reason_ = 0;
            rung_ = Rung::Warm;
            st = Status::Optimal;
            done = true;
        } else {
            note(Rung::Warm, "gave up");
        }
    }
    // 2, 3. Cold: Dantzig's rule; then Bland's rule throughout with a stricter pivot tolerance.
    int infeasible_votes = 0; // dense rungs whose phase 1 ended infeasible
    for (const Rung r : {Rung::Cold, Rung::Bland}) {
        if (done || first_rung_ > r)
            continue;
        safe_ = r == Rung::Bland;
        st = solve_once();
        if (st == Status::Optimal) {
            rung_ = r;
            done = true;
        } else {
            infeasible_votes += st == Status::Infeasible;
            note(r, outcome(st));
        }
    }
    // 4. The library solver.
    if (!done) {
        st = solve_library();
        if (st == Status::Optimal) {
            rung_ = Rung::Library;
            done = true;
        } else {
            note(Rung::Library, outcome(st));
            // CLP gave no answer at all (neither an optimum nor a verdict; seen in the soak:
            // its status 4 on an infeasible chokepoint question) while both dense rungs proved
            // the LP infeasible: take their verdict. A caller that cannot accept an infeasible
            // LP stops the run as before; one that asks a question whose premises may not hold
            // (the chokepoint test under a rule) gets its answer.
            if (st != Status::Infeasible && st != Status::Unbounded && infeasible_votes == 2) {
                st = Status::Infeasible;
                ladder_log_ += " (taken as infeasible: cold and Bland agree)";
            }
        }
    }
    // Only a tableau's optimal basis can be warm-started from.
    have_last_ = done && tableau_valid_;
    if (have_last_) {
        last_n_ = n_;
        last_row_start_ = row_start_;
        last_idx_ = idx_;
        last_val_ = val_;
        last_cost_ = cost_;
        last_neg_.resize(rhs_.size());
        for (std::size_t r = 0; r < rhs_.size(); ++r)
            last_neg_[r] = flip_[r];
    }
    return st;
}

bool LinearProgram::try_warm() {
    // Same shape as the last problem solved: the tableau holds B^-1 (under the columns of the
    // initial basis: slacks, or artificials of flipped rows) for its optimal basis B.
    //  1. columns whose coefficients changed are replaced by B^-1 a_j (a basic one is then
    //     pivoted back to a unit column: a rank-one update of B);
    //  2. the reduced costs are recomputed for the (possibly new) costs;
    //  3. the basic values become B^-1 b for the new right-hand sides;
    //  4. primal simplex if only reduced costs went wrong, dual simplex if only basic values
    //     did; both wrong (or anything numerically doubtful): give up and solve afresh.
    // Row scales stay those of the last cold solve (any positive scaling is valid).
    const auto M = static_cast<std::size_t>(m_);
    for (std::size_t r = 0; r < M; ++r)
        if (static_cast<bool>(flip_[r]) != static_cast<bool>(last_neg_[r]))
            return false;
    auto scaled = [&](std::size_t r, double v) {
        return (flip_[r] ? -1.0 : 1.0) * row_scale_[r] * v;
    };
    // 1. changed columns
    if (val_ != last_val_) {
        std::vector<std::vector<std::pair<int, double>>> &cols = colbuf_;
        cols.assign(static_cast<std::size_t>(n_), {});
        std::vector<char> changed(static_cast<std::size_t>(n_), 0);
        for (std::size_t e = 0; e < val_.size(); ++e)
            if (val_[e] != last_val_[e])
                changed[static_cast<std::size_t>(idx_[e])] = 1;
        for (std::size_t r = 0; r < M; ++r)
            for (int e = row_start_[r]; e < row_start_[r + 1]; ++e) {
                const auto j = static_cast<std::size_t>(idx_[static_cast<std::size_t>(e)]);
                if (changed[j])
                    cols[j].push_back(
                        {static_cast<int>(r), scaled(r, val_[static_cast<std::size_t>(e)])});
            }
        std::vector<double> &alpha = nzv_;
        for (int j = 0; j < n_; ++j) {
            if (!changed[static_cast<std::size_t>(j)])
                continue;
            alpha.assign(M, 0.0);
            for (int k = 0; k < m_; ++k) {
                double v = 0;
                for (const auto &[r, a] : cols[static_cast<std::size_t>(j)])
                    v += at(k, init_col_[static_cast<std::size_t>(r)]) * a;
                alpha[static_cast<std::size_t>(k)] = v;
            }
            int row_of_j = -1;
            for (int k = 0; k < m_; ++k) {
                T(k, j) = lp_kernel::flush_residue(alpha[static_cast<std::size_t>(k)]);
                if (basis_[static_cast<std::size_t>(k)] == j)
                    row_of_j = k;
            }
            if (row_of_j >= 0) {
                if (std::abs(T(row_of_j, j)) < 1e-7)
                    return false; // the old basis would be (nearly) singular
                pivot(row_of_j, j);
            }
        }
    }
    // 2. reduced costs z_j - c_j = c_B B^-1 a_j - c_j, for the current costs (unchanged when
    //    neither the columns nor the costs changed)
    if (val_ != last_val_ || cost_ != last_cost_)
        reduced_costs();
    // 3. basic values for the new right-hand sides
    // Most right-hand sides are 0 (balance, recipe, fairness and leak rows): only the others
    // enter the sums (skipping a term a x 0 leaves every sum's bits as they were).
    std::vector<double> &b = nzb_;
    std::vector<int> &bcol = bcol_;
    b.clear();
    bcol.clear();
    for (std::size_t r = 0; r < M; ++r)
        if (rhs_[r] != 0.0) {
            b.push_back(scaled(r, rhs_[r]));
            bcol.push_back(init_col_[r]);
        }
    const std::size_t NB = b.size();
    // Four rows at a time: each row's sum is the same terms in the same order as alone (the
    // same bits), and the four chains of additions run side by side.
    std::vector<double> &basic = nzv_;
    basic.resize(M);
    int k4 = 0;
    for (; k4 + 4 <= m_; k4 += 4) {
        const double *r0 = &T(k4, 0), *r1 = r0 + width_, *r2 = r1 + width_, *r3 = r2 + width_;
        double v0 = 0, v1 = 0, v2 = 0, v3 = 0;
        for (std::size_t q = 0; q < NB; ++q) {
            const int c = bcol[q];
            const double bq = b[q];
            v0 += r0[c] * bq;
            v1 += r1[c] * bq;
            v2 += r2[c] * bq;
            v3 += r3[c] * bq;
        }
        basic[static_cast<std::size_t>(k4)] = v0;
        basic[static_cast<std::size_t>(k4) + 1] = v1;
        basic[static_cast<std::size_t>(k4) + 2] = v2;
        basic[static_cast<std::size_t>(k4) + 3] = v3;
    }
    for (; k4 < m_; ++k4) {
        double v = 0;
        const double *row = &T(k4, 0);
        for (std::size_t q = 0; q < NB; ++q)
            v += row[bcol[q]] * b[q];
        basic[static_cast<std::size_t>(k4)] = v;
    }
    bool primal_ok = true;
    double obj_value = 0;
    for (int k = 0; k < m_; ++k) {
        double v = basic[static_cast<std::size_t>(k)];
        if (basis_[static_cast<std::size_t>(k)] >= art0_) {
            if (std::abs(v) > 1e-12)
                return false; // a redundant row would no longer be redundant
            v = 0.0;
        } else if (v < 0) {
            if (v < -1e-11)
                primal_ok = false;
            else
                v = 0.0;
        }
        T(k, rhs_col_) = v;
        const int bk = basis_[static_cast<std::size_t>(k)];
        if (bk < n_)
            obj_value += cost_[static_cast<std::size_t>(bk)] * v;
    }
    T(m_, rhs_col_) = obj_value;
    // 4. restore optimality
    bool dual_ok = true;
    for (int c = 0; c < art0_; ++c)
        if (T(m_, c) < -kCostEps) {
            dual_ok = false;
            break;
        }
    if (!primal_ok && !dual_ok)
        return false;
    if (!primal_ok && !dual_simplex())
        return false;
    if (!dual_ok) {
        try {
            if (!iterate(art0_, 4 * (m_ + width_)))
                return false;
        } catch (const std::runtime_error &) {
            return false;
        }
    }
    extract();
    return accept() == Status::Optimal;
}

// Dual simplex from a dual-feasible tableau (reduced costs >= 0) with some negative basic
// values: the leaving row is the most negative one, the entering column keeps the reduced
// costs non-negative. Returns false if it cannot finish (then the caller solves afresh).
bool LinearProgram::dual_simplex() {
    for (int it = 0; it < 4 * (m_ + width_); ++it) {
        int leave = -1;
        double worst = -1e-11;
        for (int k = 0; k < m_; ++k)
            if (T(k, rhs_col_) < worst) {
                worst = T(k, rhs_col_);
                leave = k;
            }
        if (leave < 0) {
            for (int k = 0; k < m_; ++k)
                if (T(k, rhs_col_) < 0)
                    T(k, rhs_col_) = 0.0;
            return true;
        }
        if (basis_[static_cast<std::size_t>(leave)] >= art0_)
            return false;
        int enter = -1;
        double best = std::numeric_limits<double>::infinity();
        for (int j = 0; j < art0_; ++j) {
            const double a = T(leave, j);
            if (a >= -kPivotEps)
                continue;
            const double q = std::max(0.0, T(m_, j)) / -a;
            if (q < best - 1e-12 || (q <= best + 1e-12 && enter >= 0 && a < T(leave, enter))) {
                best = q;
                enter = j;
            }
        }
        if (enter < 0)
            return false; // primal infeasible for these b: let the full solve say so
        pivot(leave, enter);
    }
    return false;
}

// Objective row of the current basis: reduced costs z_j - c_j = c_B B^-1 a_j - c_j (and the
// objective value under the right-hand side), residue flushed, basic columns exactly zero.
void LinearProgram::reduced_costs() {
    double *obj = &T(m_, 0);
    for (int c = 0; c < width_; ++c)
        obj[c] = 0.0;
    for (int j = 0; j < n_; ++j)
        obj[j] = -cost_[static_cast<std::size_t>(j)];
    for (int k = 0; k < m_; ++k) {
        const int b = basis_[static_cast<std::size_t>(k)];
        if (b >= n_)
            continue;
        const double cb = cost_[static_cast<std::size_t>(b)];
        if (cb == 0.0)
            continue;
        const double *row = &T(k, 0);
        for (int c = 0; c < width_; ++c)
            obj[c] += cb * row[c];
    }
    for (int c = 0; c < rhs_col_; ++c)
        obj[c] = lp_kernel::flush_residue(obj[c]);
    for (int k = 0; k < m_; ++k)
        obj[basis_[static_cast<std::size_t>(k)]] = 0.0;
}

LinearProgram::Status LinearProgram::solve_once() {
    m_ = static_cast<int>(rhs_.size());
    pivots_ = 0;
    int n_art = 0;
    for (char f : flip_)
        if (f)
            ++n_art;
    const int slack0 = n_, art0 = n_ + m_;
    art0_ = art0;
    init_col_.assign(static_cast<std::size_t>(m_), 0);
    width_ = n_ + m_ + n_art + 1;
    rhs_col_ = width_ - 1;
    tab_.assign(static_cast<std::size_t>(m_ + 1) * static_cast<std::size_t>(width_), 0.0);
    basis_.assign(static_cast<std::size_t>(m_), -1);
    int a = 0;
    row_scale_.assign(static_cast<std::size_t>(m_), 1.0);
    for (int i = 0; i < m_; ++i) {
        // Equilibrate: each row scaled so that its largest coefficient is 1.
        double big = 0;
        const int r0 = row_start_[static_cast<std::size_t>(i)],
                  r1 = row_start_[static_cast<std::size_t>(i) + 1];
        for (int e = r0; e < r1; ++e)
            big = std::max(big, std::abs(val_[static_cast<std::size_t>(e)]));
        const double rs = big > 0 ? 1.0 / big : 1.0;
        row_scale_[static_cast<std::size_t>(i)] = rs;
        const double sign = (flip_[static_cast<std::size_t>(i)] ? -1.0 : 1.0) * rs;
        for (int e = r0; e < r1; ++e)
            T(i, idx_[static_cast<std::size_t>(e)]) += sign * val_[static_cast<std::size_t>(e)];
        T(i, slack0 + i) = sign < 0 ? -1.0 : 1.0;
        T(i, rhs_col_) = sign * rhs_[static_cast<std::size_t>(i)];
        if (sign < 0) {
            T(i, art0 + a) = 1.0;
            basis_[static_cast<std::size_t>(i)] = art0 + a;
            init_col_[static_cast<std::size_t>(i)] = art0 + a;
            ++a;
        } else {
            basis_[static_cast<std::size_t>(i)] = slack0 + i;
            init_col_[static_cast<std::size_t>(i)] = slack0 + i;
        }
    }
    const int max_iter = 50 * (m_ + width_) + 1000;
    try {
        if (n_art > 0) {
            // Phase 1: maximise -sum(artificials).
            double *obj = &T(m_, 0);
            for (int i = 0; i < m_; ++i) {
                if (basis_[static_cast<std::size_t>(i)] < art0)
                    continue;
                const double *row = &T(i, 0);
                for (int j = 0; j < width_; ++j)
                    obj[j] -= row[j];
            }
            for (int k = 0; k < n_art; ++k)
                obj[art0 + k] = 0.0;
            if (!iterate(width_ - 1, max_iter))
                return Status::Unbounded;
            if (T(m_, rhs_col_) < -kFeasEps * (1.0 + m_))
                return Status::Infeasible;
            // Drive artificial variables at zero out of the basis.
            for (int i = 0; i < m_; ++i) {
                if (basis_[static_cast<std::size_t>(i)] < art0)
                    continue;
                int c = -1;
                double best = kPivotEps * 100;
                for (int j = 0; j < art0; ++j)
                    if (std::abs(T(i, j)) > best) {
                        best = std::abs(T(i, j));
                        c = j;
                    }
                if (c >= 0)
                    pivot(i, c);
                // else: a redundant row; its artificial stays basic at zero and never re-enters.
            }
        }
        // Phase 2 objective row.
        reduced_costs();
        if (!iterate(art0, max_iter))
            return Status::Unbounded;
    } catch (const std::runtime_error &) {
        return Status::IterationLimit;
    }
    extract();
    return accept();
}

void LinearProgram::extract() {
    const int slack0 = n_;
    x_.assign(static_cast<std::size_t>(n_), 0.0);
    for (int i = 0; i < m_; ++i) {
        const int b = basis_[static_cast<std::size_t>(i)];
        if (b < n_)
            x_[static_cast<std::size_t>(b)] = T(i, rhs_col_);
    }
    y_.assign(static_cast<std::size_t>(m_), 0.0);
    for (int i = 0; i < m_; ++i)
        y_[static_cast<std::size_t>(i)] =
            T(m_, slack0 + i) * row_scale_[static_cast<std::size_t>(i)];
    objective_ = T(m_, rhs_col_);
    tableau_valid_ = true;
}

LinearProgram::Status LinearProgram::accept() {
    cert_ = certify(x_, y_);
    max_violation_ = cert_.primal;
    return cert_.ok() ? Status::Optimal : Status::Numerical;
}

// The certificate, for  max c.x  s.t.  A x <= b, x >= 0  and its dual  min b.y  s.t.  A^T y >= c,
// y >= 0. Each part is relative to the size of the terms it sums, floored at 1 (the allocation
// LPs are scaled so that their numbers are O(1)). With s_i = max(1, |b_i|, max_j |a_ij x_j|):
//   primal = max over rows of (a_i.x - b_i)^+ / s_i, and over columns of (-x_j)^+;
//   dual   = max over rows of (-y_i)^+ / max(1, |y|_inf), and over columns of (c_j - y.A_j)^+ /
//            max(1, |c_j|, |y|_inf max_i |a_ij|);
//   gap    = |c.x - b.y| / max(1, |c.x|, sum_i |y_i| s_i).
// The gap is c.x - b.y = -sum_i y_i (b_i - a_i.x) - sum_j x_j (y.A_j - c_j): complementary
// slackness residues, each the size of a dual times a row's terms, hence its scale. Duals are
// computed through the whole basis, so their rounding is relative to the largest dual (a fill
// fraction whose coefficient is a want of 4.6e-6 has duals of 2e5, and a column far from it
// then carries a residue of 6e-9 that is rounding, not infeasibility). A solution
// passing all three within 1e-9 is optimal to that tolerance (weak duality bounds its distance
// from the optimum), whichever method produced it.
LinearProgram::Certificate LinearProgram::certify(const std::vector<double> &x,
                                                  const std::vector<double> &y) const {
    Certificate c;
    const auto M = rhs_.size();
    const auto N = static_cast<std::size_t>(n_);
    std::vector<double> col(N, 0.0), col_max(N, 0.0);
    double by = 0, cx = 0, gap_scale = 1, y_max = 1;
    for (double v : y)
        y_max = std::max(y_max, std::abs(v));
    for (std::size_t i = 0; i < M; ++i) {
        double act = 0, scale = std::max(1.0, std::abs(rhs_[i]));
        for (int e = row_start_[i]; e < row_start_[i + 1]; ++e) {
            const auto j = static_cast<std::size_t>(idx_[static_cast<std::size_t>(e)]);
            const double a = val_[static_cast<std::size_t>(e)];
            const double t = a * x[j];
            act += t;
            scale = std::max(scale, std::abs(t));
            col[j] += y[i] * a;
            col_max[j] = std::max(col_max[j], std::abs(a));
        }
        c.primal = std::max(c.primal, (act - rhs_[i]) / scale);
        c.dual = std::max(c.dual, -y[i] / y_max);
        by += rhs_[i] * y[i];
        gap_scale += std::abs(y[i]) * scale;
    }
    for (std::size_t j = 0; j < N; ++j) {
        c.primal = std::max(c.primal, -x[j]);
        cx += cost_[j] * x[j];
        c.dual = std::max(c.dual, (cost_[j] - col[j]) /
                                      std::max({1.0, std::abs(cost_[j]), y_max * col_max[j]}));
    }
    c.scale = std::max(gap_scale, std::abs(cx));
    c.gap = std::abs(cx - by) / c.scale;
    if (!std::isfinite(c.primal) || !std::isfinite(c.dual) || !std::isfinite(c.gap))
        c.primal = c.dual = c.gap = std::numeric_limits<double>::infinity();
    return c;
}

void LinearProgram::write_lp(std::ostream &os) const {
    char buf[64];
    auto num = [&](double v) {
        std::snprintf(buf, sizeof buf, "%.17g", v);
        return std::string(buf);
    };
    auto term = [&](double a, int j) {
        return std::string(a < 0 ? " - " : " + ") + num(std::abs(a)) + " x" + std::to_string(j);
    };
    std::vector<char> used(static_cast<std::size_t>(n_), 0);
    os << "Maximize\n obj:";
    bool any = false;
    for (int j = 0; j < n_; ++j)
        if (cost_[static_cast<std::size_t>(j)] != 0) {
            os << term(cost_[static_cast<std::size_t>(j)], j);
            used[static_cast<std::size_t>(j)] = 1;
            any = true;
        }
    if (!any)
        os << " 0 x0";
    os << "\nSubject To\n";
    for (std::size_t i = 0; i < rhs_.size(); ++i) {
        os << " r" << i << ":";
        if (row_start_[i] == row_start_[i + 1])
            os << " 0 x0";
        for (int e = row_start_[i]; e < row_start_[i + 1]; ++e) {
            const int j = idx_[static_cast<std::size_t>(e)];
            os << term(val_[static_cast<std::size_t>(e)], j);
            used[static_cast<std::size_t>(j)] = 1;
        }
        os << " <= " << num(rhs_[i]);
        if (flip_[i] && rhs_[i] >= 0)
            os << " \\ art";
        os << "\n";
    }
    // Every variable is >= 0 (the format's default); name the ones no row or cost mentions.
    os << "Bounds\n";
    for (int j = 0; j < n_; ++j)
        if (!used[static_cast<std::size_t>(j)])
            os << " x" << j << " >= 0\n";
    os << "End\n";
}

LinearProgram LinearProgram::read_lp(std::istream &is) {
    LinearProgram lp;
    std::string line;
    int line_no = 0;
    enum { None, Objective, Rows, Bounds, End } part = None;
    std::vector<std::pair<int, double>> objective;
    struct Row {
        std::vector<std::pair<int, double>> coefs;
        double rhs;
        bool art;
    };
    std::vector<Row> rows;
    int n = 0;
    auto fail = [&](const std::string &why) -> void {
        throw std::runtime_error("LP file line " + std::to_string(line_no) + ": " + why);
    };
    // Parses "+ 1.5 x3 - 2 x4 ..." into coefficients.
    auto terms = [&](const std::string &text) {
        std::vector<std::pair<int, double>> out;
        std::istringstream ts(text);
        std::string tok;
        double sign = 1;
        double coef = std::numeric_limits<double>::quiet_NaN();
        while (ts >> tok) {
            if (tok == "+" || tok == "-") {
                sign = tok == "-" ? -1 : 1;
                continue;
            }
            if (tok[0] == 'x') {
                const int j = std::stoi(tok.substr(1));
                if (j < 0 || j > 10000000)
                    fail("variable index out of range");
                n = std::max(n, j + 1);
                out.push_back({j, sign * (std::isnan(coef) ? 1.0 : coef)});
                sign = 1;
                coef = std::numeric_limits<double>::quiet_NaN();
                continue;
            }
            std::size_t used = 0;
            coef = std::stod(tok, &used);
            if (used != tok.size())
                fail("cannot read '" + tok + "'");
        }
        return out;
    };
    try {
        while (std::getline(is, line)) {
            ++line_no;
            bool art = false;
            if (const auto c = line.find('\\'); c != std::string::npos) {
                art = line.find("art", c) != std::string::npos;
                line.erase(c);
            }
            const auto first = line.find_first_not_of(" \t\r");
            if (first == std::string::npos)
                continue;
            const std::string t = line.substr(first);
            if (t.rfind("Maximize", 0) == 0) {
                part = Objective;
                continue;
            }
            if (t.rfind("Subject To", 0) == 0) {
                part = Rows;
                continue;
            }
            if (t.rfind("Bounds", 0) == 0) {
                part = Bounds;
                continue;
            }
            if (t.rfind("End", 0) == 0) {
                part = End;
                continue;
            }
            const auto colon = t.find(':');
            switch (part) {
            case Objective:
                for (const auto &c : terms(colon == std::string::npos ? t : t.substr(colon + 1)))
                    if (c.second != 0)
                        objective.push_back(c);
                break;
            case Rows: {
                const auto le = t.find("<=");
                if (colon == std::string::npos || le == std::string::npos)
                    fail("expected 'name: terms <= rhs'");
                Row r;
                for (const auto &c : terms(t.substr(colon + 1, le - colon - 1)))
                    if (c.second != 0)
                        r.coefs.push_back(c);
                std::size_t used = 0;
                const std::string rhs = t.substr(le + 2);
                r.rhs = std::stod(rhs, &used);
                r.art = art;
                rows.push_back(std::move(r));
                break;
            }
            case Bounds:
                terms(t.substr(0, t.find(">=")));
                break;
            default:
                fail("text outside Maximize / Subject To / Bounds");
            }
        }
    } catch (const std::invalid_argument &) {
        fail("not a number");
    } catch (const std::out_of_range &) {
        fail("number out of range");
    }
    if (part != End)
        fail("no End line");
    lp.reset(n);
    for (const auto &r : rows)
        lp.add_row(r.coefs, r.rhs, r.art);
    lp.set_objective(objective);
    return lp;
}

} // namespace chokepoint

namespace chokepoint {

double LinearProgram::rhs_derivative(const std::vector<int> &rows) const {
    double y = 0;
    for (int r : rows)
        y += y_[static_cast<std::size_t>(r)];
    if (y <= 1e-12)
        return 0.0;
    if (!tableau_valid_) // the library rung leaves no basis inverse: re-solve to decide
        return std::numeric_limits<double>::quiet_NaN();
    const int slack0 = n_;
    for (int k = 0; k < m_; ++k) {
        // Change of basic variable k per unit increase: sum over rows of scale * B^-1 e_row.
        double d = 0;
        for (int r : rows)
            d += row_scale_[static_cast<std::size_t>(r)] * at(k, slack0 + r);
        const bool artificial = basis_[static_cast<std::size_t>(k)] >= art0_;
        if (artificial && std::abs(d) > 1e-12)
            return std::numeric_limits<double>::quiet_NaN();
        if (d < -1e-12 && at(k, rhs_col_) <= 1e-12)
            return std::numeric_limits<double>::quiet_NaN();
    }
    return y;
}

} // namespace chokepoint
