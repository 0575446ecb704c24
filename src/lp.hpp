// A small dense two-phase simplex for the monthly allocation problems.
//
//   maximise c.x  subject to  A x <= b,  x >= 0      (b may be negative: phase 1 handles it)
//
// The problems are small (tens of variables and rows, after the network is aggregated to
// (product, country-class) nodes) and solved many times, so a dense tableau with Dantzig's
// rule (Bland's rule after a run of degenerate pivots, which guarantees termination) beats a
// general sparse solver here. Rows are equilibrated, rounding residue is flushed, and every
// solution is checked against its rows before it is returned.
//
// Warm re-solve: month after month the same problem comes back with other right-hand sides
// (capacities ramp, stockpiles drain) and, at the turn of a year, other coefficients (demand
// growth). When the rows have the same shape as those of the previous solve of this object,
// its optimal basis is updated (changed columns replaced, reduced costs and basic values
// recomputed) and a few primal or dual simplex pivots restore optimality. Otherwise, or if
// anything looks numerically doubtful, it solves afresh.
// The result therefore depends on what this object solved before: callers that need
// reproducible bits must call forget() at the same points (the allocator does at every trial).
#pragma once

#include <utility>
#include <vector>

namespace chokepoint {

class LinearProgram {
public:
    enum class Status { Optimal, Infeasible, Unbounded, IterationLimit, Numerical };

    /// Starts a new problem with `n` variables (all >= 0) and no rows.
    void reset(int n);
    /// Adds the row sum(coef * x) <= rhs; returns its index. Rows with rhs < 0 start with an
    /// artificial variable (phase 1); `always_artificial` asks for one whatever the rhs, so
    /// that a lower-bound row keeps its shape when its bound is 0 (for warm re-solves).
    int add_row(const std::vector<std::pair<int, double>> &coefs, double rhs,
                bool always_artificial = false);
    void set_objective(const std::vector<std::pair<int, double>> &coefs);
    /// Warm re-solves on (default) or off (every solve from scratch; for tests and checks).
    void set_warm_start(bool on) { warm_start_ = on; }
    /// Drops the remembered basis: the next solve starts from scratch.
    void forget() { have_last_ = false; }

    Status solve();

    double objective() const { return objective_; }
    double value(int var) const { return x_[static_cast<std::size_t>(var)]; }
    /// Shadow price of row i at the optimum (>= 0 for a maximisation with <= rows).
    double dual(int row) const { return y_[static_cast<std::size_t>(row)]; }
    int rows() const { return static_cast<int>(rhs_.size()); }

    /// After an optimal solve: the right derivative of the optimum with respect to a joint
    /// increase of the right-hand sides of `rows`, when the optimal basis stays feasible for a
    /// small increase (then it is the sum of their duals); 0 when every such dual is 0 (the
    /// duals bound the derivative from above); NaN when a degenerate basis leaves it
    /// undetermined (re-solve with the increase to find out).
    double rhs_derivative(const std::vector<int> &rows) const;
    /// Pivots of the last solve (0 after a successful warm re-solve).
    int pivots() const { return pivots_; }
    bool warm() const { return warm_; }
    /// Why the last solve was cold: 0 it was warm, 1 nothing remembered, 2 other rows or costs, 3
    /// warm start failed.
    int cold_reason() const { return cold_reason_; }
    /// Largest violation of a row or bound by the returned solution.
    double max_violation() const { return max_violation_; }

private:
    Status solve_once();
    bool try_warm();
    bool dual_simplex();
    void reduced_costs();
    Status finish();
    bool iterate(int ncols_enter, int max_iter);
    void pivot(int r, int c);
    double &T(int r, int c) {
        return tab_[static_cast<std::size_t>(r) * static_cast<std::size_t>(width_) +
                    static_cast<std::size_t>(c)];
    }
    double at(int r, int c) const {
        return tab_[static_cast<std::size_t>(r) * static_cast<std::size_t>(width_) +
                    static_cast<std::size_t>(c)];
    }

    // The problem, rows in compressed form.
    int n_ = 0;
    std::vector<int> row_start_{0}, idx_;
    std::vector<double> val_, rhs_, cost_;
    std::vector<char> flip_; // row multiplied by -1 and given an artificial variable
    // The previous problem solved to optimality by this object (for warm re-solves).
    bool have_last_ = false;
    int last_n_ = 0;
    std::vector<int> last_row_start_, last_idx_;
    std::vector<double> last_val_, last_cost_;
    std::vector<char> last_neg_;
    // Tableau of the last solve.
    std::vector<double> tab_;
    std::vector<int> basis_, init_col_;
    int m_ = 0, width_ = 0, rhs_col_ = 0, art0_ = 0;
    std::vector<double> row_scale_;
    std::vector<int> nz_;
    std::vector<double> nzb_, nzv_;
    std::vector<std::vector<std::pair<int, double>>> colbuf_;
    bool safe_ = false, warm_ = false, warm_start_ = true;
    // Solution.
    std::vector<double> x_, y_;
    double objective_ = 0, max_violation_ = 0;
    int pivots_ = 0, cold_reason_ = 0;
};

} // namespace chokepoint
