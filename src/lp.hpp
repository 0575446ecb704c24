// A small dense two-phase simplex for the monthly allocation problems.
//
//   maximise c.x  subject to  A x <= b,  x >= 0      (b may be negative: phase 1 handles it)
//
// The problems are small (tens of variables and rows, after the network is aggregated to
// (product, country-class) nodes) and solved many times, so a dense tableau with Dantzig's
// rule (Bland's rule after a run of degenerate pivots, which guarantees termination) beats a
// general sparse solver here. Duals of the rows are available after an optimal solve.
#pragma once

#include <utility>
#include <vector>

namespace chokepoint {

class LinearProgram {
public:
    enum class Status { Optimal, Infeasible, Unbounded, IterationLimit };

    /// Starts a new problem with `n` variables (all >= 0) and no rows.
    void reset(int n);
    /// Adds the row sum(coef * x) <= rhs; returns its index.
    int add_row(const std::vector<std::pair<int, double>>& coefs, double rhs);
    void set_objective(const std::vector<std::pair<int, double>>& coefs);

    Status solve();

    double objective() const { return objective_; }
    double value(int var) const { return x_[static_cast<std::size_t>(var)]; }
    /// Shadow price of row i at the optimum (>= 0 for a maximisation with <= rows).
    double dual(int row) const { return y_[static_cast<std::size_t>(row)]; }
    int rows() const { return static_cast<int>(rhs_.size()); }
    int pivots() const { return pivots_; }

private:
    bool iterate(int ncols_enter, int max_iter);
    void pivot(int r, int c);
    double& T(int r, int c) { return tab_[static_cast<std::size_t>(r) * static_cast<std::size_t>(width_) + static_cast<std::size_t>(c)]; }

    int n_ = 0;
    std::vector<std::vector<std::pair<int, double>>> rows_;
    std::vector<double> rhs_;
    std::vector<double> cost_;
    // tableau
    std::vector<double> tab_;
    std::vector<int> basis_;
    int m_ = 0, width_ = 0, rhs_col_ = 0;
    std::vector<double> x_, y_;
    double objective_ = 0;
    int pivots_ = 0;
};

} // namespace chokepoint
