// The linear programs of the monthly allocation, solved by a ladder of methods that cannot lose a
// run:
//
//   maximise c.x  subject to  A x <= b,  x >= 0      (b may be negative: phase 1 handles it)
//
// The problems are small (tens of variables and rows, after the network is aggregated to
// (product, country-class) nodes) and solved many times, so a dense tableau with Dantzig's
// rule (Bland's rule after a run of degenerate pivots, which guarantees termination) beats a
// general sparse solver here. Rows are equilibrated and rounding residue is flushed.
//
// The ladder (docs/model.md, "Solving the allocation LPs"): 1. warm dense simplex from the last
// optimal basis; 2. cold dense simplex; 3. cold dense simplex with Bland's rule throughout and a
// stricter pivot tolerance; 4. COIN-OR CLP (dual simplex, then primal). A rung's answer is
// accepted only with an optimality certificate checked here, the same for every rung: primal
// feasibility of every row and bound, dual feasibility (y >= 0, A^T y >= c) and a vanishing
// duality gap, each within a relative 1e-9. What the allocator reads (objective, duals) is
// therefore optimal to that tolerance whichever rung answered; which rung answers is itself a
// deterministic function of the problem sequence, so results stay bit-identical for a seed.
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

#include "engine/lp_kernel.hpp"
#include "stats/rungs.hpp"

#include <cstdint>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace chokepoint {

/// Thrown when no rung of the ladder solved an allocation LP. The allocator, the simulator and
/// the run fill in where it happened (role, value chain, month, trial, scenario), so that the
/// message locates it and the LP (CPLEX LP format, `lp_text`) can be written out and replayed.
class LpFailure : public std::runtime_error {
public:
    LpFailure(std::string ladder, std::string lp_text)
        : std::runtime_error("allocation LP failed"), ladder_(std::move(ladder)),
          lp_text_(std::move(lp_text)) {}
    std::string role, chain, scenario;
    long long trial = -1;
    int month = -1;
    /// What each rung did, e.g. "warm: not tried (first solve); cold: numerical (...); ...".
    const std::string &ladder() const { return ladder_; }
    const std::string &lp_text() const { return lp_text_; }
    /// One line naming everything known: scenario, trial, month, value chain, role, ladder.
    std::string describe() const;
    const char *what() const noexcept override;

private:
    std::string ladder_, lp_text_;
    mutable std::string what_;
};

class LinearProgram {
public:
    enum class Status { Optimal, Infeasible, Unbounded, IterationLimit, Numerical };
    /// "optimal", "infeasible", "unbounded", "iteration limit", "no certificate" (Numerical).
    static const char *status_name(Status s);

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
    /// Whether a basis is remembered (the next solve of the same shape may start from it).
    bool has_basis() const { return have_last_; }
    /// Starts the ladder at `r` (the rungs below are skipped): for tests, the soak benchmark and
    /// the differential checks that every rung gives the same allocation. Default Rung::Warm.
    void set_first_rung(Rung r) { first_rung_ = r; }

    /// Runs the ladder; Optimal with a checked certificate, or the status of the last rung tried
    /// (then ladder_log() says what each rung did).
    Status solve();
    /// The rung that answered the last solve (meaningful after Optimal).
    Rung rung() const { return rung_; }
    /// What each rung did in the last solve (for error messages).
    const std::string &ladder_log() const { return ladder_log_; }

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

    /// The optimality certificate of a solution, each part relative (see lp.cpp, certify()).
    struct Certificate {
        double primal = 0; // worst row or bound violation
        double dual = 0;   // worst negative dual or reduced cost A^T y - c
        double gap = 0;    // |c.x - b.y|
        double scale = 1;  // what the gap is relative to (see certify())
        bool ok() const { return primal <= 1e-9 && dual <= 1e-9 && gap <= 1e-9; }
    };
    /// The certificate of the returned solution (checked for every rung).
    const Certificate &certificate() const { return cert_; }
    /// Checks x, y against this problem's rows (what every rung's answer must pass).
    Certificate certify(const std::vector<double> &x, const std::vector<double> &y) const;

    /// The problem in CPLEX LP format (names x0.., r0..; every number to 17 digits), for failure
    /// reports and replay (read_lp).
    void write_lp(std::ostream &os) const;
    /// Reads a problem written by write_lp; rows with a `\\ art` comment keep their artificial.
    /// Throws std::runtime_error naming the line on anything else.
    static LinearProgram read_lp(std::istream &is);
    int columns() const { return n_; }

private:
    Status solve_once();
    Status solve_library();
    /// Fills x_, y_, objective_ from the tableau (no checks).
    void extract();
    /// Certifies x_, y_; Optimal if the certificate holds, else Numerical.
    Status accept();
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
    std::vector<int> bcol_;           // try_warm's non-zero rhs columns
    lp_kernel::PivotScratch scratch_; // the pivot's index lists
    std::vector<double> nzb_, nzv_;
    std::vector<std::vector<std::pair<int, double>>> colbuf_;
    bool safe_ = false, warm_ = false, warm_start_ = true;
    // Solution.
    std::vector<double> x_, y_;
    double objective_ = 0, max_violation_ = 0;
    int pivots_ = 0, cold_reason_ = 0;
    Certificate cert_;
    Rung rung_ = Rung::Warm, first_rung_ = Rung::Warm;
    bool tableau_valid_ = false; // x_, y_ came from the tableau (rhs_derivative may read it)
    std::string ladder_log_;
};

} // namespace chokepoint
